"""The generation runner: queries -> work items -> engine -> scored, priced rows in resumable Parquet shards.

One work item is a (query, mode) with the sample indices still missing from the run folder; it is one
engine request with ``n`` = that many samples. Finished requests are scored (:mod:`fusionbench.metrics`),
priced and written as one shard per ``batch_size`` requests by a background thread while the engine
goes on generating. ``data_parallel_size`` > 1 runs that many engine replicas in their own processes,
each on its own devices and its own share of the items.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from fusionbench.catalog import PriceSheet, load_price_sheet
from fusionbench.export.merge import MergeReport, merge_rows
from fusionbench.export.records import NewResponse, build_rows
from fusionbench.generation.engines import Completion, Engine, Request, Result, make_engine
from fusionbench.generation.settings import GenerationSettings, request_seed
from fusionbench.generation.store import RunStore, read_manifest, read_run, run_keys
from fusionbench.schema import SCORER_FIELDS, TASKS

QUERY_COLUMNS = ("query_id", "task", "domain", "split", "query", "ground_truth", "metric", *SCORER_FIELDS)
TOO_LONG = "prompt_too_long"
#: Finished requests scored together on the background thread.
SCORE_CHUNK = 32
#: Called with (requests finished, completion tokens of those requests).
ProgressFn = Callable[[int, int], None]


@dataclass
class WorkItem:
    """One engine request: a query in one mode, and the sample indices it still needs."""

    query: dict[str, Any]
    mode: str
    prompt: str  # prompt_direct or prompt_cot, verbatim: the user message
    samples: tuple[int, ...]
    seed: int


@dataclass
class RunSummary:
    """What a run did. ``elapsed_s`` runs from the first request to the last shard on disk."""

    run_dir: Path
    items_total: int = 0  # (query, mode) pairs of this shard of the queries
    items_skipped: int = 0  # already complete in the run folder
    items_generated: int = 0
    rows_written: int = 0
    shards_written: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    finish_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens per second of generation."""
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, other: RunSummary) -> None:
        for name in ("items_generated", "rows_written", "shards_written", "prompt_tokens", "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.finish_reasons.update(other.finish_reasons)


def load_queries(settings: GenerationSettings) -> list[dict[str, Any]]:
    """The queries of the run: its split and tasks, ordered by (task, query_id), ``limit`` per task, its shard."""
    from fusionbench.fusionbench_dataset import load_queries as load_queries_config

    splits = load_queries_config(settings.export)
    if settings.split not in splits:
        raise ValueError(f"the queries table has no {settings.split!r} split (it has {', '.join(splits)})")
    dataset = splits[settings.split].select_columns([*QUERY_COLUMNS, "prompt_direct", "prompt_cot"])
    tasks = settings.tasks or TASKS
    order = {t: i for i, t in enumerate(tasks)}
    rows = sorted((q for q in dataset.to_list() if q["task"] in order), key=lambda q: (order[q["task"]], q["query_id"]))
    if settings.limit is not None:
        taken: Counter[str] = Counter()
        rows = [q for q in rows if (taken.update([q["task"]]) or taken[q["task"]] <= settings.limit)]
    return [q for q in rows if settings.shard.contains(q["query_id"])]


def work_items(
    settings: GenerationSettings, queries: list[dict[str, Any]], done: set[tuple[str, str, str, str, int]]
) -> tuple[list[WorkItem], int]:
    """The items still to generate, and how many (query, mode) pairs are complete already."""
    items, complete, samples = [], 0, range(settings.sampling.samples)
    for query in queries:
        for mode in settings.modes:
            prompt = query[f"prompt_{mode}"]
            if not prompt:
                warnings.warn(
                    f"query {query['query_id']} ({query['task']}) has no {mode} prompt: skipped", stacklevel=2
                )
                continue
            missing = tuple(
                s for s in samples if (query["query_id"], query["split"], settings.name, mode, s) not in done
            )
            if not missing:
                complete += 1
                continue
            seed = request_seed(settings.sampling.seed, query["query_id"], mode, missing[0])
            items.append(WorkItem({k: query[k] for k in QUERY_COLUMNS}, mode, prompt, missing, seed))
    return items, complete


def _rows(
    items: list[WorkItem],
    results: list[Result],
    sheet: PriceSheet | None,
    settings: GenerationSettings,
    source: str,
    token_counter: str,
) -> pa.Table:
    """Canonical rows (scored, priced) plus finish_reason and latency_s for finished requests."""
    responses, reasons, latencies = [], [], []
    for result in results:
        item = items[result.id]
        for sample, completion in zip(item.samples, result.completions, strict=True):
            too_long = completion.finish_reason == TOO_LONG
            responses.append(
                NewResponse(
                    query=item.query,
                    model=settings.name,
                    mode=item.mode,
                    sample=sample,
                    prompt=item.prompt,
                    response=None if too_long else completion.text,
                    input_tokens=result.prompt_tokens,
                    output_tokens=None if too_long else completion.tokens,
                    token_counter=token_counter,
                    source=source,
                )
            )
            reasons.append(completion.finish_reason)
            latencies.append(result.latency_s)
    table = build_rows(responses, sheet, workers=settings.workers)
    table = table.append_column("finish_reason", pa.array(reasons, pa.string()))
    return table.append_column("latency_s", pa.array(latencies, pa.float64()))


class _ShardWriter:
    """Scores finished requests in small chunks on a background thread while generation goes on, and writes
    one shard per ``batch_size`` requests (or per ``flush_interval_s``), so only the last chunk is left to
    score when the engine is done. At most one shard's write is outstanding while the next one fills."""

    def __init__(self, store: RunStore, rows: Callable[[list[Result], str], pa.Table], settings: GenerationSettings):
        self.store, self.rows, self.settings = store, rows, settings
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fusionbench-shards")
        self.name: str | None = None
        self.opened = 0.0
        self.requests = 0
        self.chunk: list[Result] = []
        self.scored: list[Future] = []
        self.writing: Future | None = None
        self.shards = self.rows_written = 0

    def add(self, result: Result) -> None:
        if self.name is None:
            self.name, self.opened = self.store.next_shard_name(), time.perf_counter()
        self.chunk.append(result)
        self.requests += 1
        self.rows_written += len(result.completions)
        if len(self.chunk) >= SCORE_CHUNK:
            self._score()
        interval = time.perf_counter() - self.opened > self.settings.flush_interval_s
        if self.requests >= self.settings.effective_batch_size or interval:
            self.flush()

    def _score(self) -> None:
        if self.chunk:
            source = f"generate:{self.store.run_dir.name}/{self.name}"
            self.scored.append(self.pool.submit(self.rows, self.chunk, source))
            self.chunk = []

    def flush(self) -> None:
        if self.name is None:
            return
        self._score()
        parts, name = self.scored, self.name
        if self.writing is not None:
            self.writing.result()  # backpressure: the previous shard is on disk before another is queued
        self.writing = self.pool.submit(
            lambda: self.store.write_shard(pa.concat_tables([f.result() for f in parts]), name)
        )
        self.scored, self.name, self.requests = [], None, 0
        self.shards += 1

    def close(self) -> None:
        """Write what is left and wait for every write (or re-raise the first failure)."""
        try:
            self.flush()
            if self.writing is not None:
                self.writing.result()
        finally:
            self.pool.shutdown(wait=True)


def run_items(
    settings: GenerationSettings,
    store: RunStore,
    engine: Engine,
    items: list[WorkItem],
    sheet: PriceSheet | None,
    on_progress: ProgressFn | None = None,
) -> RunSummary:
    """Generate ``items`` with ``engine`` and write them to ``store``, one shard per ``batch_size`` requests."""
    summary = RunSummary(store.run_dir)
    rejected: list[Result] = []

    def requests() -> Iterator[Request]:
        for index, item in enumerate(items):
            ids = engine.encode(item.prompt)
            if engine.max_prompt_tokens is not None and len(ids) > engine.max_prompt_tokens:
                rejected.append(Result(index, len(ids), [Completion("", 0, TOO_LONG)] * len(item.samples), 0.0))
                continue
            yield Request(index, ids, len(item.samples), item.seed)

    def rows(results: list[Result], source: str) -> pa.Table:
        return _rows(items, results, sheet, settings, source, engine.token_counter)

    start = time.perf_counter()
    writer = _ShardWriter(store, rows, settings)
    try:
        for result in _with_rejected(engine.generate(requests()), rejected):
            writer.add(result)
            tokens = sum(c.tokens for c in result.completions)
            summary.items_generated += 1
            summary.prompt_tokens += result.prompt_tokens * len(result.completions)
            summary.completion_tokens += tokens
            summary.finish_reasons.update(c.finish_reason for c in result.completions)
            if on_progress:
                on_progress(1, tokens)
    finally:
        writer.close()
    summary.shards_written, summary.rows_written = writer.shards, writer.rows_written
    summary.elapsed_s = time.perf_counter() - start
    return summary


def _with_rejected(results: Iterator[Result], rejected: list[Result]) -> Iterator[Result]:
    """Interleave the engine's results with the requests refused before reaching it (prompt too long)."""
    for result in results:
        while rejected:
            yield rejected.pop(0)
        yield result
    while rejected:
        yield rejected.pop(0)


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
        store.open_manifest(settings.identity(), extra)
        items, skipped = work_items(settings, load_queries(settings), run_keys(store.run_dir))
        total = RunSummary(store.run_dir, items_total=len(items) + skipped, items_skipped=skipped)
        if not items:
            return total
        if settings.data_parallel_size > 1:
            if engine is not None:
                raise ValueError("data_parallel_size > 1 builds its own engines; do not pass one")
            from fusionbench.generation.replicas import generate_replicas

            with _progress_bar(settings, len(items)) as on_progress:
                part = generate_replicas(settings, items, sheet, on_progress)
        else:
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
    """Merge a run's rows into an export (``fusionbench build --add-run``); idempotent, run-only columns dropped."""
    manifest = read_manifest(run_dir)
    settings, price = manifest["settings"], manifest.get("price")
    model_row = {
        "model": settings["name"],
        "generated_by": settings["model"],
        "input_price": price["input"] if price else None,
        "output_price": price["output"] if price else None,
        "price_date": price["date"] if price else None,
        "price_source": price["source"] if price else None,
        "description": (
            f"Generated by fusionbench generate ({settings['engine']}, temperature {settings['temperature']}, "
            f"top_p {settings['top_p']}, {settings['samples']} sample(s), seed {settings['seed']}) "
            f"in run {Path(run_dir).name}"
        ),
    }
    label = f"generation run `{Path(run_dir).name}`"
    return merge_rows(Path(export_dir), read_run(run_dir), [model_row], source=str(run_dir), label=label)
