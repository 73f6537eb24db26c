"""The thought level end to end on CPU: ``thoughts build`` (extractive) -> ``thoughts apply`` -> ``generate --engine hf
--prompts`` with the tiny offline Llama -> ``ingest`` -> rows with mode "thought" in the export, scored by the
same scorers and seen by ``info`` and the routing view; and the lm-eval ``fusionbench_<task>_thought`` tasks
reading the same prompts (a real ``python -m lm_eval`` run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

from fusionbench.cli import main
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.thoughts import read_prompts, read_templates
from fusionbench.harness import tasks_path
from fusionbench.harness_tasks import utils as harness_utils
from fusionbench.metrics import score
from fusionbench.schema import MODES, SCORER_FIELDS, TASKS

NAME = "tiny-llama"
RUN_TASKS = "gsm8k,mmlu"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / NAME)


@pytest.fixture(scope="module")
def loop(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An export copy, its templates (extractive, from train) and the thought prompts of its test split."""
    root = tmp_path_factory.mktemp("loop")
    export = Path(shutil.copytree(sample_export, root / "fusionbench"))
    templates, prompts = root / "templates", root / "prompts"
    build = ["thoughts", "build", "--data", str(export), "--out", str(templates), "--summarizer-engine", "extractive"]
    assert main([*build, "--quiet"]) == 0
    assert main(["thoughts", "apply", "--templates", str(templates), "--data", str(export), "--out", str(prompts),
                 "--k", "2"]) == 0  # fmt: skip
    return {"export": export, "templates": templates, "prompts": prompts, "root": root}


def test_generate_with_thought_prompts_then_ingest(loop: dict[str, Path], tiny: Path, capsys) -> None:
    run = loop["root"] / "run"
    argv = ["generate", "--model", str(tiny), "--name", NAME, "--engine", "hf", "--out", str(run), "--prompts",
            str(loop["prompts"]), "--tasks", RUN_TASKS, "--limit", "1", "--max-new-tokens", "8", "--quiet"]  # fmt: skip
    with pytest.warns(UserWarning, match="cost_usd left null"):  # no price sheet: cost stays null, never 0
        assert main(argv) == 0
    manifest = json.loads((run / "run.json").read_text())
    prompts = read_prompts(loop["prompts"])
    templates = read_templates(loop["templates"])
    assert manifest["settings"]["modes"] == ["thought"] and manifest["settings"]["prompts"] == prompts.fingerprint
    assert manifest["thoughts"]["templates"] == templates.name == prompts.templates_name
    assert main(argv) == 0  # resumed: nothing left to do
    other = [*argv[:8], str(loop["root"] / "run-train"), *argv[9:], "--split", "train"]
    assert main(other) == 1  # the prompts are for the test split
    assert "pass --split test" in " ".join(capsys.readouterr().err.split())
    assert not (loop["root"] / "run-train").exists()  # refused before anything was written

    assert main(["ingest", str(run), "--into", str(loop["export"])]) == 0
    by_id = {q["query_id"]: q for q in prompts.table.to_pylist()}
    rows = [r for r in load_dataset(str(loop["export"]), "all", split="test") if r["model"] == NAME]
    assert (
        len(rows) == 2 and {r["mode"] for r in rows} == {"thought"} and {r["task"] for r in rows} == {"gsm8k", "mmlu"}
    )
    for row in rows:
        query = by_id[row["query_id"]]
        assert row["prompt"] == query["prompt_thought"] and row["query"] == query["query"]
        assert row["source"].endswith(f" thoughts:{templates.name}") and row["source"].startswith("generate:run/")
        fields = {k: query.get(k) for k in SCORER_FIELDS}
        assert row["performance"] == score(row["task"], row["response"], row["ground_truth"], **fields)
    data = RoutingData.from_export(loop["export"], "test", mode="thought")
    assert data.candidates == (f"{NAME}/thought",) and data.candidate_info[0].mode == "thought"
    assert data.n_queries == 2 and not (data.performance != data.performance).any()
    assert main(["info", str(loop["export"]), "--by", "model"]) == 0
    table = capsys.readouterr().out
    assert "acc thought" in table and NAME in table


def test_settings_need_prompts_for_the_thought_mode(tmp_path: Path, loop: dict[str, Path]) -> None:
    from fusionbench.generation import GenerationSettings

    assert GenerationSettings(model="m", name="n", out=tmp_path).modes == ("direct", "cot")  # the release's two
    with_prompts = GenerationSettings(model="m", name="n", out=tmp_path, prompts=str(loop["prompts"]))
    assert with_prompts.modes == ("thought",) and "thought" in MODES
    with pytest.raises(ValueError, match="mode thought needs the prompts"):
        GenerationSettings(model="m", name="n", out=tmp_path, modes=("thought",))
    with pytest.raises(ValueError, match="--prompts or --export, not both"):
        GenerationSettings(model="m", name="n", out=tmp_path, prompts=str(loop["prompts"]), export="x")


def test_lm_eval_thought_tasks_read_the_prompts(loop: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from lm_eval.tasks import TaskManager

    monkeypatch.delenv(harness_utils.PROMPTS_ENV, raising=False)
    harness_utils.thought_queries.cache_clear()
    with pytest.raises(ValueError, match="fusionbench_prompts"):
        harness_utils.load_docs("gsm8k", "thought")
    monkeypatch.setenv(harness_utils.PROMPTS_ENV, str(loop["prompts"]))
    manager = TaskManager(include_defaults=False, include_path=str(tasks_path()))
    loaded = manager.load(["fusionbench_domain_math_thought", "fusionbench_mmlu_thought"])
    assert set(loaded["tasks"]) == {"fusionbench_gsm8k_thought", "fusionbench_math_thought", "fusionbench_mmlu_thought"}
    for name, task in loaded["tasks"].items():
        docs = list(task.eval_docs)
        assert docs and all(name == harness_utils.task_name(d["task"], "thought") for d in docs)
        assert all(task.doc_to_text(d) == d["prompt_thought"] for d in docs) and "embedding" not in docs[0]
    group = manager.load(["fusionbench_thought"])  # every task with test queries: the release has no GPQA test
    assert set(group["tasks"]) == {harness_utils.task_name(t, "thought") for t in TASKS if t != "gpqa"}
    with pytest.raises(ValueError, match="no thought prompts for task 'gpqa'"):
        harness_utils.load_docs("gpqa", "thought")
    with pytest.raises(ValueError, match="not 'train'"):
        harness_utils.load_docs("gsm8k", "thought", fusionbench_split="train")
    harness_utils.thought_queries.cache_clear()


def test_lm_eval_cli_runs_a_thought_task(loop: dict[str, Path], tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBENCH_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf"),
            "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}  # fmt: skip
    cmd = [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tiny},dtype=float32",
           "--device", "cpu", "--include_path", str(tasks_path()), "--tasks", "fusionbench_gsm8k_thought",
           "--metadata", json.dumps({"fusionbench_prompts": str(loop["prompts"])}), "--limit", "1",
           "--gen_kwargs", "max_gen_toks=8", "--log_samples", "--output_path", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (samples,) = out.rglob("samples_fusionbench_gsm8k_thought_*.jsonl")
    (line,) = [json.loads(x) for x in samples.read_text().splitlines() if x]
    assert line["arguments"]["gen_args_0"]["arg_0"] == line["doc"]["prompt_thought"]
    doc = line["doc"]
    fields = {k: doc.get(k) for k in SCORER_FIELDS}
    assert line["acc"] == score("gsm8k", line["resps"][0][0], doc["ground_truth"], **fields)
