"""Token counts of SFT examples, by a named tokenizer (the model to fine-tune, so that ``--max-tokens`` means
what the trainer's cut-off means).

A prompt is counted as LLaMA-Factory's Alpaca converter builds it (instruction, line break, input) and the
answer on its own, both without special tokens or a chat template: leave the template's few tokens of room
between ``--max-tokens`` and the trainer's ``cutoff_len``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class TokenCounter:
    """Counts tokens with a Hugging Face tokenizer, named by a local folder or a Hub id (or passed in)."""

    def __init__(self, tokenizer: str | Any, *, batch_size: int = 2048) -> None:
        if isinstance(tokenizer, str):
            from transformers import AutoTokenizer

            self.name = tokenizer
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        else:
            self.tokenizer = tokenizer
            self.name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"TokenCounter({self.name!r})"

    def count(self, texts: Sequence[str]) -> np.ndarray:
        """The number of tokens of each text (int64)."""
        counts = np.zeros(len(texts), dtype=np.int64)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            ids = self.tokenizer(batch, add_special_tokens=False, return_attention_mask=False)["input_ids"]
            counts[start : start + len(batch)] = [len(row) for row in ids]
        return counts
