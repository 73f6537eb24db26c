"""What a featuriser encodes and whether its features can tell queries apart.

* :func:`common_prefix` / :func:`query_text`: prompts that share a long few-shot prefix (RouterBench's
  Winogrande: 5 shots, longer than all-MiniLM-L6-v2's 256-token window) encode to one vector; the query itself
  is the text after a marker's last occurrence, or the text less the prefix all training texts share.
* :func:`warn_if_constant`: a :class:`ConstantFeaturesWarning` when every row's features are (nearly) the same,
  naming the number of rows and the remedy.
* :func:`featurizer_manifest`: a saved featuriser folder's ``config.json`` checked as its artifact manifest
  (:mod:`fusionbench.artifacts`, ``fusionbench-featurizer/1``).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, check_manifest

#: Largest per-feature standard deviation below which a feature matrix counts as constant across its rows.
CONSTANT_STD = 1e-5


class ConstantFeaturesWarning(UserWarning):
    """The features of every row are (nearly) the same: a router fitted on them cannot tell queries apart."""


def feature_spread(features: Any) -> float:
    """The largest per-feature standard deviation across the rows (dense or scipy sparse; inf under 2 rows)."""
    import scipy.sparse as sp

    if features.shape[0] < 2 or features.shape[1] == 0:
        return float("inf")
    if sp.issparse(features):
        mean = np.asarray(features.mean(axis=0)).ravel()
        squares = np.asarray(features.multiply(features).mean(axis=0)).ravel()
        return float(np.sqrt(np.maximum(squares - mean**2, 0.0)).max())
    return float(np.asarray(features, dtype=np.float64).std(axis=0).max())


#: What to do when a sentence encoder's vectors are constant, and when TF-IDF's are.
PREFIX_REMEDY = (
    "the texts probably share a prefix longer than the model's window: pass strip_common_prefix=True (the "
    "prefix all training texts share) or text_after='<marker>' so the query itself is encoded"
)
VOCABULARY_REMEDY = "the texts differ only in words the vocabulary lacks (min_df, max_features)"


def warn_if_constant(features: Any, texts: list[str], where: str, remedy: str) -> bool:
    """Warn (:class:`ConstantFeaturesWarning`) when the features of different ``texts`` are (nearly) identical;
    True if it did (identical texts rightly have identical features)."""
    spread = feature_spread(features)
    if spread >= CONSTANT_STD or len(set(texts)) < 2:
        return False
    warnings.warn(
        f"{where}: the features of all {features.shape[0]} texts are (nearly) identical (largest per-feature "
        f"std {spread:.1e} < {CONSTANT_STD:g}), so no router can tell these queries apart; {remedy}",
        ConstantFeaturesWarning,
        stacklevel=3,
    )
    return True


def check_texts(texts: Any) -> list[str]:
    """The texts as a list of str; a missing (None/NaN) or non-text entry is an error naming its row."""
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")
    values = list(texts)
    bad = [i for i, t in enumerate(values) if not isinstance(t, str)]
    if bad:
        raise ValueError(
            f"texts has {len(bad)} missing or non-text values (first at row {bad[0]}: {values[bad[0]]!r}); "
            "a query without text cannot be featurised"
        )
    return values


def common_prefix(texts: list[str]) -> str:
    """The longest prefix all ``texts`` share (none for fewer than 2), cut back so it never ends inside a word."""
    if len(texts) < 2:
        return ""
    prefix = os.path.commonprefix(texts)  # noqa: RUF071 - characters, not path components
    cuts_a_word = any(len(t) > len(prefix) and t[len(prefix)].isalnum() for t in texts)
    if prefix and prefix[-1].isalnum() and cuts_a_word:
        prefix = re.sub(r"\w+\Z", "", prefix)
    return prefix


def query_text(texts: list[str], *, text_after: str | None = None, prefix: str = "") -> list[str]:
    """Each text after ``text_after``'s last occurrence (kept whole without it), then less ``prefix`` where it
    starts with it, stripped of surrounding whitespace when either applied."""
    if text_after is not None:
        texts = [t.rsplit(text_after, 1)[-1].strip() for t in texts]
    if prefix:
        texts = [t[len(prefix) :].strip() if t.startswith(prefix) else t for t in texts]
    return texts


def training_prefix(texts: list[str] | None, text_after: str | None = None) -> str:
    """The prefix the training ``texts`` share after ``text_after`` (``strip_common_prefix=True`` needs them)."""
    if texts is None:
        raise ValueError("strip_common_prefix=True finds the prefix in the training texts: call fit(texts)")
    return common_prefix(query_text(texts, text_after=text_after))


def text_spec(text_after: str | None, prefix: str) -> dict[str, str]:
    """What a featuriser's spec records of the text selection (nothing when there is none)."""
    import hashlib

    out = {} if text_after is None else {"text_after": text_after}
    return out | ({"common_prefix_sha256": hashlib.sha256(prefix.encode()).hexdigest()} if prefix else {})


#: a saved featuriser folder's manifest: its ``config.json`` (kind, params, spec and the fitted state)
FEATURIZER_ARTIFACT = ArtifactFormat(
    "fusionbench-featurizer", 1, manifest="config.json", what="a saved featuriser folder"
)


def featurizer_manifest(
    config: Any, where: str | Path, *, error: type[ArtifactFormatError] = ArtifactFormatError
) -> dict[str, Any]:
    """``config``, a featuriser folder's ``config.json``, checked (:func:`~fusionbench.artifacts.check_manifest`:
    another format or a newer version is ``error`` naming ``where``); one written before the manifest (a
    ``kind``, no ``format``) is version 1."""
    if isinstance(config, dict) and "format" not in config and "kind" in config:
        config = {"format": f"{FEATURIZER_ARTIFACT.name}/1", **config}
    return check_manifest(config, FEATURIZER_ARTIFACT, where, error=error)
