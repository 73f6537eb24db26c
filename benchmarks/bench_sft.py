"""Benchmark ``fusionbench sft-data`` on a full-size export against a floor.

In one run, each in a fresh subprocess with the same modules imported before the clock starts (pyarrow,
tokenizers, fusionbench.fusion.sft), over rounds that alternate which goes first:

* floor      — the least work: pyarrow reads the same columns of the train shards and queries, the tokenizer
               counts the texts ours wrote (each query's prompt once, every answer), and the records are written
               as one JSON file;
* ours       — ``make_sft_data(export, out, tokenizer=T)`` (perf, top 5, 2,048-token cut-off): selection,
               ground truths, de-duplication, lazy token counts, Alpaca + ShareGPT JSON, dataset_info.json, the
               HF folder, provenance and report;
* ours-notok — the same without a tokenizer (no length check);

and once, the whole command line (``fusionbench sft-data ...``: interpreter start-up and imports included), the
issue's target (issue 12, section 4): at most 30 s on the full-size synthetic export. The machine may be shared:
user + system CPU seconds are printed beside wall seconds, and the ratios are of medians in the same run.

Usage: ``python benchmarks/bench_sft.py [--export DIR] [--tokenizer DIR] [--rounds 3]``. Without an export at
``--export`` (default ``bench_data/sft_export``) a full-size synthetic release is generated and built there;
without ``--tokenizer``, the tiny offline Llama's tokenizer (a 300-token byte-level BPE: many tokens per text,
so a conservative stand-in for a real model's) is built into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from full_export import ensure_export

FLOOR = """
import json
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
from tokenizers import Tokenizer
from fusionbench.fusion.sft.source import QUERY_COLUMNS, RESPONSE_COLUMNS
def prepare(export, tokenizer, out):
    records = json.loads((Path(out) / "reference.json").read_text(encoding="utf-8"))
    return records
def run(export, tokenizer, out, records):
    export = Path(export)
    shards = sorted(export.glob("data/*/train-*.parquet"))
    shards = [p for p in shards if p.parent.name not in ("queries", "models")]
    table = pa.concat_tables([pq.read_table(p, columns=[*RESPONSE_COLUMNS, "performance"]) for p in shards])
    queries = pq.read_table(next((export / "data" / "queries").glob("train-*.parquet")), columns=list(QUERY_COLUMNS))
    counter = Tokenizer.from_file(str(Path(tokenizer) / "tokenizer.json"))
    prompts = sorted({r["instruction"] + "\\n" + r["input"] for r in records})
    counter.encode_batch_fast(prompts, add_special_tokens=False)
    counter.encode_batch_fast([r["output"] for r in records], add_special_tokens=False)
    text = "[\\n" + ",\\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\\n]\\n"
    (Path(out) / "floor.json").write_text(text, encoding="utf-8")
    return table.num_rows + queries.num_rows
"""

OURS = """
from fusionbench.fusion.sft import make_sft_data
def prepare(export, tokenizer, out):
    return None
def run(export, tokenizer, out, _):
    result = make_sft_data(export, Path(out) / "ours", overwrite=True, tokenizer=tokenizer or None)
    return result.report.examples
from pathlib import Path
"""

MEASURE = """
import resource, sys, time
import pyarrow.parquet, tokenizers, fusionbench.fusion.sft, fusionbench.fusion.sft.pipeline  # same state
namespace = {"__name__": "bench"}
exec(compile(sys.argv[1], "bench", "exec"), namespace)
export, tokenizer, out = sys.argv[2:5]
prepared = namespace["prepare"](export, tokenizer, out)
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
size = namespace["run"](export, tokenizer, out, prepared)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"RESULT {seconds} {cpu} {after.ru_maxrss * 1024} {size}")
"""

TARGET_SECONDS = 30.0


def measure(name: str, code: str, export: Path, tokenizer: str, out: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, code, str(export), tokenizer, str(out)],
        capture_output=True, text=True, check=False, env={**os.environ, "TOKENIZERS_PARALLELISM": "true"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    _, seconds, cpu, rss, _ = next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split()
    return float(seconds), float(cpu), int(rss)


def command_line(export: Path, tokenizer: str, out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole ``fusionbench sft-data`` command, start-up included."""
    before = os.times()
    start = time.perf_counter()
    command = [sys.executable, "-m", "fusionbench", "sft-data", "--data", str(export), "--out", str(out / "cli")]
    subprocess.run([*command, "--tokenizer", tokenizer, "--overwrite"], capture_output=True, check=True)
    seconds = time.perf_counter() - start
    after = os.times()
    return seconds, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def tiny_tokenizer(folder: Path) -> str:
    """The tiny offline Llama's tokenizer, built in a subprocess."""
    code = (
        "import sys; from fusionbench.generation.random_model import build_random_llama; "
        "print(build_random_llama(sys.argv[1], size='tiny', dtype='float32', vocab_size=300))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("bench_data/sft_export"))
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the tiny offline Llama's)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_export(args.export)
    with tempfile.TemporaryDirectory(prefix="bench-sft-") as scratch:
        out = Path(scratch)
        tokenizer = args.tokenizer or tiny_tokenizer(out / "tiny")
        measure("reference", OURS, args.export, tokenizer, out)  # what the floor counts and writes
        written = json.loads((out / "ours" / "report.json").read_text(encoding="utf-8"))
        (out / "reference.json").write_text(
            (out / "ours" / "fusionbench_perf_top5.json").read_text(encoding="utf-8"), encoding="utf-8"
        )
        print(f"{written['examples']:,} examples; skipped {written['skipped']}")
        runs: dict[str, list[tuple[float, float, int]]] = {"floor": [], "ours": [], "ours-notok": []}
        codes = {"floor": (FLOOR, tokenizer), "ours": (OURS, tokenizer), "ours-notok": (OURS, "")}
        for index in range(args.rounds):
            order = list(runs) if index % 2 == 0 else list(reversed(runs))
            for name in order:
                code, named = codes[name]
                runs[name].append(measure(name, code, args.export, named, out))
            line = ", ".join(f"{name} {runs[name][-1][0]:.2f} s ({runs[name][-1][1]:.2f} s CPU)" for name in runs)
            print(f"round {index + 1}: {line}")
        cli_seconds, cli_cpu = command_line(args.export, tokenizer, out)
    floor = statistics.median(r[0] for r in runs["floor"])
    floor_cpu = statistics.median(r[1] for r in runs["floor"])
    print(f"{'run':11} {'median s':>9} {'x floor':>8} {'cpu s':>7} {'cpu x floor':>12} {'peak RSS MiB':>13}")
    for name, measured in runs.items():
        seconds, cpu = statistics.median(r[0] for r in measured), statistics.median(r[1] for r in measured)
        rss = max(r[2] for r in measured) / 2**20
        print(f"{name:11} {seconds:9.2f} {seconds / floor:8.2f} {cpu:7.2f} {cpu / floor_cpu:12.2f} {rss:13.0f}")
    print(f"command line (start-up included): {cli_seconds:.2f} s wall, {cli_cpu:.2f} s CPU")
    ours = statistics.median(r[0] for r in runs["ours"])
    verdict = {
        "sft_data_seconds": round(ours, 2),
        "sft_data_cpu_seconds": round(statistics.median(r[1] for r in runs["ours"]), 2),
        "sft_data_vs_floor": round(ours / floor, 2),
        "cpu_vs_floor": round(statistics.median(r[1] for r in runs["ours"]) / floor_cpu, 2),
        "command_line_seconds": round(cli_seconds, 2),
        "command_line_cpu_seconds": round(cli_cpu, 2),
        "meets_target": cli_seconds <= TARGET_SECONDS,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
