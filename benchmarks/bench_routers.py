"""Benchmark the routers' fit + predict on a synthetic problem of the release's size.

Run: ``python benchmarks/bench_routers.py [--queries 7500] [--candidates 40] [--dim 384] [--rounds 3]``.

The problem: ``queries`` x ``dim`` dense features (MiniLM's 384 dimensions by default), 0/1 performance of
``candidates`` candidates drawn from a latent linear model (so there is something to learn), costs that
grow with the candidate index. Each router is fitted on every query and predicts every query (the upper
case of a train/test split). The floor is ``X @ X.T`` of the same features, the least work a brute-force
kNN needs, timed in the same run; each line reports seconds (median over rounds), the ratio to the floor,
and the issue's budget (kNN 2 s, linear 10 s, MLP 30 s, MF 60 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from fusionbench.fusion.routers import KNNRouter, LinearRouter, MFRouter, MLPRouter

BUDGET_S = {"knn": 2.0, "linear": 10.0, "linear_logistic": 10.0, "linear_svr": 10.0, "mlp": 30.0, "mf": 60.0}


def problem(n: int, k: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    skill = rng.normal(size=(d, k)) / np.sqrt(d) * 8
    bias = np.linspace(-1.0, 1.0, k)
    Y = (X @ skill + bias + rng.normal(size=(n, k)) > 0).astype(np.float64)
    cost = np.linspace(1e-4, 1e-2, k) * (1 + 0.2 * rng.random((n, k)))
    return X, Y, cost


def timed(run: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=7500)
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--routers", default="knn,linear,linear_logistic,linear_svr,mlp,mf")
    args = parser.parse_args()
    X, Y, cost = problem(args.queries, args.candidates, args.dim)
    routers = {
        "knn": lambda: KNNRouter(n_neighbors=50),
        "linear": lambda: LinearRouter(kind="ridge"),
        "linear_logistic": lambda: LinearRouter(kind="logistic"),
        "linear_svr": lambda: LinearRouter(kind="linear_svr"),
        "mlp": lambda: MLPRouter(),
        "mf": lambda: MFRouter(),
    }
    floor = timed(lambda: X @ X.T, max(args.rounds, 3))
    best = Y.mean(axis=0).max()
    results = {"floor_s": floor, "problem": vars(args) | {"best_single": float(best)}, "routers": {}}
    print(f"{args.queries} queries x {args.candidates} candidates x {args.dim} features; floor (X @ X.T) {floor:.3f} s")
    for name in args.routers.split(","):
        make = routers[name]
        state: dict[str, np.ndarray] = {}

        def run(make: Callable = make, state: dict = state) -> None:
            router = make().fit(X, Y, cost=cost)
            state["choices"] = router.predict(X)

        seconds = timed(run, args.rounds if name in ("knn", "linear") else 1)
        accuracy = float(Y[np.arange(len(Y)), state["choices"]].mean())
        budget = BUDGET_S[name]
        verdict = "ok" if seconds <= budget else "OVER"
        print(
            f"{name:16s} {seconds:7.2f} s  {seconds / floor:8.1f}x floor  budget {budget:4.0f} s {verdict}  "
            f"routed accuracy {accuracy:.3f} (best single {best:.3f})"
        )
        results["routers"][name] = {"seconds": seconds, "ratio_to_floor": seconds / floor, "accuracy": accuracy}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
