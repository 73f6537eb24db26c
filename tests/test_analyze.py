"""fusionbench analyze: every analysis on hand-worked tiny matrices, checked by hand and against scipy/sklearn
(and lm-sim for error consistency and CAPA, when installed)."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion.analysis import (
    capa_kappa,
    cohen_kappa,
    error_consistency,
    fusion_bounds,
    item_statistics,
    judge_agreement,
    judge_best_of_n,
    leaderboard,
    leave_one_task_out,
    majority_vote,
    oracle_at_k,
    skill_pca,
)
from fusionbench.fusion.analysis.judge import kendall_tau_b
from fusionbench.fusion.analysis.leaderboard import ranks_of
from fusionbench.fusion.analysis.similarity import error_consistency_kappa, greedy_pool
from fusionbench.fusion.data import RoutingData


def _rows(table, **where):
    return [r for r in table.to_pylist() if all(r[k] == v for k, v in where.items())]


# ------------------------------------------------------------------------------------------- 1. leaderboard
def test_leaderboard_by_hand() -> None:
    perf = np.array([[1, 0], [1, 1], [0, 1], [1, 0]], dtype=float)
    cost = np.array([[1.0, 3.0], [1.0, 3.0], [2.0, 3.0], [2.0, 3.0]])
    data = RoutingData.from_arrays(perf, cost, tasks=["t1", "t1", "t2", "t2"], candidates=["a", "b"])
    board = leaderboard(data, n_boot=200, seed=1)
    a_t2 = _rows(board.scores, candidate="a", task="t2")[0]
    assert a_t2["accuracy"] == 0.5 and a_t2["n_queries"] == 2 and a_t2["mean_cost_usd"] == 2.0
    assert _rows(board.scores, candidate="a", task="(macro)")[0]["accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    assert _rows(board.scores, candidate="b", task="(micro)")[0]["accuracy"] == pytest.approx(0.5)
    for row in board.scores.to_pylist():
        assert row["ci_low"] <= row["accuracy"] + 1e-12 and row["accuracy"] <= row["ci_high"] + 1e-12
    ranks = board.ranks.to_pylist()
    assert [r["candidate"] for r in ranks] == ["a", "b"] and ranks[0]["rank"] == 1
    assert sum(ranks[0]["rank_shares"]) == pytest.approx(1.0)
    assert np.allclose(board.accuracy, [[1.0, 0.5], [0.5, 0.5]])
    plain = leaderboard(data, n_boot=0)
    assert _rows(plain.scores, candidate="a", task="t1")[0]["ci_low"] is None


def test_ranks_share_the_best_rank_of_a_tie() -> None:
    assert ranks_of(np.array([0.5, 0.5, 0.2])).tolist() == [1, 1, 3]
    assert ranks_of(np.array([[0.1, 0.9], [0.9, 0.1]])).tolist() == [[2, 1], [1, 2]]


# ------------------------------------------------------------------------------------------- 2. judge vs truth
def test_cohen_kappa_by_hand_and_against_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score

    a = np.array([1, 1, 0, 0, 1, 0], dtype=bool)
    b = np.array([1, 0, 0, 0, 1, 1], dtype=bool)
    # p_o = 4/6, p_e = .5 * .5 + .5 * .5 = .5 -> kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert cohen_kappa(a, b) == pytest.approx(1 / 3)
    rng = np.random.default_rng(0)
    x, y = rng.random(50) < 0.4, rng.random(50) < 0.7
    assert cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))
    assert cohen_kappa(np.ones(3, bool), np.ones(3, bool)) is None


def test_kendall_tau_b_matches_scipy_with_ties_and_missing() -> None:
    from scipy.stats import kendalltau

    x = np.array([0.1, 0.4, 0.4, 0.9, np.nan, 0.3])
    y = np.array([0.2, 0.1, 0.5, 0.5, 0.7, 0.3])
    ok = np.isfinite(x)
    assert kendall_tau_b(x, y) == pytest.approx(kendalltau(x[ok], y[ok]).statistic)
    rows = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert kendall_tau_b(rows, np.array([[1.0, 2.0, 3.0]] * 2)).tolist() == pytest.approx([1.0, -1.0])


def _judged_data() -> RoutingData:
    # 6 queries of one task x 2 candidates; the judge's 0.0 at (4, 1) is a stored failure on a correct answer
    perf = np.array([[1, 1], [1, 0], [0, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    judge = np.array([[0.8, 1.0], [0.6, 0.3], [0.3, 0.6], [0.0, 0.8], [1.0, 0.0], [0.0, 0.3]])
    return RoutingData.from_arrays(perf, judge=judge, tasks=["gsm8k"] * 6, candidates=["a", "b"])


def test_judge_agreement_reports_zero_failures_and_leaves_them_out() -> None:
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    data = _judged_data()
    result = judge_agreement(data, n_boot=100, seed=0)
    assert result is not None and result.zero_is_failure
    pooled = _rows(result.cells, task="gsm8k", candidate="(all)")[0]
    assert pooled["n_zero"] == 3 and pooled["n_judged"] == 9 and pooled["n_cells"] == 12
    keep = data.judge != 0.0
    j, t = data.judge[keep], data.performance[keep]
    assert pooled["kappa"] == pytest.approx(cohen_kappa_score(j >= 0.5, t >= 0.5))
    assert pooled["auroc"] == pytest.approx(roc_auc_score(t >= 0.5, j))
    everything = data.judge.ravel(), data.performance.ravel()
    assert pooled["kappa_with_zeros"] == pytest.approx(cohen_kappa_score(everything[0] >= 0.5, everything[1] >= 0.5))
    assert pooled["flagged"] == (pooled["kappa"] < 0.6)
    # judged cells: a's judge mean .675 and truth .75, b's .6 and .4: the same order -> tau = 1
    assert result.ranking.to_pylist()[0]["kendall_tau"] == pytest.approx(1.0)
    as_score = judge_agreement(data, zero_is_failure=False, n_boot=0)
    assert _rows(as_score.cells, task="gsm8k", candidate="(all)")[0]["n_judged"] == 12


def test_judge_agreement_without_judge_scores_is_none() -> None:
    data = RoutingData.from_arrays(np.ones((3, 2)))
    assert judge_agreement(data) is None


# ------------------------------------------------------------------------------------------- 3. similarity
def test_error_consistency_by_hand() -> None:
    a = np.array([1, 1, 0, 0], dtype=bool)
    b = np.array([1, 0, 0, 0], dtype=bool)
    # c_obs = 3/4; p_a = .5, p_b = .25 -> c_exp = .125 + .375 = .5; kappa = (.75 - .5) / .5 = .5
    kappa, c_obs, c_exp = error_consistency_kappa(a, b)
    assert (kappa, c_obs, c_exp) == pytest.approx((0.5, 0.75, 0.5))
    data = RoutingData.from_arrays(np.column_stack([a, b, ~a]).astype(float), candidates=["a", "b", "c"])
    sim = error_consistency(data)
    assert sim.matrix[0, 1] == pytest.approx(0.5) and sim.matrix[0, 2] == pytest.approx(-1.0)
    assert sorted(sim.order) == [0, 1, 2] and len(sim.pairs) == 3


def test_capa_by_hand() -> None:
    a, b, gold = ["A", "B", "C", "A"], ["A", "B", "D", "B"], ["A", "B", "A", "A"]
    # same option on 2 of 4 -> c_obs = .5; p_a = .75, p_b = .5; c_exp = .375 + (1/3) * .25 * .5 = 5/12
    assert capa_kappa(a, b, gold, [4] * 4) == pytest.approx((0.5 - 5 / 12) / (1 - 5 / 12))
    assert capa_kappa([None, "B"], [None, "B"], ["A", "B"], [4, 4]) == pytest.approx(
        (0.5 - (0.25 + (1 / 3) * 0.25)) / (1 - (0.25 + (1 / 3) * 0.25))
    )


def test_error_consistency_and_capa_match_lm_sim() -> None:
    lmsim = pytest.importorskip("lmsim.metrics")
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 4, 60)
    picks_a = np.where(rng.random(60) < 0.7, gold, rng.integers(0, 4, 60))
    picks_b = np.where(rng.random(60) < 0.5, gold, rng.integers(0, 4, 60))
    one_hot = np.eye(4)
    out_a, out_b = [one_hot[p] for p in picks_a], [one_hot[p] for p in picks_b]
    theirs_ec = lmsim.EC().compute_k(out_a, out_b, list(gold))
    assert error_consistency_kappa(picks_a == gold, picks_b == gold)[0] == pytest.approx(theirs_ec)
    theirs_capa = lmsim.CAPA(prob=False).compute_k(out_a, out_b, list(gold))
    letters = np.array(list("ABCD"))
    ours = capa_kappa(list(letters[picks_a]), list(letters[picks_b]), list(letters[gold]), [4] * 60)
    assert ours == pytest.approx(theirs_capa)


def test_greedy_oracle_at_k_by_hand() -> None:
    perf = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1], [0, 1, 0]], dtype=float)
    data = RoutingData.from_arrays(perf, candidates=["a", "b", "c"])
    assert greedy_pool(perf) == [2, 1, 0]  # c (0.75), then b adds query 4 (1.0), then a adds nothing
    curve = oracle_at_k(data, n_boot=50).to_pylist()
    assert [r["oracle"] for r in curve] == pytest.approx([0.75, 1.0, 1.0])
    assert [r["added"] for r in curve] == ["c", "b", "a"] and curve[-1]["share_of_oracle"] == 1.0


# ------------------------------------------------------------------------------------------- 4. skills, 6. items
def test_skill_pca_by_hand_and_against_svd() -> None:
    pca = skill_pca(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), ["x", "y"])
    assert pca.variance.to_pylist()[0]["variance_ratio"] == pytest.approx(1.0)  # one factor, equal loadings
    loading = pca.loadings.to_pylist()
    assert abs(loading[0]["f1"]) == pytest.approx(np.sqrt(0.5)) and loading[0]["f1"] == pytest.approx(loading[1]["f1"])
    matrix = np.random.default_rng(0).random((6, 4))
    singular = np.linalg.svd(matrix - matrix.mean(axis=0), compute_uv=False)
    expected = (singular**2 / (singular**2).sum())[:4]
    assert [r["variance_ratio"] for r in skill_pca(matrix, list("abcd")).variance.to_pylist()] == pytest.approx(
        expected
    )


def test_leave_one_task_out_by_hand() -> None:
    x = np.array([0.1, 0.2, 0.6, 0.9])
    table = leave_one_task_out(np.column_stack([x, x]), ["p", "q"], alpha=1e-9, n_boot=50)
    rows = table.to_pylist()
    assert rows[1]["mae"] == pytest.approx(0.0, abs=1e-6)  # q = p exactly: predicted exactly
    # the baseline predicts the other candidates' mean: |.567-.1|, |.533-.2|, |.4-.6|, |.3-.9| -> mean .4
    assert rows[1]["baseline_mae"] == pytest.approx(np.mean([1.7 / 3 - 0.1, 1.6 / 3 - 0.2, 0.2, 0.6]))


def test_item_statistics_by_hand() -> None:
    perf = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 1, 1]], dtype=float)
    items = item_statistics(RoutingData.from_arrays(perf, tasks=["t"] * 4))
    assert items.difficulty["t"] == pytest.approx([1 / 3, 1.0, 1 / 3, 0.0])
    row = items.summary.to_pylist()[0]
    assert row["share_all_fail"] == 0.25 and row["share_none_fail"] == 0.25
    rest = (perf.sum(axis=0) - perf[0]) / 3
    expected = np.corrcoef(perf[0], rest)[0, 1]
    assert items.discrimination["t"][0] == pytest.approx(expected)
    assert row["n_undefined_discrimination"] == 2  # items everyone fails or passes


# ------------------------------------------------------------------------------------------- 5. bounds
def test_majority_vote_and_judge_best_of_n_by_hand() -> None:
    answers = np.array([["5", "5", "7", None], ["5", "7", None, None], [None] * 4], dtype=object)
    perf = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    assert majority_vote(answers, perf).tolist() == [1.0, 0.5, 0.0]  # a tie is the mean; no answer scores 0
    judge = np.array([[0.8, 0.8, 0.3, np.nan], [np.nan] * 4, [0.1, 0.2, 0.3, 0.9]])
    best = judge_best_of_n(judge, perf)
    assert best[0] == 1.0 and np.isnan(best[1]) and best[2] == 1.0


def test_fusion_bounds_by_hand() -> None:
    perf = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)
    data = RoutingData.from_arrays(perf, tasks=["t1", "t1", "t2", "t2"], candidates=["a", "b"])
    bounds = {(r["task"], r["bound"]): r["value"] for r in fusion_bounds(data, k=1, n_boot=50).to_pylist()}
    assert bounds[("(all)", "best_single")] == 0.5 and bounds[("(all)", "per_task_best")] == 0.75
    assert bounds[("(all)", "oracle")] == 0.75 and bounds[("(all)", "oracle_at_k")] == 0.5
    assert bounds[("t2", "per_task_best")] == 0.5 and ("(all)", "majority_vote") not in bounds


def test_capa_matrix_equals_the_pairwise_definition() -> None:
    from fusionbench.fusion.analysis import capa

    rng = np.random.default_rng(5)
    letters = np.array(list("ABCD"), dtype=object)
    answers = letters[rng.integers(0, 4, (40, 3))]
    answers[rng.random((40, 3)) < 0.1] = None
    gold = letters[rng.integers(0, 4, 40)]
    gold[:3] = None  # items without a gold label are left out
    sim = capa(answers, gold, np.full(40, 4), ("a", "b", "c"))
    for i, j in ((0, 1), (0, 2), (1, 2)):
        expected = capa_kappa(list(answers[3:, i]), list(answers[3:, j]), list(gold[3:]), [4] * 37)
        assert sim.matrix[i, j] == pytest.approx(expected) and sim.matrix[j, i] == pytest.approx(expected)


def test_leave_one_task_out_ridge_matches_sklearn() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fusionbench.fusion.analysis.skills import _ridge_predictions

    matrix = np.random.default_rng(2).random((7, 4))
    expected = []
    for i in range(7):
        keep = np.arange(7) != i
        model = make_pipeline(StandardScaler(), Ridge(alpha=0.7)).fit(matrix[keep][:, 1:], matrix[keep, 0])
        expected.append(model.predict(matrix[i : i + 1, 1:])[0])
    assert _ridge_predictions(matrix, 0, 0.7) == pytest.approx(expected)
