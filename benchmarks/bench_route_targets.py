"""Issue 18's routing targets, measured: AutoRouter against the best single model chosen on train.

Run: ``python benchmarks/bench_route_targets.py [--parts embedded,ood,ood_mixed,mmlu] [--seeds 0,1,2,3,4]
[--n-boot 2000] [--json out.json]``. ``../shared/data/routing`` is read in place for ``mmlu`` (skipped, with a
line, when absent). The cost target (RouterBench Winogrande) is ``bench_route_cost.py``'s.

* ``embedded``: LLMRouter's 9 models x 6,108 queries shipped in the package; a seeded random 80/20 split by
  query (stratified by task), TF-IDF fitted on train; AutoRouter fitted with the training tasks and asked
  ``predict(X)`` (no true task at test time). Gain = routed - best single (argmax of the training mean) on the
  same test queries; micro (query mean) with a paired bootstrap CI over queries, macro (task mean) with a
  bootstrap stratified by task. Beside: per task with the *true* task (an upper reference), random, oracle.
* ``ood``: each domain held out in turn (``splits.task_ood``); the held-out tasks are unseen, so the task
  prior would transfer the nearest training task's choice; AutoRouter's batch novelty guard
  (``fusion.routers.novelty``) routes the queries it finds without training support to the best single model
  (reported: how many, and the gain without the guard).
* ``ood_mixed``: the same, but the routed batch mixes the held-out domain with a random 20 % of the other
  domains' queries held out of train: gains on the known and the new part, with and without the guard.
* ``mmlu``: RouteLLM's MMLU (GPT-4 vs Mixtral) with subjects as tasks, random 80/20 split (seed 0): AutoRouter
  vs the per-subject choice (the best candidate of the *given* subject on train); APGR of AutoRouter's
  utility gap swept over the share of calls to the strong model.
CIs come from the package's bootstrap (``route_bench_common.ci``): the query mean over queries, the task mean
(macro) stratified by task. Every split passes the project's leakage gate (``fusion.leakage.assert_no_leakage``) first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from route_bench_common import SHARED, ci, fit_auto, fmt, picked, tfidf_features

from fusionbench.fusion import RoutingData, splits
from fusionbench.fusion.evaluation.inputs import load_data
from fusionbench.fusion.leakage import assert_no_leakage


def embedded(seeds: list[int], n_boot: int, robust: bool = False) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"robust_to_new_tasks": robust, "seeds": {}}
    for seed in seeds:
        train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=seed))
        leak = assert_no_leakage(train, test)
        X_train, X_test = tfidf_features(train, test)
        router, seconds = fit_auto(X_train, train, robust_to_new_tasks=robust)
        P, tasks = test.performance, test.tasks.astype(str)
        routed = picked(P, router.predict(X_test))
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
            "guarded": router.novelty(X_test).n_novel,
            "task_source": router.task_source_,
            "auto": ci(routed, n_boot, seed),
            "best_single": {"name": str(train.candidates[best]), **ci(P[:, best], n_boot, seed)},
            "gain_micro": ci(gain, n_boot, seed),
            "gain_macro": ci(gain, n_boot, seed, strata=tasks),
            "per_task_true_task": ci(picked(P, per_task), n_boot, seed),
            "random": float(P.mean()),
            "oracle": float(P.max(axis=1).mean()),
            "by_task": {
                t: {"auto": float(routed[tasks == t].mean()), "best_single": float(P[tasks == t, best].mean())}
                for t in np.unique(tasks)
            },
            "search": router.cv_results_,
        }
        row = out["seeds"][seed]
        print(f"embedded seed {seed}: {router.best_label_} fit {seconds:.1f}s gain micro {fmt(row['gain_micro'])} "
              f"macro {fmt(row['gain_macro'])}", flush=True)  # fmt: skip
    gains = [r["gain_micro"]["value"] for r in out["seeds"].values()]
    out["mean_gain_micro"] = float(np.mean(gains))
    out["mean_gain_macro"] = float(np.mean([r["gain_macro"]["value"] for r in out["seeds"].values()]))
    out["every_ci_above_0"] = all(r["gain_micro"]["lo"] > 0 for r in out["seeds"].values())
    return out


def ood(n_boot: int, robust: bool = False) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"robust_to_new_tasks": robust, "domains": {}}
    for domain in sorted(set(data.domains.tolist())):
        train, _, test = splits.apply(data, splits.task_ood(data, domain=domain, val_size=0.0))
        assert_no_leakage(train, test)
        X_train, X_test = tfidf_features(train, test)
        router, seconds = fit_auto(X_train, train, robust_to_new_tasks=robust)
        P = test.performance
        best = int(train.performance.mean(axis=0).argmax())
        gain = picked(P, router.predict(X_test)) - P[:, best]
        unguarded = picked(P, router.best_.predict(X_test)) - P[:, best]  # the winner without the guard
        out["domains"][domain] = {
            "n_test": test.n_queries,
            "chosen": router.best_label_,
            "guarded": router.novelty(X_test).n_novel,
            "gain_without_guard": ci(unguarded, n_boot, 0),
            "gain": ci(gain, n_boot, 0),
            "fit_seconds": seconds,
            "search": router.cv_results_,
        }
        label = "ood robust" if robust else "ood"
        print(f"{label} {domain}: {router.best_label_} gain {fmt(out['domains'][domain]['gain'])}", flush=True)
    rows = out["domains"].values()
    out["mean_gain"] = float(np.mean([r["gain"]["value"] for r in rows]))
    out["never_significantly_below"] = all(r["gain"]["hi"] >= 0 for r in rows)
    return out


def ood_mixed(n_boot: int, share: float = 0.2) -> dict[str, Any]:
    """Each domain held out, and the batch to route mixes it with a seeded random ``share`` of the other
    domains' queries held out of train: the novelty guard must protect the new task's queries and leave the
    known tasks' ones to the router (gains per part, with and without the guard)."""
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"share": share, "domains": {}}
    for domain in sorted(set(data.domains.tolist())):
        known, _, new = splits.apply(data, splits.task_ood(data, domain=domain, val_size=0.0))
        held = np.random.default_rng(0).random(known.n_queries) < share
        train, seen = known.take(np.flatnonzero(~held)), known.take(np.flatnonzero(held))
        batch = RoutingData.concat([seen, new])
        assert_no_leakage(train, batch)
        X_train, X_batch = tfidf_features(train, batch)
        router, _ = fit_auto(X_train, train)
        P, best = batch.performance, int(train.performance.mean(axis=0).argmax())
        novel = router.novelty(X_batch).novel
        row: dict[str, Any] = {"n_seen": seen.n_queries, "n_new": new.n_queries, "chosen": router.best_label_}
        for label, picks in (("guard", router.predict(X_batch)), ("no_guard", router.best_.predict(X_batch))):
            gain = picked(P, picks) - P[:, best]
            row[label] = {"seen": ci(gain[: seen.n_queries], n_boot, 0), "new": ci(gain[seen.n_queries :], n_boot, 0)}
        row["guarded_seen"], row["guarded_new"] = int(novel[: seen.n_queries].sum()), int(novel[seen.n_queries :].sum())
        out["domains"][domain] = row
        print(f"ood mixed {domain}: guarded {row['guarded_seen']}/{row['n_seen']} seen, {row['guarded_new']}/"
              f"{row['n_new']} new; gain seen {fmt(row['guard']['seen'])} (no guard {fmt(row['no_guard']['seen'])})"
              f", new {fmt(row['guard']['new'])} (no guard {fmt(row['no_guard']['new'])})", flush=True)  # fmt: skip
    rows = out["domains"].values()
    out["never_significantly_below"] = all(r["guard"][part]["hi"] >= 0 for r in rows for part in ("seen", "new"))
    return out


def mmlu(n_boot: int) -> dict[str, Any]:
    data = load_data(f"routellm-mmlu={SHARED / 'routellm'}", tasks_from="subject").resolve_incomplete("error")
    train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=0))
    assert_no_leakage(train, test)
    X_train, X_test = tfidf_features(train, test)
    router, seconds = fit_auto(X_train, train)
    P, subjects = test.performance, test.tasks.astype(str)
    train_subjects = train.tasks.astype(str)
    means = {s: train.performance[train_subjects == s].mean(axis=0) for s in np.unique(train_subjects)}
    overall = train.performance.mean(axis=0)
    per_subject = np.array([means.get(s, overall).argmax() for s in subjects])
    routed = picked(P, router.predict(X_test))
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
        "guarded": router.novelty(X_test).n_novel,
        "auto": ci(routed, n_boot, 0),
        "per_subject": ci(picked(P, per_subject), n_boot, 0),
        "gain_vs_per_subject": ci(routed - picked(P, per_subject), n_boot, 0),
        "best_single": ci(P[:, strong], n_boot, 0),
        "apgr": apgr,
        "random_apgr": 0.5,
    }
    print(f"mmlu: {router.best_label_} vs per-subject {fmt(out['gain_vs_per_subject'])} APGR {apgr:.3f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="embedded,ood,mmlu")
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
    if "ood_mixed" in parts:  # a batch mixing known tasks' held-out queries with a held-out domain
        results["ood_mixed"] = ood_mixed(args.n_boot)
    if "ood_robust" in parts:  # AutoRouter(robust_to_new_tasks=True)
        results["ood_robust"] = ood(args.n_boot, robust=True)
    if "embedded_robust" in parts:
        results["embedded_robust"] = embedded([int(s) for s in args.seeds.split(",")], args.n_boot, robust=True)
    if "mmlu" in parts and not SHARED.is_dir():
        print(f"mmlu: skipped ({SHARED} is absent)")
    elif "mmlu" in parts:
        results["mmlu"] = mmlu(args.n_boot)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
