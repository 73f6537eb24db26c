"""Token counts of SFT examples, by a named tokenizer (the model to fine-tune, so that ``--max-tokens`` means
what the trainer's cut-off means).

A prompt is counted as LLaMA-Factory's Alpaca converter builds it (instruction, line break, input) and the
answer on its own, both without special tokens or a chat template: leave the template's few tokens of room
between ``--max-tokens`` and the trainer's ``cutoff_len``. A folder with a ``tokenizer.json`` is read with the
``tokenizers`` library alone (the same ids as the ``transformers`` fast tokenizer, without importing it); a Hub id
or a folder without one goes through ``transformers.AutoTokenizer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _backend(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` behind a fast ``transformers`` tokenizer (None for a slow one)."""
    return getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None


class TokenCounter:
    """Counts tokens with a Hugging Face tokenizer, named by a local folder or a Hub id (or passed in)."""

    def __init__(self, tokenizer: str | Any, *, batch_size: int = 4096) -> None:
        self.batch_size = batch_size
        self._fast: Any = None
        self._slow: Any = None
        if isinstance(tokenizer, str | Path):
            self.name = str(tokenizer)
            if (Path(tokenizer) / "tokenizer.json").is_file():
                from tokenizers import Tokenizer

                self._fast = Tokenizer.from_file(str(Path(tokenizer) / "tokenizer.json"))
                return
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        else:
            self.name = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
        self._fast = _backend(tokenizer) if not hasattr(tokenizer, "encode_batch") else tokenizer
        self._slow = tokenizer if self._fast is None else None

    def __repr__(self) -> str:
        return f"TokenCounter({self.name!r})"

    def count(self, texts: Sequence[str]) -> np.ndarray:
        """The number of tokens of each text (int64), without special tokens."""
        counts = np.zeros(len(texts), dtype=np.int64)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            if self._fast is not None:
                encode = getattr(self._fast, "encode_batch_fast", self._fast.encode_batch)
                lengths = [len(encoding.ids) for encoding in encode(batch, add_special_tokens=False)]
            else:
                ids = self._slow(batch, add_special_tokens=False, return_attention_mask=False)["input_ids"]
                lengths = [len(row) for row in ids]
            counts[start : start + len(batch)] = lengths
        return counts
