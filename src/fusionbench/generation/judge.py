"""``fusionbench judge``: score responses with an LLM judge, resumably, never storing a failure as 0.

Every response of an export (or a generation run) is sent to the judge with the one rubric prompt of
:func:`fusionbench.metrics.judge.judge_prompt`. Results are appended to a work folder as Parquet parts
(atomic renames) keyed by (query_id, split, model, mode, sample), so an interrupted job resumes where
it stopped. When every row is judged they are written into the target: ``judge_score`` and
``judge_model``, plus ``judge_prompt_hash`` and the raw ``judge_output``. A failed call or an unreadable
answer is a null score, counted in the report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.export.folder import is_export, response_shards, rewrite, write_parquet
from fusionbench.metrics.judge import judge_prompt, parse_judge_output
from fusionbench.schema import ROW_KEY, row_keys

JUDGE_COLUMNS = ["judge_score", "judge_model", "judge_prompt_hash", "judge_output"]
_RESULT_SCHEMA = pa.schema(
    [
        ("query_id", pa.string()),
        ("split", pa.string()),
        ("model", pa.string()),
        ("mode", pa.string()),
        ("sample", pa.int32()),
        ("judge_score", pa.float64()),
        ("judge_model", pa.string()),
        ("judge_prompt_hash", pa.string()),
        ("judge_output", pa.string()),
        ("status", pa.string()),  # ok | unparseable | failed
    ]
)


@dataclass
class JudgeReport:
    """Counts of one judge job."""

    rows: int = 0
    already_judged: int = 0
    judged: int = 0
    unparseable: int = 0
    failed: int = 0
    no_response: int = 0
    errors: list[str] = field(default_factory=list)  # a few examples of failed calls


class JudgeEngine(Protocol):
    """What the judge job needs from an engine: a model name, and replies to prompts (None on failure)."""

    model: str
    last_errors: list[str]

    def complete(self, prompts: Sequence[str]) -> list[str | None]: ...


class OpenAIJudge:
    """An OpenAI-compatible chat completions endpoint (e.g. a vLLM server), with retries and a concurrency cap."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        concurrency: int = 8,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 120.0,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        self.model, self.url = model, base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.concurrency, self.max_retries, self.backoff, self.timeout = concurrency, max_retries, backoff, timeout
        self.max_tokens, self.temperature = max_tokens, temperature
        self.last_errors: list[str] = []

    def _call(self, prompt: str) -> str | None:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    return json.loads(reply.read())["choices"][0]["message"]["content"]
            except urllib.error.HTTPError as err:
                error = f"HTTP {err.code}"
                if err.code not in (408, 409, 429) and err.code < 500:
                    self.last_errors.append(error)
                    return None  # a client error will not get better by retrying
            except (urllib.error.URLError, TimeoutError, ConnectionError, KeyError, IndexError, ValueError) as err:
                error = f"{type(err).__name__}: {err}"
            if attempt < self.max_retries:
                time.sleep(self.backoff * 2**attempt * (1 + random.random() / 4))
        self.last_errors.append(error)
        return None

    def complete(self, prompts: Sequence[str]) -> list[str | None]:
        """The judge's reply to each prompt (None when every retry failed), at most ``concurrency`` in flight."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._call, prompts))


class LocalJudge:
    """A local model as the judge, through the generation engines (``hf`` or ``vllm``): greedy, one sample."""

    def __init__(self, engine: str, model: str, *, max_new_tokens: int = 512, work: Path | None = None) -> None:
        import tempfile

        from fusionbench.generation import GenerationSettings, SamplingSettings
        from fusionbench.generation.engines import make_engine

        sampling = SamplingSettings(temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens)
        out = Path(work or tempfile.mkdtemp(prefix="fusionbench-judge-"))
        settings = GenerationSettings(
            model=model, name=model, out=out, engine=engine, sampling=sampling, progress=False
        )
        self.model, self.last_errors = model, []
        self.engine = make_engine(settings)

    def complete(self, prompts: Sequence[str]) -> list[str | None]:
        from fusionbench.generation.engines import Request

        requests = [Request(id=i, prompt_ids=self.engine.encode(p), n=1, seed=0) for i, p in enumerate(prompts)]
        replies: dict[int, str | None] = {}
        for result in self.engine.generate(requests):
            replies[result.id] = result.completions[0].text if result.completions else None
        return [replies.get(i) for i in range(len(prompts))]


def prompt_hash(prompt: str) -> str:
    """SHA-256 of the exact judge prompt, so that a judgement can be traced to its rubric and inputs."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def _target_shards(target: Path) -> list[Path]:
    if is_export(target):
        return response_shards(target)
    shards = sorted(target.glob("*.parquet"))  # a generation run
    if not shards:
        raise FileNotFoundError(f"{target}: neither an export (README.md and data/) nor a generation run (*.parquet)")
    return shards


def _done(work: Path) -> pa.Table | None:
    parts = sorted(work.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None


def judge_target(
    target: Path,
    judge: JudgeEngine,
    *,
    work: Path | None = None,
    batch_size: int = 64,
    limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> JudgeReport:
    """Judge every response of an export or run folder; resumable through ``work``."""
    target = Path(target)
    work = Path(work) if work else target.parent / f".{target.name}.judge-{prompt_hash(judge.model)}"
    work.mkdir(parents=True, exist_ok=True)
    for leftover in work.glob(".tmp-*"):
        leftover.unlink()
    report = JudgeReport()
    columns = [*ROW_KEY, "prompt", "response", "ground_truth"]
    rows = pa.concat_tables([pq.read_table(p, columns=columns) for p in _target_shards(target)])
    report.rows = rows.num_rows
    has_response = pc.is_valid(rows["response"])
    report.no_response = rows.num_rows - pc.sum(has_response).as_py()
    rows = rows.filter(has_response)
    done = _done(work)
    if done is not None:
        seen = pc.is_in(row_keys(rows), value_set=row_keys(done))
        report.already_judged = pc.sum(seen).as_py()
        rows = rows.filter(pc.invert(seen))
    todo = rows.to_pylist()[:limit] if limit is not None else rows.to_pylist()
    part = len(list(work.glob("part-*.parquet")))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        prompts = [judge_prompt(r["prompt"], r["response"], r["ground_truth"] or "") for r in batch]
        outputs = judge.complete(prompts)
        results = []
        for row, prompt, output in zip(batch, prompts, outputs, strict=True):
            score = parse_judge_output(output) if output is not None else None
            status = "failed" if output is None else ("ok" if score is not None else "unparseable")
            report.judged += status == "ok"
            report.unparseable += status == "unparseable"
            report.failed += status == "failed"
            results.append(
                {**{k: row[k] for k in ROW_KEY}, "judge_score": score, "judge_model": judge.model,
                 "judge_prompt_hash": prompt_hash(prompt), "judge_output": output, "status": status}
            )  # fmt: skip
        temporary = work / f".tmp-part-{part:06d}.parquet"
        pq.write_table(pa.Table.from_pylist(results, schema=_RESULT_SCHEMA), temporary)
        os.replace(temporary, work / f"part-{part:06d}.parquet")
        part += 1
        if on_progress:
            on_progress(start + len(batch), len(todo))
    report.errors = judge.last_errors[:5]
    if limit is None or len(todo) < limit:
        write_judgements(target, _done(work))
    return report


def write_judgements(target: Path, judged: pa.Table | None) -> None:
    """Write the judge columns into every shard of ``target`` (an export is replaced whole)."""
    if judged is None:
        return
    judged = judged.drop_columns(["status"])
    lookup_key = row_keys(judged)
    with rewrite(target) if is_export(target) else contextlib.nullcontext(target) as root:
        for shard in _target_shards(root):
            table = pq.read_table(shard)
            index = pc.index_in(row_keys(table), value_set=lookup_key)
            found = pc.is_valid(index)
            for name in JUDGE_COLUMNS:
                new = pc.take(judged[name], index)
                if name in table.column_names:
                    merged = pc.if_else(found, new, table[name])
                    table = table.set_column(table.schema.get_field_index(name), name, merged)
                else:
                    table = table.append_column(name, new)
            write_parquet(table, shard)
