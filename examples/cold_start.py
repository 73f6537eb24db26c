"""Cold start on the embedded LLMRouter data: a new model enters the router at once, without retraining, from its
answers on k tiny-set anchors.

For each held-out model (leave one model out): the item model is fitted on the other models' train logs, with a
feature map from the queries' TF-IDF features to the item parameters (so a test query, which no model answered yet,
gets a difficulty); the new model's ability is fitted on its answers to k stratified anchors of the train queries
(k = 0: the population's mean ability); its predicted correctness on each test query is the item model's
probability. The router trained without the model (``MFRouter``, not refitted) keeps its estimates for the other
candidates and routes on the argmax with the new candidate's prediction beside them. Reported, each with a 95 %
bootstrap CI where it has one: the new model's correctness AUROC, the mean absolute error of its per-task accuracy
estimate on the test queries, the share routed to it, routing with vs without it (paired difference).

Run: ``python examples/cold_start.py [--k 0,50,100] [--models M1,M2] [--n-boot 1000]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import numpy as np
from scipy.special import expit

from fusionbench.fusion import evaluate, splits
from fusionbench.fusion.evaluation import correctness_auroc
from fusionbench.fusion.evaluation.bootstrap import difference
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.irt.model import fit_ability, fit_feature_map, fit_irt, items_from_features
from fusionbench.fusion.routers import MFRouter
from fusionbench.fusion.tiny import build_tiny

PARAMS = {"n_factors": 8, "max_iter": 50, "alpha": 1e-3}
FEATURES = "tfidf:256"


class ColdStartRouter:
    """A fitted router plus new candidates whose performance estimate is the item model's predicted correctness
    (``predicted``: candidate -> function of (X, tasks) -> probabilities); nothing is refitted."""

    def __init__(self, base: Any, predicted: dict[str, Any]) -> None:
        self.base = base
        self.predicted = predicted
        self.candidates_ = np.array([*map(str, base.candidates_), *predicted], dtype=object)

    def predict_performance(self, X: Any, tasks: Any = None) -> np.ndarray:
        known = np.asarray(self.base.predict_performance(X, tasks=tasks), dtype=float)
        new = [np.asarray(f(X, tasks), dtype=float)[:, None] for f in self.predicted.values()]
        return np.hstack([known, *new])

    def choose(self, X: Any, tasks: Any = None) -> list[str]:
        """The candidate of the highest estimated performance for each query."""
        return list(self.candidates_[np.argmax(self.predict_performance(X, tasks), axis=1)])


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def cold_start_candidate(without: Any, X_without: Any, answers: dict[str, float]) -> Any:
    """f(X, tasks) -> the new subject's predicted correctness on queries of features X, from its ``answers``
    ({train query id: score}) through the item model fitted on ``without`` (the other candidates' train logs)."""
    model = fit_irt(without)
    rows = _dense(X_without)
    features = np.empty_like(rows)
    features[model.item_positions([str(k) for k in without.keys])] = rows  # in the item model's item order
    model = fit_feature_map(model, features)
    keys = list(answers)
    if keys:
        ability = fit_ability(model, model.item_positions(keys), np.array([answers[k] for k in keys]))
        theta, delta = ability.theta, ability.delta
    else:  # k = 0: the population's mean ability, no task offset
        theta, delta = model.theta.mean(axis=0), np.zeros(len(model.tasks))
    task_at = {t: i for i, t in enumerate(model.tasks)}
    shift = _calibration(model, features, theta, delta)

    def predict(X: Any, tasks: Any) -> np.ndarray:
        a, b = items_from_features(model, _dense(X))
        offset = np.array([delta[task_at[str(t)]] + shift[task_at[str(t)]] if str(t) in task_at else 0.0
                           for t in tasks])  # fmt: skip
        return expit(a @ theta + b + offset)

    return predict


def _calibration(model: Any, features: np.ndarray, theta: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Per task, the logit shift that makes the feature-mapped items' mean prediction on the train queries equal
    the item model's own (the feature map shrinks item parameters towards the mean, which biases the mean)."""
    a, b = items_from_features(model, features)
    task = model.task_index()
    mapped = a @ theta + b + delta[task]
    target = expit(model.a @ theta + model.b + delta[task])
    shift = np.zeros(len(model.tasks))
    for t in range(len(model.tasks)):
        z, goal = mapped[task == t], target[task == t].mean()
        low, high = -10.0, 10.0
        for _ in range(50):  # bisection: the mean of expit(z + s) rises with s
            mid = (low + high) / 2
            low, high = (mid, high) if expit(z + mid).mean() < goal else (low, mid)
        shift[t] = (low + high) / 2
    return shift


def ci(entry: dict) -> str:
    low, high = entry["ci"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def study(data: Any, model: str, k: int, *, n_boot: int, seed: int) -> dict[str, Any]:
    """One held-out model at k anchor answers: the figures of the table (values, and the CIs as text)."""
    without, _, test = splits.apply(data, splits.lomo(data, model, k_shot=0, seed=seed))
    new = [c for c in test.candidates if c not in without.candidates]
    featurizer, X_without = fit_features(FEATURES, without)
    X_test = transform(featurizer, test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = MFRouter(**PARAMS).fit(X_without, without.performance, candidates=list(without.candidates))
    anchors = list(build_tiny(without, total=k, method="stratified", seed=seed).query_ids) if k else []
    # the new model's answers on the anchors (train queries): what running it on the tiny set gives
    ids = list(map(str, data.query_ids))
    truth = {c: dict(zip(ids, data.performance[:, data.candidates.index(c)], strict=True)) for c in new}
    key_of = dict(zip(map(str, without.query_ids), map(str, without.keys), strict=True))  # the item model's ids
    predicted = {c: cold_start_candidate(without, X_without, {key_of[q]: float(truth[c][q]) for q in anchors})
                 for c in new}  # fmt: skip
    router = ColdStartRouter(plain, predicted)
    target = new[0]
    auroc = correctness_auroc(router, X_test, test, target, n_boot=n_boot, seed=seed)
    p = predicted[target](X_test, test.tasks)
    y = test.performance[:, test.candidates.index(target)]
    tasks = np.asarray(test.tasks, dtype=object)
    errors = [abs(p[tasks == t].mean() - y[tasks == t].mean()) for t in dict.fromkeys(tasks.tolist())]
    result = evaluate({"with": router.choose(X_test, test.tasks), "without": plain}, test, train=without,
                      X=X_test, n_boot=n_boot, seed=seed)  # fmt: skip
    delta = difference(result.replicates, ("with", "perf"), ("without", "perf"), result.confidence)
    share = sum(result.choice_counts["with"].get(c, 0) for c in new) / result.n_queries
    return {
        "model": model, "k": k, "auroc": auroc["value"], "auroc_ci": ci(auroc), "task_mae": float(np.mean(errors)),
        "share": share, "with": result.value("with"), "without": result.value("without"),
        "delta": delta["value"], "delta_ci": f"{ci(delta)} {delta['verdict']}",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="0,50,100", help="anchor answers of the new model (comma-separated)")
    parser.add_argument("--models", help="held-out models (comma-separated; default: every model)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_data(None)
    models = args.models.split(",") if args.models else sorted({c.split("/")[0] for c in data.candidates})
    rows = [study(data, m, int(k), n_boot=args.n_boot, seed=args.seed) for m in models for k in args.k.split(",")]
    print("| held-out model | k | correctness AUROC | per-task MAE | routed to it | with | without | with − without |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["model"], str(r["k"]), r["auroc_ci"], f"{100 * r['task_mae']:.1f}", f"{r['share']:.1%}",
                 f"{r['with']:.3f}", f"{r['without']:.3f}", r["delta_ci"]]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    for k in args.k.split(","):
        mine = [r for r in rows if r["k"] == int(k)]
        print(
            f"\nk = {k}: mean over {len(mine)} held-out models: AUROC {np.mean([r['auroc'] for r in mine]):.3f}, "
            f"per-task MAE {100 * np.mean([r['task_mae'] for r in mine]):.1f} points, routed to it "
            f"{np.mean([r['share'] for r in mine]):.1%}, with − without {np.mean([r['delta'] for r in mine]):+.4f}"
        )


if __name__ == "__main__":
    main()
