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
from pathlib import Path
from typing import Any

import datasets

from fusionbench.metrics import QA_TASKS, SandboxUnavailableError, score_details
from fusionbench.schema import SCORER_FIELDS, TASK_DOMAINS, TASKS

log = logging.getLogger("fusionbench.harness")

#: Environment variables read when ``--metadata`` does not set the matching key.
EXPORT_ENV = "FUSIONBENCH_EXPORT"
SPLIT_ENV = "FUSIONBENCH_SPLIT"
#: The prompts folder of `fusionbench thoughts apply` that the ``fusionbench_<task>_thought`` tasks read.
PROMPTS_ENV = "FUSIONBENCH_PROMPTS"
#: The tiny set folder of `fusionbench tiny build` whose anchors the ``fusionbench_tiny[_cot]`` tasks run.
TINY_ENV = "FUSIONBENCH_TINY"
#: The doc column of the tiny tasks that names their tiny set folder (the aggregations read it).
TINY_COLUMN = "fusionbench_tiny"
#: The doc column of the tiny tasks that names the domain a tiny domain task runs ("" for every domain).
TINY_DOMAIN_COLUMN = "fusionbench_tiny_domain"
DEFAULT_SPLIT = "test"
#: The split a task falls back to when it has no test queries (GPQA in the release).
FALLBACK_SPLIT = "train"
#: The key the docs are returned under; the YAMLs set ``test_split`` to it.
EVAL_SPLIT = "eval"
#: Large columns left out of the docs (they would be copied into every logged sample).
DROPPED_COLUMNS: tuple[str, ...] = ("embedding", "task_description_embedding")
#: ``fusionbench_task`` of the tiny tasks ``fusionbench_tiny`` (direct prompts) and ``fusionbench_tiny_cot``.
TINY_TASK = "tiny"


def task_name(task: str, mode: str) -> str:
    """lm-eval name of a FusionBench task: ``fusionbench_<task>`` (direct) or ``fusionbench_<task>_<mode>``."""
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


@lru_cache(maxsize=8)
def thought_queries(prompts: str) -> datasets.Dataset:
    """The queries of a `fusionbench thoughts apply` folder (with ``prompt_thought``), without the large columns;
    cached per folder."""
    from fusionbench.fusion.thoughts import read_prompts

    table = read_prompts(prompts).table
    table = table.drop_columns([c for c in DROPPED_COLUMNS if c in table.column_names])
    return datasets.Dataset(datasets.table.InMemoryTable(table))


def folder_setting(value: str | None, env: str, key: str, name: str, what: str) -> str:
    """``--metadata``'s ``key`` (``value``), else ``$env``; a clear error naming both when neither is set."""
    folder = value or os.environ.get(env) or None
    if not folder:
        raise ValueError(f'{name} reads {what}: pass --metadata \'{{"{key}": "DIR"}}\' or set {env}=DIR')
    return str(folder)


def thought_docs(prompts: str, task: str, split: str | None = None) -> datasets.Dataset:
    """The rows of ``task`` with a thought prompt in the prompts folder ``prompts`` (its one split)."""
    name = task_name(task, "thought")
    queries = thought_queries(str(prompts))
    splits = set(queries["split"])
    if split and splits != {split}:
        raise ValueError(f"{name}: {prompts} holds thought prompts for the split(s) {sorted(splits)}, not {split!r}")
    rows = [i for i, (t, p) in enumerate(zip(queries["task"], queries["prompt_thought"], strict=True)) if t == task]
    keep = [i for i in rows if queries["prompt_thought"][i]]
    if len(keep) < len(rows):
        log.warning("%s: %d queries have no thought prompt and are skipped", name, len(rows) - len(keep))
    if not keep:
        raise ValueError(f"{name}: no thought prompts for task {task!r} in {prompts}")
    return queries.select(keep)


def load_docs(
    fusionbench_task: str,
    fusionbench_mode: str = "direct",
    fusionbench_export: str | None = None,
    fusionbench_split: str | None = None,
    fusionbench_prompts: str | None = None,
    fusionbench_tiny: str | None = None,
    fusionbench_tiny_domain: str | None = None,
    **_ignored: Any,
) -> dict[str, datasets.Dataset]:
    """lm-eval ``custom_dataset``: ``{"eval": docs}`` for one task and mode.

    ``fusionbench_export`` / ``fusionbench_split`` come from ``--metadata`` (else the environment
    variables ``FUSIONBENCH_EXPORT`` / ``FUSIONBENCH_SPLIT``); other metadata keys are ignored. The thought
    mode reads ``fusionbench_prompts`` (else ``FUSIONBENCH_PROMPTS``): a `fusionbench thoughts apply` folder.
    The tiny tasks (``fusionbench_task: tiny``) read ``fusionbench_tiny`` (else ``FUSIONBENCH_TINY``): a
    `fusionbench tiny build` folder, whose anchors are looked up in the export, whatever their split; a tiny
    domain task (``fusionbench_tiny_domain``, from its YAML) runs the anchors of that domain's tasks only.
    """
    split = fusionbench_split or os.environ.get(SPLIT_ENV) or None
    name = task_name(fusionbench_task, fusionbench_mode)
    if fusionbench_mode == "thought":
        what = "the thought prompts of `fusionbench thoughts apply`"
        prompts = folder_setting(fusionbench_prompts, PROMPTS_ENV, "fusionbench_prompts", name, what)
        return {EVAL_SPLIT: thought_docs(prompts, fusionbench_task, split)}
    if fusionbench_task == TINY_TASK:
        what = "the anchors of a `fusionbench tiny build` folder"
        tiny = folder_setting(fusionbench_tiny, TINY_ENV, "fusionbench_tiny", name, what)
        queries = task_queries(resolve_export(fusionbench_export))
        return {EVAL_SPLIT: tiny_docs(queries, tiny, fusionbench_mode, fusionbench_tiny_domain)}
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
    if details.get("status") == "unscored":  # lm-eval has no null score: stop, saying why and how to fix it
        raise SandboxUnavailableError(details["stderr"])
    out = {"acc": float(details.get("acc", 0.0))}
    if task in QA_TASKS:
        out["f1"] = float(details.get("f1", 0.0))
    return out


# ------------------------------------------------------------------------------------------------ tiny FusionBench
@lru_cache(maxsize=8)
def tiny_set(folder: str) -> Any:
    """The tiny set saved in ``folder`` (:func:`fusionbench.fusion.tiny.load_tiny`), cached per folder."""
    from fusionbench.fusion.tiny import load_tiny

    return load_tiny(folder)


def tiny_docs(
    queries: Mapping[str, datasets.Dataset], folder: str, mode: str, domain: str | None = None
) -> datasets.Dataset:
    """The export's rows of the anchors of the tiny set in ``folder`` (any split; with ``domain``, those of its
    tasks), in anchor order, with the folder in :data:`TINY_COLUMN` and the domain (or "") in
    :data:`TINY_DOMAIN_COLUMN`; an anchor the export lacks is an error naming it."""
    name = task_name(TINY_TASK if domain is None else f"{TINY_TASK}_domain_{domain}", mode)
    folder = str(Path(folder).resolve())
    tiny = tiny_set(folder)
    anchors = tiny.query_ids
    if domain is not None:
        if domain not in set(TASK_DOMAINS.values()):
            raise ValueError(f"{name}: unknown domain {domain!r}; one of {sorted(set(TASK_DOMAINS.values()))}")
        anchors = [q for q, t in zip(tiny.query_ids, tiny.tasks, strict=True) if TASK_DOMAINS.get(t) == domain]
        if not anchors:
            raise ValueError(f"{name}: the tiny set in {folder} has no anchor of the {domain} domain")
    wanted = set(anchors)
    parts, found = [], {}
    for split in queries.values():
        rows = [i for i, q in enumerate(split["query_id"]) if q in wanted]
        if rows:
            part = split.select(rows)
            found.update({q: (len(parts), i) for i, q in enumerate(part["query_id"])})
            parts.append(part)
    missing = [q for q in anchors if q not in found]
    if missing:
        raise ValueError(f"{name}: {len(missing)} of the {len(anchors)} anchors of {folder} are not in the export "
                         f"(e.g. {missing[:3]}); pass the export the tiny set was built from as "
                         f"--metadata '{{\"fusionbench_export\": \"DIR\"}}'")  # fmt: skip
    docs = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    order = [offsets[found[q][0]] + found[q][1] for q in anchors]
    prompt = f"prompt_{mode}"
    keep = [i for i in order if docs[i][prompt]]
    if len(keep) < len(order):
        log.warning("%s: %d anchors have no %s prompt and are skipped", name, len(order) - len(keep), mode)
    docs = docs.select(keep)
    docs = docs.add_column(TINY_COLUMN, [folder] * len(docs))
    return docs.add_column(TINY_DOMAIN_COLUMN, [domain or ""] * len(docs))


def process_tiny_results(doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, Any]:
    """The anchor's ``acc`` (as :func:`process_results` scores it) and, for the estimate aggregations, the item
    (tiny set folder, query id, score) under ``estimate`` and ``estimate_<task>`` for every task."""
    acc = process_results(doc, results)["acc"]
    domain = doc.get(TINY_DOMAIN_COLUMN) or ""
    item = (doc[TINY_COLUMN], doc["query_id"], acc, domain)
    return {"acc": acc, "estimate": item, **{f"estimate_{task}": item for task in domain_tasks(domain)}}


def domain_tasks(domain: str) -> tuple[str, ...]:
    """The tasks of ``domain`` ("" or None: every task), in the release's order."""
    return tuple(t for t in TASKS if not domain or TASK_DOMAINS[t] == domain)


@lru_cache(maxsize=4)
def _estimate(folder: str, scores: tuple[tuple[str, float], ...]) -> Any:
    return tiny_set(folder).estimate(dict(scores))


def tiny_estimate(items: Sequence[Sequence[Any]]) -> Any:
    """The :class:`~fusionbench.fusion.tiny.TinyEstimate` of the logged (folder, query id, score) items: what
    ``TinySet.estimate`` gives on {query id: score}."""
    folders = {str(item[0]) for item in items}
    if len(folders) != 1:
        raise ValueError(f"the tiny estimate needs the items of one tiny set, found {sorted(folders)}")
    scores = tuple(sorted((str(item[1]), float(item[2])) for item in items))
    return _estimate(folders.pop(), scores)


def estimate_overall(items: Sequence[Sequence[Any]]) -> float:
    """lm-eval aggregation: the estimated full-benchmark accuracy, the mean over tasks (as FusionBench reports);
    for a tiny domain task, the mean over that domain's tasks."""
    estimate = tiny_estimate(items)
    domains = {str(item[3]) for item in items if len(item) > 3}
    if len(domains) > 1:
        raise ValueError(f"the tiny estimate needs the items of one domain, found {sorted(domains)}")
    domain = domains.pop() if domains else ""
    if not domain:
        return float(estimate.overall)
    values = [estimate.per_task[t] for t in domain_tasks(domain) if t in estimate.per_task]
    return float(sum(values) / len(values)) if values else float("nan")


def _task_aggregation(task: str) -> Any:
    def aggregate(items: Sequence[Sequence[Any]]) -> float:
        return float(tiny_estimate(items).per_task.get(task, float("nan")))

    aggregate.__name__ = aggregate.__qualname__ = f"estimate_{task}"
    aggregate.__doc__ = f"lm-eval aggregation: the estimated full-benchmark accuracy of {task} (nan: not in the set)."
    return aggregate


for _task in TASKS:  # estimate_<task>: one aggregation per task, as the tiny YAMLs name them
    globals()[f"estimate_{_task}"] = _task_aggregation(_task)
