"""What runs before every evaluation: the leakage check (exact ``query_id`` and normalised-text overlap between
the training data and the evaluated queries) and the transductive guard.

* Overlap fails the evaluation (:class:`~fusionbench.fusion.leakage.LeakageError`) unless ``allow_overlap``;
  the report then records how many test queries were seen in training.
* A ``naive`` split (train = test, Bench-CoE's naive scenario) is refused (:class:`TransductiveError`) unless
  the caller declares ``transductive=True``, which the benchmark runner does and which labels every number
  "transductive".
* A saved router keeps a :class:`TrainingRecord` (its training query ids and the SHA-256 of their normalised
  texts), so ``fusionbench route eval`` checks a test set against the router's own training data, whatever
  data it is evaluated on.
* Near duplicates (:mod:`fusionbench.fusion.near_duplicates`, character n-gram TF-IDF cosine >= 0.9, exact matches
  excluded) are counted and listed in what the report records (``near_duplicates``); they do not fail it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, new_manifest, read_manifest, write_manifest
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.leakage import LeakageError, LeakageReport, check_leakage, normalized_texts, overlap_report
from fusionbench.fusion.near_duplicates import near_duplicates_of, unchecked

RECORD_ARTIFACT = ArtifactFormat("fusionbench-training-record", 1, manifest="", what="a router's training record")
RECORD_FORMAT = RECORD_ARTIFACT.tag


class TransductiveError(ValueError):
    """An evaluation on a naive (train = test) split that was not declared transductive."""


def _hash(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrainingRecord:
    """The training queries of a router, as ids and hashes of normalised texts (no texts are kept)."""

    query_ids: tuple[str, ...]
    text_sha256: tuple[str | None, ...]
    source: str = ""
    split: dict[str, Any] = field(default_factory=dict)
    transductive: bool = False

    @classmethod
    def from_data(cls, train: RoutingData, split: dict[str, Any] | None = None) -> TrainingRecord:
        """The record of a training set: its query ids, normalised-text hashes, source and split."""
        hashes = tuple(_hash(t) for t in normalized_texts(train.texts))
        return cls(
            tuple(str(q) for q in train.query_ids),
            hashes,
            train.source,
            dict(split or {}),
            bool(train.provenance.get("transductive")),
        )

    def payload(self) -> dict[str, Any]:
        """The record file's JSON object, its own manifest (:data:`RECORD_ARTIFACT`)."""
        payload = new_manifest(RECORD_ARTIFACT, source=self.source, split=self.split)
        payload |= {"transductive": self.transductive, "query_ids": list(self.query_ids)}
        return payload | {"text_sha256": list(self.text_sha256)}

    def to_json(self) -> str:
        """The record as JSON text."""
        return json.dumps(self.payload())

    @classmethod
    def load(cls, path: str | Path) -> TrainingRecord:
        """The record at ``path``; an ArtifactFormatError naming the file when it is not one this code reads."""
        payload = read_manifest(path, RECORD_ARTIFACT)
        ids, hashes = payload.get("query_ids"), payload.get("text_sha256")
        if not isinstance(ids, list) or not isinstance(hashes, list) or len(ids) != len(hashes):
            raise ArtifactFormatError(str(path), "'query_ids' and 'text_sha256' must be lists of the same length")
        return cls(
            tuple(ids), tuple(hashes), payload.get("source", ""), payload.get("split", {}),
            bool(payload.get("transductive")),
        )  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the record (with its manifest) atomically to ``path``."""
        return write_manifest(path, RECORD_ARTIFACT, self.payload())  # atomic, never through a link


def leakage_vs_record(record: TrainingRecord, test: RoutingData) -> LeakageReport:
    """:func:`~fusionbench.fusion.leakage.check_leakage` of ``test`` against a router's training record."""
    hashes = [_hash(t) for t in normalized_texts(test.texts)]
    comparable = any(h is not None for h in record.text_sha256) and any(h is not None for h in hashes)
    return overlap_report(record.query_ids, record.text_sha256, test, hashes if comparable else None)


def is_transductive(*datasets: RoutingData | TrainingRecord | None) -> bool:
    """True when any part comes from a naive (train = test) split."""
    for part in datasets:
        if isinstance(part, TrainingRecord) and part.transductive:
            return True
        if isinstance(part, RoutingData) and part.provenance.get("transductive"):
            return True
    return False


def check_before_evaluation(
    train: RoutingData | TrainingRecord | None,
    test: RoutingData,
    *,
    allow_overlap: bool = False,
    transductive: bool = False,
) -> dict[str, Any]:
    """Run the leakage check and the transductive guard; returns what the report records about them."""
    naive = is_transductive(train, test)
    if naive and not transductive:
        raise TransductiveError(
            "this is a naive split (train = test): its numbers are transductive, so it is evaluated only by "
            "`fusionbench route benchmark --scenario naive` (evaluate(..., transductive=True)), which labels "
            "every number 'transductive'"
        )
    if train is None:
        if not allow_overlap:
            raise ValueError(
                "the leakage check runs before every evaluation: pass train= (the data the router was fitted on, "
                "or its TrainingRecord), or allow_overlap=True to evaluate without the check"
            )
        return {"checked": False, "reason": "no training data given (allow_overlap=True)"}
    report = leakage_vs_record(train, test) if isinstance(train, TrainingRecord) else check_leakage(train, test)
    summary = {"checked": True, "transductive": bool(transductive), "summary": report.summary()}
    summary |= {k: v for k, v in report.to_dict().items() if k != "leaked_ids"}
    if naive:
        near = unchecked("train = test by design (naive split)")
    elif isinstance(train, TrainingRecord):
        near = unchecked("a saved router's training record keeps text hashes only, not texts")
    else:
        near = near_duplicates_of(train, test)
    summary["near_duplicates"] = near.to_dict()
    if not report.ok and not transductive:
        if not allow_overlap:
            shown = "; ".join(f"{q} ~ train {t}: {text!r}" for q, t, text in report.examples)
            raise LeakageError(
                f"train/test leakage: {report.summary()}. Examples: {shown or ', '.join(report.id_overlap[:5])}. "
                "Use a leakage-safe split (the 'release' scheme removes them) or allow the overlap "
                "(allow_overlap=True, --allow-overlap), which the report then states."
            )
        summary["overlap_allowed"] = True
    return summary
