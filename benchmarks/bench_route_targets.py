"""Issue 18's routing targets, measured: AutoRouter against the best single model chosen on train.

Run: ``python benchmarks/bench_route_targets.py [--parts embedded,ood,ood_mixed,mmlu,cost,cascade,agreement]
[--seeds 0,1,2,3,4] [--n-boot 2000] [--json out.json]``. ``../shared/data/routing`` is read in place for
``mmlu`` and ``cost`` (skipped, with a line, when absent).

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
* ``cost``: RouterBench Winogrande (11 models, USD; its own 887/380 train/test files); a cost-aware AutoRouter
  under ``α·perf − (1−α)·cost`` whose α is the cheapest one reaching the best single model's accuracy - 1 point
  on a 25 % validation part of train, refitted on all of train; realised accuracy and cost on test with CIs.
* ``cascade``: the same data, ``CascadeRouter`` on MiniLM embeddings of the question
  (``SentenceTransformerFeaturizer(strip_common_prefix=True)``: the 5-shot prefix is longer than MiniLM's window),
  τ chosen on its validation quarter of train; realised on test, with five validation seeds beside it.
* ``agreement``: an agreement cascade (call 2-4 cheaper models, accept their common parsed answer when all agree,
  else call the best single too; every call paid), the set chosen on the same validation quarter; on test.

The evaluation package has no task-mean (macro) figure yet, so this script computes it from the per-query
results. Every split passes the project's leakage gate (``fusion.leakage.assert_no_leakage``) first.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.fusion import AutoRouter, RoutingData, splits
from fusionbench.fusion.evaluation.inputs import fit_features, load_data, transform
from fusionbench.fusion.leakage import assert_no_leakage
from fusionbench.fusion.routers.cascade import CascadeRouter, best_single, cascade_order, validation_split
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


def embedded(seeds: list[int], n_boot: int, robust: bool = False) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"robust_to_new_tasks": robust, "seeds": {}}
    for seed in seeds:
        train, _, test = splits.apply(data, splits.random(data, test_size=0.2, val_size=0.0, seed=seed))
        leak = assert_no_leakage(train, test)
        X_train, X_test = _features(train, test)
        router, seconds = _fit_auto(X_train, train, robust_to_new_tasks=robust)
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
            "guarded": router.novelty(X_test).n_novel,
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


def ood(n_boot: int, robust: bool = False) -> dict[str, Any]:
    data = load_data(None).resolve_incomplete("error")
    out: dict[str, Any] = {"robust_to_new_tasks": robust, "domains": {}}
    for domain in sorted(set(data.domains.tolist())):
        train, _, test = splits.apply(data, splits.task_ood(data, domain=domain, val_size=0.0))
        assert_no_leakage(train, test)
        X_train, X_test = _features(train, test)
        router, seconds = _fit_auto(X_train, train, robust_to_new_tasks=robust)
        P = test.performance
        best = int(train.performance.mean(axis=0).argmax())
        gain = _picked(P, router.predict(X_test)) - P[:, best]
        unguarded = _picked(P, router.best_.predict(X_test)) - P[:, best]  # the winner without the guard
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
        print(f"{label} {domain}: {router.best_label_} gain {_fmt(out['domains'][domain]['gain'])}", flush=True)
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
        X_train, X_batch = _features(train, batch)
        router, _ = _fit_auto(X_train, train)
        P, best = batch.performance, int(train.performance.mean(axis=0).argmax())
        novel = router.novelty(X_batch).novel
        row: dict[str, Any] = {"n_seen": seen.n_queries, "n_new": new.n_queries, "chosen": router.best_label_}
        for label, picks in (("guard", router.predict(X_batch)), ("no_guard", router.best_.predict(X_batch))):
            gain = _picked(P, picks) - P[:, best]
            row[label] = {"seen": ci(gain[: seen.n_queries], n_boot, 0), "new": ci(gain[seen.n_queries :], n_boot, 0)}
        row["guarded_seen"], row["guarded_new"] = int(novel[: seen.n_queries].sum()), int(novel[seen.n_queries :].sum())
        out["domains"][domain] = row
        print(f"ood mixed {domain}: guarded {row['guarded_seen']}/{row['n_seen']} seen, {row['guarded_new']}/"
              f"{row['n_new']} new; gain seen {_fmt(row['guard']['seen'])} (no guard {_fmt(row['no_guard']['seen'])})"
              f", new {_fmt(row['guard']['new'])} (no guard {_fmt(row['no_guard']['new'])})", flush=True)  # fmt: skip
    rows = out["domains"].values()
    out["never_significantly_below"] = all(r["guard"][part]["hi"] >= 0 for r in rows for part in ("seen", "new"))
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
        "guarded": router.novelty(X_test).n_novel,
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


def _routerbench_winogrande() -> tuple[Any, Any]:
    folder = SHARED / "routerbench-format"
    train = load_data(f"routerbench={folder / 'winograde_train.csv'}").resolve_incomplete("error")
    test = load_data(f"routerbench={folder / 'winograde_test.csv'}").resolve_incomplete("error")
    assert_no_leakage(train, test)
    return train, test


def cost_cascade(n_boot: int) -> dict[str, Any]:
    """Winogrande: ``CascadeRouter`` (per-candidate logistic P(correct) on MiniLM embeddings of the question,
    the few-shot prefix all training prompts share stripped; τ the cheapest reaching the best single's
    validation accuracy - 1 point on its validation quarter of train; refitted on all of train), realised on
    test; plus each predictor's validation AUROC and two bounds on the same validation queries."""
    from fusionbench.fusion.feature_checks import feature_spread
    from fusionbench.fusion.features import SentenceTransformerFeaturizer

    train, test = _routerbench_winogrande()
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
        "val_oracle": {"accuracy": float(_picked(P[iv], oracle).mean()),
                       "cost_share": float(_picked(C[iv], oracle).mean() / g_cost)},
        "val_no_signal_cost_share": no_signal,
        "accuracy": ci(_picked(Pt, picks), n_boot, 0),
        "gpt4_accuracy": ci(Pt[:, best], n_boot, 0),
        "accuracy_gap": ci(_picked(Pt, picks) - Pt[:, best], n_boot, 0),
        "cost_share": ci(_picked(Ct, picks) / Ct[:, best].mean(), n_boot, 0),
        "share_not_gpt4": float((picks != best).mean()),
    }  # fmt: skip
    seeds = []  # how much the realised point depends on which quarter of train validated τ
    for seed in range(5):
        other = CascadeRouter(random_state=seed).fit(X_train, train.performance, cost=train.cost)
        chosen, v = other.predict(X_test), other.validation_
        seeds.append({"random_state": seed, "tau": other.threshold_, "val_accuracy": v["accuracy"],
                      "val_cost_share": v["cost"] / v["fallback_cost"],
                      "accuracy_gap": ci(_picked(Pt, chosen) - Pt[:, best], n_boot, 0),
                      "cost_share": ci(_picked(Ct, chosen) / Ct[:, best].mean(), n_boot, 0)})  # fmt: skip
    out["by_validation_seed"] = seeds
    print(f"cascade: tau {router.threshold_} acc {_fmt(out['accuracy'])} gap {_fmt(out['accuracy_gap'])} "
          f"cost share {_fmt(out['cost_share'])}; val AUROC {out['val_auroc']}", flush=True)  # fmt: skip
    return out


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

    train, test = _routerbench_winogrande()
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
            print(f"agreement ({name}): {row['members']} acc {_fmt(row['accuracy'])} gap {_fmt(row['accuracy_gap'])} "
                  f"cost share {_fmt(row['cost_share'])}", flush=True)  # fmt: skip
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
    if "ood_mixed" in parts:  # a batch mixing known tasks' held-out queries with a held-out domain
        results["ood_mixed"] = ood_mixed(args.n_boot)
    if "ood_robust" in parts:  # AutoRouter(robust_to_new_tasks=True)
        results["ood_robust"] = ood(args.n_boot, robust=True)
    if "embedded_robust" in parts:
        results["embedded_robust"] = embedded([int(s) for s in args.seeds.split(",")], args.n_boot, robust=True)
    for name, run in (("mmlu", mmlu), ("cost", cost), ("cascade", cost_cascade), ("agreement", cost_agreement)):
        if name in parts:
            if not SHARED.is_dir():
                print(f"{name}: skipped ({SHARED} is absent)")
                continue
            results[name] = run(args.n_boot)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
