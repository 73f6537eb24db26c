"""lm-eval hooks of the FusionBench tasks: where the docs come from and how a response is scored.

The YAMLs beside this file reference ``!function utils.load_docs`` and ``!function utils.process_results``.
lm-eval 0.4.13 calls ``custom_dataset(**metadata, **dataset_kwargs)``: ``metadata`` is the task's
metadata merged with ``--metadata`` and ``--model_args``; ``dataset_kwargs`` (set per task by
``_generate.py``) name the task and mode.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import datasets

from fusionbench.metrics import QA_TASKS, score_details
from fusionbench.schema import SCORER_FIELDS

log = logging.getLogger("fusionbench.harness")

#: Environment variables read when ``--metadata`` does not set the matching key.
EXPORT_ENV = "FUSIONBENCH_EXPORT"
SPLIT_ENV = "FUSIONBENCH_SPLIT"
DEFAULT_SPLIT = "test"
#: The split a task falls back to when it has no test queries (GPQA in the release).
FALLBACK_SPLIT = "train"
#: The key the docs are returned under; the YAMLs set ``test_split`` to it.
EVAL_SPLIT = "eval"
#: Large columns left out of the docs (they would be copied into every logged sample).
DROPPED_COLUMNS: tuple[str, ...] = ("embedding", "task_description_embedding")


def task_name(task: str, mode: str) -> str:
    """lm-eval name of a FusionBench task: ``fusionbench_<task>`` (direct) or ``fusionbench_<task>_cot``."""
    return f"fusionbench_{task}" + ("" if mode == "direct" else f"_{mode}")


@lru_cache(maxsize=8)
def task_queries(export: str | None = None) -> datasets.DatasetDict:
    """The ``queries`` config, every split, from ``export`` (see :func:`resolve_export` for the forms), without the
    columns the task docs do not need; cached per export."""
    from fusionbench.loading import load_queries_dataset

    if not export:
        log.info("fusionbench: using the embedded synthetic sample (do not report results on it)")
    queries = load_queries_dataset(export)
    drop = [c for c in DROPPED_COLUMNS if c in next(iter(queries.values())).column_names]
    return queries.remove_columns(drop) if drop else queries


def resolve_export(fusionbench_export: str | None = None) -> str | None:
    """``--metadata`` value, else ``$FUSIONBENCH_EXPORT``, else None (the embedded sample).

    Accepted forms: an export folder (``fusionbench build --out DIR``), a Hub id of an export
    (``fusionbench push``), or release files (paths, folders, globs) that are built on the fly.
    """
    return fusionbench_export or os.environ.get(EXPORT_ENV) or None


def task_docs(
    queries: Mapping[str, datasets.Dataset], task: str, mode: str, split: str | None = None
) -> datasets.Dataset:
    """The rows of ``task`` in ``split`` (default test; a task without test rows falls back to train)."""
    name = task_name(task, mode)
    wanted = split or DEFAULT_SPLIT
    chosen = wanted
    rows = _rows_of(queries.get(wanted), task)
    if not rows and wanted == DEFAULT_SPLIT:
        fallback = _rows_of(queries.get(FALLBACK_SPLIT), task)
        if fallback:
            log.warning(
                "%s: no %s queries for task %r in this export; evaluating on the %s split instead",
                name,
                wanted,
                task,
                FALLBACK_SPLIT,
            )
            chosen, rows = FALLBACK_SPLIT, fallback
    if not rows:
        raise ValueError(
            f"{name}: no queries for task {task!r} in split {wanted!r} (splits in this export: {', '.join(queries)})"
        )
    docs = queries[chosen].select(rows)
    prompt = f"prompt_{mode}"
    keep = [i for i, text in enumerate(docs[prompt]) if text]
    if len(keep) < len(docs):
        log.warning("%s: %d queries have no %s prompt and are skipped", name, len(docs) - len(keep), mode)
        docs = docs.select(keep)
    return docs


def _rows_of(split: datasets.Dataset | None, task: str) -> list[int]:
    if split is None:
        return []
    return [i for i, name in enumerate(split["task"]) if name == task]


def load_docs(
    fusionbench_task: str,
    fusionbench_mode: str = "direct",
    fusionbench_export: str | None = None,
    fusionbench_split: str | None = None,
    **_ignored: Any,
) -> dict[str, datasets.Dataset]:
    """lm-eval ``custom_dataset``: ``{"eval": docs}`` for one task and mode.

    ``fusionbench_export`` / ``fusionbench_split`` come from ``--metadata`` (else the environment
    variables ``FUSIONBENCH_EXPORT`` / ``FUSIONBENCH_SPLIT``); other metadata keys are ignored.
    """
    split = fusionbench_split or os.environ.get(SPLIT_ENV) or None
    docs = task_docs(task_queries(resolve_export(fusionbench_export)), fusionbench_task, fusionbench_mode, split)
    return {EVAL_SPLIT: docs}


def score_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The doc's task-specific fields, as :func:`fusionbench.metrics.score` takes them."""
    return {name: doc.get(name) for name in SCORER_FIELDS}


def process_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, float]:
    """``acc`` (and ``f1`` for natural_qa, trivia_qa, squad) of the one generation, by fusionbench.metrics."""
    task = doc["task"]
    response = results[0] if results else None
    details = score_details(task, response, doc["ground_truth"], **score_fields(doc)) or {}
    out = {"acc": float(details.get("acc", 0.0))}
    if task in QA_TASKS:
        out["f1"] = float(details.get("f1", 0.0))
    return out
