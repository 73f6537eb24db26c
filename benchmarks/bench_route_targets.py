"""Issue 18's routing targets, measured: AutoRouter against the best single model chosen on train.

Run: ``python benchmarks/bench_route_targets.py [--parts embedded,ood,mmlu,cost] [--seeds 0,1,2,3,4]
[--n-boot 2000] [--json out.json]``. ``../shared/data/routing`` is read in place for ``mmlu`` and ``cost``
(skipped, with a line, when absent).

* ``embedded``: LLMRouter's 9 models x 6,108 queries shipped in the package; a seeded random 80/20 split by
  query (stratified by task), TF-IDF fitted on train; AutoRouter fitted with the training tasks and asked
  ``predict(X)`` (no true task at test time). Gain = routed - best single (argmax of the training mean) on the
  same test queries; micro (query mean) with a paired bootstrap CI over queries, macro (task mean) with a
  bootstrap stratified by task. Beside: per task with the *true* task (an upper reference), random, oracle.
* ``ood``: each domain held out in turn (``splits.task_ood``); the held-out tasks are unseen, so the task
  prior falls back on the nearest training task.
* ``mmlu``: RouteLLM's MMLU (GPT-4 vs Mixtral) with subjects as tasks, random 80/20 split (seed 0): AutoRouter
  vs the per-subject choice (the best candidate of the *given* subject on train); APGR of AutoRouter's
  utility gap swept over the share of calls to the strong model.
* ``cost``: RouterBench Winogrande (11 models, USD; its own 887/380 train/test files); a cost-aware AutoRouter
  under ``α·perf − (1−α)·cost`` whose α is the cheapest one reaching the best single model's accuracy - 1 point
  on a 25 % validation part of train, refitted on all of train; realised accuracy and cost on test with CIs.

The evaluation package has no task-mean (macro) figure yet, so this script computes it from the per-query
results. Every split passes the project's leakage gate (``fusion.leakage.assert_no_leakage``) first.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.fusion import AutoRouter, splits
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.leakage import assert_no_leakage
from fusionbench.fusion.routers.cluster import alpha_tradeoff
from fusionbench.metrics.routing import aiq

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing"


def ci(values: np.ndarray, n_boot: int, seed: int, strata: np.ndarray | None = None) -> dict[str, float]:
    """Mean (task mean with ``strata``) and its 95 % bootstrap CI (resampling within each stratum)."""
    rng = np.random.default_rng(seed)
    if strata is None:
        idx = rng.integers(0, len(values), (n_boot, len(values)))
        boots = values[idx].mean(axis=1)
        point = float(values.mean())
    else:
        groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        point = float(np.mean([values[g].mean() for g in groups]))
        boots = np.mean([values[g][rng.integers(0, len(g), (n_boot, len(g)))].mean(axis=1) for g in groups], axis=0)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"value": point, "lo": float(lo), "hi": float(hi)}


def _features(train: Any, test: Any) -> tuple[Any, Any]:
    featurizer, X_train = fit_features("tfidf", train)
    return X_train, transform(featurizer, test)


def _fit_auto(X: Any, train: Any, **params: Any) -> tuple[AutoRouter, float]:
    cost = params.pop("cost", None)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = AutoRouter(**params).fit(
            X, train.performance, cost=cost, tasks=train.tasks, candidates=list(train.candidates)
        )
    return router, time.perf_counter() - start


def _picked(P: np.ndarray, picks: np.ndarray) -> np.ndarray:
    return P[np.arange(len(picks)), picks]


def embedded(seeds: list[int], n_boot: int) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"seeds": {}}
    for seed in seeds:
        train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=seed))
        leak = assert_no_leakage(train, test)
        X_train, X_test = _features(train, test)
        router, seconds = _fit_auto(X_train, train)
        P, tasks = test.performance, test.tasks.astype(str)
        routed = _picked(P, router.predict(X_test))
        best = int(train.performance.mean(axis=0).argmax())
        train_tasks = train.tasks.astype(str)
        per_task = np.array([train.performance[train_tasks == t].mean(axis=0).argmax() for t in tasks])
        gain = routed - P[:, best]
        out["seeds"][seed] = {
            "n_train": train.n_queries,
            "n_test": test.n_queries,
            "leaked": leak.to_dict().get("n_leaked", 0) if hasattr(leak, "to_dict") else 0,
            "fit_seconds": seconds,
            "chosen": router.best_label_,
            "task_source": router.task_source_,
            "auto": ci(routed, n_boot, seed),
            "best_single": {"name": str(train.candidates[best]), **ci(P[:, best], n_boot, seed)},
            "gain_micro": ci(gain, n_boot, seed),
            "gain_macro": ci(gain, n_boot, seed, strata=tasks),
            "per_task_true_task": ci(_picked(P, per_task), n_boot, seed),
            "random": float(P.mean()),
            "oracle": float(P.max(axis=1).mean()),
            "by_task": {
                t: {"auto": float(routed[tasks == t].mean()), "best_single": float(P[tasks == t, best].mean())}
                for t in np.unique(tasks)
            },
            "search": router.cv_results_,
        }
        row = out["seeds"][seed]
        print(f"embedded seed {seed}: {router.best_label_} fit {seconds:.1f}s gain micro {_fmt(row['gain_micro'])} "
              f"macro {_fmt(row['gain_macro'])}", flush=True)  # fmt: skip
    gains = [r["gain_micro"]["value"] for r in out["seeds"].values()]
    out["mean_gain_micro"] = float(np.mean(gains))
    out["mean_gain_macro"] = float(np.mean([r["gain_macro"]["value"] for r in out["seeds"].values()]))
    out["every_ci_above_0"] = all(r["gain_micro"]["lo"] > 0 for r in out["seeds"].values())
    return out


def ood(n_boot: int) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"domains": {}}
    for domain in sorted(set(data.domains.tolist())):
        train, _, test = splits.apply(data, splits.task_ood(data, domain=domain, val_size=0.0))
        assert_no_leakage(train, test)
        X_train, X_test = _features(train, test)
        router, _ = _fit_auto(X_train, train)
        P = test.performance
        best = int(train.performance.mean(axis=0).argmax())
        gain = _picked(P, router.predict(X_test)) - P[:, best]
        out["domains"][domain] = {"n_test": test.n_queries, "chosen": router.best_label_, "gain": ci(gain, n_boot, 0)}
        print(f"ood {domain}: {router.best_label_} gain {_fmt(out['domains'][domain]['gain'])}", flush=True)
    rows = out["domains"].values()
    out["mean_gain"] = float(np.mean([r["gain"]["value"] for r in rows]))
    out["never_significantly_below"] = all(r["gain"]["hi"] >= 0 for r in rows)
    return out


def mmlu(n_boot: int) -> dict[str, Any]:
    data = load_data(f"routellm-mmlu={SHARED / 'routellm'}", tasks_from="subject").resolve_incomplete("error")
    train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=0))
    assert_no_leakage(train, test)
    X_train, X_test = _features(train, test)
    router, seconds = _fit_auto(X_train, train)
    P, subjects = test.performance, test.tasks.astype(str)
    train_subjects = train.tasks.astype(str)
    means = {s: train.performance[train_subjects == s].mean(axis=0) for s in np.unique(train_subjects)}
    overall = train.performance.mean(axis=0)
    per_subject = np.array([means.get(s, overall).argmax() for s in subjects])
    routed = _picked(P, router.predict(X_test))
    strong = int(overall.argmax())
    weak = 1 - strong
    gap = router.predict_utility(X_test)[:, strong] - router.predict_utility(X_test)[:, weak]
    order = np.argsort(-gap, kind="stable")
    perf_at = [np.concatenate([P[order[:m], strong], P[order[m:], weak]]).mean() for m in range(len(order) + 1)]
    span = P[:, strong].mean() - P[:, weak].mean()
    apgr = float(np.mean((np.asarray(perf_at) - P[:, weak].mean()) / span))
    out = {
        "n_train": train.n_queries,
        "n_test": test.n_queries,
        "fit_seconds": seconds,
        "chosen": router.best_label_,
        "auto": ci(routed, n_boot, 0),
        "per_subject": ci(_picked(P, per_subject), n_boot, 0),
        "gain_vs_per_subject": ci(routed - _picked(P, per_subject), n_boot, 0),
        "best_single": ci(P[:, strong], n_boot, 0),
        "apgr": apgr,
        "random_apgr": 0.5,
    }
    print(f"mmlu: {router.best_label_} vs per-subject {_fmt(out['gain_vs_per_subject'])} APGR {apgr:.3f}", flush=True)
    return out


def cost(n_boot: int, alphas: tuple[float, ...] = tuple(np.round(np.linspace(0.5, 1.0, 26), 3))) -> dict[str, Any]:
    folder = SHARED / "routerbench-format"
    train = load_data(f"routerbench={folder / 'winograde_train.csv'}").resolve_incomplete("error")
    test = load_data(f"routerbench={folder / 'winograde_test.csv'}").resolve_incomplete("error")
    assert_no_leakage(train, test)
    part, _, val = splits.apply(train, splits.random(train, test_size=0.25, val_size=0.0, seed=0))
    best = int(part.performance.mean(axis=0).argmax())
    target = val.performance[:, best].mean() - 0.01
    X_part, X_val = _features(part, val)
    sweep = []
    for alpha in alphas:
        router, _ = _fit_auto(X_part, part, tradeoff=alpha_tradeoff(float(alpha)), cost=part.cost)
        picks = router.predict(X_val)
        accuracy, spent = _picked(val.performance, picks).mean(), _picked(val.cost, picks).mean()
        sweep.append((float(alpha), float(accuracy), float(spent)))
    reaching = [s for s in sweep if s[1] >= target]
    chosen = min(reaching, key=lambda s: s[2])[0] if reaching else 1.0
    X_train, X_test = _features(train, test)
    router, _ = _fit_auto(X_train, train, tradeoff=alpha_tradeoff(chosen), cost=train.cost)
    picks = router.predict(X_test)
    P, C = test.performance, test.cost
    gpt4 = int(train.performance.mean(axis=0).argmax())
    cheapest_alpha = [(a, *_test_point(X_train, X_test, train, test, a)) for a in (0.6, 0.8, 0.9, 0.95, 1.0)]
    out = {
        "alpha_chosen_on_val": chosen,
        "val_sweep": sweep,
        "chosen": router.best_label_,
        "accuracy": ci(_picked(P, picks), n_boot, 0),
        "cost_usd": ci(_picked(C, picks), n_boot, 0),
        "best_single": {
            "name": str(train.candidates[gpt4]),
            "accuracy": ci(P[:, gpt4], n_boot, 0),
            "cost_usd": float(C[:, gpt4].mean()),
        },
        "cost_share": ci(_picked(C, picks) / C[:, gpt4].mean(), n_boot, 0),
        "accuracy_gap": ci(_picked(P, picks) - P[:, gpt4], n_boot, 0),
        "oracle": float(P.max(axis=1).mean()),
        "aiq_sweep_test": aiq([p[1] for p in cheapest_alpha], [p[2] for p in cheapest_alpha]),
        "aiq_candidates_test": aiq(list(P.mean(axis=0)), list(C.mean(axis=0))),
        "test_sweep_reported_not_used": cheapest_alpha,
    }
    print(f"cost: alpha {chosen} -> acc {_fmt(out['accuracy'])} vs {out['best_single']['accuracy']['value']:.3f}, "
          f"cost share {_fmt(out['cost_share'])}", flush=True)  # fmt: skip
    return out


def _test_point(X_train: Any, X_test: Any, train: Any, test: Any, alpha: float) -> tuple[float, float]:
    router, _ = _fit_auto(X_train, train, tradeoff=alpha_tradeoff(alpha), cost=train.cost)
    picks = router.predict(X_test)
    return float(_picked(test.performance, picks).mean()), float(_picked(test.cost, picks).mean())


def _fmt(cell: dict[str, float]) -> str:
    return f"{cell['value']:+.4f} [{cell['lo']:+.4f}, {cell['hi']:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="embedded,ood,mmlu,cost")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    parts = args.parts.split(",")
    results: dict[str, Any] = {}
    if "embedded" in parts:
        results["embedded"] = embedded([int(s) for s in args.seeds.split(",")], args.n_boot)
    if "ood" in parts:
        results["ood"] = ood(args.n_boot)
    for name, run in (("mmlu", mmlu), ("cost", cost)):
        if name in parts:
            if not SHARED.is_dir():
                print(f"{name}: skipped ({SHARED} is absent)")
                continue
            results[name] = run(args.n_boot)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
