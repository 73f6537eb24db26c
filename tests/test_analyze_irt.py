"""IRT item parameters in the analysis (issue 20, item 6): a 2PL fit's difficulty and discrimination per task."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from fusionbench.fusion import RoutingData
from fusionbench.fusion.analysis import AnalysisConfig, analyze, irt_item_parameters, write_analysis

# 20 candidates of rising ability (candidate j answers the "ladder" items of difficulty below j right).
N_CANDIDATES = 20
N_LADDER = N_CANDIDATES - 1  # item i is solved by the candidates above i (the top one solves them all)


def _data() -> RoutingData:
    ladder = np.array([[1.0 if j > i else 0.0 for j in range(N_CANDIDATES)] for i in range(N_LADDER)])
    reversed_item = ladder[N_LADDER // 2][::-1]  # the weak candidates right, the strong ones wrong: check its label
    never = np.zeros(N_CANDIDATES)  # nobody right: the hardest item
    perf = np.vstack([ladder, reversed_item, never])
    tasks = ["a"] * N_LADDER + ["b", "b"]
    return RoutingData.from_arrays(
        perf, np.ones_like(perf), tasks=tasks, candidates=[f"m{j}/direct" for j in range(N_CANDIDATES)]
    )


def test_item_parameters_order_difficulty_and_flag_a_reversed_item() -> None:
    data = _data()
    items = irt_item_parameters(data, seed=0)
    difficulty, discrimination = items.difficulty["a"], items.discrimination["a"]
    # the ladder: item i is solved by the candidates above i, so difficulty rises with i
    assert all(later > earlier for earlier, later in itertools.pairwise(difficulty))
    assert min(discrimination) > 0
    reversed_disc = items.discrimination["b"][0]
    assert reversed_disc < 0 < min(discrimination)  # the reversed item is the only negative one
    assert items.difficulty["b"][1] > max(difficulty)  # nobody right: harder than every ladder item
    summary = {row["task"]: row for row in items.summary.to_pylist()}
    assert summary["a"]["share_negative_discrimination"] == 0.0 and summary["b"]["share_negative_discrimination"] == 0.5
    assert summary["a"]["n_queries"] == N_LADDER
    again = irt_item_parameters(data, seed=0)
    assert again.difficulty == items.difficulty  # seeded and deterministic


def test_too_few_candidates_are_skipped_and_said_once() -> None:
    perf = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    small = RoutingData.from_arrays(perf, np.ones_like(perf), candidates=["x/direct", "y/direct"])
    assert irt_item_parameters(small) is None
    report = analyze(small, AnalysisConfig(n_boot=20))
    assert "irt_items" not in report["skills"]
    assert sum("IRT item parameters" in line for line in report["skipped"]) == 1


def test_the_report_has_the_irt_table_histograms_and_plot(tmp_path) -> None:
    pytest.importorskip("matplotlib")  # the plot extra; the tables do not need it
    report = analyze(_data(), AnalysisConfig(n_boot=20))
    assert [row["task"] for row in report["skills"]["irt_items"]] == ["a", "b"]
    counts = report["skills"]["irt_difficulty_histograms"]["a"]["counts"]
    assert sum(counts) == N_LADDER  # every item in a bin (tails clipped into the end bins)
    assert not any("IRT item parameters" in line for line in report["skipped"])
    folder = tmp_path / "analysis"
    written = write_analysis(report, folder)
    text = (folder / "report.md").read_text()
    assert "IRT difficulty q1/median/q3" in text and "irt_items.png" in text, written
    assert (folder / "irt_items.png").stat().st_size > 0
    assert (
        json.loads((folder / "report.json").read_text())["skills"]["irt_items"][1]["share_negative_discrimination"]
        == 0.5
    )
