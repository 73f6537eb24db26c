"""Benchmark ``route eval`` and the trade-off label sets against floors and FusionFactory, in one run.

Two parts (``--part eval``, ``--part labels`` or both):

* **eval** — :func:`fusionbench.fusion.evaluate` with 1,000 bootstrap resamples per router (prediction, the five
  baseline rows, Table-4 values, paired CIs, per-task CIs) on a full-size synthetic export (~7.65k queries x 40
  candidates): on the release test split and on every query (the naive split). Fits are not timed. The floor,
  timed in the same run, is the least work of such a bootstrap: drawing the 1,000 resamples and one weighted
  mean per resample of one per-query column. Target (issue 11, section 7): <= 5 s per router, peak RSS <= 2 GB.
* **labels** — the four label sets (performance_first, balance, cost_first, llm_judge under the fusionfactory
  protocol: per-split, per-task min-max, first maximum in row order) from the same release CSV, against
  FusionFactory's own ``query_level/data_processing.py`` run on that CSV: its source is read from a local
  mirror of ulab-uiuc/FusionFactory (``--fusionfactory``; nothing of it is copied here) and executed with
  ``datasets.load_dataset`` replaced by a reader of the local CSV files, in a scratch folder. Ours is timed from
  the CSV (``fusionbench build`` + ``RoutingData`` + labels, written as Parquet) and from the built export.
  Each side runs in its own subprocess (its peak RSS is its own). Target: at least 30x faster.

Usage::

    python benchmarks/bench_route.py --fusionfactory /work/.mirror/ulab-uiuc+FusionFactory/repo \\
        [--release DIR --export DIR] [--part eval|labels] [--routers knn,linear]

Without ``--release`` the full-size synthetic release and its export are made at ``--export`` (default
``bench_data/routing_export``) and beside it, as the other benchmarks make theirs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from full_export import ensure_export

EVAL = r"""
import json, resource, sys, time, warnings
import numpy as np
from fusionbench.fusion import RoutingData, evaluate, splits
from fusionbench.fusion.routers import make_router
from fusionbench.metrics.routing import bootstrap_weights

export, routers = sys.argv[1], sys.argv[2].split(",")
params = {"knn": {"n_neighbors": 50}, "mf": {"n_factors": 16, "max_iter": 100}}
data = RoutingData.from_export(export, incomplete="drop_queries")
out = {"n_queries": data.n_queries, "n_candidates": data.n_candidates, "routers": {}}
for scenario, spec in (("release test", splits.release(data)), ("all queries (naive)", splits.naive(data))):
    train, _, test = splits.apply(data, spec)
    start = time.perf_counter()
    values = test.performance[:, 0]
    floor = [w @ values / w.sum(axis=1) for w in bootstrap_weights(test.n_queries, 1000, 0)]
    out.setdefault("floor_s", {})[scenario] = time.perf_counter() - start
    for name in routers:
        router = make_router(name, **params.get(name, {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router.fit(train.embeddings, train.performance, cost=train.cost, tasks=train.tasks,
                       candidates=list(train.candidates))
        start, cpu = time.perf_counter(), time.process_time()
        label = name if name not in ("best_single", "per_task") else f"{name}_router"  # baseline rows exist anyway
        result = evaluate({label: router}, test, train=train, X=test.embeddings, n_boot=1000, seed=0,
                          transductive=spec.transductive)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        out["routers"].setdefault(name, {})[scenario] = {"seconds": seconds, "cpu_s": cpu, "n_test": test.n_queries,
                                                         "perf": result.value(label)}
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
"""

OURS = r"""
import json, resource, sys, time
from pathlib import Path
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
release, export, scratch, from_csv = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "csv"
start = time.perf_counter()
if from_csv:
    from fusionbench.build import build_export
    export = str(scratch / "export")
    build_export([release], export, overwrite=True)
from fusionbench.fusion import RoutingData
from fusionbench.fusion.routers.tradeoffs import Tradeoff, labels_from
data = RoutingData.from_export(export, incomplete="drop_queries")  # the one 39-row query is dropped, counted
columns = {"query_id": [], "split": [], "setting": [], "label": []}
for split in ("train", "test"):
    part = data.split(split)
    for setting in ("performance_first", "balance", "cost_first", "llm_judge"):
        target = part.judge if setting == "llm_judge" else part.performance
        reward = Tradeoff.preset(setting, "fusionfactory").reward(target, part.cost, part.tasks)
        picks = labels_from(reward, None, "argmax_first").argmax(axis=1)
        columns["query_id"] += part.query_ids.tolist()
        columns["split"] += [split] * part.n_queries
        columns["setting"] += [setting] * part.n_queries
        columns["label"] += [part.candidates[j] for j in picks]
pq.write_table(pa.table(columns), scratch / "labels.parquet")
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"seconds": seconds, "peak_rss_gb": peak, "labels": len(columns["label"])}))
"""

THEIRS = r"""
import json, resource, subprocess, sys, time, types
import pandas as pd
mirror, release, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
source = subprocess.run(["git", "--git-dir", mirror, "show", "HEAD:query_level/data_processing.py"],
                        capture_output=True, text=True, check=True).stdout
fake = types.ModuleType("datasets")  # the Hub call, replaced by a reader of the same local CSV files
fake.load_dataset = lambda name: {"train": pd.read_csv(f"{release}/train.csv"),
                                  "partial_test": pd.read_csv(f"{release}/partial_test.csv")}
sys.modules["datasets"] = fake
import os
os.chdir(scratch)
start = time.perf_counter()
exec(compile(source, "FusionFactory/query_level/data_processing.py", "exec"), {"__name__": "__main__"})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
labels = sum(len(json.load(open(f))) for f in os.listdir(".") if f.endswith(".json"))
print(json.dumps({"seconds": seconds, "peak_rss_gb": peak, "labels": labels}))
"""


def _run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_eval(export: Path, routers: str) -> None:
    result = _run(EVAL, str(export), routers)
    print(f"route eval, 1,000 resamples, {result['n_queries']:,} queries x {result['n_candidates']} candidates")
    for name, scenarios in result["routers"].items():
        for scenario, row in scenarios.items():
            floor = result["floor_s"][scenario]
            verdict = "OK" if row["seconds"] <= 5.0 else "OVER 5 s"
            print(f"  {name:>11} on {scenario:<20} ({row['n_test']:>5,} queries): {row['seconds']:6.2f} s "
                  f"(CPU {row['cpu_s']:6.2f} s) = {row['seconds'] / floor:6.1f}x the bootstrap floor ({floor:.2f} s)"
                  f"  {verdict}")  # fmt: skip
    print(f"  peak RSS {result['peak_rss_gb']:.2f} GB ({'OK' if result['peak_rss_gb'] <= 2 else 'OVER 2 GB'})")


def bench_labels(release: Path, export: Path, mirror: Path) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, tempfile.TemporaryDirectory() as c:
        from_csv = _run(OURS, str(release), str(export), a, "csv")
        from_export = _run(OURS, str(release), str(export), b, "export")
        start = time.perf_counter()
        theirs = _run(THEIRS, str(mirror), str(release), c)
        wall = time.perf_counter() - start
    print("four label sets from one release CSV (fusionfactory protocol)")
    print(f"  FusionFactory data_processing.py: {theirs['seconds']:7.1f} s ({wall:.1f} s with its imports), "
          f"{theirs['labels']:,} labelled chunks, peak RSS {theirs['peak_rss_gb']:.2f} GB")  # fmt: skip
    for label, ours in (("ours from the CSV (build included)", from_csv), ("ours from the export", from_export)):
        ratio = theirs["seconds"] / ours["seconds"]
        print(f"  {label}: {ours['seconds']:7.2f} s, {ours['labels']:,} labels, peak RSS {ours['peak_rss_gb']:.2f} GB"
              f" -> {ratio:.1f}x faster ({'OK' if ratio >= 30 else 'UNDER 30x'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, help="release CSV folder (default: the export's, beside it)")
    parser.add_argument("--export", type=Path, default=Path("bench_data/routing_export"), help="its built export")
    parser.add_argument("--fusionfactory", type=Path, help="git dir of a ulab-uiuc/FusionFactory mirror")
    parser.add_argument("--part", choices=["eval", "labels", "both"], default="both")
    parser.add_argument("--routers", default="best_single,per_task,knn,linear,mlp,mf,carrot")
    args = parser.parse_args()
    if args.release is None:  # the full-size synthetic release and export the benchmarks share
        ensure_export(args.export)
        args.release = args.export.with_name(args.export.name + "-release")
    if args.part in ("eval", "both"):
        bench_eval(args.export, args.routers)
    if args.part in ("labels", "both"):
        if args.fusionfactory is None:
            raise SystemExit("--fusionfactory GIT_DIR is needed for the label comparison")
        bench_labels(args.release, args.export, args.fusionfactory)


if __name__ == "__main__":
    main()
