"""Cold start on the embedded LLMRouter data: a new model enters a router at once, from its answers on k tiny-set
anchors, through :class:`fusionbench.fusion.tiny.cold_start.ColdStartRouter` (nothing refitted) or a refit.

For each held-out model (leave one model out, seed 0): the routers are fitted on the other models' train logs; the
new model answers k stratified anchors of the train queries (k = 0: nothing known). Compared, each against the
same router without the new model (paired bootstrap on the test queries):

* ``uncalibrated``: the item model's P(correct) of the new model beside ``MFRouter``'s estimates, argmax (the
  earlier example; different scales, for reference);
* ``calibrated``: :class:`ColdStartRouter` on ``MFRouter``: the new model only where its item-model probability
  beats the MF choice's by the margin chosen on train;
* ``task prior``: ``TaskPriorRouter.add_candidate`` with the new model's per-task estimate
  (:meth:`ColdStartRouter.task_accuracy`) less the task margin chosen on train by the same cross-fitted
  simulation, played with clones of this task prior (1 where none gains: never), its residual the known
  candidates' mean;
* ``MF mask (refit)``: ``MFRouter(missing="mask")`` refitted with the new model's k anchor answers as its only
  observed cells (the reference that retrains).

Reported: the new model's correctness AUROC (of the item model's probability for the first two, of the router's
estimate otherwise) and the mean absolute error of its per-task accuracy estimate on the test queries (points),
the share routed to it, with − without with its 95 % CI, and per k and method the count of models significantly
worse / better.

Run: ``python examples/cold_start.py [--k 0,50,100] [--models M1,M2] [--n-boot 500]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import copy
import warnings
from typing import Any

import numpy as np

from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation import correctness_auroc
from fusionbench.fusion.evaluation.bootstrap import difference
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.routers import MFRouter
from fusionbench.fusion.routers.prior import TaskPriorRouter
from fusionbench.fusion.tiny import build_tiny
from fusionbench.fusion.tiny.cold_start import ColdStartRouter

PARAMS = {"n_factors": 8, "max_iter": 50, "alpha": 1e-3}
FEATURES = "tfidf:256"
METHODS = ("uncalibrated", "calibrated", "task prior", "MF mask (refit)")


class _Scores:
    """A fixed score column as a router's estimate, for :func:`correctness_auroc`."""

    def __init__(self, name: str, score: np.ndarray) -> None:
        self.candidates_ = np.asarray([name], dtype=object)
        self.score = score

    def predict_performance(self, X: Any, tasks: Any = None) -> np.ndarray:
        return self.score[:, None]


def ci(entry: dict) -> str:
    low, high = entry["ci"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def task_mae(score: np.ndarray, truth: np.ndarray, tasks: np.ndarray) -> float:
    """Mean over the test tasks of |estimated − true accuracy| of the new model."""
    return float(np.mean([abs(score[tasks == t].mean() - truth[tasks == t].mean()) for t in np.unique(tasks)]))


def study(data: Any, model: str, ks: list[int], *, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """One held-out model at each k: a row per method (values, and the CIs as text)."""
    without, _, test = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=seed))
    masked, _, _ = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=seed, unseen="mask"))
    assert list(masked.query_ids) == list(without.query_ids)
    new = [c for c in test.candidates if c not in without.candidates]
    target = new[0]
    featurizer, X = fit_features(FEATURES, without)
    X_test = transform(featurizer, test)
    known = list(without.candidates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = MFRouter(**PARAMS).fit(X, without.performance, candidates=known)
        prior = TaskPriorRouter().fit(X, without.performance, tasks=without.tasks, candidates=known)
    cold = ColdStartRouter(plain, task_prior=prior, random_state=seed)
    cold.fit(X, without.performance, tasks=without.tasks, keys=without.query_ids)
    ids = [str(q) for q in data.query_ids]
    truth = {c: dict(zip(ids, data.performance[:, data.candidates.index(c)], strict=True)) for c in new}
    y = test.performance[:, test.candidates.index(target)]
    tasks = np.asarray(test.tasks, dtype=object)
    base_choice = plain.predict_labels(X_test).tolist()
    rows = []
    for k in ks:
        anchors = [str(q) for q in build_tiny(without, total=k, method="stratified", seed=seed).query_ids] if k else []
        for c in new:
            if c in cold.new_:
                cold.remove_candidate(c)
            cold.add_candidate(c, {q: float(truth[c][q]) for q in anchors})
        p_new = cold.predict_correctness(X_test)[:, list(cold.new_).index(target)]
        mf_estimate = plain.predict_performance(X_test)
        old = np.hstack([mf_estimate, cold.predict_correctness(X_test)])
        with_prior = copy.deepcopy(prior)
        for c in new:
            with_prior.add_candidate(c, cold.task_accuracy(c), margin=min(cold.new_[c].task_margin, 1.0))
        Y_mask = masked.performance.copy()
        position = {q: i for i, q in enumerate(map(str, masked.query_ids))}
        for c in new:
            for q in anchors:
                Y_mask[position[q], masked.candidates.index(c)] = truth[c][q]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refit = MFRouter(missing="mask", **PARAMS).fit(X, Y_mask, candidates=list(masked.candidates))
        systems = {
            "MF without": base_choice,
            "uncalibrated": list(cold.candidates_[np.argmax(old, axis=1)]),
            "calibrated": cold.predict_labels(X_test).tolist(),
            "task prior without": prior.predict_labels(X_test).tolist(),
            "task prior": with_prior.predict_labels(X_test).tolist(),
            "MF mask (refit)": refit.predict_labels(X_test).tolist(),
        }
        scores = {
            "uncalibrated": p_new, "calibrated": p_new,
            "task prior": with_prior.predict_performance(X_test)[:, list(with_prior.candidates_).index(target)],
            "MF mask (refit)": refit.predict_performance(X_test)[:, list(refit.candidates_).index(target)],
        }  # fmt: skip
        # the per-task accuracy estimate: the library's (train-based) one for the cold start, else the score's mean
        per_task = cold.task_accuracy(target)
        from_tasks = np.array([per_task.get(str(t), np.nan) for t in tasks])
        estimates = {**scores, "calibrated": from_tasks, "task prior": from_tasks}
        result = evaluate(systems, test, train=without, X=X_test, n_boot=n_boot, seed=seed, baselines=False)
        for method in METHODS:
            against = "task prior without" if method == "task prior" else "MF without"
            auroc = correctness_auroc(_Scores(target, scores[method]), X_test, test, target, n_boot=n_boot, seed=seed)
            delta = difference(result.replicates, (method, "perf"), (against, "perf"), result.confidence)
            share = sum(result.choice_counts[method].get(c, 0) for c in new) / result.n_queries
            margin = {"calibrated": cold.new_[target].margin, "task prior": cold.new_[target].task_margin}.get(method)
            rows.append({
                "model": model, "k": k, "method": method, "auroc": auroc["value"], "auroc_ci": ci(auroc),
                "task_mae": task_mae(estimates[method], y, tasks), "share": share, "with": result.value(method),
                "without": result.value(against), "delta": delta["value"], "verdict": delta["verdict"],
                "delta_ci": f"{ci(delta)} {delta['verdict']}", "margin": margin,
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="0,50,100", help="anchor answers of the new model (comma-separated)")
    parser.add_argument("--models", help="held-out models (comma-separated; default: every model)")
    parser.add_argument("--n-boot", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_data(None)
    models = args.models.split(",") if args.models else sorted({c.split("/")[0] for c in data.candidates})
    ks = [int(k) for k in args.k.split(",")]
    rows = [r for m in models for r in study(data, m, ks, n_boot=args.n_boot, seed=args.seed)]
    print("| held-out model | k | method | correctness AUROC | per-task MAE | routed to it | with | without "
          "| with − without |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        margin = "" if r["margin"] is None else f" (margin {r['margin']:g})"
        cells = [r["model"], str(r["k"]), r["method"] + margin, r["auroc_ci"], f"{100 * r['task_mae']:.1f}",
                 f"{r['share']:.1%}", f"{r['with']:.3f}", f"{r['without']:.3f}", r["delta_ci"]]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print("\n| k | method | mean AUROC | per-task MAE | routed to it | with − without | worse / better |")
    print("|---|---|---|---|---|---|---|")
    for k in ks:
        for method in METHODS:
            mine = [r for r in rows if r["k"] == k and r["method"] == method]
            worse = sum(r["verdict"] == "worse" for r in mine)
            better = sum(r["verdict"] == "better" for r in mine)
            print(f"| {k} | {method} | {np.mean([r['auroc'] for r in mine]):.3f} | "
                  f"{100 * np.mean([r['task_mae'] for r in mine]):.1f} | {np.mean([r['share'] for r in mine]):.1%} | "
                  f"{np.mean([r['delta'] for r in mine]):+.4f} | {worse} / {better} of {len(mine)} |")  # fmt: skip


if __name__ == "__main__":
    main()
