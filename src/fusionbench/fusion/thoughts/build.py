"""``fusionbench thoughts build``: thought templates from the top responses of a split, resumably.

Per query: the top correct responses of a model pool (:mod:`.selection`), summarised into one template by a
:class:`~.summarizers.Summarizer` (an LLM through :mod:`fusionbench.generation.thoughts`, or the extractive one).
Results go to the templates folder in parts (:mod:`.store`); a rerun with the same settings skips every query
that has a template and retries the failed ones. The templates table is written once every query has a result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fusionbench.fusion.thoughts.prompts import FUSIONFACTORY_COMMIT
from fusionbench.fusion.thoughts.selection import (
    SelectionSettings,
    limit_per_task,
    resolve_pool,
    select_responses,
)
from fusionbench.fusion.thoughts.sources import ThoughtSource, from_export
from fusionbench.fusion.thoughts.store import TEMPLATE_SCHEMA, TemplateStore, fingerprint
from fusionbench.fusion.thoughts.summarizers import Summarizer, SummaryRequest


@dataclass
class BuildReport:
    """What a build did. ``failed``/``empty``: this run's nulls; ``null_templates``: nulls in the finished table."""

    folder: Path
    queries: int = 0  # queries of the split (in the tasks asked for)
    no_correct: int = 0  # skipped: no correct response from the pool
    selected: int = 0  # queries with top responses (after queries_per_task)
    already_done: int = 0  # had a template from an earlier run
    summarized: int = 0
    failed: int = 0
    empty: int = 0
    templates: int = 0
    null_templates: int = 0
    complete: bool = False  # every selected query has a result and the table is written
    absent_models: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    by_task: dict[str, dict[str, int]] = field(default_factory=dict)


def _pool_setting(pool: tuple[str, ...] | None) -> list[str] | str:
    return "all" if pool is None else list(pool)


def build_templates(
    source: ThoughtSource | str | Path,
    out: str | Path,
    summarizer: Summarizer,
    *,
    split: str = "train",
    tasks: Sequence[str] | None = None,
    pool: str | Sequence[str] = "small",
    selection: str = "hybrid",
    top_n: int = 3,
    stage1: int = 5,
    queries_per_task: int | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Build (or resume) the templates of ``source`` (an export folder, or a :class:`ThoughtSource`) into ``out``.

    ``limit``: summarise at most this many more queries now (resume later).
    """
    if isinstance(source, str | Path):
        source = from_export(source, split, tasks=tasks)
    if source.split != "train":
        raise ValueError(
            f"{source.name}: templates are built from the train split, not {source.split!r}; the queries they "
            "guide come from another split"
        )
    settings = SelectionSettings(selection, top_n, stage1, resolve_pool(pool))
    chosen = select_responses(source.rows, settings)
    if settings.pool is not None and len(chosen.absent_models) == len(settings.pool):
        raise ValueError(f"{source.name}: none of the pool's models {list(settings.pool)} has a row here")
    meta = source.queries.drop_columns([c for c in ("embedding",) if c in source.queries.column_names])
    queries = {q["query_id"]: q for q in meta.to_pylist()}
    tasks_of = {qid: queries[qid]["task"] if qid in queries else "" for qid in chosen.query_ids}
    chosen = limit_per_task(chosen, tasks_of, queries_per_task)
    identity = {
        "source": source.name,
        "split": source.split,
        "tasks": list(tasks) if tasks is not None else None,
        "pool": _pool_setting(settings.pool),
        "selection": settings.describe(),
        "queries_per_task": queries_per_task,
        "summarizer_model": summarizer.model,
        "prompt_hash": summarizer.prompt_hash,
    }
    report = BuildReport(Path(out), queries=chosen.queries, no_correct=chosen.no_correct)
    report.absent_models = chosen.absent_models
    report.by_task = {t: dict(c) for t, c in chosen.by_task.items()}
    missing_rows = [qid for qid in chosen.query_ids if qid not in queries]
    if missing_rows:
        raise ValueError(f"{source.name}: {len(missing_rows)} queries have responses but no queries row, e.g. "
                         f"{missing_rows[0]!r}")  # fmt: skip
    report.selected = len(chosen.query_ids)
    with TemplateStore(out) as store:
        manifest = store.open_manifest(identity)
        done = store.results()
        ok = set() if done is None else set(done.filter(pc.equal(done["status"], "ok"))["query_id"].to_pylist())
        todo = [(qid, rows) for qid, rows in zip(chosen.query_ids, chosen.rows, strict=True) if qid not in ok]
        report.already_done = report.selected - len(todo)
        if limit is not None:
            todo = todo[:limit]
        responses = source.rows["response"].combine_chunks()
        labels = _source_labels(source.rows)
        named_pool = isinstance(pool, str) and pool in ("small", "all")
        describe = f"{settings.describe()}/{pool if named_pool else ','.join(settings.pool or ())}"
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            texts = iter(responses.take(pa.array(np.concatenate([rows for _, rows in batch]))).to_pylist())
            requests = [
                SummaryRequest(qid, queries[qid]["task"], queries[qid]["question"], tuple(islice(texts, len(rows))))
                for qid, rows in batch
            ]
            before = len(summarizer.last_errors)
            templates = summarizer.summarize(requests)
            errors = summarizer.last_errors[before:]
            error = f"no template after the summariser's retries ({errors[-1] if errors else 'no reason given'})"
            results = []
            for (qid, rows), template in zip(batch, templates, strict=True):
                text = template.strip() if template is not None else None
                status = "failed" if text is None else ("ok" if text else "empty")
                report.summarized += status == "ok"
                report.failed += status == "failed"
                report.empty += status == "empty"
                query = queries[qid]
                results.append(
                    {"query_id": qid, "task": query["task"], "split": source.split, "query": query["query"],
                     "question": query["question"], "template": text or None,
                     "sources": [labels[r] for r in rows.tolist()], "summarizer_model": summarizer.model,
                     "prompt_hash": summarizer.prompt_hash, "selection": describe, "status": status,
                     "error": {"ok": None, "failed": error, "empty": "blank reply"}[status]}
                )  # fmt: skip
            store.write_part(results)
            if on_progress:
                on_progress(start + len(batch), len(todo))
        report.errors = summarizer.last_errors[-5:]
        results = store.results()
        results = TEMPLATE_SCHEMA.empty_table() if results is None else results
        wanted = pa.array(chosen.query_ids, pa.string())
        results = results.filter(pc.is_in(results["query_id"], value_set=wanted))
        if results.num_rows == len(chosen.query_ids):
            order = pc.index_in(results["query_id"], value_set=wanted)
            table = _with_embeddings(results.take(pc.sort_indices(order)), source.queries).cast(TEMPLATE_SCHEMA)
            report.templates = pc.sum(pc.equal(table["status"], "ok")).as_py() or 0
            report.null_templates = table.num_rows - report.templates
            report.complete = True
            counts = {"queries": report.queries, "no_correct_response": report.no_correct,
                      "templates": report.templates, "null_templates": report.null_templates}  # fmt: skip
            manifest = {**manifest, "counts": counts, "by_task": _by_task(table, report.by_task)}
            manifest |= {"fusionfactory_commit": FUSIONFACTORY_COMMIT, "fingerprint": fingerprint(table)}
            store.finish(table, manifest, card_text(manifest))
    return report


def _with_embeddings(table: pa.Table, queries: pa.Table) -> pa.Table:
    """``table`` with each query's stored embedding (null where the queries table has none)."""
    if "embedding" not in queries.column_names:
        return table
    rows = pc.index_in(table["query_id"], value_set=queries["query_id"])
    vectors = pc.take(queries["embedding"], rows).cast(pa.list_(pa.float32()))
    return table.set_column(table.schema.get_field_index("embedding"), "embedding", vectors)


def _source_labels(rows: pa.Table) -> list[str]:
    """``model/mode`` of each row (``#sample`` added for samples other than 0)."""
    samples = rows["sample"].to_pylist()
    return [
        f"{model}/{mode}" + (f"#{sample}" if sample else "")
        for model, mode, sample in zip(rows["model"].to_pylist(), rows["mode"].to_pylist(), samples, strict=True)
    ]


def _by_task(table: pa.Table, offered: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    ok = Counter(t for t, s in zip(table["task"].to_pylist(), table["status"].to_pylist(), strict=True) if s == "ok")
    return {
        task: {"queries": c.get("queries", 0), "no_correct_response": c.get("no_correct", 0), "templates": ok[task]}
        for task, c in offered.items()
    }


def card_text(manifest: dict[str, Any]) -> str:
    """The templates folder's README.md."""
    settings, counts = manifest["settings"], manifest["counts"]
    lines = [
        "# Thought templates (fusionbench thoughts build)",
        "",
        f"Built from `{settings['source']}` (split `{settings['split']}`), responses chosen by "
        f"`{settings['selection']}` from the pool `{settings['pool']}`, summarised by `{settings['summarizer_model']}`"
        + (f" with FusionFactory's prompt (SHA-256 `{settings['prompt_hash']}`)." if settings["prompt_hash"] else "."),
        "",
        f"{counts['templates']:,} templates; {counts['null_templates']:,} failed (null, retried by rerunning the "
        f"build); {counts['no_correct_response']:,} of {counts['queries']:,} queries skipped (no correct response "
        f"from the pool). Fingerprint `{manifest['fingerprint']}`.",
        "",
        "| task | queries | no correct response | templates |",
        "|---|---|---|---|",
        *(f"| {t} | {c['queries']:,} | {c['no_correct_response']:,} | {c['templates']:,} |"
          for t, c in manifest["by_task"].items()),
        "",
        "Columns: " + ", ".join(f"`{f.name}` ({f.metadata[b'doc'].decode()})" for f in TEMPLATE_SCHEMA) + ".",
        "",
        "Apply them: `fusionbench thoughts apply --templates THIS_DIR --data EXPORT --split test --out PROMPTS_DIR`.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)
