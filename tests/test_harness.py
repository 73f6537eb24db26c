"""lm-evaluation-harness integration: task YAMLs, the doc loader, scoring, and real end-to-end runs.

The end-to-end tests run the real lm-eval CLI in subprocesses on CPU with a tiny random-weight Llama
built offline (``tiny_model.py``); its output is gibberish, which is fine: they check the plumbing
(prompts sent verbatim, samples logged, scores from fusionbench.metrics), not accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fusionbench
from fusionbench.export import card
from fusionbench.harness import lm_eval_argv, merge_include_path, run_lm_eval, tasks_path
from fusionbench.harness_tasks import _generate
from fusionbench.harness_tasks import utils as harness_utils
from fusionbench.metrics import QA_TASKS, score
from fusionbench.schema import CODE_TASKS, DOMAINS, MODES, SCORER_FIELDS, TASKS

MARKER = "[from-the-export] "
LM_EVAL_TIMEOUT = 600


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama (with tokenizer and chat template), built offline."""
    from tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def marked_export(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample export whose prompts start with MARKER, to prove where docs come from."""
    out = tmp_path_factory.mktemp("marked") / "fusionbench"
    shutil.copytree(sample_export, out)
    for shard in (out / "data" / "queries").glob("*.parquet"):
        table = pq.read_table(shard)
        for column in ("prompt_direct", "prompt_cot"):
            marked = [None if p is None else MARKER + p for p in table[column].to_pylist()]
            table = table.set_column(table.schema.get_field_index(column), column, pa.array(marked, pa.string()))
        pq.write_table(table, shard)
    # refresh the card's checksums and sizes, as a real build does: datasets keys its cache on the card
    readme = out / "README.md"
    readme.write_text(card.refresh(readme.read_text(encoding="utf-8"), out), encoding="utf-8")
    return out


@pytest.fixture
def fresh_loader(monkeypatch: pytest.MonkeyPatch):
    """The doc loader with an empty cache and no FUSIONBENCH_* variables from the caller's shell."""
    monkeypatch.delenv(harness_utils.EXPORT_ENV, raising=False)
    monkeypatch.delenv(harness_utils.SPLIT_ENV, raising=False)
    harness_utils.task_queries.cache_clear()
    yield harness_utils
    harness_utils.task_queries.cache_clear()


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBENCH_")}
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_CACHE=str(tmp / "hf-datasets"),
        TOKENIZERS_PARALLELISM="false",
        TRANSFORMERS_VERBOSITY="error",
    )
    return env


def _run(cmd: list[str], tmp: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=LM_EVAL_TIMEOUT, check=False
    )
    assert proc.returncode == 0, f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def _samples(out: Path) -> dict[str, list[dict]]:
    """task -> logged sample lines, from every samples_<task>_<time>.jsonl under ``out``."""
    found: dict[str, list[dict]] = {}
    for path in out.rglob("samples_*.jsonl"):
        task = path.name[len("samples_") :].rsplit("_", 1)[0]
        found[task] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return found


def _results(out: Path) -> dict:
    (path,) = out.rglob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def _model_args(model: Path) -> list[str]:
    return ["--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu"]


# ------------------------------------------------------------------ task files
def test_generated_files_are_current() -> None:
    expected = _generate.render_all()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in tasks_path().iterdir() if p.name in expected}
    assert on_disk == expected, "run `python -m fusionbench.harness_tasks._generate`"
    stale = {p.name for p in tasks_path().glob("*.yaml")} - set(expected)
    assert not stale


def test_task_and_group_names() -> None:
    names = _generate.all_task_names()
    # every task in every mode (direct, cot, thought), and a group per mode and per (domain, mode)
    assert len(names) == len(set(names)) == len(MODES) * len(TASKS) + len(MODES) * (1 + len(DOMAINS))
    assert {"fusionbench", "fusionbench_cot", "fusionbench_gsm8k", "fusionbench_gsm8k_cot"} <= set(names)
    assert {f"fusionbench_domain_{d}" for d in DOMAINS} | {f"fusionbench_domain_{d}_cot" for d in DOMAINS} <= set(names)


def test_every_task_and_group_builds() -> None:
    """Every YAML loads into a real lm-eval Task/Group with the embedded sample's docs."""
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, include_path=str(tasks_path()))
    assert set(_generate.all_task_names()) <= set(manager.all_tasks)
    loaded = manager.load(["fusionbench", "fusionbench_cot"])
    assert len(loaded["tasks"]) == 2 * len(TASKS)
    for name, task in loaded["tasks"].items():
        mode = "cot" if name.endswith("_cot") else "direct"
        doc = task.eval_docs[0]
        assert name == harness_utils.task_name(doc["task"], mode)
        assert task.doc_to_text(doc) == doc[f"prompt_{mode}"]
        assert task.config.generation_kwargs == {
            "until": [],
            "do_sample": True,
            "temperature": 0.2,
            "top_p": 0.7,
            "max_gen_toks": 1024,
        }
        metrics = {m["metric"] for m in task.config.metric_list}
        assert metrics == ({"acc", "f1"} if doc["task"] in QA_TASKS else {"acc"})
        assert bool(task.config.unsafe_code) == (doc["task"] in CODE_TASKS)
        assert "embedding" not in doc
        assert doc["split"] == ("train" if doc["task"] == "gpqa" else "test")
    domains = manager.load([f"fusionbench_domain_{d}" for d in DOMAINS])
    assert set(domains["tasks"]) == {f"fusionbench_{t}" for t in TASKS}
    math_group = manager.load(["fusionbench_domain_math_cot"])["group_map"]
    assert math_group == {"fusionbench_domain_math_cot": ["fusionbench_gsm8k_cot", "fusionbench_math_cot"]}


def test_lm_eval_validate_and_mixing_with_builtin_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    """`lm-eval validate` (its own CLI code, through our wrapper) accepts every name, next to a built-in task."""
    names = [*_generate.all_task_names(), "gsm8k"]
    assert run_lm_eval(["validate", "--tasks", ",".join(names)]) == 0
    assert "All tasks found and valid" in capsys.readouterr().out


def test_task_manager_resolves_ours_and_builtin_together() -> None:
    """With lm-eval's built-in tasks included, one TaskManager knows ours and e.g. gsm8k (index only)."""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    manager = TaskManager(include_path=str(tasks_path()))  # include_defaults=True
    wanted = ["fusionbench_gsm8k", "gsm8k", "fusionbench_cot", "fusionbench_domain_code"]
    assert sorted(manager.match_tasks(wanted)) == sorted(wanted)
    index = manager.task_index
    assert Path(index["fusionbench_gsm8k"].yaml_path).parent == tasks_path()
    assert "lm_eval" in Path(index["gsm8k"].yaml_path).parts
    assert load_yaml(index["gsm8k"].yaml_path, resolve_func=False)["output_type"] == "generate_until"
    ours = load_yaml(index["fusionbench_gsm8k"].yaml_path, resolve_func=False)
    assert ours["output_type"] == "generate_until" and ours["doc_to_text"] == "prompt_direct"


# ------------------------------------------------------------------ wrapper
def test_lm_eval_argv_adds_and_merges_include_path() -> None:
    ours = str(tasks_path())
    assert lm_eval_argv(["--tasks", "x"]) == ["--tasks", "x", "--include_path", ours]
    assert lm_eval_argv(["run", "--tasks", "x"])[-2:] == ["--include_path", ours]
    assert lm_eval_argv(["ls", "tasks"]) == ["ls", "tasks", "--include_path", ours]
    assert lm_eval_argv(["--include_path", "/a:/b", "--tasks", "x"])[1] == os.pathsep.join([ours, "/a", "/b"])
    assert lm_eval_argv(["--include_path=/a", "-t", "x"])[0] == f"--include_path={ours}{os.pathsep}/a"
    assert lm_eval_argv([]) == [] and lm_eval_argv(["--help"]) == ["--help"]
    assert merge_include_path(ours) == ours


def test_lm_eval_argv_keeps_include_path_of_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("tasks: [x]\ninclude_path: /mine\n", encoding="utf-8")
    ours = str(tasks_path())
    assert lm_eval_argv(["run", "--config", str(config)])[-1] == f"{ours}{os.pathsep}/mine"
    assert lm_eval_argv(["run", f"--config={config}"])[-1] == f"{ours}{os.pathsep}/mine"


def test_run_lm_eval_returns_usage_errors() -> None:
    assert run_lm_eval(["run", "--no-such-flag"]) == 2


# ------------------------------------------------------------------ doc loader
def test_docs_default_to_test_with_train_fallback(fresh_loader, caplog: pytest.LogCaptureFixture) -> None:
    docs = fresh_loader.load_docs("gsm8k", "cot", pretrained="ignored", version=1.0)["eval"]
    assert set(docs["split"]) == {"test"} and set(docs["task"]) == {"gsm8k"}
    with caplog.at_level("WARNING", logger="fusionbench.harness"):
        gpqa = fresh_loader.load_docs("gpqa", "direct")["eval"]
    assert set(gpqa["split"]) == {"train"} and len(gpqa) > 0
    assert "no test queries for task 'gpqa'" in caplog.text and "train split instead" in caplog.text
    train = fresh_loader.load_docs("gsm8k", "direct", fusionbench_split="train")["eval"]
    assert set(train["split"]) == {"train"}
    with pytest.raises(ValueError, match="no queries for task 'gsm8k' in split 'validation'"):
        fresh_loader.load_docs("gsm8k", "direct", fusionbench_split="validation")


def test_export_from_environment_and_metadata(
    fresh_loader, marked_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = fresh_loader.load_docs("boolq", "direct")["eval"]
    assert not plain[0]["prompt_direct"].startswith(MARKER)
    monkeypatch.setenv(harness_utils.EXPORT_ENV, str(marked_export))
    from_env = fresh_loader.load_docs("boolq", "direct")["eval"]
    assert from_env[0]["prompt_direct"] == MARKER + plain[0]["prompt_direct"]
    monkeypatch.setenv(harness_utils.SPLIT_ENV, "train")
    assert set(fresh_loader.load_docs("boolq", "direct")["eval"]["split"]) == {"train"}
    monkeypatch.setenv(harness_utils.EXPORT_ENV, "/no/such/export")
    from_metadata = fresh_loader.load_docs("boolq", "direct", fusionbench_export=str(marked_export))["eval"]
    assert from_metadata[0]["prompt_direct"].startswith(MARKER)


def test_release_files_as_export(fresh_loader) -> None:
    from fusionbench.synthetic import SAMPLE_DIR

    docs = fresh_loader.load_docs("mmlu", "direct", fusionbench_export=str(SAMPLE_DIR))["eval"]
    assert set(docs["task"]) == {"mmlu"} and len(docs) > 0


# ------------------------------------------------------------------ scoring
def test_process_results_is_fusionbench_score(fresh_loader) -> None:
    """process_results gives fusionbench.metrics.score on the release's own responses, passing and failing."""
    for task in TASKS:
        split = "train" if task == "gpqa" else "test"
        docs = fresh_loader.load_docs(task, "direct", fusionbench_split=split)["eval"]
        doc = docs[0]
        rows = [r for r in fusionbench.load(task, split=split) if r["query_id"] == doc["query_id"]]
        passing = [r["response"] for r in rows if r["performance"] == 1.0][:2]
        failing = [r["response"] for r in rows if r["performance"] == 0.0][:2]
        assert passing, task
        scores = []
        for response in [*passing, *failing, "no idea"]:
            got = fresh_loader.process_results(doc, [response])
            fields = {k: doc[k] for k in SCORER_FIELDS}
            assert got["acc"] == score(task, response, doc["ground_truth"], **fields), (task, response)
            assert set(got) == ({"acc", "f1"} if task in QA_TASKS else {"acc"})
            scores.append(got["acc"])
        assert 1.0 in scores, task


# ------------------------------------------------------------------ end to end
def _check_samples(samples: dict[str, list[dict]], tasks: list[str], suffix: str = "") -> None:
    """Each task logged its samples; the prompt sent is the doc's prompt (+ ``suffix``), acc is its score."""
    for name in tasks:
        assert samples.get(name), f"no samples for {name}: {sorted(samples)}"
        mode = "cot" if name.endswith("_cot") else "direct"
        for line in samples[name]:
            assert {"doc", "resps", "arguments", "acc", "doc_hash", "prompt_hash"} <= set(line)
            doc = line["doc"]
            prompt = line["arguments"]["gen_args_0"]["arg_0"]
            assert prompt == doc[f"prompt_{mode}"] + suffix
            response = line["resps"][0][0]
            fields = {k: doc.get(k) for k in SCORER_FIELDS}
            assert line["acc"] == score(doc["task"], response, doc["ground_truth"], **fields)
            if doc["task"] in QA_TASKS:
                assert "f1" in line


def test_lm_eval_cli_end_to_end(tiny_model: Path, tmp_path: Path) -> None:
    """The real `python -m lm_eval` on a group, both modes, a code task, GPQA's fallback and a QA task."""
    out = tmp_path / "out"
    tasks = "fusionbench_domain_math,fusionbench_gsm8k_cot,fusionbench_mbpp,fusionbench_gpqa_cot,fusionbench_squad"
    _run(
        [
            sys.executable,
            "-m",
            "lm_eval",
            *_model_args(tiny_model),
            "--include_path",
            str(tasks_path()),
            "--tasks",
            tasks,
            "--limit",
            "2",
            "--gen_kwargs",
            "max_gen_toks=16",
            "--confirm_run_unsafe_code",
            "--log_samples",
            "--output_path",
            str(out),
        ],
        tmp_path,
    )
    samples = _samples(out)
    leaf = ["fusionbench_gsm8k", "fusionbench_math", "fusionbench_gsm8k_cot", "fusionbench_mbpp"]
    _check_samples(samples, [*leaf, "fusionbench_gpqa_cot", "fusionbench_squad"])
    first = samples["fusionbench_gsm8k"][0]["arguments"]["gen_args_0"]["arg_1"]
    assert first == {"until": [], "do_sample": True, "temperature": 0.2, "top_p": 0.7, "max_gen_toks": 16}
    assert {line["doc"]["split"] for line in samples["fusionbench_gpqa_cot"]} == {"train"}
    assert {line["doc"]["split"] for line in samples["fusionbench_gsm8k"]} == {"test"}
    results = _results(out)
    assert "acc,none" in results["groups"]["fusionbench_domain_math"]
    assert "f1,none" in results["results"]["fusionbench_squad"]

    # The add-a-model loop on this real run: ingest into an export, then read it back with load_dataset.
    from datasets import load_dataset

    from fusionbench.build import build_export
    from fusionbench.cli import main

    export = build_export(None, tmp_path / "fusionbench").out
    sheet = tmp_path / "prices.json"
    prices = {"tiny-llama": {"input": 0.1, "output": 0.2}}
    sheet.write_text(json.dumps({"name": "t", "date": "2026-11", "source": "test", "prices": prices}))
    ingest = ["ingest", str(out), "--model", "tiny-llama", "--prices", str(sheet), "--into", str(export)]
    assert main(ingest) == 0
    logged = sum(len(lines) for task, lines in samples.items() if not task.startswith("fusionbench_domain"))
    rows = [r for r in load_dataset(str(export), "all", split="test") if r["model"] == "tiny-llama"]
    rows += [r for r in load_dataset(str(export), "gpqa", split="train") if r["model"] == "tiny-llama"]
    assert len(rows) == logged and {r["mode"] for r in rows} == {"direct", "cot"}
    for row in rows:
        assert row["input_tokens"] > 0 and row["output_tokens"] is not None and row["cost_usd"] > 0
        assert row["performance"] in (0.0, 1.0) and row["token_counter"] == str(tiny_model)
    assert main(ingest) == 0  # the same run again replaces its rows, never duplicates them
    assert len([r for r in load_dataset(str(export), "all", split="test") if r["model"] == "tiny-llama"]) == len(
        [r for r in rows if r["split"] == "test"]
    )


def test_fusionbench_wrapper_with_export_metadata_and_chat_template(
    tiny_model: Path, marked_export: Path, tmp_path: Path
) -> None:
    """run_lm_eval in a fresh process: our tasks next to a user --include_path, docs from --metadata's export."""
    user_tasks = tmp_path / "my_tasks"
    user_tasks.mkdir()
    (user_tasks / "pick.yaml").write_text(
        "group: my_fusionbench_pick\ntask:\n  - fusionbench_boolq\n  - fusionbench_human_eval_cot\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    code = "import sys; from fusionbench.harness import run_lm_eval; sys.exit(run_lm_eval(sys.argv[1:]))"
    _run(
        [
            sys.executable,
            "-c",
            code,
            *_model_args(tiny_model),
            "--tasks",
            "my_fusionbench_pick",
            "--include_path",
            str(user_tasks),
            "--metadata",
            json.dumps({"fusionbench_export": str(marked_export)}),
            "--apply_chat_template",
            "--limit",
            "1",
            "--gen_kwargs",
            "max_gen_toks=16",
            "--confirm_run_unsafe_code",
            "--log_samples",
            "--output_path",
            str(out),
        ],
        tmp_path,
    )
    samples = _samples(out)
    # the tiny model's chat template: the one user message, then "Answer: " (no system prompt)
    _check_samples(samples, ["fusionbench_boolq", "fusionbench_human_eval_cot"], suffix="\nAnswer: ")
    for lines in samples.values():
        assert all(line["doc"]["prompt_direct"].startswith(MARKER) for line in lines)
