"""Routing metrics on hand-checked matrices, the pivot from long rows, and the bootstrap."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from fusionbench.metrics import (
    aiq,
    cost_save_vs_best_single_oracle,
    evaluate_router,
    evaluate_routing,
    matrices_from_rows,
    oracle_choices,
    pareto_frontier,
    per_task_oracle_choices,
    tradeoff_choices,
)

# 3 queries x 3 candidates. Costs per query: c0 = 1, c1 = 2, c2 = 3.
#   q0: c0 and c1 right (oracle tie -> the cheaper c0); q1: c1 and c2 right (-> c1); q2: only c2 right.
CANDIDATES = ["c0", "c1", "c2"]
PERF = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
COST = np.array([[1.0, 2.0, 3.0]] * 3)
TASKS = ["t1", "t1", "t2"]
ROUTER = ["c0", "c1", "c0"]  # right, right, wrong: accuracy 2/3 at mean cost (1 + 2 + 1) / 3 = 4/3


def test_oracle_ties_go_to_the_cheapest() -> None:
    assert oracle_choices(PERF, COST).tolist() == [0, 1, 2]
    # Same tie with the cheaper candidate last: still the cheaper one, not the first.
    assert oracle_choices([[1.0, 1.0]], [[5.0, 2.0]]).tolist() == [1]


def test_hand_checked_metrics() -> None:
    r = evaluate_routing(PERF, COST, CANDIDATES, ROUTER, TASKS, n_boot=0)
    expected = {
        "router_accuracy": 2 / 3,
        "router_cost": 4 / 3,
        "oracle_accuracy": 1.0,
        "oracle_cost": 2.0,  # c0, c1, c2
        "best_single_oracle_accuracy": 2 / 3,  # c1 and c2 tie at 2/3; c1 is cheaper
        "best_single_oracle_cost": 2.0,
        "random_accuracy": 5 / 9,
        "random_cost": 2.0,
        # t1 (q0, q1): c1 is right on both; t2 (q2): c2. Costs 2, 2, 3.
        "per_task_oracle_accuracy": 1.0,
        "per_task_oracle_cost": 7 / 3,
        "gap_at_oracle": 1 / 3,
        # strong = best single c1 (2/3), weak = worst single c0 (1/3): (2/3 - 1/3) / (2/3 - 1/3)
        "pgr": 1.0,
        # cheapest candidate at least as accurate as the router (2/3) is c1 at cost 2: 1 - (4/3) / 2
        "cost_save": 1 / 3,
        # LLMRouterBench: against the best single (c1, 2/3 at cost 2), which the router matches
        "cost_save_vs_best_single_oracle": 1 / 3,
        # cost normalised over [1, 3]: hull c0 (0, 1/3) -> router (1/6, 2/3), flat to 1
        "aiq": (1 / 3 + 2 / 3) / 2 * (1 / 6) + 2 / 3 * (5 / 6),
        # candidates alone: c0 (0, 1/3) -> c1 (1/2, 2/3), flat to 1
        "aiq_candidates": (1 / 3 + 2 / 3) / 2 * (1 / 2) + 2 / 3 * (1 / 2),
    }
    for key, value in expected.items():
        assert r[key] == pytest.approx(value), key
    assert r["best_single_oracle"] == "c1" and r["strong"] == "c1" and r["weak"] == "c0"
    assert r["frontier"] == ["c0", "router"]  # c1 (same accuracy, dearer) and c2 are dominated by the router
    assert r["ci"] == {}
    assert r["by_task"]["t1"]["per_task_oracle"] == "c1" and r["by_task"]["t2"]["per_task_oracle"] == "c2"
    assert r["by_task"]["t2"]["router_accuracy"] == 0.0
    assert per_task_oracle_choices(PERF, COST, TASKS).tolist() == [1, 1, 2]


def test_perfect_router_and_undefined_cost_save() -> None:
    r = evaluate_routing(PERF, COST, CANDIDATES, [0, 2, 2], TASKS, n_boot=0)
    assert r["router_accuracy"] == 1.0 and r["gap_at_oracle"] == 0.0
    assert r["cost_save"] is None  # no single candidate reaches accuracy 1
    # ... but it beats the best single (c1, cost 2) at a higher cost (1 + 3 + 3) / 3: a negative saving
    assert r["cost_save_vs_best_single_oracle"] == pytest.approx(1 - 7 / 6)
    r = evaluate_routing(PERF, COST, CANDIDATES, [0, 0, 0], TASKS, n_boot=0)
    assert r["cost_save_vs_best_single_oracle"] is None  # less accurate (1/3) than the best single
    r = evaluate_routing(PERF, COST, CANDIDATES, ROUTER, TASKS, strong="c2", weak=0, n_boot=0)
    assert r["strong"] == "c2" and r["weak"] == "c0" and r["pgr"] == pytest.approx(1.0)
    assert "apgr" not in r  # the point value is PGR; APGR is a sweep (threshold_sweep)


def test_cost_save_vs_best_single_over_a_sweep() -> None:
    # Operating points (accuracy, cost); the best single is at (0.7, 2.0).
    acc, cost = [0.6, 0.7, 0.75, 0.8], [0.5, 1.5, 1.0, 2.5]
    # Points at >= 0.7: cost 1.5, 1.0, 2.5 -> the largest saving is 1 - 1.0 / 2.0
    assert cost_save_vs_best_single_oracle(acc, cost, 0.7, 2.0) == pytest.approx(0.5)
    assert cost_save_vs_best_single_oracle(acc, cost, 0.9, 2.0) is None
    with pytest.raises(ValueError, match="equal-length"):
        cost_save_vs_best_single_oracle(acc, cost[:2], 0.7, 2.0)


def test_release_tradeoff_labels() -> None:
    # Per task min-max: perf_norm = perf; cost_norm = 0, 0.5, 1 for c0, c1, c2.
    assert tradeoff_choices(PERF, COST, TASKS, 1.0, 0.0).tolist() == [0, 1, 2]
    # balance: q0 c0 = .5; q1 c1 = .25 beats c0 = c2 = 0; q2 c0 = 0 ties c2 = .5 - .5 -> the first, c0
    assert tradeoff_choices(PERF, COST, TASKS, 0.5, 0.5).tolist() == [0, 1, 0]
    assert tradeoff_choices(PERF, COST, TASKS, 0.2, 0.8).tolist() == [0, 0, 0]
    settings = evaluate_routing(PERF, COST, CANDIDATES, ROUTER, TASKS, n_boot=0)["tradeoffs"]
    assert settings["performance_first"]["accuracy"] == 1.0 and settings["performance_first"]["cost"] == 2.0
    assert settings["balance"]["accuracy"] == pytest.approx(2 / 3) and settings["balance"]["router_agreement"] == 1.0
    assert settings["cost_first"] == {
        "a": 0.2,
        "b": 0.8,
        "accuracy": pytest.approx(1 / 3),
        "cost": 1.0,
        "router_agreement": pytest.approx(2 / 3),
        "choice_counts": {"c0": 3},
    }


def test_pareto_frontier_and_aiq_by_hand() -> None:
    # A (.5, 1), B (.9, 3), C (.6, 2.5), D (.5, 2) dominated by A, E = A duplicated.
    acc, cost = [0.5, 0.9, 0.6, 0.5, 0.5], [1.0, 3.0, 2.5, 2.0, 1.0]
    assert pareto_frontier(acc, cost) == [0, 2, 1]
    # C lies below the chord A-B (0.8 at x = .75), so the hull is A-B: area (.5 + .9) / 2.
    assert aiq(acc, cost) == pytest.approx(0.7)
    # Move C above the chord: x = .5, y = .8 -> .5 * (.5 + .8) / 2 + .5 * (.8 + .9) / 2
    assert aiq([0.5, 0.9, 0.8], [1.0, 3.0, 2.0]) == pytest.approx(0.75)
    # A point beyond the range is clipped to x = 1; the curve is flat after the best point.
    assert aiq([0.5, 0.6], [1.0, 2.0], cost_range=(1.0, 3.0)) == pytest.approx(0.5 * (0.5 + 0.6) / 2 + 0.5 * 0.6)


def test_bootstrap_is_seeded_and_covers_the_point() -> None:
    rng = np.random.default_rng(7)
    perf = (rng.random((60, 4)) < [0.3, 0.5, 0.6, 0.8]).astype(float)
    cost = rng.random((60, 4)) * [1.0, 2.0, 3.0, 6.0]
    choices = np.where(rng.random(60) < 0.5, 1, 3)
    tasks = ["a"] * 30 + ["b"] * 30
    first = evaluate_routing(perf, cost, list("wxyz"), choices, tasks, n_boot=300, seed=11)
    again = evaluate_routing(perf, cost, list("wxyz"), choices, tasks, n_boot=300, seed=11)
    other = evaluate_routing(perf, cost, list("wxyz"), choices, tasks, n_boot=300, seed=12)
    assert first["ci"] == again["ci"]
    assert first["ci"]["router_accuracy"] != other["ci"]["router_accuracy"]
    for key in ("router_accuracy", "router_cost", "oracle_accuracy", "gap_at_oracle", "aiq", "random_accuracy"):
        low, high = first["ci"][key]
        assert low <= first[key] <= high, key
    assert first["ci"]["router_accuracy"][1] - first["ci"]["router_accuracy"][0] > 0


@pytest.mark.parametrize(("confidence", "z"), [(None, 1.959964), (0.95, 1.959964), (0.80, 1.281552)])
def test_bootstrap_interval_has_the_asked_level(confidence: float | None, z: float) -> None:
    """The percentile interval of a mean of n = 4,000 coin flips is, to Monte Carlo error (about 3 % of its
    half-width at 4,000 resamples), the normal interval p ± z·sqrt(p(1-p)/n): a 90 % or 99 % interval is 16 % or 31 %
    off at the 95 % level, so the level itself is checked, not only that the interval covers the point."""
    n = 4000
    router_right = np.arange(n) % 2 == 0  # p = 0.5 exactly
    perf = np.column_stack([router_right, ~router_right]).astype(float)
    cost = np.ones((n, 2))
    level = {} if confidence is None else {"confidence": confidence}  # None: the default must be 95 %
    result = evaluate_routing(perf, cost, ["a", "b"], np.zeros(n, dtype=int), n_boot=4000, seed=3, **level)
    low, high = result["ci"]["router_accuracy"]
    expected_half = z * np.sqrt(0.25 / n)
    assert (high - low) / 2 == pytest.approx(expected_half, rel=0.08)
    assert (low + high) / 2 == pytest.approx(0.5, abs=0.1 * expected_half)


def _rows() -> list[dict]:
    rows = []
    for q, task in zip(["q0", "q1", "q2"], TASKS, strict=True):
        for c in range(3):
            model, mode = ["m0", "m1", "m1"][c], ["direct", "direct", "cot"][c]
            rows.append(
                {"query_id": q, "task": task, "model": model, "mode": mode, "performance": PERF[int(q[1]), c]}
                | {"cost_usd": COST[int(q[1]), c], "input_tokens": 100, "output_tokens": 10 * (c + 1)}
            )
    return rows


def test_matrices_from_rows_pivots_and_drops_incomplete_queries() -> None:
    rows = _rows()
    query_ids, tasks, candidates, perf, cost = matrices_from_rows(rows)
    assert candidates == ["m0/direct", "m1/direct", "m1/cot"] and query_ids == ["q0", "q1", "q2"]
    assert tasks == TASKS and np.array_equal(perf, PERF) and np.array_equal(cost, COST)
    # One cell with a null performance, one cell without a row at all: both queries dropped, counted.
    rows[4]["performance"] = None  # q1 / m1-direct
    del rows[8]  # q2 / m1-cot
    table = pa.Table.from_pylist(rows)
    with pytest.raises(ValueError, match=r"^2 \(query, candidate\) cells have no value \(first: row 1, candidate 1\)"):
        matrices_from_rows(table)  # the default, as everywhere in fusionbench: incomplete="error"
    dropped = matrices_from_rows(table, incomplete="drop_queries")
    assert dropped.query_ids == ["q0"] and dropped.dropped_query_ids == ["q1", "q2"]
    assert dropped.n_missing_cells == 2 and dropped.performance.shape == (1, 3) and dropped.dropped_candidates == []
    narrow = matrices_from_rows(table, incomplete="drop_candidates")
    assert narrow.candidates == ["m0/direct"] and narrow.dropped_candidates == ["m1/direct", "m1/cot"]
    assert narrow.query_ids == ["q0", "q1", "q2"] and narrow.performance.tolist() == PERF[:, :1].tolist()
    assert narrow.n_missing_cells == 2 and narrow.dropped_query_ids == []
    with pytest.warns(DeprecationWarning, match="incomplete='drop' is now incomplete='drop_queries'"):
        old = matrices_from_rows(table, incomplete="drop")
    assert old.query_ids == dropped.query_ids and np.array_equal(old.performance, dropped.performance)
    with pytest.raises(ValueError, match="incomplete='keep' was removed"):
        matrices_from_rows(table, incomplete="keep")
    with pytest.raises(ValueError, match="incomplete must be one of"):
        matrices_from_rows(table, incomplete="drop_rows")
    with_nan = PERF.astype(float).copy()
    with_nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        evaluate_routing(with_nan, COST, CANDIDATES, [0, 0, 0], n_boot=0)
    with pytest.raises(ValueError, match="two rows"):
        matrices_from_rows([*_rows(), _rows()[0]])


def test_matrices_from_a_dataset_and_repriced() -> None:
    import datasets

    from_dataset = matrices_from_rows(datasets.Dataset.from_list(_rows()))
    assert np.array_equal(from_dataset.performance, PERF)
    # m0 and m1 are not in the sheet: every cell is unpriced, counted; dropping them leaves nothing.
    with pytest.raises(ValueError, match=r"^9 \(query, candidate\) cells have no value"):
        matrices_from_rows(_rows(), price_sheet="illustrative-output-4x")
    with pytest.raises(ValueError, match="every query has a missing cell"):
        matrices_from_rows(_rows(), price_sheet="illustrative-output-4x", incomplete="drop_queries")


def test_evaluate_router_matches_choices_by_query_id() -> None:
    matrices = matrices_from_rows(_rows())
    names = matrices.candidates
    r = evaluate_router([names[0], names[0], "x"], ["q2", "q0", "unknown"], matrices, n_boot=0)
    assert r["n_queries"] == 2 and r["n_unmatched_choices"] == 1 and r["n_queries_without_choice"] == 1
    assert r["router_accuracy"] == 0.5  # q0 right with c0, q2 wrong with c0
    with pytest.raises(ValueError, match="unknown candidates"):
        evaluate_router(["nope"], ["q0"], matrices, n_boot=0)


def test_on_the_sample_export(sample_export) -> None:
    files = [
        str(p)
        for p in sorted(sample_export.glob("data/*/train-*.parquet"))
        if p.parent.name not in ("queries", "models")
    ]
    matrices = matrices_from_rows(pads.dataset(files).to_table(), incomplete="drop_queries")
    assert len(matrices.candidates) == 40 and len(matrices.query_ids) + len(matrices.dropped_query_ids) > 0
    r = evaluate_routing(
        matrices.performance,
        matrices.cost,
        matrices.candidates,
        oracle_choices(matrices.performance, matrices.cost),
        matrices.tasks,
        n_boot=50,
    )
    assert r["gap_at_oracle"] == 0.0
    assert r["oracle_accuracy"] >= r["per_task_oracle_accuracy"] >= r["best_single_oracle_accuracy"]
    assert r["best_single_oracle_accuracy"] >= r["random_accuracy"] and r["aiq"] >= r["aiq_candidates"]


def test_the_one_interval_and_paired_difference_have_the_asked_level() -> None:
    """metrics.routing_bootstrap: the percentile interval both evaluate_routing and fusion's evaluations use."""
    from fusionbench.metrics.routing_bootstrap import Replicates, difference, interval

    draws = np.arange(101, dtype=float)  # percentiles of 0..100 are the percent values themselves
    assert interval(draws, 0.95) == pytest.approx([2.5, 97.5])
    assert interval(draws, 0.90) == pytest.approx([5.0, 95.0])
    assert interval(np.append(draws, np.nan), 0.90) == pytest.approx([5.0, 95.0])  # NaN replicates ignored
    assert interval(np.array([np.nan]), 0.95) is None
    columns = [("r", "perf"), ("b", "perf")]
    reps = Replicates(columns, np.array([0.7, 0.5]), np.column_stack([draws / 100 + 0.5, np.full(101, 0.5)]), 101)
    paired = difference(reps, ("r", "perf"), ("b", "perf"), 0.90)
    assert paired["value"] == pytest.approx(0.2) and paired["ci"] == pytest.approx([0.05, 0.95])
    assert paired["verdict"] == "better"


def test_the_one_tradeoff_reward_with_fitted_statistics() -> None:
    """metrics.routing_tradeoffs: per-task min-max (NaN cells ignored), an unseen task uses every cell's, a
    constant task gives 0; fusion's Tradeoff computes exactly this."""
    from fusionbench.fusion.routers import Tradeoff
    from fusionbench.metrics.routing_tradeoffs import ALL, minmax_stats, tradeoff_reward

    perf = np.array([[0.0, 1.0], [0.5, np.nan], [1.0, 1.0]])
    cost = np.array([[1.0, 3.0], [2.0, 2.0], [5.0, 5.0]])
    stats = minmax_stats(perf, cost, ["a", "a", "b"])
    assert stats == {ALL: (0.0, 1.0, 1.0, 4.0), "a": (0.0, 1.0, 1.0, 2.0), "b": (1.0, 0.0, 5.0, 0.0)}
    test = np.array([[0.5, 1.0], [1.0, 0.0]])
    test_cost = np.array([[2.0, 3.0], [3.0, 1.0]])
    reward = tradeoff_reward(test, test_cost, 0.5, 0.5, tasks=["a", "unseen"], stats=stats)
    # task a: perf (x - 0)/1, cost (c - 1)/2; unseen: every cell's statistics, cost (c - 1)/4
    assert reward.tolist() == [[0.5 * 0.5 - 0.5 * 0.5, 0.5 - 0.5], [0.5 - 0.5 * 0.5, 0.0]]
    assert tradeoff_reward(test[:1], test_cost[:1], 1.0, 0.0, tasks=["b"], stats=stats).tolist() == [[0.0, 0.0]]
    fitted = Tradeoff.balance().fit(perf, cost, np.array(["a", "a", "b"]))
    assert np.array_equal(fitted.reward(test, test_cost, np.array(["a", "unseen"])), reward)
    own = tradeoff_reward(test, test_cost, 0.5, 0.5, tasks=["a", "a"])  # no stats: these arrays' own
    assert np.array_equal(own, Tradeoff.preset("balance", "fusionfactory").reward(test, test_cost, ["a", "a"]))


def test_the_one_pivot_scatter_reports_the_first_duplicate() -> None:
    from fusionbench.metrics.routing_rows import pivot_cells

    matrices, duplicate = pivot_cells(
        np.array([0, 1, 0]), np.array([1, 0, 0]), (2, 2), {"v": np.array([1.0, 2.0, 3.0])}
    )
    assert duplicate is None and np.array_equal(matrices["v"], [[3.0, 1.0], [2.0, np.nan]], equal_nan=True)
    _, duplicate = pivot_cells(np.array([0, 1, 1, 1]), np.array([0, 1, 0, 1]), (2, 2), {"v": np.zeros(4)})
    assert duplicate == 1  # rows 1 and 3 are both (1, 1): the first of them is named
