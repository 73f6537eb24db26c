"""The release's embedding text (``tensor([[0.1, ...]])``) to float32 vectors, and vectors to an Arrow column."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TORCH_PREFIX, _TORCH_SUFFIX = "tensor([[", "]])"
_EMBEDDING_STRICT = re.compile(r"^\s*(?:tensor\()?\s*(?P<body>\[.*\])\s*(?:,\s*[a-z_]+=[^)]*)?\)?\s*$", re.S)


def parse_embeddings(texts: pa.Array) -> list[np.ndarray | None]:
    """``tensor([[0.1, -0.2, ...]])`` (or bare list) texts -> float32 vectors; None where malformed.

    Fast path: cut torch's ``tensor([[`` / ``]])`` off every cell, split on commas, trim white space and
    cast in one kernel each. Texts in any other shape take a slower path that trims brackets from every
    number, and a cell that survives neither (a ``device=...`` suffix, junk) is retried alone with a
    strict regex.
    """
    parts = flat = None
    if pc.all(pc.starts_with(texts, _TORCH_PREFIX)).as_py() and pc.all(pc.ends_with(texts, _TORCH_SUFFIX)).as_py():
        parts = pc.split_pattern(pc.utf8_slice_codeunits(texts, len(_TORCH_PREFIX), -len(_TORCH_SUFFIX)), ",")
        flat = _floats(pc.ascii_trim_whitespace(pc.list_flatten(parts)))
    if flat is None:
        parts = pc.split_pattern(texts, ",")
        flat = _floats(pc.utf8_trim(pc.list_flatten(parts), "tensor([ ])\n\t\r"))
    if flat is None:
        return [_parse_embedding_strict(text) for text in texts.to_pylist()]
    lengths = pc.fill_null(pc.list_value_length(parts), 0).to_numpy()
    vectors: list[np.ndarray | None] = []
    start = 0
    for valid, length in zip(parts.is_valid().to_numpy(zero_copy_only=False), lengths, strict=True):
        vector = flat[start : start + length]
        start += length
        vectors.append(vector if valid and length and np.isfinite(vector).all() else None)
    return vectors


def _floats(numbers: pa.Array) -> np.ndarray | None:
    """Number texts -> float32, or None if any of them is not a number."""
    try:
        return pc.cast(numbers, pa.float32()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _parse_embedding_strict(text: str | None) -> np.ndarray | None:
    match = _EMBEDDING_STRICT.match(text or "")
    if not match:
        return None
    numbers = match.group("body").replace("[", " ").replace("]", " ").replace(",", " ").split()
    try:
        vector = np.array(numbers, dtype=np.float32)
    except ValueError:
        return None
    return vector if vector.size and np.isfinite(vector).all() else None


def parse_embedding(text: str) -> np.ndarray | None:
    """One embedding text -> float32 vector, or None if malformed."""
    return parse_embeddings(pa.array([text], pa.string()))[0]


def vectors_column(vectors: list[np.ndarray | None]) -> pa.Array:
    """float32 vectors (None: null) -> list<float32> array, without going through Python floats."""
    lengths = np.array([0 if v is None else len(v) for v in vectors], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    present = [v for v in vectors if v is not None]
    values = np.concatenate(present, dtype=np.float32) if present else np.empty(0, np.float32)
    nulls = pa.array([v is None for v in vectors], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values), mask=nulls)
