"""Work items through an engine into scored, priced rows in the run's shards (one process's share of a run).

One work item is a (query, mode) with the sample indices still missing from the run folder; it is one
engine request with ``n`` = that many samples. Finished requests are scored (:mod:`fusionbench.metrics`),
priced and written as one shard per ``batch_size`` requests by a background thread while the engine
goes on generating. Used by the runner in-process and by every data-parallel replica.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from fusionbench.catalog import PriceSheet
from fusionbench.export.records import NewResponse, build_rows
from fusionbench.generation.engines import Completion, Engine, Request, Result
from fusionbench.generation.settings import GenerationSettings
from fusionbench.generation.store import RunStore
from fusionbench.schema import SCORER_FIELDS

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
