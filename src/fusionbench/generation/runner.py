"""The generation runner: queries -> work items -> engine -> scored, priced rows in resumable Parquet shards.

One work item is a (query, mode) with the sample indices still missing from the run folder; it is one
engine request with ``n`` = that many samples. Finished requests are scored (:mod:`fusionbench.metrics`),
priced and written as one shard per ``batch_size`` requests by a background thread while the engine
goes on generating. One code path whatever the engine: ``engine="ray"`` (or ``data_parallel_size`` > 1)
is an engine too, a Ray Data pipeline whose results come back here to be written.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fusionbench.catalog import PriceSheet, load_price_sheet
from fusionbench.export.merge import MergeReport, merge_rows
from fusionbench.generation.engines import Engine, make_engine
from fusionbench.generation.items import (
    QUERY_COLUMNS,
    ProgressFn,
    RunSummary,
    WorkItem,
    recover_journals,
    run_items,
)
from fusionbench.generation.settings import GenerationSettings, item_key, request_seed
from fusionbench.generation.store import RunStore, failed_rows, read_manifest, read_run, run_keys
from fusionbench.schema import TASKS


def run_queries(settings: GenerationSettings) -> list[dict[str, Any]]:
    """The queries of the run: its split and tasks, ordered by (task, query_id), ``limit`` per task, its shard."""
    tasks = settings.tasks or TASKS
    order = {t: i for i, t in enumerate(tasks)}
    queries = _prompts_queries(settings) if settings.prompts else _export_queries(settings)
    rows = sorted((q for q in queries if q["task"] in order), key=lambda q: (order[q["task"]], q["query_id"]))
    if settings.tiny_info:
        rows = _anchor_queries(settings, rows)
    if settings.limit is not None:
        taken: Counter[str] = Counter()
        rows = [q for q in rows if (taken.update([q["task"]]) or taken[q["task"]] <= settings.limit)]
    return [q for q in rows if settings.shard.contains(q["query_id"])]


def _anchor_queries(settings: GenerationSettings, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queries among ``rows`` that are anchors of the run's tiny set; every anchor of the run's tasks must be
    there (a tiny set built from other data is refused, naming how many anchors are missing)."""
    anchors = settings.tiny_info["anchors"]  # {query_id: task}
    kept = [q for q in rows if q["query_id"] in anchors]
    wanted = {q for q, task in anchors.items() if task in (settings.tasks or TASKS)}
    missing = sorted(wanted - {q["query_id"] for q in kept})
    if missing:
        raise ValueError(
            f"{len(missing)} of the {len(wanted)} anchors of the tiny set {settings.tiny} are not among the "
            f"{settings.split} queries of {settings.export or 'the embedded sample'} (e.g. {missing[:3]}): pass the "
            "--export the tiny set was built from"
        )
    return kept


def _export_queries(settings: GenerationSettings) -> list[dict[str, Any]]:
    from fusionbench.loading import load_queries_dataset

    splits = load_queries_dataset(settings.export)
    if settings.split not in splits:
        raise ValueError(f"the queries table has no {settings.split!r} split (it has {', '.join(splits)})")
    return splits[settings.split].select_columns([*QUERY_COLUMNS, "prompt_direct", "prompt_cot"]).to_list()


def _prompts_queries(settings: GenerationSettings) -> list[dict[str, Any]]:
    """The queries of a `fusionbench thoughts apply` folder (one split; every prompt column)."""
    from fusionbench.fusion.thoughts.apply import read_prompts

    prompts = read_prompts(settings.prompts)  # its split is the settings' (checked by GenerationSettings)
    wanted = [*QUERY_COLUMNS, "prompt_direct", "prompt_cot", "prompt_thought"]
    missing = [c for c in wanted if c not in prompts.table.column_names]
    if missing:
        raise ValueError(f"{settings.prompts}: the prompts table lacks the columns {missing}")
    return prompts.table.select(wanted).to_pylist()


def thoughts_info(settings: GenerationSettings) -> dict[str, Any] | None:
    """What run.json records about the thought prompts of a run (None without ``prompts``)."""
    if not settings.prompts:
        return None
    from fusionbench.fusion.thoughts.apply import read_prompts_manifest

    manifest = read_prompts_manifest(settings.prompts)
    templates = manifest["templates"]
    return {
        "prompts": str(Path(settings.prompts).resolve()),
        "prompts_fingerprint": manifest["fingerprint"],
        "templates": f"{Path(templates['folder']).name}@{templates['fingerprint']}",
        "summarizer_model": templates.get("summarizer_model"),
        "answer_tags": manifest.get("answer_tags"),
        "retrieval": manifest.get("retrieval"),
    }


def work_items(
    settings: GenerationSettings, queries: list[dict[str, Any]], done: set[str]
) -> tuple[list[WorkItem], int]:
    """The items still to generate, and how many (query, mode) pairs are complete already; ``done``: the
    :func:`~fusionbench.generation.settings.item_key` of every row written without an error."""
    items, complete, samples = [], 0, range(settings.sampling.samples)
    key_hash = settings.settings_hash()
    for query in queries:
        for mode in settings.modes:
            prompt = query[f"prompt_{mode}"]
            if not prompt:
                warnings.warn(
                    f"query {query['query_id']} ({query['task']}) has no {mode} prompt: skipped", stacklevel=2
                )
                continue
            missing = tuple(
                s
                for s in samples
                if item_key(key_hash, query["query_id"], query["split"], settings.name, mode, s) not in done
            )
            if not missing:
                complete += 1
                continue
            seed = request_seed(settings.sampling.seed, query["query_id"], mode, missing[0])
            items.append(WorkItem({k: query[k] for k in QUERY_COLUMNS}, mode, prompt, missing, seed))
    return items, complete


def _price_info(sheet: PriceSheet | None, name: str) -> dict[str, Any] | None:
    price = sheet.price(name) if sheet else None
    if sheet is None or price is None:
        return None
    return {"sheet": sheet.name, "date": sheet.date, "source": sheet.source, "input": price[0], "output": price[1]}


def generate(settings: GenerationSettings, *, engine: Engine | None = None) -> RunSummary:
    """Run (or resume) a generation run into ``settings.out``; ``engine``: an engine built already (reused)."""
    store = RunStore(settings.out)
    try:
        store.remove_temp_files()
        sheet = load_price_sheet(settings.prices) if settings.prices else None
        extra = {"runtime": settings.runtime(), "price": _price_info(sheet, settings.name)}
        if settings.prompts:
            extra["thoughts"] = thoughts_info(settings)
        if settings.tiny_info:  # ingest marks the rows as the anchors of this tiny set (not a full evaluation)
            extra["tiny"] = {k: v for k, v in settings.tiny_info.items() if k != "anchors"}
            extra["tiny"]["anchors"] = len(settings.tiny_info["anchors"])
        store.open_manifest(settings.identity(), extra)
        recovered = recover_journals(store, settings, sheet)  # a killed run's finished requests, first
        items, skipped = work_items(settings, run_queries(settings), run_keys(store.run_dir, settings.settings_hash()))
        total = RunSummary(store.run_dir, items_total=len(items) + skipped, items_skipped=skipped)
        total.rows_recovered = recovered
        if not items:
            return total
        own = engine is None
        engine = engine or make_engine(settings)  # loaded before the bar starts its clock
        try:
            with _progress_bar(settings, len(items)) as on_progress:
                part = run_items(settings, store, engine, items, sheet, on_progress)
        finally:
            if own:
                engine.close()
        total.add(part)
        total.elapsed_s = part.elapsed_s
        return total
    finally:
        store.close()


@contextlib.contextmanager
def _progress_bar(settings: GenerationSettings, total: int) -> Iterator[ProgressFn]:
    """A rich progress bar over requests, showing completion tokens per second."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[speed]}"))
    with Progress(
        *columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not settings.progress,
    ) as bar:
        task = bar.add_task(f"generating {settings.name}", total=total, speed="")
        start, tokens = time.perf_counter(), 0

        def on_progress(requests: int, new_tokens: int) -> None:
            nonlocal tokens
            tokens += new_tokens
            speed = tokens / max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=requests, speed=f"{speed:,.0f} tok/s")

        yield on_progress


def add_run(run_dir: Path, export_dir: Path) -> MergeReport:
    """Merge a run's rows into an export (``fusionbench ingest RUN_DIR --into EXPORT``); idempotent, run-only
    columns dropped, failed rows (no response) left out and counted in ``failed_rows``."""
    manifest = read_manifest(run_dir)
    settings, price = manifest["settings"], manifest.get("price")
    rows = read_run(run_dir)
    failed = failed_rows(rows)
    failures = pc.sum(failed).as_py() or 0
    rows = rows.filter(pc.invert(failed))  # a failed generation is no response of the model (and no score of 0)
    engines = sorted({e for e in rows["engine"].to_pylist() if e}) or [
        (manifest.get("runtime") or {}).get("engine") or settings.get("engine", "?")
    ]
    model_row = {
        "model": settings["name"],
        "generated_by": settings["model"],
        "input_price": price["input"] if price else None,
        "output_price": price["output"] if price else None,
        "price_date": price["date"] if price else None,
        "price_source": price["source"] if price else None,
        "description": (
            f"Generated by fusionbench generate ({', '.join(engines)}, temperature {settings['temperature']}, "
            f"top_p {settings['top_p']}, {settings['samples']} sample(s), seed {settings['seed']}) "
            f"in run {Path(run_dir).name}"
        ),
    }
    label = f"generation run `{Path(run_dir).name}`"
    thoughts = manifest.get("thoughts")
    if thoughts:  # thought rows name the templates set that wrote their prompts
        is_thought = pc.equal(rows["mode"], "thought")
        named = pc.binary_join_element_wise(rows["source"], f"thoughts:{thoughts['templates']}", " ")
        source = pc.if_else(is_thought, named, rows["source"])
        rows = rows.set_column(rows.schema.get_field_index("source"), "source", source)
        model_row["description"] += f"; thought prompts from templates {thoughts['templates']}"
    tiny = manifest.get("tiny")
    if tiny:  # the anchors of a tiny set: their source says so, as lm-eval runs of fusionbench_tiny do
        marked = pa.array([f"tiny:{tiny['name']}:{s or 'generate'}" for s in rows["source"].to_pylist()], pa.string())
        rows = rows.set_column(rows.schema.get_field_index("source"), "source", marked)
        label += f" (anchors of the tiny set `{tiny['name']}`: not a full evaluation)"
        model_row["description"] += f"; only the anchors of the tiny set {tiny['name']}, not a full evaluation"
    report = merge_rows(Path(export_dir), rows, [model_row], source=str(run_dir), label=label)
    report.failed_rows = failures
    return report
