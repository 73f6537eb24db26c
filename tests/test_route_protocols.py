"""The two evaluation protocols on a toy matrix whose every number is computed by hand below.

Candidates c0, c1, c2 (in this order); tasks A and B. Test split (3 queries):

    query  task  performance        cost (USD)   judge
    q1     A     [1,   1,   0  ]    [4, 2, 1]    [0.9, 0.9, 0.1]
    q2     A     [0,   1,   0.5]    [2, 6, 1]    [0.2, 0.8, 0.8]
    q3     B     [0.2, 0.6, 0.6]    [3, 5, 1]    [0.5, 0.4, 0.3]

fusionfactory protocol: min-max per task over the *test* split.
  A: perf in [0, 1] (perf_norm = perf); cost in [1, 6]: cost_norm = (c - 1) / 5
     q1: cost_norm [0.6, 0.2, 0]     q2: cost_norm [0.2, 1.0, 0]
  B: perf in [0.2, 0.6]: q3 perf_norm [0, 1, 1]; cost in [1, 5]: q3 cost_norm [0.5, 1, 0]
  Performance First reward = perf_norm; oracle (first maximum in row order): q1 c0 (tie c0/c1), q2 c1,
     q3 c1 (tie c1/c2) -> Perf (1 + 1 + 1) / 3 = 1, Cost (0.6 + 1.0 + 1.0) / 3 = 0.866667
  Balance 0.5 p - 0.5 c: q1 [0.2, 0.4, 0], q2 [-0.1, 0, 0.25], q3 [-0.25, 0, 0.5]
  Cost First 0.2 p - 0.8 c: q1 [-0.28, 0.04, 0], q2 [-0.16, -0.6, 0.1], q3 [-0.4, -0.6, 0.2]
  Router choices [c1, c2, c0]:
     Performance First: Perf (1 + 0.5 + 0) / 3 = 0.5; Cost (0.2 + 0 + 0.5) / 3 = 0.233333; Reward 0.5
     Balance: Reward (0.4 + 0.25 - 0.25) / 3 = 0.133333; Cost First: Reward (0.04 + 0.1 - 0.4) / 3 = -0.086667
     LLM Judge: LLMScore (0.9 + 0.8 + 0.5) / 3 = 0.733333, Perf 0.5
  Random (expected) Performance First Perf: (2/3 + 1/2 + 2/3) / 3 = 0.611111

Train split (3 queries, for the baselines and the fusionbench normalisation):

    t1  A  [0, 1, 0]        t2  A  [1, 1, 0.4]        t3  B  [0.5, 0.4, 0.8]      cost [1, 2, 3] on every row

  best single (train means c0 0.5, c1 0.8, c2 0.4): c1 -> fusionfactory PF Perf 1, Cost (0.2 + 1 + 1) / 3
  per task (A: c1, B: c2): c1, c1, c2 -> Perf 1, Cost (0.2 + 1.0 + 0) / 3 = 0.4
  router - best single, PF Perf: 0.5 - 1 = -0.5

fusionbench protocol: min-max fitted on train per task (A: perf [0, 1], cost [1, 3]; B: perf [0.4, 0.8],
cost [1, 3]), raw Perf and USD Cost, cheapest ties.
  Balance: q1 p [1, 1, 0], c [1.5, 0.5, 0] -> [-0.25, 0.25, 0]; q2 p [0, 1, 0.5], c [0.5, 2.5, 0] ->
     [-0.25, -0.75, 0.25]; q3 p [-0.5, 0.5, 0.5], c [1, 2, 0] -> [-0.75, -0.75, 0.25]
  Router [c1, c2, c0]: Balance Reward (0.25 + 0.25 - 0.75) / 3 = -0.083333; Perf (1 + 0.5 + 0.2) / 3 = 0.566667;
     Cost (2 + 1 + 3) / 3 = 2.0 USD
  Performance First oracle, cheapest ties: q1 c1 (cost 2 < 4), q2 c1, q3 c2 (cost 1 < 5) -> Perf
     (1 + 1 + 0.6) / 3 = 0.866667, Cost (2 + 6 + 1) / 3 = 3.0
"""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, evaluate
from fusionbench.fusion.evaluation.protocols import NO_COST, SettingUnavailable, setting_view, unavailable_reason

CANDIDATES = ["c0", "c1", "c2"]


def _test() -> RoutingData:
    return RoutingData.from_arrays(
        [[1, 1, 0], [0, 1, 0.5], [0.2, 0.6, 0.6]],
        [[4, 2, 1], [2, 6, 1], [3, 5, 1]],
        query_ids=["q1", "q2", "q3"],
        tasks=["A", "A", "B"],
        texts=["first test question", "second test question", "third test question"],
        candidates=CANDIDATES,
        judge=np.array([[0.9, 0.9, 0.1], [0.2, 0.8, 0.8], [0.5, 0.4, 0.3]]),
    )


def _train() -> RoutingData:
    return RoutingData.from_arrays(
        [[0, 1, 0], [1, 1, 0.4], [0.5, 0.4, 0.8]],
        [[1, 2, 3]] * 3,
        query_ids=["t1", "t2", "t3"],
        tasks=["A", "A", "B"],
        texts=["a training question", "another training question", "a third training question"],
        candidates=CANDIDATES,
        judge=np.full((3, 3), 0.5),
    )


ROUTER = ["c1", "c2", "c0"]


def _value(result, system, column):
    return result.rows()[system][column]["value"]


def test_fusionfactory_protocol_reproduces_the_hand_computed_table():
    test, train = _test(), _train()
    results = {
        s: evaluate({"r": ROUTER}, test, train=train, setting=s, protocol="fusionfactory", n_boot=0)
        for s in ("performance_first", "balance", "cost_first", "llm_judge")
    }
    pf = results["performance_first"]
    assert _value(pf, "r", "perf") == pytest.approx(0.5)
    assert _value(pf, "r", "cost") == pytest.approx(0.7 / 3)
    assert _value(pf, "r", "reward") == pytest.approx(0.5)
    assert _value(pf, "oracle", "perf") == pytest.approx(1.0)
    assert _value(pf, "oracle", "cost") == pytest.approx(2.6 / 3)  # row-order ties: c0 on q1, c1 on q3
    assert pf.choice_counts["oracle"] == {"c0": 1, "c1": 2}
    assert _value(pf, "random", "perf") == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert _value(pf, "best_single_train", "perf") == pytest.approx(1.0)
    assert _value(pf, "best_single_train", "cost") == pytest.approx(2.2 / 3)
    assert _value(pf, "per_task", "cost") == pytest.approx(1.2 / 3)
    assert pf.paired()["r"]["vs_best_single_train"]["perf"]["value"] == pytest.approx(-0.5)
    assert _value(results["balance"], "r", "reward") == pytest.approx(0.4 / 3)
    assert _value(results["balance"], "oracle", "reward") == pytest.approx((0.4 + 0.25 + 0.5) / 3)
    assert _value(results["cost_first"], "r", "reward") == pytest.approx(-0.26 / 3)
    judge = results["llm_judge"]
    assert judge.columns[0] == "llm_score"
    assert _value(judge, "r", "llm_score") == pytest.approx(2.2 / 3)
    assert _value(judge, "r", "perf") == pytest.approx(0.5)
    assert judge.choice_counts["oracle"] == {"c0": 2, "c1": 1}  # q1 tie 0.9/0.9 -> c0, q2 tie 0.8/0.8 -> c1


def test_fusionbench_protocol_normalises_with_train_and_breaks_ties_by_cost():
    test, train = _test(), _train()
    balance = evaluate({"r": ROUTER}, test, train=train, setting="balance", n_boot=0)
    assert _value(balance, "r", "reward") == pytest.approx(-0.25 / 3)
    assert _value(balance, "r", "perf") == pytest.approx(1.7 / 3)
    assert _value(balance, "r", "cost") == pytest.approx(2.0)  # USD, not normalised
    view = setting_view("balance", "fusionbench", test, train)
    np.testing.assert_allclose(view.reward[2], [-0.75, -0.75, 0.25])  # B normalised by train's [0.4, 0.8]
    pf = evaluate({"r": ROUTER}, test, train=train, n_boot=0)
    assert pf.choice_counts["oracle"] == {"c1": 2, "c2": 1}
    assert _value(pf, "oracle", "perf") == pytest.approx(2.6 / 3)
    assert _value(pf, "oracle", "cost") == pytest.approx(3.0)


def test_without_costs_the_cost_settings_are_unavailable_and_cost_is_never_zero():
    test, train = _test(), _train()
    no_cost = RoutingData.from_arrays(test.performance, query_ids=test.query_ids, tasks=test.tasks, texts=test.texts,
                                      candidates=CANDIDATES)  # fmt: skip
    no_cost_train = RoutingData.from_arrays(train.performance, query_ids=train.query_ids, tasks=train.tasks,
                                            texts=train.texts, candidates=CANDIDATES)  # fmt: skip
    assert unavailable_reason("balance", no_cost) == NO_COST
    assert unavailable_reason("llm_judge", no_cost).startswith("no judge data")
    with pytest.raises(SettingUnavailable, match="no cost data"):
        evaluate({"r": ROUTER}, no_cost, train=no_cost_train, setting="balance", n_boot=0)
    pf = evaluate({"r": ROUTER}, no_cost, train=no_cost_train, n_boot=0)
    assert pf.columns == ("perf", "reward")
    assert "cost" not in pf.rows()["r"]
    assert _value(pf, "r", "perf") == pytest.approx(1.7 / 3)


def test_unknown_protocol_and_setting_are_named():
    with pytest.raises(ValueError, match="unknown protocol 'release'"):
        evaluate({"r": ROUTER}, _test(), train=_train(), protocol="release")
    with pytest.raises(ValueError, match="unknown setting 'cheap'"):
        evaluate({"r": ROUTER}, _test(), train=_train(), setting="cheap")
