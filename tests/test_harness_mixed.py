"""One ``fusionbench eval`` run that mixes ``fusionbench_gsm8k`` with lm-evaluation-harness's built-in ``gsm8k`` task,
the latter's data read offline from ../shared/data/gsm8k/test.jsonl through a small override YAML that
``include:``s the built-in config (the Analysis360 use: our tasks beside lm-eval's own, in one run); then
``fusionbench ingest`` keeps only the fusionbench task and says which it left out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

OVERRIDE = """\
include: {builtin}
task: gsm8k_offline
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    test: {data}
training_split: null
fewshot_split: test
num_fewshot: 0
"""


def override_yaml(folder: Path, data: Path) -> Path:
    """A task folder holding the override of lm-eval's built-in gsm8k config (its data from ``data``)."""
    import lm_eval

    builtin = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gsm8k_offline.yaml"
    path.write_text(OVERRIDE.format(builtin=builtin, data=data.resolve()), encoding="utf-8")
    return path


def test_fusionbench_eval_mixes_builtin_gsm8k_offline_and_ingest_leaves_it_out(
    tiny_model_dir: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test_file = shared_data / "gsm8k" / "test.jsonl"
    override_yaml(tmp_path / "tasks", test_file)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBENCH_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets")}
    env |= {"TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
    command = [
        sys.executable, "-m", "fusionbench", "eval", "--model", "hf", "--model_args",
        f"pretrained={tiny_model_dir},dtype=float32", "--device", "cpu", "--include_path", str(tmp_path / "tasks"),
        "--tasks", "fusionbench_gsm8k,gsm8k_offline", "--limit", "2", "--gen_kwargs", "max_gen_toks=16",
        "--log_samples", "--output_path", str(out),
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-5000:]
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"]
    assert "acc,none" in results["fusionbench_gsm8k"] and "exact_match,strict-match" in results["gsm8k_offline"]
    samples = {p.name.removeprefix("samples_").rsplit("_", 1)[0]: p for p in out.rglob("samples_*.jsonl")}
    assert set(samples) == {"fusionbench_gsm8k", "gsm8k_offline"}
    logged = [json.loads(line) for line in samples["gsm8k_offline"].read_text().splitlines()]  # a line per filter
    builtin_docs = [doc for _, doc in sorted({line["doc_id"]: line["doc"] for line in logged}.items())]
    local = [json.loads(line) for line in test_file.read_text(encoding="utf-8").splitlines()[:2]]
    assert [d["question"] for d in builtin_docs] == [d["question"] for d in local]  # read from the local file

    from fusionbench.build import build_export
    from fusionbench.cli import main
    from fusionbench.runs import left_out_tasks

    assert left_out_tasks(out) == ["gsm8k_offline"]
    export = build_export(None, tmp_path / "fusionbench").out
    capsys.readouterr()
    with pytest.warns(UserWarning, match="no price sheet"):
        assert main(["ingest", str(out), "--model", "tiny-llama", "--into", str(export)]) == 0
    said = capsys.readouterr().err.replace("\n", " ")
    assert "left out the samples of gsm8k_offline: not fusionbench tasks" in said
    from datasets import load_dataset

    rows = [r for r in load_dataset(str(export), "all", split="test") if r["model"] == "tiny-llama"]
    ours = {json.loads(line)["doc_id"] for line in samples["fusionbench_gsm8k"].read_text().splitlines()}
    assert len(rows) == len(ours) >= 1 and {r["task"] for r in rows} == {"gsm8k"}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight Llama of the harness tests, built offline."""
    from tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
