"""Resume by content and per-row failures (issue 21 §2): item keys, engine errors as rows, the journal of a killed run.

A fault-injecting engine (tests/fault_engine.py) fails on chosen prompts in the middle of a batch; a child process
running generation is killed with SIGKILL and the run resumed; a run written by one engine is resumed by another.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from fault_engine import ANSWER, FaultEngine
from tiny_model import build_tiny_llama

from fusionbench.build import build_export
from fusionbench.generation import GenerationSettings, SamplingSettings, add_run, generate, read_run, run_queries
from fusionbench.generation.journal import leftover_journals
from fusionbench.generation.settings import item_key
from fusionbench.generation.store import shard_paths
from fusionbench.schema import ROW_KEY

NAME = "tiny-llama"
TASKS = ("gsm8k", "natural_qa", "mmlu")
pytestmark = pytest.mark.filterwarnings("ignore:no price sheet given")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def _settings(tiny: Path, out: Path, **changes) -> GenerationSettings:
    base = GenerationSettings(
        model=str(tiny), name=NAME, out=out, engine="hf", tasks=TASKS, limit=2, split="train",
        sampling=SamplingSettings(max_new_tokens=4, samples=2), batch_size=4, progress=False,
    )  # fmt: skip
    return replace(base, **changes)


def _prompts(settings: GenerationSettings) -> list[str]:
    return [q[f"prompt_{m}"] for q in run_queries(settings) for m in settings.modes]


def _raw_keys(out: Path) -> list[tuple]:
    tables = [pq.read_table(p, columns=list(ROW_KEY)) for p in shard_paths(out)]
    return [k for t in tables for k in zip(*(t[c].to_pylist() for c in ROW_KEY), strict=True)]


def test_engine_errors_become_rows_and_a_rerun_retries_exactly_those(tiny: Path, tmp_path: Path) -> None:
    settings = _settings(tiny, tmp_path / "run")
    prompts = _prompts(settings)  # 3 tasks x 2 queries x 2 modes = 12 requests, 24 rows
    bad, flaky = {prompts[1], prompts[7]}, {prompts[4]}
    engine = FaultEngine(settings, fail=bad, flaky=flaky, batch=3)
    summary = generate(settings, engine=engine)
    assert summary.items_generated == 12 and summary.rows_written == 24
    assert summary.rows_failed == 4 and summary.finish_reasons["error"] == 4  # 2 requests x 2 samples
    assert sum(summary.errors.values()) == 4 and all("InjectedError" in e for e in summary.errors)
    # the batch of a failure is rerun one request at a time: the flaky one then succeeds, the bad ones fail alone
    assert Counter(engine.seen)[prompts[4]] == 2 and all(Counter(engine.seen)[p] == 2 for p in bad)
    rows = read_run(settings.out).to_pylist()
    assert len(rows) == 24
    for row in rows:
        if row["prompt"] in bad:
            assert row["response"] is None and row["output_tokens"] is None and row["performance"] is None
            assert row["finish_reason"] == "error" and "injected failure" in row["error"]
            assert row["input_tokens"] > 0 and row["flags"] == ["missing_response"]
        else:
            assert row["response"] == ANSWER and row["error"] is None and row["output_tokens"] == 5
        assert row["engine"] == "fake"
        assert row["item_key"] == item_key(
            settings.settings_hash(), row["query_id"], row["split"], row["model"], row["mode"], row["sample"]
        )

    retry = FaultEngine(settings)
    again = generate(settings, engine=retry)
    assert sorted(retry.seen) == sorted(bad)  # exactly the failed requests, nothing else
    assert (again.items_generated, again.items_skipped, again.rows_failed) == (2, 10, 0)
    rows = read_run(settings.out)
    assert rows.num_rows == 24 and pc.sum(pc.is_valid(rows["error"])).as_py() == 0  # the successes win
    assert len(_raw_keys(settings.out)) == 28  # the failed rows stay in their shards; read_run prefers the new
    assert generate(settings, engine=FaultEngine(settings)).items_generated == 0


def test_ingest_skips_failed_rows_and_counts_them(tiny: Path, tmp_path: Path) -> None:
    settings = _settings(tiny, tmp_path / "run", tasks=("gsm8k",))
    prompts = _prompts(settings)
    generate(settings, engine=FaultEngine(settings, fail={prompts[0]}))
    export = build_export(None, tmp_path / "export").out
    report = add_run(settings.out, export)
    assert report.failed_rows == 2 and report.rows_added == 6  # 2 queries x 2 modes x 2 samples, one request failed
    mine = [r for r in load_dataset(str(export), "gsm8k", split="train") if r["model"] == NAME]
    assert len(mine) == 6 and all(r["response"] == ANSWER for r in mine)
    assert prompts[0] not in {r["prompt"] for r in mine}  # never a row with a score of 0 for a failure


def test_a_run_of_one_engine_is_resumed_by_another(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    first = _settings(tiny, out, limit=1, sampling=SamplingSettings(max_new_tokens=2, samples=2))
    generate(first)  # the real hf engine: 3 queries x 2 modes
    manifest = json.loads((out / "run.json").read_text())
    assert "engine" not in manifest["settings"] and manifest["runtime"]["engine"] == "hf"
    # the same settings through another engine (a fake standing in for vllm), one more query per task
    second = replace(first, engine="vllm", limit=2)
    engine = FaultEngine(second, name="vllm")
    summary = generate(second, engine=engine)
    assert (summary.items_skipped, summary.items_generated) == (6, 6)
    rows = read_run(out)
    assert rows.num_rows == len(set(_raw_keys(out))) == 24 == len(_raw_keys(out))
    assert Counter(rows["engine"].to_pylist()) == {"hf": 12, "vllm": 12}


def test_an_older_run_json_naming_its_engine_still_resumes(tiny: Path, tmp_path: Path) -> None:
    settings = _settings(tiny, tmp_path / "old", tasks=("gsm8k",), limit=1)
    generate(settings, engine=FaultEngine(settings))
    path = settings.out / "run.json"
    manifest = json.loads(path.read_text())
    manifest["settings"]["engine"] = "vllm"  # as written before the engine left the identity
    path.write_text(json.dumps(manifest))
    shard = shard_paths(settings.out)[0]  # and a shard of that version, without the new columns
    table = pq.read_table(shard)
    pq.write_table(table.drop_columns(["item_key", "error", "engine", "reasoning_tokens"]), shard)
    assert generate(settings, engine=FaultEngine(settings)).items_skipped == 2


KILLED = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, sys.argv[3])
    from fault_engine import FaultEngine
    from fusionbench.generation import GenerationSettings, SamplingSettings, generate

    settings = GenerationSettings(
        model=sys.argv[1], name="tiny-llama", out=Path(sys.argv[2]), engine="hf", split="train",
        modes=("direct",), sampling=SamplingSettings(max_new_tokens=4, samples=2), batch_size=1000,
        progress=False,
    )
    generate(settings, engine=FaultEngine(settings, delay=0.05, batch=1))
    """
)


def test_sigkill_mid_shard_loses_no_finished_row_and_duplicates_none(tiny: Path, tmp_path: Path) -> None:
    """One shard of 1000 requests: nothing reaches a shard before the kill, every finished request is in the
    journal; the rerun writes them, generates only the rest, and leaves every key once."""
    out, script = tmp_path / "killed", tmp_path / "killed.py"
    script.write_text(KILLED)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    tests = str(Path(__file__).parent)
    log = tmp_path / "killed.log"
    with log.open("wb") as handle:
        command = [sys.executable, str(script), str(tiny), str(out), tests]
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=handle)
        deadline = time.monotonic() + 120
        lines = 0
        while lines < 5 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            lines = sum(p.read_bytes().count(b"\n") for p in leftover_journals(out)) if out.is_dir() else 0
        assert process.poll() is None, log.read_text()[-2000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert not shard_paths(out)  # nothing was written as a shard: without the journal all would be lost
    (journal,) = leftover_journals(out)
    finished = journal.read_bytes().count(b"\n")
    assert finished >= 5
    with journal.open("ab") as handle:  # a kill during a write leaves a torn last line
        handle.write(b'{"item": {"query": ')

    settings = GenerationSettings(
        model=str(tiny), name=NAME, out=out, engine="hf", split="train", modes=("direct",),
        sampling=SamplingSettings(max_new_tokens=4, samples=2), batch_size=1000, progress=False,
    )  # fmt: skip
    engine = FaultEngine(settings)
    summary = generate(settings, engine=engine)
    total = len(run_queries(settings))  # 28 train queries, direct only
    assert summary.rows_recovered == 2 * finished and not leftover_journals(out)
    assert summary.items_skipped == finished and len(engine.seen) == total - finished
    keys = _raw_keys(out)
    assert len(keys) == len(set(keys)) == 2 * total
    rows = read_run(out).to_pylist()
    assert len(rows) == 2 * total
    key_hash = settings.settings_hash()
    for row in rows:  # the recovered rows are whole rows: scored, keyed, counted
        assert row["response"] == ANSWER and row["output_tokens"] == 5 and row["performance"] is not None
        assert row["item_key"] == item_key(key_hash, row["query_id"], "train", NAME, "direct", row["sample"])
    recovered = [
        r for r in rows if r["source"].endswith(journal.name.removeprefix("journal-").replace(".jsonl", ".parquet"))
    ]
    assert len(recovered) == 2 * finished


def test_a_journal_whose_shard_is_on_disk_is_dropped(tiny: Path, tmp_path: Path) -> None:
    """Killed after the shard's rename but before its journal's removal: the journal is stale, nothing doubles."""
    settings = _settings(tiny, tmp_path / "stale", tasks=("gsm8k",), limit=1)
    generate(settings, engine=FaultEngine(settings))
    (shard,) = shard_paths(settings.out)
    stale = settings.out / f"journal-{shard.stem}.jsonl"
    stale.write_text(json.dumps({"not": "read"}) + "\n")
    summary = generate(settings, engine=FaultEngine(settings))
    assert summary.rows_recovered == 0 and not stale.exists() and len(_raw_keys(settings.out)) == 4
