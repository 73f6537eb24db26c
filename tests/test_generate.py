"""``fusionbench generate`` end to end with the hf engine on a tiny random Llama: rows, resume, shards, merge, kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from datasets import load_dataset
from tiny_model import build_tiny_llama
from transformers import AutoModelForCausalLM, AutoTokenizer

from fusionbench.build import build_export
from fusionbench.generation import (
    EngineUnavailableError,
    GenerationSettings,
    RunSettingsError,
    SamplingSettings,
    ShardSpec,
    add_run,
    generate,
    read_run,
    run_queries,
)
from fusionbench.generation.__main__ import main as generate_main
from fusionbench.generation.engines import HFEngine, prompt_ids
from fusionbench.generation.store import RUN_SCHEMA, shard_paths
from fusionbench.schema import ROW_KEY as KEY

NAME = "tiny-llama"
TASKS = ("gsm8k", "natural_qa", "mmlu")  # in the canonical task order


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="module")
def tokenizer(tiny: Path):
    return AutoTokenizer.from_pretrained(str(tiny))


def _settings(tiny: Path, out: Path, **changes) -> GenerationSettings:
    sampling = SamplingSettings(max_new_tokens=8, samples=2)
    base = GenerationSettings(
        model=str(tiny), name=NAME, out=out, engine="hf", tasks=TASKS, limit=1, sampling=sampling,
        batch_size=2, progress=False,
    )  # fmt: skip
    return replace(base, **changes)


def _templated_count(tokenizer, text: str) -> int:
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])


def _keys(table) -> list[tuple]:
    return list(zip(*(table[c].to_pylist() for c in KEY), strict=True))


@pytest.fixture(scope="module")
def run(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run: 3 tasks x 1 query x 2 modes x K=2, no price sheet."""
    out = tmp_path_factory.mktemp("runs") / "run"
    with pytest.warns(UserWarning, match="cost_usd left null"):
        summary = generate(_settings(tiny, out))
    assert (summary.items_total, summary.items_generated, summary.rows_written) == (6, 6, 12)
    assert summary.shards_written == 3 and summary.completion_tokens > 0 and summary.tokens_per_s > 0
    return out


def test_rows_keys_prompts_tokens_and_scores(run: Path, tiny: Path, tokenizer) -> None:
    rows = read_run(run)
    assert rows.schema.names == RUN_SCHEMA.names and rows.num_rows == 12
    assert len(set(_keys(rows))) == 12
    queries = {q["query_id"]: q for q in run_queries(_settings(tiny, run))}
    assert len(queries) == 3 and {q["task"] for q in queries.values()} == set(TASKS)
    samples = Counter((r["query_id"], r["mode"]) for r in rows.to_pylist())
    assert set(samples) == {(q, m) for q in queries for m in ("direct", "cot")} and set(samples.values()) == {2}
    for row in rows.to_pylist():
        query = queries[row["query_id"]]
        assert row["sample"] in (0, 1) and row["model"] == NAME and row["split"] == "test"
        assert row["prompt"] == query[f"prompt_{row['mode']}"] and row["query"] == query["query"]
        assert row["input_tokens"] == _templated_count(tokenizer, row["prompt"])
        assert row["finish_reason"] in ("stop", "length")
        if row["finish_reason"] == "length":
            assert row["output_tokens"] == 8
        else:
            assert 1 <= row["output_tokens"] <= 8
        assert row["latency_s"] > 0 and row["token_counter"] == str(tiny)
        assert row["cost_usd"] is None and row["input_price"] is None
        assert row["performance"] is not None and row["response"] is not None
        assert row["source"].startswith("generate:run/shard-")
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["settings"]["samples"] == 2 and manifest["settings"]["tasks"] == list(TASKS)
    assert manifest["settings"]["queries"] == "embedded-sample" and manifest["price"] is None


def test_completion_counts_match_transformers_greedy(tiny: Path, tokenizer, tmp_path: Path) -> None:
    """Greedy decoding is deterministic: the row holds exactly what a bare ``model.generate`` produces."""
    sampling = SamplingSettings(temperature=0.0, max_new_tokens=12, samples=1)
    settings = _settings(tiny, tmp_path / "greedy", tasks=("natural_qa",), modes=("direct",), sampling=sampling)
    with pytest.warns(UserWarning):
        generate(settings)
    (row,) = read_run(settings.out).to_pylist()
    model = AutoModelForCausalLM.from_pretrained(str(tiny))
    ids = prompt_ids(tokenizer, row["prompt"])
    output = model.generate(input_ids=torch.tensor([ids]), do_sample=False, max_new_tokens=12, pad_token_id=0)
    output = output[0, len(ids) :].tolist()
    eos = tokenizer.eos_token_id
    expected = output[: output.index(eos) + 1] if eos in output else output
    assert row["input_tokens"] == len(ids)
    assert row["output_tokens"] == len(expected)
    assert row["finish_reason"] == ("stop" if eos in output else "length")
    assert row["response"] == tokenizer.decode([t for t in expected if t != eos], skip_special_tokens=True)


def test_rerun_skips_everything(run: Path, tiny: Path) -> None:
    before = sorted(p.name for p in shard_paths(run))
    summary = generate(_settings(tiny, run))
    assert (summary.items_generated, summary.items_skipped, summary.shards_written) == (0, 6, 0)
    assert sorted(p.name for p in shard_paths(run)) == before


def test_other_settings_in_the_same_run_dir_are_refused(run: Path, tiny: Path, capsys) -> None:
    with pytest.raises(RunSettingsError, match=r"samples: 2 \(run.json\) != 3") as err:
        generate(_settings(tiny, run, sampling=SamplingSettings(max_new_tokens=8, samples=3)))
    assert "max_new_tokens" not in str(err.value)
    argv = ["--model", str(tiny), "--name", NAME, "--engine", "hf", "--out", str(run), "--tasks", ",".join(TASKS),
            "--limit", "1", "--samples", "2", "--max-new-tokens", "8", "--seed", "7", "--quiet"]  # fmt: skip
    assert generate_main(argv) == 1
    assert "seed:0(run.json)!=7(now)" in "".join(capsys.readouterr().err.split())


def test_read_run_deduplicates_a_copied_shard(run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    first = shard_paths(copy)[0]
    shutil.copy(first, copy / "shard-99999999T999999999999-zzzzzz-r0-00001.parquet")
    assert read_run(copy).num_rows == 12 and read_run(copy).equals(read_run(run))


def test_price_sheet_fills_cost_and_add_run_merges(tiny: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "prices.json"
    sheet.write_text(json.dumps({"name": "test-sheet", "date": "2026-11", "source": "a test",
                                 "prices": {NAME: {"input": 1.0, "output": 3.0}}}))  # fmt: skip
    out = tmp_path / "priced"
    generate(_settings(tiny, out, tasks=("gsm8k",), prices=str(sheet)))
    rows = read_run(out).to_pylist()
    assert len(rows) == 4
    for row in rows:
        assert (row["input_price"], row["output_price"]) == (1.0, 3.0)
        assert row["cost_usd"] == pytest.approx((row["input_tokens"] * 1.0 + row["output_tokens"] * 3.0) / 1e6)

    export = build_export(None, tmp_path / "export").out
    before = load_dataset(str(export), "gsm8k", split="test").num_rows
    report = add_run(out, export)
    assert (report.rows_added, report.rows_replaced, report.unknown_queries) == (4, 0, 0)
    merged = load_dataset(str(export), "gsm8k", split="test")
    assert merged.num_rows == before + 4
    mine = [r for r in merged if r["model"] == NAME]
    assert sorted((r["mode"], r["sample"]) for r in mine) == [("cot", 0), ("cot", 1), ("direct", 0), ("direct", 1)]
    assert "finish_reason" not in merged.column_names and all(r["cost_usd"] for r in mine)
    (model,) = [m for m in load_dataset(str(export), "models", split="train") if m["model"] == NAME]
    assert model["generated_by"] == str(tiny) and (model["input_price"], model["output_price"]) == (1.0, 3.0)
    assert model["price_source"] == "a test" and model["n_rows"] == 4
    again = add_run(out, export)  # idempotent
    assert (again.rows_added, again.rows_replaced) == (0, 4)
    assert load_dataset(str(export), "gsm8k", split="test").num_rows == before + 4


def test_shards_cover_all_queries_disjointly(tiny: Path, tmp_path: Path) -> None:
    small = SamplingSettings(max_new_tokens=2)
    common = {"tasks": None, "limit": None, "modes": ("direct",), "sampling": small, "batch_size": 8}
    everything = {q["query_id"] for q in run_queries(_settings(tiny, tmp_path, **common))}
    assert len(everything) == 13
    parts = []
    for index in range(2):
        out = tmp_path / f"shard{index}"
        with pytest.warns(UserWarning):
            generate(_settings(tiny, out, shard=ShardSpec(index, 2), **common))
        parts.append(set(read_run(out)["query_id"].to_pylist()))
        assert json.loads((out / "run.json").read_text())["settings"]["shard"] == f"{index}/2"
    assert parts[0] and parts[1] and not parts[0] & parts[1] and parts[0] | parts[1] == everything


def test_data_parallel_without_ray_says_how_to_get_it(tiny: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """--data-parallel-size > 1 is a Ray Data actor pool (tests/test_generate_ray.py); without Ray it is refused
    with the extra to install, and nothing is generated."""
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    out = tmp_path / "dp"
    with pytest.raises(EngineUnavailableError, match=r"pip install 'fusionbench\[ray\]'"):
        generate(_settings(tiny, out, data_parallel_size=2))
    argv = ["--model", str(tiny), "--name", NAME, "--engine", "hf", "--out", str(tmp_path / "cli"), "--tasks",
            "gsm8k", "--data-parallel-size", "2", "--quiet"]  # fmt: skip
    assert generate_main(argv) == 2 and "fusionbench[ray]" in "".join(capsys.readouterr().err.split())
    assert not shard_paths(out) and not shard_paths(tmp_path / "cli")


def test_too_long_prompts_are_recorded_not_sent(tiny: Path, tmp_path: Path) -> None:
    """A prompt longer than the engine accepts is a failed row (null response, the lengths in ``error``); a rerun
    with a longer context retries exactly those."""
    settings = _settings(tiny, tmp_path / "long", sampling=SamplingSettings(max_new_tokens=4))
    engine = HFEngine(settings)
    engine.max_prompt_tokens = 150  # gsm8k direct prompts (~138 tokens) fit, mmlu (~185) does not
    with pytest.warns(UserWarning):
        summary = generate(settings, engine=engine)
    table = pa.concat_tables([pq.read_table(p) for p in shard_paths(settings.out)])
    too_long = table.filter(pc.equal(table["finish_reason"], "prompt_too_long")).to_pylist()
    assert summary.finish_reasons["prompt_too_long"] == summary.rows_failed == len(too_long) > 0
    for row in too_long:
        assert row["response"] is None and row["output_tokens"] is None and row["input_tokens"] > 150
        assert row["flags"] == ["missing_response"] and row["cost_usd"] is None and row["performance"] is None
        assert (
            row["error"] == f"prompt_too_long: {row['input_tokens']} prompt tokens, more than the engine's limit of 150"
        )

    engine.max_prompt_tokens = None  # a longer context
    with pytest.warns(UserWarning):
        again = generate(settings, engine=engine)
    assert again.items_generated == len({(r["query_id"], r["mode"]) for r in too_long}) and again.rows_failed == 0
    rows = read_run(settings.out)
    assert rows.num_rows == 6 and rows["error"].null_count == 6  # 3 queries x 2 modes, one sample


def test_no_chat_template_falls_back_to_the_raw_prompt(tiny: Path, tmp_path: Path) -> None:
    bare = tmp_path / "no-template"
    shutil.copytree(tiny, bare)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    settings = _settings(bare, tmp_path / "raw", tasks=("natural_qa",), sampling=SamplingSettings(max_new_tokens=2))
    with pytest.warns(UserWarning) as caught:
        generate(settings)
    assert any("no chat template" in str(w.message) for w in caught)
    tokenizer = AutoTokenizer.from_pretrained(str(bare))
    for row in read_run(settings.out).to_pylist():
        assert row["input_tokens"] == len(tokenizer(row["prompt"])["input_ids"])


def test_settings_and_arguments_are_validated(tmp_path: Path) -> None:
    from argparse import ArgumentParser

    from fusionbench.generation import add_generate_arguments, settings_from_args

    with pytest.raises(ValueError, match="unknown task"):
        GenerationSettings(model="m", name="n", out=tmp_path, tasks=("nope",))
    with pytest.raises(ValueError, match="bad shard"):
        ShardSpec.parse("2/2")
    parser = add_generate_arguments(ArgumentParser())
    args = parser.parse_args(
        ["--model", "m", "--name", "n", "--engine", "vllm", "--out", str(tmp_path), "--shard", "1/4", "--split",
         "partial_test", "--engine-arg", "gpu_memory_utilization=0.85", "--engine-arg", "quantization=fp8"]
    )  # fmt: skip
    settings = settings_from_args(args)
    assert settings.shard == ShardSpec(1, 4) and settings.split == "test"
    assert settings.engine_kwargs == {"gpu_memory_utilization": 0.85, "quantization": "fp8"}
    assert settings.sampling == SamplingSettings(temperature=0.2, top_p=0.7, max_new_tokens=1024, samples=1, seed=0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "m", "--name", "n", "--engine", "hf", "--out", "x", "--shard", "3"])


def test_sigkill_then_resume_leaves_no_duplicate_and_no_torn_shard(tiny: Path, tmp_path: Path) -> None:
    """A real subprocess killed with SIGKILL mid-run; the rerun completes the run exactly."""
    out = tmp_path / "killed"
    argv = ["--model", str(tiny), "--name", NAME, "--engine", "hf", "--out", str(out), "--split", "train",
            "--max-new-tokens", "4", "--batch-size", "1", "--quiet"]  # fmt: skip
    log = tmp_path / "killed.log"
    with log.open("wb") as handle:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        command = [sys.executable, "-m", "fusionbench.generation", *argv]
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=handle)
        deadline = time.monotonic() + 180
        while not shard_paths(out) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, f"the run ended before it could be killed: {log.read_text()[-2000:]}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    written = shard_paths(out)
    assert written and len(written) < 56  # 28 train queries x 2 modes, one request per shard
    (out / ".tmp-shard-torn.parquet").write_bytes(b"PAR1 half a shard")  # as a kill during a write leaves

    resume = _settings(tiny, out, tasks=None, limit=None, split="train", batch_size=1,
                       sampling=SamplingSettings(max_new_tokens=4))  # fmt: skip
    with pytest.warns(UserWarning, match="cost_usd left null"):
        summary = generate(resume)
    # a request the killed run had finished but not yet written is in its journal: recovered into a shard first,
    # then skipped like the written ones (how many depends on where the kill landed)
    done_before = len(written) + summary.rows_recovered
    assert summary.items_skipped == done_before and summary.items_generated == 56 - done_before
    assert not list(out.glob(".tmp-*"))
    tables = [pq.read_table(p) for p in shard_paths(out)]  # every shard readable
    keys = [k for t in tables for k in _keys(t)]
    assert len(keys) == len(set(keys)) == 56
    queries = run_queries(_settings(tiny, out, tasks=None, limit=None, split="train"))
    assert set(keys) == {(q["query_id"], "train", NAME, m, 0) for q in queries for m in ("direct", "cot")}


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_reaper_kills_engine_processes_of_a_killed_runner() -> None:
    """vLLM's engine core outlives a SIGKILLed parent; the runner's watchdog kills it (and only then)."""
    script = (
        "import subprocess, sys, time\n"
        "from fusionbench.generation.engines import Reaper\n"
        "engines = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']) for _ in range(2)]\n"
        "Reaper({engines[0].pid}).stand_down()\n"  # a normal shutdown: the watchdog leaves it alone
        "Reaper({engines[1].pid})\n"
        "print(engines[0].pid, engines[1].pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    spared, engine = (int(pid) for pid in runner.stdout.readline().split())
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    runner.stdout.close()
    deadline = time.monotonic() + 30
    while _running(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert not _running(engine) and _running(spared)
    finally:
        os.kill(spared, signal.SIGKILL)


def test_cli_generate_resumes_and_ingest_merges(run: Path, tiny: Path, tmp_path: Path, capsys) -> None:
    """`fusionbench ingest RUN --into EXPORT` takes a generate run folder (as it takes an lm-eval run, see
    test_harness); ingesting it again replaces its rows, never duplicates them."""
    from fusionbench.cli import main

    argv = ["generate", "--model", str(tiny), "--name", NAME, "--engine", "hf", "--out", str(run),
            "--tasks", ",".join(TASKS), "--limit", "1", "--samples", "2", "--max-new-tokens", "8",
            "--batch-size", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0  # the same settings: everything is already there
    export = build_export(None, tmp_path / "fusionbench").out
    assert main(["ingest", str(run), "--into", str(export)]) == 0
    assert "12 rows added" in " ".join(capsys.readouterr().err.split())  # rich may wrap the line
    rows = [r for r in load_dataset(str(export), "all", split="test") if r["model"] == NAME]
    assert len(rows) == 12
    assert main(["ingest", str(run), "--into", str(export)]) == 0  # again: replaces, never duplicates
    assert "0 rows added, 12 replaced" in " ".join(capsys.readouterr().err.split())
    assert main(["ingest", str(run), "--into", str(export), "--model", "other"]) == 1  # a run names its own model
    assert "is a generation run" in " ".join(capsys.readouterr().err.split())
