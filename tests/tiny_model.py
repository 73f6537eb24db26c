"""A tiny random-weight Llama and its tokenizer, built offline in well under a second.

Its output is gibberish; it exists to run real inference code paths (lm-eval's ``hf`` model, vLLM)
without downloading weights. The builder is the package's own (:mod:`fusionbench.generation.random_model`,
also used by the generation benchmark); this module fixes the test shape: 2 layers, hidden size 128,
2 heads (head_dim 64: vLLM's CPU backend needs >= 32), 2,048 positions, a 300-token byte-level BPE
vocabulary with ``<|endoftext|>`` as bos/eos/pad/unk, and a one-turn chat template ending in ``Answer: ``.
"""

from __future__ import annotations

from pathlib import Path

from fusionbench.generation.random_model import CHAT_TEMPLATE, SPECIAL_TOKEN, build_random_llama

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKEN", "build_tiny_llama"]


def build_tiny_llama(folder: str | Path, *, vocab_size: int = 300, seed: int = 0) -> Path:
    """Write the tiny model and its tokenizer to ``folder`` (float32 weights) and return the folder."""
    return build_random_llama(folder, size="tiny", seed=seed, dtype="float32", vocab_size=vocab_size)
