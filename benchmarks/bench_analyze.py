"""Benchmark ``fusionbench analyze`` on the full-size synthetic export (306k rows) against a floor.

In one run, each in a fresh subprocess with the same modules imported before the clock starts (pyarrow, numpy,
scipy, scikit-learn, matplotlib, fusionbench.fusion.analysis), over rounds that alternate which goes first:

* floor — the routing view the analyses read: ``RoutingData.from_export(export, with_responses=True)``;
* ours  — the same read, then ``analyze`` with 1,000 bootstrap resamples (every analysis: leaderboard and rank
          CIs, judge vs truth, error consistency, CAPA, oracle@k, PCA, leave-one-task-out, item statistics, the
          answers of 306k responses for the majority vote, fusion bounds) and ``write_analysis`` (report.md,
          report.json, the PNG plots);

and once, the whole command line (``fusionbench analyze EXPORT --report DIR``: start-up and imports included),
the issue's target (issue 20): at most 60 s on 2 cores. Each child is pinned to at most 2 CPUs
(``os.sched_setaffinity``); user + system CPU seconds are printed beside wall seconds.

Usage: ``python benchmarks/bench_analyze.py [--export DIR] [--rounds 3] [--n-boot 1000]``. Without an export at
``--export`` (default ``bench_data/routing_export``, the routing benchmarks' export) a full-size synthetic release
is generated and built there.
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
def run(export, out, n_boot):
    data = RoutingData.from_export(export, incomplete="drop_queries", with_responses=True)
    return data.n_queries * data.n_candidates
"""

OURS = """
def run(export, out, n_boot):
    data = RoutingData.from_export(export, incomplete="drop_queries", with_responses=True)
    report = analyze(data, AnalysisConfig(n_boot=n_boot))
    write_analysis(report, out)
    return data.n_queries * data.n_candidates
"""

MEASURE = """
import os, resource, sys, time
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
import numpy, pyarrow.parquet, scipy.stats, sklearn.decomposition, sklearn.linear_model, matplotlib.pyplot  # same state
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.analysis import AnalysisConfig, analyze, write_analysis
namespace = {"__name__": "bench", "RoutingData": RoutingData, "AnalysisConfig": AnalysisConfig,
             "analyze": analyze, "write_analysis": write_analysis}
exec(compile(sys.argv[1], "bench", "exec"), namespace)
export, out, n_boot = sys.argv[2], sys.argv[3], int(sys.argv[4])
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
size = namespace["run"](export, out, n_boot)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"RESULT {seconds} {cpu} {after.ru_maxrss * 1024} {size}")
"""

TARGET_SECONDS = 60.0


def measure(name: str, code: str, export: Path, out: Path, n_boot: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one run in a fresh process."""
    command = [sys.executable, "-c", MEASURE, code, str(export), str(out), str(n_boot)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    _, seconds, cpu, rss, _ = next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split()
    return float(seconds), float(cpu), int(rss)


def command_line(export: Path, out: Path, n_boot: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the whole ``fusionbench analyze`` command on 2 CPUs, start-up included."""
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:2])
    command = ["taskset", "-c", cpus, sys.executable, "-m", "fusionbench", "analyze", str(export)]
    command += ["--report", str(out / "cli"), "--n-boot", str(n_boot), "--incomplete", "drop_queries", "--quiet"]
    before = os.times()
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    seconds = time.perf_counter() - start
    after = os.times()
    return seconds, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("bench_data/routing_export"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-boot", type=int, default=1000)
    args = parser.parse_args()
    ensure_export(args.export)
    runs: dict[str, list[tuple[float, float, int]]] = {"floor": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as scratch:
        out = Path(scratch)
        for index in range(args.rounds):
            order = list(runs) if index % 2 == 0 else list(reversed(runs))
            for name in order:
                runs[name].append(measure(name, FLOOR if name == "floor" else OURS, args.export, out, args.n_boot))
            line = ", ".join(f"{name} {runs[name][-1][0]:.2f} s ({runs[name][-1][1]:.2f} s CPU)" for name in runs)
            print(f"round {index + 1}: {line}", flush=True)
        cli_seconds, cli_cpu = command_line(args.export, out, args.n_boot)
        timings = json.loads((out / "cli" / "report.json").read_text(encoding="utf-8"))["timings_s"]
    floor = statistics.median(r[0] for r in runs["floor"])
    print(f"{'run':6} {'median s':>9} {'x floor':>8} {'cpu s':>7} {'peak RSS MiB':>13}")
    for name, measured in runs.items():
        seconds, cpu = statistics.median(r[0] for r in measured), statistics.median(r[1] for r in measured)
        print(f"{name:6} {seconds:9.2f} {seconds / floor:8.2f} {cpu:7.2f} {max(r[2] for r in measured) / 2**20:13.0f}")
    print(f"command line (start-up included, 2 CPUs): {cli_seconds:.2f} s wall, {cli_cpu:.2f} s CPU")
    print("steps of the command line (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    ours = statistics.median(r[0] for r in runs["ours"])
    verdict = {
        "analyze_seconds": round(ours, 2),
        "analyze_vs_floor": round(ours / floor, 2),
        "floor_seconds": round(floor, 2),
        "command_line_seconds": round(cli_seconds, 2),
        "command_line_cpu_seconds": round(cli_cpu, 2),
        "n_boot": args.n_boot,
        "meets_target": cli_seconds <= TARGET_SECONDS,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
