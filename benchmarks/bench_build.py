"""Benchmark ``fusionbench build`` on a full-size synthetic release against a floor and a pandas reference.

In one run, each in a fresh subprocess (so peak RSS is its own) with the same interpreter state and the
same environment as ``fusionbench build`` (``MIMALLOC_ALLOW_THP=0``), over several rounds that alternate
which of floor and ours goes first (this 2-core VM's page-fault cost swings from run to run; the verdict
is the ratio of the medians, and every run is printed):

* floor   — pyarrow reads the same CSV files (same parse and block-size options) and writes the same rows
            as Parquet;
* ours    — :func:`fusionbench.export.build_export`, the code behind ``fusionbench build``;
  (imports are not timed; peak RSS is the whole process's)
* pandas  — a reference in the style of the original code: ``read_csv``, then a per-task groupby
            that splits the model suffix, parses the performance strings and writes Parquet.

Usage: ``python benchmarks/bench_build.py [--data DIR] [--rounds 5] [--train-queries 500] [--test-queries 50]``.
The synthetic release is written to ``--data`` (default ``bench_data/release``) unless it exists.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = """
import glob, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
from fusionbench.build.sources import BLOCK_BYTES
from fusionbench.schema import RELEASE_COLUMNS
def run(src, out):
    parse = pacsv.ParseOptions(escape_char="\\\\", newlines_in_values=True)
    types = dict.fromkeys(RELEASE_COLUMNS, pa.string())
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    for i, path in enumerate(sorted(glob.glob(src + "/*.csv"))):
        options = pacsv.ReadOptions(block_size=BLOCK_BYTES)
        reader = pacsv.open_csv(path, read_options=options, parse_options=parse, convert_options=convert)
        with pq.ParquetWriter(f"{out}/part-{i}.parquet", reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
"""

OURS = """
from pathlib import Path
from fusionbench.build import build_export
def run(src, out):
    build_export([src], Path(out) / "export", overwrite=True)
"""

PANDAS = """
import ast, glob, pandas as pd
def perf(value):
    if value.startswith("{"):
        return float(ast.literal_eval(value)["pass@1"])
    return float(value) if value else None
def run(src, out):
    frames = []
    for path in sorted(glob.glob(src + "/*.csv")):
        frame = pd.read_csv(path, escapechar="\\\\", keep_default_na=False, dtype=str)
        frame["split"] = "test" if "test" in path else "train"
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    for task, group in data.groupby("task_name"):
        group = group.copy()
        group["mode"] = group["llm"].str.endswith("_think").map({True: "cot", False: "direct"})
        group["model"] = group["llm"].str.replace("_think$", "", regex=True)
        group["performance"] = group["performance"].map(perf)
        group["cost_usd"] = pd.to_numeric(group["cost"], errors="coerce") / 1e6
        group.to_parquet(f"{out}/{task}.parquet", compression="zstd", index=False)
"""

MEASURE = """
import resource, sys, time
import fusionbench.export  # every run starts from the same interpreter state: the package and its dependencies loaded
namespace = {"__name__": "bench"}
exec(compile(sys.argv[1], "bench", "exec"), namespace)  # imports are not timed
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
namespace["run"](sys.argv[2], sys.argv[3])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
print(f"RESULT {seconds} {after.ru_maxrss * 1024} {user} {system}")
"""


# Every run gets the process environment `fusionbench build` gives itself: Arrow's allocator without
# transparent huge pages (see fusionbench/cli.py), unless the caller set MIMALLOC_ALLOW_THP.
RUN_ENV = {**os.environ, "MIMALLOC_ALLOW_THP": os.environ.get("MIMALLOC_ALLOW_THP", "0")}


def measure(name: str, code: str, data: Path, work: Path) -> tuple[float, int, float, float]:
    """(wall seconds, peak RSS bytes, user CPU seconds, system CPU seconds) of one run in a fresh process."""
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, code, str(data), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=RUN_ENV,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    _, seconds, rss, user, system = line.split()
    return float(seconds), int(rss), float(user), float(system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("bench_data/release"))
    parser.add_argument("--work", type=Path, default=Path("bench_data/work"))
    parser.add_argument("--train-queries", type=int, default=500)
    parser.add_argument("--test-queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5, help="floor/ours pairs to run (default 5)")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()

    if not any(args.data.glob("*.csv")):
        from fusionbench.synthetic import generate_release

        start = time.perf_counter()
        rows = generate_release(args.data, args.train_queries, args.test_queries)
        print(f"wrote synthetic release {args.data}: {rows} in {time.perf_counter() - start:.1f} s")
    size = sum(p.stat().st_size for p in args.data.glob("*.csv"))
    print(f"input: {size / 2**20:.0f} MiB of CSV; every run with MIMALLOC_ALLOW_THP={RUN_ENV['MIMALLOC_ALLOW_THP']}")

    runs: dict[str, list[tuple[float, int, float, float]]] = {"floor": [], "ours": []}
    for round_index in range(args.rounds):
        order = ["floor", "ours"] if round_index % 2 == 0 else ["ours", "floor"]
        for name in order:
            runs[name].append(measure(name, FLOOR if name == "floor" else OURS, args.data, args.work))
        (floor_s, _, floor_user, floor_sys), (ours_s, _, ours_user, ours_sys) = runs["floor"][-1], runs["ours"][-1]
        print(
            f"round {round_index + 1}: floor {floor_s:.2f} s (cpu user {floor_user:.2f} + sys {floor_sys:.2f}), "
            f"ours {ours_s:.2f} s (cpu user {ours_user:.2f} + sys {ours_sys:.2f}), ratio {ours_s / floor_s:.2f}"
        )
    if not args.skip_pandas:
        runs["pandas"] = [measure("pandas", PANDAS, args.data, args.work)]
    floor_seconds = statistics.median(run[0] for run in runs["floor"])
    print(f"{'run':8} {'median s':>9} {'x floor':>8} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
    for name, measured in runs.items():
        seconds = [run[0] for run in measured]
        median = statistics.median(seconds)
        rss = max(run[1] for run in measured)
        print(
            f"{name:8} {median:9.2f} {median / floor_seconds:8.2f} {min(seconds):7.2f} {max(seconds):7.2f} "
            f"{rss / 2**20:13.0f}"
        )
    ours_seconds = statistics.median(run[0] for run in runs["ours"])
    ours_rss = max(run[1] for run in runs["ours"])
    ratios = [ours[0] / floor[0] for ours, floor in zip(runs["ours"], runs["floor"], strict=True)]
    verdict = {
        "build_vs_floor": round(ours_seconds / floor_seconds, 2),
        "round_ratios": [round(r, 2) for r in ratios],
        "build_peak_rss_mib": round(ours_rss / 2**20),
        "meets_targets": ours_seconds <= 2 * floor_seconds and ours_rss <= 2 * 2**30,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
