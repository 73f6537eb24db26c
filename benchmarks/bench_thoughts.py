"""Benchmark ``fusionbench thoughts build`` (extractive summariser) + ``thoughts apply`` on a full-size export.

In one run, each in a fresh subprocess (imports not timed), over rounds that alternate which goes first:

* floor — pyarrow reads what the two steps must read: the train responses' selection columns (keys, scores,
          cost, judge, response) and the queries table, and nothing else;
* ours  — ``build_templates(export, ..., ExtractiveSummarizer())`` into a fresh folder (selection, summaries,
          parts, the templates table), then ``apply_templates(..., split="test", k=3)`` (retrieval by cosine on
          the stored 768-d embeddings, prompts, the prompts folder).

Target (issue 12, section 4): build + apply <= 60 s on the full-size synthetic export (~7k train and 650 test
queries x 40 rows). The machine is shared, so user+system CPU seconds are printed beside wall time.

Usage: ``python benchmarks/bench_thoughts.py [--export DIR] [--rounds 3]``. Without an export at ``--export``
(default ``bench_data/thoughts_export``) a full-size synthetic release is generated and built there first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from full_export import ensure_export

FLOOR = """
import pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
COLUMNS = ["query_id", "task", "model", "mode", "sample", "performance", "judge_score", "cost_usd", "response"]
def run(export, work):
    export = Path(export)
    shards = sorted(p for p in (export / "data").glob("*/train-*.parquet") if p.parent.name != "models"
                    and p.parent.name != "queries")
    rows = pa.concat_tables([pq.read_table(p, columns=COLUMNS) for p in shards])
    queries = pa.concat_tables([pq.read_table(p) for p in sorted((export / "data/queries").glob("*.parquet"))])
    return {"rows": rows.num_rows, "queries": queries.num_rows}
"""

OURS = """
import time
from pathlib import Path
from fusionbench.fusion.thoughts import ExtractiveSummarizer, apply_templates, build_templates
def run(export, work):
    start = time.perf_counter()
    built = build_templates(export, Path(work) / "templates", ExtractiveSummarizer())
    middle = time.perf_counter()
    applied = apply_templates(Path(work) / "templates", export, Path(work) / "prompts", split="test", k=3)
    end = time.perf_counter()
    return {"templates": built.templates, "prompts": applied.with_prompt, "build_s": middle - start,
            "apply_s": end - middle}
"""

MEASURE = """
import json, resource, sys, time
import numpy, pyarrow.parquet, pyarrow.compute  # the same state for both
import fusionbench.fusion.thoughts.build, fusionbench.fusion.thoughts.apply, fusionbench.fusion.thoughts.retrieval
namespace = {"__name__": "bench"}
exec(compile(sys.argv[1], "bench", "exec"), namespace)
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
info = namespace["run"](sys.argv[2], sys.argv[3])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
print("RESULT " + json.dumps({"seconds": seconds, "cpu": cpu, "rss": after.ru_maxrss * 1024, **info}))
"""

RUN_ENV = {**os.environ, "MIMALLOC_ALLOW_THP": os.environ.get("MIMALLOC_ALLOW_THP", "0")}


def measure(name: str, code: str, export: Path) -> dict:
    """Wall and CPU seconds, peak RSS and the run's own figures, in a fresh process and work folder."""
    with tempfile.TemporaryDirectory(prefix="bench-thoughts-") as work:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, code, str(export), work],
            capture_output=True, text=True, check=False, env=RUN_ENV,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("bench_data/thoughts_export"))
    parser.add_argument("--rounds", type=int, default=3, help="floor/ours pairs (default 3)")
    args = parser.parse_args()
    ensure_export(args.export)
    runs: dict[str, list[dict]] = {"floor": [], "ours": []}
    for index in range(args.rounds):
        for name in ["floor", "ours"] if index % 2 == 0 else ["ours", "floor"]:
            runs[name].append(measure(name, FLOOR if name == "floor" else OURS, args.export))
        floor, ours = runs["floor"][-1], runs["ours"][-1]
        print(
            f"round {index + 1}: floor {floor['seconds']:.2f} s; ours {ours['seconds']:.2f} s (build "
            f"{ours['build_s']:.2f} s, apply {ours['apply_s']:.2f} s; {ours['templates']:,} templates, "
            f"{ours['prompts']:,} prompts), cpu {ours['cpu']:.2f} s"
        )
    print(f"{'run':6} {'median s':>9} {'x floor':>8} {'min s':>7} {'max s':>7} {'cpu s':>6} {'peak RSS MiB':>13}")
    floor_seconds = statistics.median(r["seconds"] for r in runs["floor"])
    for name, measured in runs.items():
        seconds = [r["seconds"] for r in measured]
        median = statistics.median(seconds)
        print(
            f"{name:6} {median:9.2f} {median / floor_seconds:8.2f} {min(seconds):7.2f} {max(seconds):7.2f} "
            f"{statistics.median(r['cpu'] for r in measured):6.2f} {max(r['rss'] for r in measured) / 2**20:13.0f}"
        )
    ours = runs["ours"]
    seconds = statistics.median(r["seconds"] for r in ours)
    verdict = {
        "build_plus_apply_seconds": round(seconds, 2),
        "build_seconds": round(statistics.median(r["build_s"] for r in ours), 2),
        "apply_seconds": round(statistics.median(r["apply_s"] for r in ours), 2),
        "cpu_seconds": round(statistics.median(r["cpu"] for r in ours), 2),
        "vs_floor": round(seconds / floor_seconds, 2),
        "cpu_vs_floor": round(
            statistics.median(r["cpu"] for r in ours) / statistics.median(r["cpu"] for r in runs["floor"]), 2
        ),
        "peak_rss_mib": round(max(r["rss"] for r in ours) / 2**20),
        "templates": ours[0]["templates"],
        "prompts": ours[0]["prompts"],
        "meets_target": seconds <= 60.0,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
