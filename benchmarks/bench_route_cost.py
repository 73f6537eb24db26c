"""Issue 18's cost target, measured: GPT-4's accuracy (within 1 point) at what share of its cost?

Run: ``python benchmarks/bench_route_cost.py [--parts cost,cascade,agreement,stacked] [--n-boot 2000]
[--json out.json]``. Reads RouterBench's Winogrande rows (11 models, USD cost; its own 887 / 380 train / test
files) in place from ``../shared/data/routing`` (every part skipped, with a line, when absent). Every choice is
made on train (a validation quarter of it), realised on test with 95 % bootstrap CIs.

* ``cost``: a cost-aware AutoRouter under ``α·perf − (1−α)·cost`` whose α is the cheapest one reaching the best
  single model's accuracy - 1 point on a 25 % validation part of train, refitted on all of train.
* ``cascade``: ``CascadeRouter`` on MiniLM embeddings of the question
  (``SentenceTransformerFeaturizer(strip_common_prefix=True)``: the 5-shot prefix is longer than MiniLM's window),
  τ chosen on its validation quarter of train; with five validation seeds beside it.
* ``agreement``: an agreement cascade (call 2-4 cheaper models, accept their common parsed answer when all agree,
  else call the best single too; every call paid), the set chosen on the same validation quarter.
* ``stacked``: a stacked cascade (call 1-3 cheaper models, a logistic regression on their parsed letters predicts
  the right letter, accepted at probability >= τ, else the best single is called too), set and τ chosen on the
  same validation quarter; beside it a hindsight bound (τ chosen on the queries it is measured on).

The last two read the cheap models' answers before deciding, so they are cascades, not routers
(``predict(X)`` sees only the query); they live here, as evidence of what response-aware methods reach.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from route_bench_common import SHARED, ci, fit_auto, fmt, picked, routerbench_winogrande, tfidf_features

from fusionbench.fusion import splits
from fusionbench.fusion.routers.cascade import (
    THRESHOLDS,
    CascadeRouter,
    best_single,
    cascade_order,
    validation_split,
)
from fusionbench.fusion.routers.cluster import alpha_tradeoff
from fusionbench.metrics.routing import aiq


def cost(n_boot: int, alphas: tuple[float, ...] = tuple(np.round(np.linspace(0.5, 1.0, 26), 3))) -> dict[str, Any]:
    train, test = routerbench_winogrande()
    part, _, val = splits.apply(train, splits.random(train, test_size=0.25, val_size=0.0, seed=0))
    best = int(part.performance.mean(axis=0).argmax())
    target = val.performance[:, best].mean() - 0.01
    X_part, X_val = tfidf_features(part, val)
    sweep = []
    for alpha in alphas:
        router, _ = fit_auto(X_part, part, tradeoff=alpha_tradeoff(float(alpha)), cost=part.cost)
        picks = router.predict(X_val)
        accuracy, spent = picked(val.performance, picks).mean(), picked(val.cost, picks).mean()
        sweep.append((float(alpha), float(accuracy), float(spent)))
    reaching = [s for s in sweep if s[1] >= target]
    chosen = min(reaching, key=lambda s: s[2])[0] if reaching else 1.0
    X_train, X_test = tfidf_features(train, test)
    router, _ = fit_auto(X_train, train, tradeoff=alpha_tradeoff(chosen), cost=train.cost)
    picks = router.predict(X_test)
    P, C = test.performance, test.cost
    gpt4 = int(train.performance.mean(axis=0).argmax())
    cheapest_alpha = [(a, *_test_point(X_train, X_test, train, test, a)) for a in (0.6, 0.8, 0.9, 0.95, 1.0)]
    out = {
        "alpha_chosen_on_val": chosen,
        "val_sweep": sweep,
        "chosen": router.best_label_,
        "accuracy": ci(picked(P, picks), n_boot, 0),
        "cost_usd": ci(picked(C, picks), n_boot, 0),
        "best_single": {
            "name": str(train.candidates[gpt4]),
            "accuracy": ci(P[:, gpt4], n_boot, 0),
            "cost_usd": float(C[:, gpt4].mean()),
        },
        "cost_share": ci(picked(C, picks) / C[:, gpt4].mean(), n_boot, 0),
        "accuracy_gap": ci(picked(P, picks) - P[:, gpt4], n_boot, 0),
        "oracle": float(P.max(axis=1).mean()),
        "aiq_sweep_test": aiq([p[1] for p in cheapest_alpha], [p[2] for p in cheapest_alpha]),
        "aiq_candidates_test": aiq(list(P.mean(axis=0)), list(C.mean(axis=0))),
        "test_sweep_reported_not_used": cheapest_alpha,
    }
    print(f"cost: alpha {chosen} -> acc {fmt(out['accuracy'])} vs {out['best_single']['accuracy']['value']:.3f}, "
          f"cost share {fmt(out['cost_share'])}", flush=True)  # fmt: skip
    return out


def cost_cascade(n_boot: int) -> dict[str, Any]:
    """Winogrande: ``CascadeRouter`` (per-candidate logistic P(correct) on MiniLM embeddings of the question,
    the few-shot prefix all training prompts share stripped; τ the cheapest reaching the best single's
    validation accuracy - 1 point on its validation quarter of train; refitted on all of train), realised on
    test; plus each predictor's validation AUROC and two bounds on the same validation queries."""
    from fusionbench.fusion.feature_checks import feature_spread
    from fusionbench.fusion.features import SentenceTransformerFeaturizer

    train, test = routerbench_winogrande()
    encoder = SentenceTransformerFeaturizer(strip_common_prefix=True).fit(train.texts)
    X_train, X_test = encoder.transform(train.texts), encoder.transform(test.texts)
    router = CascadeRouter().fit(X_train, train.performance, cost=train.cost, candidates=list(train.candidates))
    record = router.validation_
    fit_rows, iv = validation_split(train.n_queries, router.validation_size, router.random_state)
    P, C = train.performance, train.cost
    fallback = record["fallback"]
    # bounds on validation: oracle (cheapest right candidate, else the fallback); no per-query signal (a random
    # share s of queries to one cheaper candidate, s capped by the 1-point budget)
    cheap_order = cascade_order(C[fit_rows].mean(axis=0), fallback)
    oracle = np.array([next((j for j in cheap_order if r[j]), fallback) for r in P[iv] > 0.5])
    g_cost = C[iv, fallback].mean()
    no_signal = []
    for j in cheap_order:
        loss = P[iv, fallback].mean() - P[iv, j].mean()
        share = 1.0 if loss <= 0.01 else 0.01 / loss
        no_signal.append((str(train.candidates[j]), float(1 - share * (1 - C[iv, j].mean() / g_cost))))
    picks = router.predict(X_test)
    Pt, Ct, best = test.performance, test.cost, router.fallback_
    curve = record["curve"]
    out = {
        "query_text_example": encoder.query_texts(test.texts[:1])[0],
        "feature_std_train": feature_spread(X_train),
        "tau_chosen_on_val": router.threshold_,
        "val_target": record["target_accuracy"],
        "val_point": {"accuracy": record["accuracy"], "cost_share": record["cost"] / record["fallback_cost"]},
        "val_sweep": list(zip(curve["threshold"], curve["accuracy"], curve["cost"], strict=True)),
        "val_auroc": {str(c): a for c, a in zip(train.candidates, record["auroc"], strict=True)},
        "val_oracle": {"accuracy": float(picked(P[iv], oracle).mean()),
                       "cost_share": float(picked(C[iv], oracle).mean() / g_cost)},
        "val_no_signal_cost_share": no_signal,
        "accuracy": ci(picked(Pt, picks), n_boot, 0),
        "gpt4_accuracy": ci(Pt[:, best], n_boot, 0),
        "accuracy_gap": ci(picked(Pt, picks) - Pt[:, best], n_boot, 0),
        "cost_share": ci(picked(Ct, picks) / Ct[:, best].mean(), n_boot, 0),
        "share_not_gpt4": float((picks != best).mean()),
    }  # fmt: skip
    seeds = []  # how much the realised point depends on which quarter of train validated τ
    for seed in range(5):
        other = CascadeRouter(random_state=seed).fit(X_train, train.performance, cost=train.cost)
        chosen, v = other.predict(X_test), other.validation_
        seeds.append({"random_state": seed, "tau": other.threshold_, "val_accuracy": v["accuracy"],
                      "val_cost_share": v["cost"] / v["fallback_cost"],
                      "accuracy_gap": ci(picked(Pt, chosen) - Pt[:, best], n_boot, 0),
                      "cost_share": ci(picked(Ct, chosen) / Ct[:, best].mean(), n_boot, 0)})  # fmt: skip
    out["by_validation_seed"] = seeds
    out["hindsight_query_bound_train"] = hindsight_query_bound(X_train, P, C, best, train.candidates)
    print(f"cascade: tau {router.threshold_} acc {fmt(out['accuracy'])} gap {fmt(out['accuracy_gap'])} "
          f"cost share {fmt(out['cost_share'])}; val AUROC {out['val_auroc']}", flush=True)  # fmt: skip
    return out


def cheapest_within_budget(order: np.ndarray, cheap: np.ndarray, fallback: np.ndarray, cheap_cost: np.ndarray,
                           fallback_cost: np.ndarray, budget: float = 0.01) -> float:  # fmt: skip
    """The lowest cost share (of always calling the fallback) over the prefixes of ``order`` sent to the cheap
    candidate, the rest to the fallback, whose accuracy stays within ``budget`` of the fallback's."""
    n = len(order)
    cheap_right = np.concatenate([[0.0], np.cumsum(cheap[order])])  # right answers of the first k offloaded
    fallback_right = fallback.sum() - np.concatenate([[0.0], np.cumsum(fallback[order])])
    spent = np.concatenate([[0.0], np.cumsum(cheap_cost[order])]) + fallback_cost.sum()
    spent -= np.concatenate([[0.0], np.cumsum(fallback_cost[order])])
    within = (cheap_right + fallback_right) / n >= fallback.mean() - budget - 1e-12
    return float(spent[within].min() / fallback_cost.sum())


def hindsight_query_bound(X: Any, P: np.ndarray, C: np.ndarray, fallback: int, names: Any) -> dict[str, float]:
    """Per candidate cheaper than ``fallback``: out-of-fold (5-fold) logistic ``P(correct | x)`` for it and for the
    fallback on all of train, queries offloaded to it in order of the smallest predicted loss, and the cheapest
    share within 1 point chosen on those same queries (hindsight, so optimistic for any router that sees only
    the query and sends it to one model)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(5, shuffle=True, random_state=0)

    def out_of_fold(j: int) -> np.ndarray:
        model = LogisticRegression(C=1.0, max_iter=2000)
        return cross_val_predict(model, X, P[:, j] > 0.5, cv=folds, method="predict_proba")[:, 1]

    p_fallback = out_of_fold(fallback)
    shares = {}
    for j in cascade_order(C.mean(axis=0), fallback):
        order = np.argsort(p_fallback - out_of_fold(int(j)), kind="stable")
        shares[str(names[j])] = cheapest_within_budget(order, P[:, j], P[:, fallback], C[:, j], C[:, fallback])
    return shares


def parsed_answer(response: Any) -> str | None:
    """The letter a Winogrande response chooses (``"A"``, ``"B\\n"``, ``"A)"``), else None (a refusal, a name)."""
    match = re.match(r"\s*\(?([AB])(?![A-Za-z])", str(response)) if isinstance(response, str) else None
    return None if match is None else match.group(1)


def agreement_outcome(answers: np.ndarray, P: np.ndarray, C: np.ndarray, members: tuple[int, ...], fallback: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per query ``(correct, cost, agreed)`` of an agreement cascade: call every member; when all parse to the
    same letter accept it (right when the members' performance says so), else call ``fallback`` too and take its
    answer. Every call is paid."""
    first = answers[:, members[0]]
    agreed = np.array([a is not None for a in first]) & np.all(answers[:, list(members)] == first[:, None], axis=1)
    correct = np.where(agreed, P[:, members[0]], P[:, fallback])
    cost = C[:, list(members)].sum(axis=1) + np.where(agreed, 0.0, C[:, fallback])
    return correct, cost, agreed


def cost_agreement(n_boot: int, sizes: tuple[int, ...] = (2, 3, 4)) -> dict[str, Any]:
    """Winogrande: an agreement cascade over 2-4 models cheaper than the best single (see
    :func:`agreement_outcome`). The set is the cheapest on CascadeRouter's validation quarter of train whose
    validation accuracy reaches the best single's - 1 point (the best single chosen on the rest of train);
    realised on test with CIs. Beside it, the set the same rule picks on all of train."""
    from itertools import combinations

    train, test = routerbench_winogrande()
    parse = np.vectorize(parsed_answer, otypes=[object])
    A, At = parse(train.responses), parse(test.responses)
    P, C = train.performance, train.cost
    fit_rows, iv = validation_split(train.n_queries, 0.25, 0)
    fallback = best_single(P[fit_rows], C[fit_rows])
    cheap = [int(j) for j in cascade_order(C[fit_rows].mean(axis=0), fallback)]
    sets = [m for k in sizes for m in combinations(cheap, k)]

    def choose(rows: np.ndarray) -> tuple[tuple[int, ...] | None, dict[str, float]]:
        target = P[rows, fallback].mean() - 0.01
        scored = []
        for members in sets:
            correct, cost, _ = agreement_outcome(A[rows], P[rows], C[rows], members, fallback)
            scored.append((float(cost.mean()), -float(correct.mean()), members))
        reaching = [s for s in scored if -s[1] >= target - 1e-12]
        if not reaching:
            return None, {"target": float(target)}
        cost, neg_acc, members = min(reaching)
        return members, {"target": float(target), "accuracy": -neg_acc,
                         "cost_share": cost / float(C[rows, fallback].mean())}  # fmt: skip

    def realise(members: tuple[int, ...] | None) -> dict[str, Any]:
        if members is None:
            return {"members": None}
        correct, cost, agreed = agreement_outcome(At, test.performance, test.cost, members, fallback)
        g = test.performance[:, fallback]
        return {"members": [str(train.candidates[j]) for j in members],
                "accuracy": ci(correct, n_boot, 0), "accuracy_gap": ci(correct - g, n_boot, 0),
                "cost_share": ci(cost / test.cost[:, fallback].mean(), n_boot, 0),
                "share_agreed": float(agreed.mean())}  # fmt: skip

    on_val, val_point = choose(iv)
    on_train, train_point = choose(np.arange(train.n_queries))
    unparsed = {str(c): float(np.mean([a is None for a in A[:, j]])) for j, c in enumerate(train.candidates)}
    out = {
        "fallback": str(train.candidates[fallback]),
        "n_sets": len(sets),
        "unparsed_share_train": unparsed,
        "chosen_on_val": {"val": val_point, "test": realise(on_val)},
        "chosen_on_train": {"train": train_point, "test": realise(on_train)},
        "gpt4_accuracy": ci(test.performance[:, fallback], n_boot, 0),
    }
    for name in ("chosen_on_val", "chosen_on_train"):
        row = out[name]["test"]
        if row["members"] is not None:
            print(f"agreement ({name}): {row['members']} acc {fmt(row['accuracy'])} gap {fmt(row['accuracy_gap'])} "
                  f"cost share {fmt(row['cost_share'])}", flush=True)  # fmt: skip
    return out


def _test_point(X_train: Any, X_test: Any, train: Any, test: Any, alpha: float) -> tuple[float, float]:
    router, _ = fit_auto(X_train, train, tradeoff=alpha_tradeoff(alpha), cost=train.cost)
    picks = router.predict(X_test)
    return float(picked(test.performance, picks).mean()), float(picked(test.cost, picks).mean())


def gold_letters(answers: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Per query the right letter, read off any candidate with a parsed answer: its letter when it was right,
    else the other one (None when no candidate's answer parses)."""
    gold = np.full(len(answers), None, dtype=object)
    for i, (row, right) in enumerate(zip(answers, P > 0.5, strict=True)):
        j = next((j for j, a in enumerate(row) if a is not None), None)
        if j is not None:
            gold[i] = row[j] if right[j] else {"A": "B", "B": "A"}[row[j]]
    return gold


def letter_features(answers: np.ndarray, members: tuple[int, ...]) -> np.ndarray:
    """One-hot of each member's parsed letter (``[A, B]`` per member; no answer: both 0)."""
    return np.column_stack([answers[:, j] == letter for j in members for letter in ("A", "B")]).astype(float)


def stacked_outcome(
    p_a: np.ndarray,
    gold: np.ndarray,
    fallback_right: np.ndarray,
    members_cost: np.ndarray,
    fallback_cost: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query ``(correct, cost, accepted)``: accept the stacked letter when its probability ``>= threshold``
    (right when it is the gold letter), else call the fallback and take its answer; the members are always paid."""
    accepted = np.maximum(p_a, 1 - p_a) >= threshold
    stacked_right = np.where(p_a >= 0.5, "A", "B") == gold
    correct = np.where(accepted, stacked_right, fallback_right).astype(float)
    return correct, members_cost + np.where(accepted, 0.0, fallback_cost), accepted


def cost_stacked(n_boot: int, max_members: int = 3) -> dict[str, Any]:
    """Winogrande: a stacked cascade (FrugalGPT-style, response-aware): call 1-``max_members`` models cheaper than
    the best single, a logistic regression on their parsed letters predicts the right letter, accept it when its
    probability is at least τ, else call the best single too (every call paid). The set and τ are the cheapest
    reaching the best single's validation accuracy - 1 point on CascadeRouter's validation quarter of train
    (stacker fitted on the other three quarters), refitted on all of train, realised on test. Beside it a
    hindsight bound: 5-fold out-of-fold stacker probabilities on all of train and, per set, the cheapest τ
    reaching GPT-4's train accuracy - 1 point chosen on those same queries (optimistic: τ seen in hindsight)."""
    from itertools import combinations

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    train, test = routerbench_winogrande()
    parse = np.vectorize(parsed_answer, otypes=[object])
    A, At = parse(train.responses), parse(test.responses)
    P, C, Pt, Ct = train.performance, train.cost, test.performance, test.cost
    gold, gold_test = gold_letters(A, P), gold_letters(At, Pt)
    fit_rows, iv = validation_split(train.n_queries, 0.25, 0)
    fallback = best_single(P[fit_rows], C[fit_rows])
    cheap = [int(j) for j in cascade_order(C[fit_rows].mean(axis=0), fallback)]
    sets = [m for k in range(1, max_members + 1) for m in combinations(cheap, k)]
    known = np.array([g is not None for g in gold])

    def stacker() -> LogisticRegression:
        return LogisticRegression(C=1.0, max_iter=1000)

    def cheapest_reaching(p_a: np.ndarray, rows: np.ndarray, members: tuple[int, ...]) -> tuple[float, float, float]:
        target = P[rows, fallback].mean() - 0.01
        best = (np.inf, 1.01, 0.0)
        for tau in THRESHOLDS:
            members_cost = C[rows][:, list(members)].sum(axis=1)
            correct, cost, _ = stacked_outcome(
                p_a, gold[rows], P[rows, fallback] > 0.5, members_cost, C[rows, fallback], tau
            )
            if correct.mean() >= target - 1e-12 and cost.mean() < best[0]:
                best = (float(cost.mean()), tau, float(correct.mean()))
        return best

    fit_known = fit_rows[known[fit_rows]]
    scored, hindsight = [], []
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    rows_known = np.flatnonzero(known)
    for members in sets:
        model = stacker().fit(letter_features(A[fit_known], members), gold[fit_known] == "A")
        p_val = model.predict_proba(letter_features(A[iv], members))[:, 1]
        cost, tau, accuracy = cheapest_reaching(p_val, iv, members)
        scored.append((cost / C[iv, fallback].mean(), tau, accuracy, members))
        X_all = letter_features(A[rows_known], members)
        p_oof = cross_val_predict(stacker(), X_all, gold[rows_known] == "A", cv=folds, method="predict_proba")[:, 1]
        cost_all, tau_all, _ = cheapest_reaching(p_oof, rows_known, members)
        hindsight.append((cost_all / C[rows_known, fallback].mean(), tau_all, members))
    share, tau, val_accuracy, members = min(scored, key=lambda s: (s[0], -s[2]))
    names = [str(train.candidates[j]) for j in members] if np.isfinite(share) else None
    out: dict[str, Any] = {
        "fallback": str(train.candidates[fallback]),
        "n_sets": len(sets),
        "gold_unknown": {"train": int((~known).sum()), "test": int(sum(g is None for g in gold_test))},
        "chosen_on_val": {"members": names, "tau": tau, "val_accuracy": val_accuracy, "val_cost_share": share},
    }
    if names is not None:
        model = stacker().fit(letter_features(A[known], members), gold[known] == "A")
        p_test = model.predict_proba(letter_features(At, members))[:, 1]
        correct, cost, accepted = stacked_outcome(p_test, gold_test, Pt[:, fallback] > 0.5,
                                                  Ct[:, list(members)].sum(axis=1), Ct[:, fallback], tau)  # fmt: skip
        out["test"] = {"accuracy": ci(correct, n_boot, 0), "accuracy_gap": ci(correct - Pt[:, fallback], n_boot, 0),
                       "cost_share": ci(cost / Ct[:, fallback].mean(), n_boot, 0),
                       "share_accepted": float(accepted.mean())}  # fmt: skip
    bound_share, bound_tau, bound_members = min(hindsight, key=lambda h: h[0])
    out["hindsight_bound_train"] = {"members": [str(train.candidates[j]) for j in bound_members], "tau": bound_tau,
                                    "cost_share": float(bound_share)}  # fmt: skip
    out["gpt4_accuracy"] = ci(Pt[:, fallback], n_boot, 0)
    test_row = out.get("test")
    print(f"stacked: {names} tau {tau} val share {share:.3f}; test "
          f"{'-' if test_row is None else fmt(test_row['accuracy_gap']) + ' gap, ' + fmt(test_row['cost_share'])}"
          f"; hindsight bound {bound_share:.3f} ({out['hindsight_bound_train']['members']})", flush=True)  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="cost,cascade,agreement,stacked")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent")
        return
    runs = {"cost": cost, "cascade": cost_cascade, "agreement": cost_agreement, "stacked": cost_stacked}
    results = {name: run(args.n_boot) for name, run in runs.items() if name in args.parts.split(",")}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
