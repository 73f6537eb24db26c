"""Tiny FusionBench, leave one model out: how well each method estimates a held-out model's mean over tasks from its
answers on the anchors alone (MAE in points, mean over held-out models, spread over models, 95 % bootstrap CI over
models, per-task MAE), and the item model's fit time on the full-size synthetic export.

    python benchmarks/bench_tiny.py --data embedded --total 100 --draws 100 --out tiny-embedded-100.json
    python benchmarks/bench_tiny.py --data embedded --per-task 10 --draws 100 --out tiny-embedded-pt10.json
    python benchmarks/bench_tiny.py --data alpacaeval2=../shared/data/routing-more/alpacaeval2 --total 100 \\
        --draws 100 --out tiny-alpacaeval.json
    python benchmarks/bench_tiny.py --fit-speed bench_data/routing_export   # the 7.6k x 40 fit, 2 threads at most

Every anchor choice and item model uses the other models only; the held-out model's answers outside its anchors
are read only to score the estimate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def fit_speed(export: Path) -> dict:
    """Seconds to fit the tiny sets' item model on the full-size synthetic export (built when absent)."""
    from full_export import ensure_export

    from fusionbench.fusion.data import RoutingData
    from fusionbench.fusion.irt import fit_irt
    from fusionbench.fusion.tiny import build_tiny
    from fusionbench.fusion.tiny.core import IRT_OPTIONS
    from fusionbench.fusion.tiny.study import unique_queries

    ensure_export(export)
    data = unique_queries(RoutingData.from_export(export, incomplete="drop_queries"))
    out: dict = {"queries": data.n_queries, "subjects": data.n_candidates}
    for name, options in (("1pl", {"kind": "1pl"}), ("2pl-2d", {"dims": 2}), ("2pl+task", IRT_OPTIONS)):
        start, cpu = time.perf_counter(), time.process_time()
        model = fit_irt(data, **options)
        wall, used = round(time.perf_counter() - start, 2), round(time.process_time() - cpu, 2)
        out[name] = {"seconds": wall, "cpu_seconds": used, "iterations": model.info["iterations"]}
    tiny = build_tiny(data, total=100, method="anchors-gpirt", item_model=model, lambdas={"*": 0.5})
    rows = data.subset(tiny.query_ids)
    order = {q: i for i, q in enumerate(rows.query_ids)}
    scores = {q: float(rows.performance[order[q], 0]) for q in tiny.query_ids}
    start, cpu = time.perf_counter(), time.process_time()
    tiny.estimate(scores, n_boot=200)
    out["estimate_200_bootstraps"] = {"seconds": round(time.perf_counter() - start, 2),
                                      "cpu_seconds": round(time.process_time() - cpu, 2)}  # fmt: skip
    out["load_average"] = os.getloadavg()[0]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="embedded", help="a data spec as the route verbs take it")
    parser.add_argument("--total", type=int)
    parser.add_argument("--per-task", type=int)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--methods", default="random,stratified,anchors,irt,pirt,gpirt,anchors-gpirt,adaptive")
    parser.add_argument("--calibration-models", type=int, default=3)
    parser.add_argument("--held-out", type=int, help="hold out only this many models (a seeded sample; default all)")
    parser.add_argument("--irt", default="", help="item model options, e.g. dims=2,task_effects=false")
    parser.add_argument("--fit-speed", type=Path, help="time the item model fit on this (full-size) export")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.fit_speed:
        os.environ.setdefault("OMP_NUM_THREADS", "2")
        print(json.dumps(fit_speed(args.fit_speed), indent=1))
        return 0
    from fusionbench.fusion.evaluation.inputs import load_data, parse_pairs
    from fusionbench.fusion.tiny.study import lomo_study

    data = load_data(args.data, incomplete="drop_queries")
    options = parse_pairs(args.irt.split(",") if args.irt else [])
    if args.total is None and args.per_task is None:
        args.total = 100
    start = time.perf_counter()

    def progress(step: str, i: int, n: int) -> None:
        print(f"[{i + 1}/{n}] {step}", file=sys.stderr, flush=True)

    models = list(dict.fromkeys(data.models))
    if args.held_out:
        import numpy as np

        models = sorted(np.random.default_rng(0).choice(models, size=args.held_out, replace=False).tolist())
    result = lomo_study(data, methods=args.methods.split(","), total=args.total, per_task=args.per_task,
                        draws=args.draws, irt_options=options, calibration_models=args.calibration_models,
                        models=models, progress=progress)  # fmt: skip
    result["seconds"] = round(time.perf_counter() - start, 1)
    budget = f"{args.total} in all" if args.total else f"{args.per_task} per task"
    print(f"{data.source}: {result['n_queries']} queries x {result['n_candidates']} candidates, {budget}, "
          f"{args.draws} draws, {len(result['models'])} held-out models ({result['seconds']} s)")  # fmt: skip
    print(f"{'method':<15} {'MAE':>6} {'sd':>6}  95% CI")
    for method, row in result["methods"].items():
        print(f"{method:<15} {row['mae']:6.2f} {row['sd']:6.2f}  [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
