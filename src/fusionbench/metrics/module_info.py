"""What the four ``evaluate`` module scripts share: the citation and the MetricInfo they build."""

from __future__ import annotations

import datasets
import evaluate

CITATION = """\
@article{FusionBench,
  title={Fusing LLM Capabilities with Routing Data},
  author={Tao Feng and Haozhen Zhang and Zijie Lei and Pengrui Han and Mostofa Patwary and Mohammad Shoeybi
          and Bryan Catanzaro and Jiaxuan You},
  year={2025}
}
"""
RELEASE_URL = "https://huggingface.co/datasets/ulab-ai/FusionBench"


def metric_info(
    description: str, inputs_description: str, features: dict[str, str], urls: list[str] | None = None
) -> evaluate.MetricInfo:
    """The MetricInfo of a fusionbench module: ``features`` maps each input column to its dtype."""
    return evaluate.MetricInfo(
        description=description,
        citation=CITATION,
        inputs_description=inputs_description,
        features=datasets.Features({name: datasets.Value(dtype) for name, dtype in features.items()}),
        reference_urls=urls or [RELEASE_URL],
    )
