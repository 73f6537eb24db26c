"""Benchmark building the routing view (``RoutingData.from_export``) of a full-size export against a floor.

In one run, each in a fresh subprocess (so peak RSS is its own) with the same interpreter state (pyarrow,
numpy and fusionbench.fusion loaded; imports are not timed), over rounds that alternate which goes first:

* floor   — pyarrow reads the same columns of the same shards (responses: keys, scores, cost, judge, tokens,
            source; queries: ids, text, gold, metric, embedding) and nothing else;
* ours    — ``RoutingData.from_export(export, incomplete="drop_queries")``: the read plus the pivot to
            [n, k] matrices, the join of texts and embeddings, the candidate info and the checks;
* pandas  — a reference: the same read, then ``pivot_table`` per value column (one run).

Targets (issue 11, section 7): ours <= 2 s and peak RSS <= 2 GB on the full-size synthetic export (~7.6k
queries x 40 candidates, ~306k rows); the verdict also prints the median ratio ours / floor.

Usage: ``python benchmarks/bench_routing_data.py [--export DIR] [--rounds 5] [--skip-pandas]``. Without an
export at ``--export`` (default ``bench_data/routing_export``) a full-size synthetic release is generated and
built there first (as ``make_synthetic_release.py`` and ``fusionbench build --source`` do).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from full_export import ensure_export

COLUMNS = """
RESPONSES = ["query_id", "task", "domain", "split", "model", "mode", "sample", "performance", "cost_usd",
             "judge_score", "input_tokens", "output_tokens", "source"]
QUERIES = ["query_id", "split", "query", "ground_truth", "metric", "embedding"]
"""

FLOOR = (
    COLUMNS
    + """
import pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
def run(export):
    export = Path(export)
    shards = sorted(p for p in (export / "data").glob("*/*.parquet") if p.parent.name not in ("queries", "models"))
    responses = pa.concat_tables([pq.read_table(p, columns=RESPONSES) for p in shards])
    query_shards = sorted((export / "data/queries").glob("*.parquet"))
    queries = pa.concat_tables([pq.read_table(p, columns=QUERIES) for p in query_shards])
    models = pq.read_table(next((export / "data/models").glob("*.parquet")))
    return responses.num_rows + queries.num_rows + models.num_rows
"""
)

OURS = """
from fusionbench.fusion.data import RoutingData
def run(export):
    data = RoutingData.from_export(export, incomplete="drop_queries")
    return data.n_queries * data.n_candidates
"""

PANDAS = (
    COLUMNS
    + """
import pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
def run(export):
    export = Path(export)
    shards = sorted(p for p in (export / "data").glob("*/*.parquet") if p.parent.name not in ("queries", "models"))
    frame = pa.concat_tables([pq.read_table(p, columns=RESPONSES) for p in shards]).to_pandas()
    frame = frame[frame["sample"] == 0]
    frame["candidate"] = frame["model"] + "/" + frame["mode"]
    values = ["performance", "cost_usd", "judge_score", "input_tokens", "output_tokens"]
    tables = {v: frame.pivot_table(index=["split", "query_id"], columns="candidate", values=v, aggfunc="first",
                                   dropna=False) for v in values}
    query_shards = sorted((export / "data/queries").glob("*.parquet"))
    queries = pa.concat_tables([pq.read_table(p, columns=QUERIES) for p in query_shards])
    texts = queries.to_pandas().set_index(["split", "query_id"]).reindex(tables["performance"].index)
    return tables["performance"].size + len(texts)
"""
)

MEASURE = """
import resource, sys, time
import numpy, pyarrow.parquet, fusionbench.fusion.data, fusionbench.fusion.converters.canonical  # same state
namespace = {"__name__": "bench"}
exec(compile(sys.argv[1], "bench", "exec"), namespace)
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
size = namespace["run"](sys.argv[2])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
print(f"RESULT {seconds} {after.ru_maxrss * 1024} {after.ru_utime - before.ru_utime} {size}")
"""

RUN_ENV = {**os.environ, "MIMALLOC_ALLOW_THP": os.environ.get("MIMALLOC_ALLOW_THP", "0")}


def measure(name: str, code: str, export: Path) -> tuple[float, int, float]:
    """(wall seconds, peak RSS bytes, user CPU seconds) of one run in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, code, str(export)], capture_output=True, text=True, check=False, env=RUN_ENV
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    _, seconds, rss, user, _size = next(line for line in done.stdout.splitlines() if line.startswith("RESULT")).split()
    return float(seconds), int(rss), float(user)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("bench_data/routing_export"))
    parser.add_argument("--rounds", type=int, default=5, help="floor/ours pairs (default 5)")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    ensure_export(args.export)
    runs: dict[str, list[tuple[float, int, float]]] = {"floor": [], "ours": []}
    for index in range(args.rounds):
        for name in ["floor", "ours"] if index % 2 == 0 else ["ours", "floor"]:
            runs[name].append(measure(name, FLOOR if name == "floor" else OURS, args.export))
        floor, ours = runs["floor"][-1], runs["ours"][-1]
        print(f"round {index + 1}: floor {floor[0]:.3f} s, ours {ours[0]:.3f} s, ratio {ours[0] / floor[0]:.2f}")
    if not args.skip_pandas:
        runs["pandas"] = [measure("pandas", PANDAS, args.export)]
    floor_seconds = statistics.median(run[0] for run in runs["floor"])
    print(f"{'run':8} {'median s':>9} {'x floor':>8} {'min s':>7} {'max s':>7} {'cpu s':>6} {'peak RSS MiB':>13}")
    for name, measured in runs.items():
        seconds = [run[0] for run in measured]
        median = statistics.median(seconds)
        print(
            f"{name:8} {median:9.3f} {median / floor_seconds:8.2f} {min(seconds):7.3f} {max(seconds):7.3f} "
            f"{statistics.median(run[2] for run in measured):6.2f} {max(run[1] for run in measured) / 2**20:13.0f}"
        )
    ours_seconds = statistics.median(run[0] for run in runs["ours"])
    ours_rss = max(run[1] for run in runs["ours"])
    verdict = {
        "routing_data_vs_floor": round(ours_seconds / floor_seconds, 2),
        "round_ratios": [round(o[0] / f[0], 2) for o, f in zip(runs["ours"], runs["floor"], strict=True)],
        "routing_data_seconds": round(ours_seconds, 3),
        # user CPU is steadier than wall time on a shared 2-core machine
        "cpu_vs_floor": round(
            statistics.median(r[2] for r in runs["ours"]) / statistics.median(r[2] for r in runs["floor"]), 2
        ),
        "routing_data_peak_rss_mib": round(ours_rss / 2**20),
        "meets_targets": ours_seconds <= 2.0 and ours_rss <= 2 * 2**30,
    }
    print(json.dumps(verdict))


if __name__ == "__main__":
    main()
