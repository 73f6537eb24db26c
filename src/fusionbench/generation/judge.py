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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.artifacts import ArtifactFormat, new_manifest, read_manifest, write_manifest
from fusionbench.export.folder import is_export, response_shards, rewrite, write_parquet
from fusionbench.files import TEMP_PREFIX, atomic_writer, ensure_folder
from fusionbench.generation.chat_client import ChatClient, ChatEngine, LocalChat
from fusionbench.metrics.judge import judge_prompt, parse_judge_output
from fusionbench.schema import ROW_KEY, row_keys

JUDGE_COLUMNS = ["judge_score", "judge_model", "judge_prompt_hash", "judge_output"]
#: The work folder's format: ``manifest.json`` names the judge model and the target its parts are for.
WORK_FORMAT = ArtifactFormat("fusionbench-judge-work", 1, "manifest.json", "a judge work folder (fusionbench judge)")
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


#: What the judge job needs from an engine: a model name, and replies to prompts (None on failure).
JudgeEngine = ChatEngine


class OpenAIJudge(ChatClient):
    """The judge through an OpenAI-compatible endpoint (e.g. a vLLM server): :class:`ChatClient` with the
    judge's defaults (512 tokens, temperature 0), retries with exponential backoff and a concurrency cap."""


class LocalJudge(LocalChat):
    """A local model as the judge, through the generation engines (``hf`` or ``vllm``): greedy, one sample."""

    def __init__(self, engine: str, model: str, *, max_new_tokens: int = 512, work: Path | None = None) -> None:
        super().__init__(engine, model, max_new_tokens=max_new_tokens, temperature=0.0, work=work)


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


def open_work(work: Path, judge_model: str, target: Path) -> dict:
    """Check the work folder's manifest (same judge model), or write one. A folder of an older fusionbench (parts,
    no manifest) is version 1: its parts' ``judge_model`` column is checked instead."""
    if WORK_FORMAT.path(work).is_file():
        manifest = read_manifest(work, WORK_FORMAT)
        recorded = manifest.get("judge_model")
    else:
        done = _done(work)
        models = sorted(set(done["judge_model"].to_pylist()) - {None}) if done is not None else []
        recorded = models[0] if len(models) == 1 else (judge_model if not models else ", ".join(models))
        manifest = new_manifest(WORK_FORMAT, judge_model=judge_model, target=str(Path(target).resolve()))
    if recorded != judge_model:
        raise ValueError(
            f"{work}: the judgements there are by {recorded!r}, not {judge_model!r}; use another --work folder"
        )
    if not WORK_FORMAT.path(work).is_file():
        write_manifest(work, WORK_FORMAT, manifest)
    return manifest


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
    ensure_folder(work, "the judge work folder")  # its name is predictable: a link planted there is refused
    for leftover in work.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink()  # removes a link itself, never what it points to
    open_work(work, judge.model, target)
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
        with atomic_writer(work / f"part-{part:06d}.parquet") as handle:  # a new temporary file, then a rename
            pq.write_table(pa.Table.from_pylist(results, schema=_RESULT_SCHEMA), handle)
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
