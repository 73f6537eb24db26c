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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from fusionbench.catalog import PriceSheet
from fusionbench.export.records import NewResponse, build_rows
from fusionbench.generation.engines import Completion, Engine, Request, Result
from fusionbench.generation.failures import ERROR, TOO_LONG, failed_result, isolate_failures
from fusionbench.generation.journal import Journal, journal_path, leftover_journals, read_journal, shard_of
from fusionbench.generation.settings import GenerationSettings, item_key
from fusionbench.generation.store import RunStore
from fusionbench.schema import SCORER_FIELDS

QUERY_COLUMNS = ("query_id", "task", "domain", "split", "query", "ground_truth", "metric", *SCORER_FIELDS)
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
class Finished:
    """A work item with its engine's result: what one journal line holds and what becomes rows."""

    item: WorkItem
    result: Result
    token_counter: str
    engine: str

    def record(self) -> dict[str, Any]:
        return {"item": asdict(self.item), "result": asdict(self.result), "token_counter": self.token_counter,
                "engine": self.engine}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Finished:
        item = WorkItem(**{**record["item"], "samples": tuple(record["item"]["samples"])})
        result = record["result"]
        completions = [Completion(**c) for c in result["completions"]]
        return cls(item, Result(**{**result, "completions": completions}), record["token_counter"], record["engine"])


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
    rows_failed: int = 0  # rows with a null response and the error recorded (retried by a rerun)
    rows_recovered: int = 0  # rows of a killed run's journals written into shards at the start
    elapsed_s: float = 0.0
    finish_reasons: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # error message -> rows

    @property
    def tokens_per_s(self) -> float:
        """Completion tokens per second of generation."""
        return self.completion_tokens / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, other: RunSummary) -> None:
        """Add another summary's counts into this one."""
        names = ("items_generated", "rows_written", "shards_written", "prompt_tokens", "completion_tokens",
                 "rows_failed", "rows_recovered")  # fmt: skip
        for name in names:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.finish_reasons.update(other.finish_reasons)
        self.errors.update(other.errors)


def _rows(
    finished: list[Finished], sheet: PriceSheet | None, settings: GenerationSettings, source: str, key_hash: str
) -> pa.Table:
    """Canonical rows (scored, priced) plus the run-only columns of :data:`~fusionbench.generation.store.RUN_SCHEMA`."""
    responses, extra = [], {"finish_reason": [], "latency_s": [], "error": [], "item_key": [], "engine": [],
                            "reasoning_tokens": []}  # fmt: skip
    for done in finished:
        item, result = done.item, done.result
        for sample, completion in zip(item.samples, result.completions, strict=True):
            failed = result.error is not None or completion.finish_reason in (TOO_LONG, ERROR)
            query = item.query
            responses.append(
                NewResponse(
                    query=query,
                    model=settings.name,
                    mode=item.mode,
                    sample=sample,
                    prompt=item.prompt,
                    response=None if failed else completion.text,
                    input_tokens=result.prompt_tokens,
                    output_tokens=None if failed else completion.tokens,
                    token_counter=done.token_counter,
                    source=source,
                )
            )
            extra["finish_reason"].append(completion.finish_reason)
            extra["latency_s"].append(result.latency_s)
            extra["error"].append(result.error or (TOO_LONG if failed else None))
            extra["item_key"].append(
                item_key(key_hash, query["query_id"], query["split"], settings.name, item.mode, sample)
            )
            extra["engine"].append(done.engine)
            extra["reasoning_tokens"].append(None if failed else completion.reasoning_tokens)
    table = build_rows(responses, sheet, workers=settings.workers)
    for name, values in extra.items():
        table = table.append_column(name, pa.array(values, RUN_COLUMN_TYPES[name]))
    return table


RUN_COLUMN_TYPES = {"finish_reason": pa.string(), "latency_s": pa.float64(), "error": pa.string(),
                    "item_key": pa.string(), "engine": pa.string(), "reasoning_tokens": pa.int64()}  # fmt: skip


class _ShardWriter:
    """Scores finished requests in small chunks on a background thread while generation goes on, and writes
    one shard per ``batch_size`` requests (or per ``flush_interval_s``), so only the last chunk is left to
    score when the engine is done. At most one shard's write is outstanding while the next one fills. Every
    finished request is in the shard's journal (:mod:`~fusionbench.generation.journal`) until the shard is
    on disk."""

    def __init__(self, store: RunStore, rows: Callable[[list[Finished], str], pa.Table], settings: GenerationSettings):
        self.store, self.rows, self.settings = store, rows, settings
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fusionbench-shards")
        self.name: str | None = None
        self.journal: Journal | None = None
        self.opened = 0.0
        self.requests = 0
        self.chunk: list[Finished] = []
        self.scored: list[Future] = []
        self.writing: Future | None = None
        self.shards = self.rows_written = 0

    def add(self, done: Finished) -> None:
        if self.name is None:
            self.name, self.opened = self.store.next_shard_name(), time.perf_counter()
            self.journal = Journal(journal_path(self.store.run_dir, self.name))
        assert self.journal is not None
        self.journal.append(done.record())
        self.chunk.append(done)
        self.requests += 1
        self.rows_written += len(done.result.completions)
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
        parts, name, journal = self.scored, self.name, self.journal
        assert journal is not None
        journal.close()
        if self.writing is not None:
            self.writing.result()  # backpressure: the previous shard is on disk before another is queued

        def write() -> None:
            self.store.write_shard(pa.concat_tables([f.result() for f in parts]), name)
            journal.discard()  # only once the shard is in place

        self.writing = self.pool.submit(write)
        self.scored, self.name, self.journal, self.requests = [], None, None, 0
        self.shards += 1

    def close(self) -> None:
        """Write what is left and wait for every write (or re-raise the first failure)."""
        try:
            self.flush()
            if self.writing is not None:
                self.writing.result()
        finally:
            self.pool.shutdown(wait=True)
            if self.journal is not None:
                self.journal.close()


def run_items(
    settings: GenerationSettings,
    store: RunStore,
    engine: Engine,
    items: list[WorkItem],
    sheet: PriceSheet | None,
    on_progress: ProgressFn | None = None,
) -> RunSummary:
    """Generate ``items`` with ``engine`` and write them to ``store``, one shard per ``batch_size`` requests.
    A request the engine fails on (or a prompt longer than it accepts) becomes rows with a null response and
    the error recorded, counted in the summary."""
    summary = RunSummary(store.run_dir)
    rejected: list[Result] = []
    key_hash = settings.settings_hash()

    def requests() -> Iterator[Request]:
        for index, item in enumerate(items):
            ids = engine.encode(item.prompt)
            request = Request(index, ids, len(item.samples), item.seed, item.prompt)
            limit = engine.max_prompt_tokens
            if limit is not None and len(ids) > limit:
                error = f"{TOO_LONG}: {len(ids)} prompt tokens, more than the engine's limit of {limit}"
                rejected.append(failed_result(request, error, TOO_LONG))
                continue
            yield request

    def rows(finished: list[Finished], source: str) -> pa.Table:
        return _rows(finished, sheet, settings, source, key_hash)

    start = time.perf_counter()
    writer = _ShardWriter(store, rows, settings)
    try:
        for result in _with_rejected(isolate_failures(engine, requests()), rejected):
            writer.add(Finished(items[result.id], result, engine.token_counter, engine.name))
            tokens = sum(c.tokens for c in result.completions)
            summary.items_generated += 1
            summary.prompt_tokens += (result.prompt_tokens or 0) * len(result.completions)
            summary.completion_tokens += tokens
            summary.finish_reasons.update(c.finish_reason for c in result.completions)
            if result.error is not None:
                summary.rows_failed += len(result.completions)
                summary.errors[result.error] += len(result.completions)
            if on_progress:
                on_progress(1, tokens)
    finally:
        writer.close()
    summary.shards_written, summary.rows_written = writer.shards, writer.rows_written
    summary.elapsed_s = time.perf_counter() - start
    return summary


def recover_journals(store: RunStore, settings: GenerationSettings, sheet: PriceSheet | None) -> int:
    """Write the shards a killed run had journaled but not written (its lock held); returns the rows recovered.
    A journal whose shard is on disk already is deleted."""
    recovered, key_hash = 0, settings.settings_hash()
    for path in leftover_journals(store.run_dir):
        name = shard_of(path)
        if not (store.run_dir / name).is_file():
            finished = [Finished.from_record(r) for r in read_journal(path)]
            if finished:
                table = _rows(finished, sheet, settings, f"generate:{store.run_dir.name}/{name}", key_hash)
                store.write_shard(table, name)
                recovered += table.num_rows
        path.unlink()
    return recovered


def _with_rejected(results: Iterator[Result], rejected: list[Result]) -> Iterator[Result]:
    """Interleave the engine's results with the requests refused before reaching it (prompt too long)."""
    for result in results:
        while rejected:
            yield rejected.pop(0)
        yield result
    while rejected:
        yield rejected.pop(0)
