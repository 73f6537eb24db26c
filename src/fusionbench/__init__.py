"""fusionbench: the LLMFusionBench multi-LLM response logs as a first-class Hugging Face dataset."""

__version__ = "0.1.0"
