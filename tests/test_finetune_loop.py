"""The model-level loop end to end on CPU: ``sft-data`` -> a LoRA fine-tune (TRL + PEFT) of the tiny offline Llama
-> ``lm_eval --model hf --model_args pretrained=...,peft=...`` on ``fusionbench_*`` tasks -> ``fusionbench ingest``
-> the fine-tuned model's rows in the export beside the 20 models.

Everything is real: the synthetic sample export, the real build, TRL's ``SFTTrainer``, PEFT, the real lm-eval CLI
in a subprocess, and the ingest. The tiny model's output is gibberish; the test checks the plumbing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LM_EVAL_TIMEOUT = 600


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _lora_b_norms(adapter: Path) -> list[float]:
    from safetensors.torch import load_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    return [float(t.abs().sum()) for name, t in weights.items() if "lora_B" in name]


def test_finetune_refuses_bad_input(tmp_path: Path, tiny_model: Path) -> None:
    from fusionbench.generation.finetune import FinetuneConfig, finetune, load_alpaca

    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="non-empty list of Alpaca records"):
        load_alpaca(empty)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"instruction": "x", "input": "y", "output": "z"}, {"prompt": "p"}]), "utf-8")
    with pytest.raises(ValueError, match="record 1 is not an Alpaca record"):
        load_alpaca(broken)
    with pytest.raises(FileNotFoundError, match="is it an SFT folder"):
        finetune(tmp_path, tmp_path / "adapter", FinetuneConfig(str(tiny_model), max_steps=1))
    with pytest.raises(ValueError, match="nothing to train"):
        finetune(empty, tmp_path / "adapter", FinetuneConfig(str(tiny_model), max_steps=0))


def test_sft_data_finetune_eval_ingest(tiny_model: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    from fusionbench import catalog
    from fusionbench.build import build_export
    from fusionbench.cli import main
    from fusionbench.generation.finetune import read_finetune

    export = build_export(None, tmp_path / "fusionbench").out
    sft, adapter, run = tmp_path / "sft", tmp_path / "adapter", tmp_path / "run"

    # 1. SFT data from the export's train split, counted with the model's own tokenizer
    sft_args = ["sft-data", "--data", str(export), "--out", str(sft), "--top-k", "2"]
    assert main([*sft_args, "--tokenizer", str(tiny_model), "--max-tokens", "512"]) == 0
    report = json.loads((sft / "report.json").read_text(encoding="utf-8"))
    assert report["examples"] > 0 and report["tokenizer"] == str(tiny_model)

    # 2. a LoRA fine-tune of a few steps with TRL's SFTTrainer, on CPU in float32
    tune_args = [
        "finetune",
        "--data",
        str(sft),
        "--model",
        str(tiny_model),
        "--out",
        str(adapter),
        "--dtype",
        "float32",
    ]
    tune_args += ["--max-steps", "3", "--batch-size", "2", "--gradient-accumulation", "1", "--max-length", "256"]
    assert main([*tune_args, "--learning-rate", "1e-3", "--logging-steps", "1"]) == 0
    manifest = read_finetune(adapter)  # the artifact manifest, checked
    assert manifest["format"] == "fusionbench-finetune/1" and manifest["steps"] == 3
    assert manifest["examples"] == report["examples"]
    assert len(manifest["logged_losses"]) == 3 and all(loss > 0 for loss in manifest["logged_losses"])
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == str(tiny_model) and config["r"] == 8
    norms = _lora_b_norms(adapter)
    assert norms and all(n > 0 for n in norms)  # LoRA's B starts at zero: the steps did train it
    assert not (adapter / "checkpoints").exists()

    # 3. the real lm-eval CLI with the adapter, on two fusionbench_* tasks (one direct, one chain-of-thought)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBENCH_")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    model_args = f"pretrained={tiny_model},peft={adapter},dtype=float32"
    command = [sys.executable, "-m", "fusionbench.harness", "--model", "hf", "--model_args", model_args]
    command += ["--device", "cpu", "--tasks", "fusionbench_gsm8k,fusionbench_boolq_cot", "--limit", "1"]
    command += ["--gen_kwargs", "max_gen_toks=8", "--log_samples", "--output_path", str(run)]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=LM_EVAL_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    (results,) = run.rglob("results_*.json")
    run_config = json.loads(results.read_text(encoding="utf-8"))["config"]
    assert run_config["model_args"]["peft"] == str(adapter)  # lm-eval loaded the adapter onto the base model
    assert {p.name.split("_2")[0] for p in run.rglob("samples_*.jsonl")} == {
        "samples_fusionbench_gsm8k", "samples_fusionbench_boolq_cot",
    }  # fmt: skip

    # 4. ingest the run: the fine-tuned model's rows beside the 20 models
    assert (
        main(["ingest", str(run), "--model", "tiny-lora", "--tokenizer", str(tiny_model), "--into", str(export)]) == 0
    )
    test_rows = load_dataset(str(export), "all", split="test")
    assert set(test_rows.unique("model")) == {*catalog.models(), "tiny-lora"}
    mine = [r for r in test_rows if r["model"] == "tiny-lora"]
    assert sorted((r["task"], r["mode"]) for r in mine) == [("boolq", "cot"), ("gsm8k", "direct")]
    for row in mine:
        assert row["performance"] in (0.0, 1.0) and row["input_tokens"] > 0 and row["source"].startswith("lm-eval:")
    models = load_dataset(str(export), "models", split="train")
    assert "tiny-lora" in models["model"] and len(models) == 21
    (row,) = [m for m in models if m["model"] == "tiny-lora"]
    assert row["generated_by"] == f"{tiny_model}+peft={adapter}"  # the adapter is named, not only its base model
