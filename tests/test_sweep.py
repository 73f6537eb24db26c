"""RouteLLM's threshold sweep (APGR, CPT): hand-checked curves and the reproduction on RouteLLM's own data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fusionbench.metrics import threshold_sweep
from fusionbench.metrics.sweep import optimal_performance, sweep_thresholds

STRONG, WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"


def read_routellm(folder: Path, csv_names: list[str], contaminated: str) -> list[dict[str, str]]:
    """RouteLLM's eval CSV rows (prompt, one True/False column per model) minus the contaminated prompts."""
    with open(folder / contaminated, encoding="utf-8") as handle:
        excluded = {json.loads(line)["eval_prompt"] for line in handle if line.strip()}
    rows: list[dict[str, str]] = []
    for name in csv_names:
        with open(folder / name, newline="", encoding="utf-8") as handle:
            rows.extend(row for row in csv.DictReader(handle) if row["prompt"] not in excluded)
    return rows


def correct(rows: list[dict[str, str]], model: str) -> np.ndarray:
    values = {row[model] for row in rows}
    assert values <= {"True", "False"}, values
    return np.array([row[model] == "True" for row in rows], dtype=float)


def test_hand_checked_curve() -> None:
    # 4 queries; the strong model alone is right on q0 and q1, the weak one alone on q3.
    strong, weak = [1, 1, 0, 0], [0, 0, 0, 1]
    rates = [0.9, 0.8, 0.2, 0.1]  # a perfect order: q0, q1 first
    r = threshold_sweep(strong, weak, rates, n_thresholds=4)
    # Edges: the quartiles 0.1, 0.175, 0.5, 0.825, 0.9 -> strong on 4, 3, 2, 1, 0 queries (> at the last)
    assert r["curve"]["threshold"] == pytest.approx([0.9, 0.825, 0.5, 0.175, 0.1])
    assert r["curve"]["strong_percentage"] == [0.0, 25.0, 50.0, 75.0, 100.0]
    # 75 %: q0-q2 strong (q2 wrong either way), q3 weak (right); 100 %: q3 goes to the strong model, wrong
    assert r["curve"]["performance"] == pytest.approx([0.25, 0.5, 0.75, 0.75, 0.5])
    auc = 0.25 * ((0.25 + 0.5) / 2 + (0.5 + 0.75) / 2 + 0.75 + (0.75 + 0.5) / 2)
    assert r["auc"] == pytest.approx(auc)
    assert r["strong_performance"] == 0.5 and r["weak_performance"] == 0.25
    assert r["apgr"] == pytest.approx((auc - 0.25) / (0.5 - 0.25))
    assert not r["curve_monotone"]  # at 100 % the strong model loses q3
    # CPT(50 %): the target 0.375 lies half-way between 0 % (0.25) and 25 % (0.5)
    assert r["cpt"][50] == pytest.approx(12.5)
    # Optimal: the weak model everywhere (0.25) plus up to two strong-only wins, pro rata.
    assert r["curve"]["optimal"] == pytest.approx([0.25, 0.5, 0.75, 0.75, 0.75])


def test_random_scores_give_about_half_and_a_perfect_order_more() -> None:
    rng = np.random.default_rng(0)
    strong = (rng.random(4000) < 0.8).astype(float)
    weak = np.where(strong == 1, rng.random(4000) < 0.6, rng.random(4000) < 0.2).astype(float)
    random = threshold_sweep(strong, weak, rng.random(4000))
    assert 0.45 < random["apgr"] < 0.55
    perfect = threshold_sweep(strong, weak, strong - weak + rng.random(4000) * 0.01)
    assert perfect["apgr"] > 0.9 and perfect["cpt"][80] < random["cpt"][80]
    # The optimal curve bounds every operating point.
    for r in (random, perfect):
        assert all(o >= p - 1e-12 for o, p in zip(r["curve"]["optimal"], r["curve"]["performance"], strict=True))


def test_ties_and_degenerate_inputs() -> None:
    # All scores tied: every edge is the same value, the sweep is two points (100 % and 0 %).
    tied = threshold_sweep([1, 0, 1], [0, 0, 1], [0.5, 0.5, 0.5])
    assert sorted(set(tied["curve"]["strong_percentage"])) == [0.0, 100.0]
    assert tied["apgr"] == pytest.approx(0.5)  # a straight line between the two models
    assert threshold_sweep([1, 0], [1, 0], [0.2, 0.4])["apgr"] is None  # the two models tie
    with pytest.raises(ValueError, match="non-finite"):
        threshold_sweep([1, 0], [0, 0], [0.1, float("nan")])
    with pytest.raises(ValueError, match="2 values for 3 queries"):
        threshold_sweep([1, 0, 1], [0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="n_thresholds"):
        sweep_thresholds([0.1], 0)
    assert optimal_performance(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 0.25, 1.0])).tolist() == [
        0.5,
        0.75,
        1.0,
    ]


@pytest.mark.parametrize(
    ("benchmark", "n_queries", "apgr"),
    [("mmlu", 14037, 0.583698), ("gsm8k", 1307, 0.598655)],
)
def test_reproduces_routellm_prompt_length_router(shared_data: Path, benchmark: str, n_queries: int, apgr: float):
    """RouteLLM's evaluate.py, run on its own CSVs with the prompt length as the win rate, gives these APGRs."""
    folder = shared_data / "routing" / "routellm" / "routellm" / "evals" / benchmark
    if benchmark == "mmlu":
        names = sorted(f"responses/{p.name}" for p in (folder / "responses").glob("mmlu_*.csv"))
        assert len(names) == 57
    else:
        names = ["gsm8k_responses.csv"]
    rows = read_routellm(folder, names, "contaminated_prompts.jsonl")
    assert len(rows) == n_queries
    r = threshold_sweep(correct(rows, STRONG), correct(rows, WEAK), [len(row["prompt"]) for row in rows])
    assert r["apgr"] == pytest.approx(apgr, abs=5e-7)
    assert r["n_queries"] == n_queries and len(r["curve"]["threshold"]) == 11
    assert r["curve"]["strong_percentage"][0] == 0.0 and r["curve"]["strong_percentage"][-1] == 100.0
    assert 0 < r["cpt"][20] < r["cpt"][50] < r["cpt"][80] < 100
