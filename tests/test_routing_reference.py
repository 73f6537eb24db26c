"""The routing metrics against a slow, obvious re-implementation written from their definitions (loops over
queries, an explicit bootstrap by repeating resampled rows, AIQ by the concave majorant's pointwise maximum over
pairs of points), on random matrices with ties in performance and cost, several tasks, named and indexed choices,
integer inputs. Each metric is compared value by value, so a change to any formula or tie rule shows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fusionbench.metrics import aiq, evaluate_routing, oracle_choices, pareto_frontier, tradeoff_choices
from fusionbench.metrics.routing import bootstrap_weights, evaluate_router, per_task_oracle_choices

TOL = 1e-9


def ref_best(values, costs) -> int:
    """The best value; among values within 1e-9 of it the cheapest; then the first."""
    top = max(values)
    tied = [j for j, v in enumerate(values) if v >= top - TOL]
    return min(tied, key=lambda j: (costs[j], j))


def ref_aiq(acc, cost, cost_range=None) -> float:
    acc, cost = [float(a) for a in acc], [float(c) for c in cost]
    low, high = cost_range if cost_range is not None else (min(cost), max(cost))
    if high > low:
        x = [min(max((c - low) / (high - low), 0.0), 1.0) for c in cost]
    else:
        x = [0.0 if c <= low + TOL else 1.0 for c in cost]

    def g(t: float) -> float:  # the non-decreasing concave majorant: best point or chord reachable at cost <= t
        best = -np.inf
        for i, j in itertools.product(range(len(x)), repeat=2):
            if x[i] > t or x[i] > x[j]:
                continue
            s = min(t, x[j])
            value = acc[i] if x[j] == x[i] else acc[i] + (acc[j] - acc[i]) * (s - x[i]) / (x[j] - x[i])
            best = max(best, acc[i], value)
        return best

    knots = sorted({*x, 1.0})
    return sum((b - a) * (g(a) + g(b)) / 2 for a, b in itertools.pairwise(knots))


def ref_stats(perf, cost, chosen, tasks, strong, weak) -> dict:
    n, k = perf.shape
    cand_acc = [perf[:, j].mean() for j in range(k)]
    cand_cost = [cost[:, j].mean() for j in range(k)]
    oracle = [ref_best(list(perf[q]), list(cost[q])) for q in range(n)]
    router_acc = np.mean([perf[q, chosen[q]] for q in range(n)])
    router_cost = np.mean([cost[q, chosen[q]] for q in range(n)])
    best = ref_best(cand_acc, cand_cost)
    task_acc = task_cost = 0.0
    for task in dict.fromkeys(tasks):
        rows = [q for q in range(n) if tasks[q] == task]
        sums = [sum(perf[q, j] for q in rows) for j in range(k)]
        costs = [sum(cost[q, j] for q in rows) for j in range(k)]
        pick = ref_best(sums, costs)
        task_acc, task_cost = task_acc + sums[pick], task_cost + costs[pick]
    span = cand_acc[strong] - cand_acc[weak]
    cheaper = [cand_cost[j] for j in range(k) if cand_acc[j] >= router_acc - TOL]
    cheapest = min(cheaper) if cheaper else np.inf
    keeps = router_acc >= cand_acc[best] - TOL and cand_cost[best] > 0
    range_ = (min(cand_cost), max(cand_cost))
    return {
        "router_accuracy": router_acc,
        "router_cost": router_cost,
        "oracle_accuracy": np.mean([perf[q, oracle[q]] for q in range(n)]),
        "oracle_cost": np.mean([cost[q, oracle[q]] for q in range(n)]),
        "best_single_oracle_accuracy": cand_acc[best],
        "best_single_oracle_cost": cand_cost[best],
        "per_task_oracle_accuracy": task_acc / n,
        "per_task_oracle_cost": task_cost / n,
        "random_accuracy": np.mean(cand_acc),
        "random_cost": np.mean(cand_cost),
        "gap_at_oracle": np.mean([perf[q, oracle[q]] for q in range(n)]) - router_acc,
        "pgr": (router_acc - cand_acc[weak]) / span if abs(span) > TOL else None,
        "cost_save": 1 - router_cost / cheapest if np.isfinite(cheapest) and cheapest > 0 else None,
        "cost_save_vs_best_single_oracle": 1 - router_cost / cand_cost[best] if keeps else None,
        "aiq": ref_aiq([*cand_acc, router_acc], [*cand_cost, router_cost], range_),
        "aiq_candidates": ref_aiq(cand_acc, cand_cost, range_),
    }


def problem(seed: int, n: int = 36, k: int = 4):
    rng = np.random.default_rng(seed)
    perf = rng.choice([0.0, 0.5, 1.0], size=(n, k), p=[0.4, 0.2, 0.4])
    cost = rng.choice([1.0, 2.0, 2.0, 5.0], size=(n, k)) * np.array([1.0, 1.5, 3.0, 0.5])[:k]
    tasks = rng.choice(["t1", "t2", "t3"], size=n).tolist()
    chosen = rng.integers(0, k, size=n)
    return perf, cost, tasks, chosen


def assert_close(value, expected, key) -> None:
    if expected is None:
        assert value is None, key
    else:
        assert value == pytest.approx(expected, abs=1e-12), key


@pytest.mark.parametrize("seed", range(6))
def test_every_point_value_is_its_definition(seed: int) -> None:
    perf, cost, tasks, chosen = problem(seed)
    names = ["a", "b", "c", "d"]
    result = evaluate_routing(perf, cost, names, [names[c] for c in chosen], tasks, n_boot=0)
    cand_acc, cand_cost = perf.mean(axis=0), cost.mean(axis=0)
    best, worst = ref_best(list(cand_acc), list(cand_cost)), ref_best(list(-cand_acc), list(cand_cost))
    for key, expected in ref_stats(perf, cost, chosen, tasks, best, worst).items():
        assert_close(result[key], expected, key)
    assert result["ci"] == {} and result["n_queries"] == 36
    assert (result["best_single_oracle"], result["strong"], result["weak"]) == (names[best], names[best], names[worst])
    expected = zip(names, cand_acc, cand_cost, strict=True)
    assert result["candidates"] == {n: {"accuracy": a, "cost": c} for n, a, c in expected}
    assert result["router_choice_counts"] == {names[j]: int((chosen == j).sum()) for j in set(chosen.tolist())}
    points = [*zip(cand_acc, cand_cost, strict=True), (result["router_accuracy"], result["router_cost"])]
    frontier = [
        p
        for p in range(5)
        if not any(  # not dominated (ties: the first of identical points)
            (points[o][0] >= points[p][0] - TOL and points[o][1] <= points[p][1])
            and (points[o][0] > points[p][0] + TOL or points[o][1] < points[p][1] or o < p)
            for o in range(5)
            if o != p
        )
    ]
    assert result["frontier"] == [([*names, "router"])[p] for p in sorted(frontier, key=lambda p: points[p][1])]
    for task in dict.fromkeys(tasks):
        rows = [q for q in range(36) if tasks[q] == task]
        entry = result["by_task"][task]
        assert entry["n_queries"] == len(rows)
        assert entry["router_accuracy"] == pytest.approx(np.mean([perf[q, chosen[q]] for q in rows]))
        oracle = [ref_best(list(perf[q]), list(cost[q])) for q in rows]
        oracle_values = [perf[q, o] for q, o in zip(rows, oracle, strict=True)]
        assert entry["oracle_accuracy"] == pytest.approx(np.mean(oracle_values))
        pick = ref_best(list(perf[rows].mean(axis=0)), list(cost[rows].mean(axis=0)))
        assert entry["per_task_oracle"] == names[pick]
        assert entry["per_task_oracle_accuracy"] == pytest.approx(perf[rows, pick].mean())


def ref_labels(perf, cost, tasks, a, b, cheapest: bool) -> list[int]:
    reward = np.zeros_like(perf)
    for task in set(tasks):
        rows = [q for q in range(len(tasks)) if tasks[q] == task]
        p, c = perf[rows], cost[rows]
        pn = (p - p.min()) / (p.max() - p.min()) if p.max() > p.min() else 0 * p
        cn = (c - c.min()) / (c.max() - c.min()) if c.max() > c.min() else 0 * c
        reward[rows] = a * pn - b * cn
    if cheapest:
        return [ref_best(list(reward[q]), list(cost[q])) for q in range(len(tasks))]
    return [int(np.argmax(reward[q])) for q in range(len(tasks))]


@pytest.mark.parametrize("seed", range(4))
def test_tradeoff_labels_and_settings_are_their_definition(seed: int) -> None:
    perf, cost, tasks, chosen = problem(seed)
    cost[[q for q in range(36) if tasks[q] == "t3"]] = 2.0  # one task with constant cost: normalised to 0
    for (a, b), cheapest in itertools.product([(1.0, 0.0), (0.5, 0.5), (0.2, 0.8)], [False, True]):
        got = tradeoff_choices(perf, cost, tasks, a, b, tie_break="cheapest" if cheapest else "first")
        assert got.tolist() == ref_labels(perf, cost, tasks, a, b, cheapest), (a, b, cheapest)
    result = evaluate_routing(perf, cost, ["a", "b", "c", "d"], chosen, tasks, n_boot=0)
    assert list(result["tradeoffs"]) == ["performance_first", "balance", "cost_first"]
    for label, (a, b) in {"performance_first": (1.0, 0.0), "balance": (0.5, 0.5), "cost_first": (0.2, 0.8)}.items():
        picks = ref_labels(perf, cost, tasks, a, b, False)
        entry = result["tradeoffs"][label]
        assert (entry["a"], entry["b"]) == (a, b)
        assert entry["accuracy"] == pytest.approx(np.mean([perf[q, p] for q, p in enumerate(picks)]))
        assert entry["cost"] == pytest.approx(np.mean([cost[q, p] for q, p in enumerate(picks)]))
        assert entry["router_agreement"] == pytest.approx(np.mean(np.array(picks) == chosen))
        assert entry["choice_counts"] == {"abcd"[j]: picks.count(j) for j in sorted(set(picks))}


@pytest.mark.parametrize("seed", range(2))
def test_bootstrap_cis_are_percentiles_of_the_metrics_on_resampled_queries(seed: int) -> None:
    perf, cost, tasks, chosen = problem(seed, n=24)
    result = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, n_boot=40, seed=seed, confidence=0.8,
                              strong="b", weak=2)  # fmt: skip
    draws: dict[str, list[float]] = {}
    for weights in bootstrap_weights(24, 40, seed):
        for row in weights:
            rows = np.repeat(np.arange(24), row.astype(int))
            stats = ref_stats(perf[rows], cost[rows], chosen[rows], [tasks[q] for q in rows], 1, 2)
            for key, value in stats.items():
                if value is not None:
                    draws.setdefault(key, []).append(value)
    assert set(result["ci"]) == set(ref_stats(perf, cost, chosen, tasks, 1, 2))
    for key, ci in result["ci"].items():
        expected = np.percentile(draws[key], [10, 90]).tolist() if key in draws else None
        assert ci == (None if expected is None else pytest.approx(expected, abs=1e-12)), key
    assert (result["strong"], result["weak"]) == ("b", "c")


def test_bootstrap_weights_resample_every_query_with_replacement() -> None:
    chunks = list(bootstrap_weights(7, 250, 3, chunk=100))
    assert [c.shape for c in chunks] == [(100, 7), (100, 7), (50, 7)]
    weights = np.vstack(chunks)
    assert weights.dtype == np.float64 and (weights.sum(axis=1) == 7).all() and (weights >= 0).all()
    assert abs(weights.mean() - 1.0) < 0.05 and len({tuple(w) for w in weights}) > 200
    rng = np.random.default_rng(3)
    first = np.bincount(rng.integers(0, 7, size=7), minlength=7)  # the first draw, by hand
    assert weights[0].tolist() == first.tolist()
    assert np.array_equal(np.vstack(list(bootstrap_weights(7, 250, 3))), weights)  # chunking does not matter


def test_defaults_are_a_thousand_resamples_seed_zero_95_percent() -> None:
    perf, cost, tasks, chosen = problem(0, n=20)
    default = evaluate_routing(perf, cost, list("abcd"), chosen, tasks)
    explicit = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, n_boot=1000, seed=0, confidence=0.95)
    assert default["ci"] == explicit["ci"]
    for other in ({"n_boot": 999}, {"seed": 1}, {"confidence": 0.9}):
        changed = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, **{**{"n_boot": 1000}, **other})
        assert changed["ci"] != default["ci"], other


@pytest.mark.parametrize("seed", range(40))
def test_aiq_is_the_area_under_the_non_decreasing_concave_majorant(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 8))
    acc = rng.choice([0.1, 0.3, 0.5, 0.6, 0.9], size=k)
    cost = rng.choice([0.0, 1.0, 2.0, 3.0, 4.0, 8.0], size=k)
    assert aiq(acc, cost) == pytest.approx(ref_aiq(acc, cost), abs=1e-12)
    for cost_range in [(1.0, 4.0), (2.0, 2.0), (-1.0, 20.0), (float(cost.min()), float(cost.min()))]:
        assert aiq(acc, cost, cost_range) == pytest.approx(ref_aiq(acc, cost, cost_range), abs=1e-12), cost_range
    as_ints = aiq((acc * 10).astype(int).tolist(), cost.astype(int).tolist())  # integer input, not integer math
    assert as_ints == pytest.approx(ref_aiq(acc * 10, cost), abs=1e-9)


def test_aiq_collinear_and_concave_hulls_by_hand() -> None:
    assert aiq([0.2, 0.5, 0.8], [0.0, 0.5, 1.0]) == pytest.approx(0.5)  # collinear: the chord itself
    assert aiq([0.2, 0.3, 0.8], [0.0, 0.5, 1.0]) == pytest.approx(0.5)  # the middle point lies below the chord
    assert aiq([0.2, 0.7, 0.8, 0.85], [0.0, 0.25, 0.5, 1.0]) == pytest.approx(0.25 * 0.45 + 0.25 * 0.75 + 0.5 * 0.825)
    assert aiq([0.4, 0.9], [3.0, 3.0]) == pytest.approx(0.9)  # one cost: the best point, flat over [0, 1]
    assert aiq([1, 3], [0, 2]) == pytest.approx(2.0)  # integers: (1 + 3) / 2, not floor division


def test_choices_pareto_and_oracles_with_ties_and_integers() -> None:
    perf = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]])  # integer matrices are read as floats
    cost = np.array([[2, 1, 1], [1, 3, 3], [5, 5, 4]])
    assert oracle_choices(perf, cost).tolist() == [1, 1, 2]
    assert per_task_oracle_choices(perf.astype(float), cost.astype(float), ["x", "x", "y"]).tolist() == [1, 1, 2]
    assert pareto_frontier([0.5, 0.5, 0.7, 0.6], [1, 1, 2, 3]) == [0, 2]  # identical points: the first
    assert pareto_frontier([1, 2], [0, 0]) == [1]


FINITE = r"^performance and cost must be finite; matrices_from_rows\(incomplete='drop_queries'\) drops incomplete rows$"


def test_invalid_inputs_name_what_is_wrong() -> None:
    perf, cost, tasks, chosen = problem(0, n=5)
    names = list("abcd")
    cases = [
        ((perf[:, :3], cost, names, chosen), r"performance \(5, 3\) and cost \(5, 4\) must both be \[n_queries, 4\]"),
        ((perf, cost, names[:3], chosen), r"must both be \[n_queries, 3\]"),
        ((perf[0], cost[0], names, chosen), r"performance \(4,\) and cost \(4,\)"),
        ((perf[:0], cost[:0], names, []), "^no queries to evaluate$"),
        ((np.where(perf == 0, np.nan, perf), cost, names, chosen), FINITE),
        ((perf, np.where(cost == 1, np.inf, cost), names, chosen), "performance and cost must be finite"),
        ((perf, cost, names, chosen[:4]), "^4 choices for 5 queries$"),
        ((perf, cost, names, ["a", "z", "y", "a", "a"]), r"unknown candidates \['y', 'z'\]; candidates are"),
        ((perf, cost, names, [0, 1, 2, 3, 4]), r"choice indices must lie in \[0, 4\)"),
        ((perf, cost, names, [-1, 1, 2, 3, 0]), r"choice indices must lie in \[0, 4\)"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluate_routing(*args, n_boot=0)
    with pytest.raises(ValueError, match=r"^4 tasks for 5 queries$"):
        evaluate_routing(perf, cost, names, chosen, tasks[:4], n_boot=0)
    with pytest.raises(ValueError, match="unknown candidates"):
        evaluate_routing(perf, cost, names, chosen, n_boot=0, strong="q")
    result = evaluate_routing(perf.astype(int), cost.astype(int), names, chosen.astype(np.int8), n_boot=0)
    assert result["router_accuracy"] == pytest.approx(np.mean(perf[np.arange(5), chosen]))
    assert list(result["by_task"]) == ["all"]


def test_evaluate_router_matches_by_id_counts_the_rest_and_sweeps() -> None:
    from fusionbench.metrics.routing_rows import RoutingMatrices
    from fusionbench.metrics.sweep import threshold_sweep

    perf, cost, tasks, _ = problem(1, n=6)
    ids = [f"q{i}" for i in range(6)]
    matrices = RoutingMatrices(ids, tasks, list("abcd"), perf, cost, 3, ["q9"])
    chosen, asked = ["b", "a", "d", "c", "zz"], ["q4", "q0", "q2", "q5", "q-none"]  # q-none is not in the matrices
    rates = [0.9, 0.1, 0.4, 0.7, 0.5]
    result = evaluate_router([*chosen[:4], "a"], asked, matrices, strong_win_rates=rates, n_boot=0, strong="a",
                             weak="c")  # fmt: skip
    rows = [4, 0, 2, 5]
    direct = evaluate_routing(perf[rows], cost[rows], list("abcd"), chosen[:4], [tasks[r] for r in rows], n_boot=0,
                              strong="a", weak="c")  # fmt: skip
    for key in (
        "router_accuracy",
        "best_single_oracle_accuracy",
        "per_task_oracle_accuracy",
        "aiq",
        "frontier",
        "strong",
        "weak",
        "pgr",
        "ci",
    ):  # options (n_boot, strong, weak) reach evaluate_routing
        assert result[key] == direct[key], key
    assert (result["n_unmatched_choices"], result["n_queries_without_choice"]) == (1, 2)
    assert (result["n_missing_cells"], result["n_dropped_queries"]) == (3, 1)
    expected = threshold_sweep(perf[rows, 0], perf[rows, 2], np.array(rates[:4]))
    assert result["sweep"]["apgr"] == pytest.approx(expected["apgr"])
    assert "sweep" not in evaluate_router(chosen[:4], asked[:4], matrices, n_boot=0)
    for bad, message in [
        ((chosen[:3], asked, matrices), "^3 choices for 5 query ids$"),
        ((chosen, asked, matrices, [0.5]), "^1 strong_win_rates for 5 query ids$"),
        ((chosen[:2], ["q1", "q1"], matrices), "^a query id appears twice among the router's choices$"),
    ]:
        with pytest.raises(ValueError, match=message):
            evaluate_router(*bad[:3], strong_win_rates=bad[3] if len(bad) > 3 else None, n_boot=0)


def continuous_problem(seed: int, n: int = 30, k: int = 4):
    """Scores in [0.2, 0.9] (min above 0, spans below 1) and costs of about 1e-3, one task with constant scores."""
    rng = np.random.default_rng(seed)
    perf = np.round(0.2 + 0.7 * rng.random((n, k)), 1)
    cost = np.round(1e-3 * (1 + rng.random((n, k))), 5)
    tasks = rng.choice(["t1", "t2", "flat"], size=n).tolist()
    flat = [q for q in range(n) if tasks[q] == "flat"]
    perf[flat] = 0.6
    return perf, cost, tasks


@pytest.mark.parametrize("seed", range(4))
def test_labels_normalise_scores_whose_minimum_is_not_zero_and_spans_below_one(seed: int) -> None:
    perf, cost, tasks = continuous_problem(seed)
    for (a, b), cheapest in itertools.product([(1.0, 0.0), (0.5, 0.5), (0.2, 0.8)], [False, True]):
        got = tradeoff_choices(perf, cost, tasks, a, b, tie_break="cheapest" if cheapest else "first")
        assert got.tolist() == ref_labels(perf, cost, tasks, a, b, cheapest), (a, b, cheapest)
    assert tradeoff_choices(perf, cost, tasks, 0.5, 0.5).tolist() == ref_labels(perf, cost, tasks, 0.5, 0.5, False)


@pytest.mark.parametrize("router", ["best_single", "cheapest", "oracle"])
def test_operating_points_on_the_ties_the_definitions_name(router: str) -> None:
    """A router equal to the best single (CostSave vs best single defined at equal accuracy), one cheaper than
    every candidate on average (its AIQ point left of the candidates' cost range, clipped), the oracle; and a
    free candidate (a cost of 0 leaves CostSave undefined)."""
    perf, cost, tasks = continuous_problem(7)
    cost[:, 3] = 0.0 if router == "oracle" else cost[:, 3]
    cand_acc, cand_cost = perf.mean(axis=0), cost.mean(axis=0)
    best = ref_best(list(cand_acc), list(cand_cost))
    chosen = {
        "best_single": np.full(30, best),
        "cheapest": cost.argmin(axis=1),
        "oracle": np.array([ref_best(list(perf[q]), list(cost[q])) for q in range(30)]),
    }[router]
    worst = ref_best(list(-cand_acc), list(cand_cost))
    result = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, n_boot=0)
    for key, expected in ref_stats(perf, cost, chosen, tasks, best, worst).items():
        assert_close(result[key], expected, key)
    if router == "best_single":
        assert result["cost_save_vs_best_single_oracle"] == pytest.approx(0.0)
        assert result["cost_save"] == pytest.approx(1 - cand_cost[best] / min(
            c for a, c in zip(cand_acc, cand_cost, strict=True) if a >= cand_acc[best] - TOL))  # fmt: skip
    if router == "cheapest":
        assert result["router_cost"] < cand_cost.min()
    if router == "oracle":
        assert result["cost_save"] is None or cand_cost.min() > 0


def test_cost_save_vs_best_single_at_equal_accuracy_and_free_best() -> None:
    from fusionbench.metrics import cost_save_vs_best_single_oracle as cost_save

    assert cost_save([0.7, 0.8], [0.5, 2.0], 0.7, 1.0) == pytest.approx(0.5)  # equal accuracy counts
    assert cost_save([0.7 - 1e-10], [0.5], 0.7, 1.0) == pytest.approx(0.5)  # within the tolerance
    assert cost_save([0.69], [0.5], 0.7, 1.0) is None
    assert cost_save([0.8], [0.5], 0.7, 0.0) is None  # a free best single: nothing to save
    assert cost_save([0.8], [0.25], 0.7, 0.5) == pytest.approx(0.5)  # costs below 1
    with pytest.raises(ValueError, match=r"accuracies \(2,\) and costs \(1,\) must be two equal-length vectors"):
        cost_save([0.7, 0.8], [0.5], 0.7, 1.0)


def test_pareto_frontier_keeps_a_point_only_when_strictly_more_accurate() -> None:
    assert pareto_frontier([0.5, 0.5 + 1e-10, 0.6], [1.0, 2.0, 3.0]) == [0, 2]  # within 1e-9: not better
    assert pareto_frontier([0.5, 0.5, 0.6], [1.0, 2.0, 3.0]) == [0, 2]


def test_free_candidates_leave_cost_savings_undefined_never_infinite() -> None:
    perf = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    cost = np.array([[0.0, 2.0, 1.0]] * 4)  # candidate a is free and the best single (3 of 4 right)
    result = evaluate_routing(perf, cost, list("abc"), [1, 1, 2, 2], n_boot=0)  # 0.75 at a cost of 1.5
    assert result["best_single_oracle"] == "a" and result["router_accuracy"] == pytest.approx(0.75)
    assert result["cost_save"] is None  # the cheapest candidate as accurate costs 0: nothing to divide by
    assert result["cost_save_vs_best_single_oracle"] is None  # the best single is free
    boot = evaluate_routing(perf, cost, list("abc"), [1, 1, 2, 2], n_boot=50)["ci"]  # undefined resamples left out
    assert all(np.isfinite(boot["cost_save"])) and all(np.isfinite(boot["cost_save_vs_best_single_oracle"]))


def test_one_resample_gives_cis_and_an_undefined_metric_gives_none() -> None:
    perf, cost, tasks, chosen = problem(2, n=12)
    one = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, n_boot=1)
    assert set(one["ci"]) >= {"router_accuracy", "aiq"} and one["ci"]["router_accuracy"][0] == one["ci"][
        "router_accuracy"][1]  # fmt: skip
    same = evaluate_routing(perf, cost, list("abcd"), chosen, tasks, n_boot=30, strong="b", weak="b")
    assert same["pgr"] is None and same["ci"]["pgr"] is None  # strong = weak: no gap to recover, in any resample
    assert same["ci"]["router_accuracy"] is not None
