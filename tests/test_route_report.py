"""The benchmark runner and its report folder: Table-4 tables under both protocols, a CI beside every number,
the transductive label on every naive number, the synthetic banner, "no cost data" instead of 0, skips and
failures reported, plots with matplotlib and a note without it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from fusionbench.fusion import RoutingData
from fusionbench.fusion.report import BenchmarkConfig, RouterSpec, read_report, run_benchmark, write_report
from fusionbench.fusion.report import plots as plots_module
from fusionbench.fusion.report.tables import SYNTHETIC_BANNER, render

CANDIDATES = ["a/direct", "b/direct", "c/direct", "d/direct"]
TASKS = ("gsm8k", "mmlu", "boolq", "mbpp")


def _data(with_cost: bool = True, synthetic: bool = True, n_per_task: int = 30) -> RoutingData:
    """Four tasks of two domains, a per-task best candidate, and features that carry the task."""
    rng = np.random.default_rng(0)
    tasks = [t for t in TASKS for _ in range(n_per_task)]
    index = np.array([TASKS.index(t) for t in tasks])
    chance = np.full((len(tasks), 4), 0.35)
    chance[np.arange(len(tasks)), index] = 0.85
    perf = (rng.random(chance.shape) < chance).astype(float)
    cost = np.array([1e-4, 3e-4, 9e-4, 2e-3]) * (1 + 0.1 * rng.random(chance.shape)) if with_cost else None
    features = np.eye(4)[index] + 0.3 * rng.normal(size=(len(tasks), 4))
    return RoutingData.from_arrays(
        perf, cost, query_ids=[f"q{i}" for i in range(len(tasks))], tasks=tasks, candidates=CANDIDATES,
        texts=[f"{t} item {i}" for i, t in enumerate(tasks)], embeddings=features, synthetic=synthetic,
        judge=np.clip(perf * 0.8 + 0.1 * rng.random(perf.shape), 0, 1),
    )  # fmt: skip


CONFIG = BenchmarkConfig(
    routers=[
        RouterSpec("knn", "knn", {"n_neighbors": 5}),
        RouterSpec("linear", "linear"),
        RouterSpec("knn-labels", "knn", {"n_neighbors": 5, "target": "labels"}),
        RouterSpec("carrot", "carrot", {"perf": None}),
        RouterSpec("broken", "knn", {"n_neighbors": 0}),
        RouterSpec("best_single", "best_single"),  # a row of every table anyway: not fitted twice
    ],
    seeds=[0, 1],
    n_boot=50,
    ood_folds=2,
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    result = run_benchmark(_data(), CONFIG)
    folder = tmp_path_factory.mktemp("report")
    files = write_report(result, folder)
    return result, folder, files


def _numbers_without_ci(node, path=""):
    """Paths of every {"value": number} in the JSON whose CI is missing."""
    missing = []
    if isinstance(node, dict):
        if isinstance(node.get("value"), (int, float)) and "ci" in node and node["ci"] is None:
            missing.append(path)
        for key, child in node.items():
            missing += _numbers_without_ci(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            missing += _numbers_without_ci(child, f"{path}/{i}")
    return missing


def test_the_report_folder(report):
    _, folder, files = report
    assert {p.name for p in files.values()} == {"report.json", "report.md", "frontier.png", "per_task.png"}
    payload = json.loads((folder / "report.json").read_text())
    assert payload["synthetic"] is True and payload["config"]["seeds"] == [0, 1]
    assert set(payload["scenarios"]) == {"naive", "id", "ood"}
    assert _numbers_without_ci(payload["scenarios"]) == []
    table = payload["scenarios"]["id"]["protocols"]["fusionfactory"]["balance"]
    assert set(table["rows"]) == {
        "knn",
        "linear",
        "knn-labels",
        "carrot",
        "best_single_train",
        "per_task",
        "random",
        "oracle",
    }
    assert set(table["paired"]["knn"]) == {"vs_best_single_train", "vs_per_task"}
    assert payload["scenarios"]["naive"]["transductive"] is True
    assert all(split["counts"]["train"] == 120 for split in payload["scenarios"]["naive"]["splits"])
    assert {s["name"] for s in payload["scenarios"]["ood"]["splits"]} == {"ood-0-0", "ood-0-1", "ood-1-0", "ood-1-1"}
    skipped = {(s.get("router"), s.get("setting")): s["reason"] for s in payload["skipped"]}
    assert skipped[("broken", None)].startswith("fit failed: ValueError: n_neighbors must be a positive int")
    assert skipped[("carrot", "llm_judge")] == "CarrotRouter routes on performance only"
    assert "broken" not in table["rows"]


def test_markdown_has_the_banner_table4_and_transductive_labels(report):
    _, folder, _ = report
    text = (folder / "report.md").read_text()
    assert text.splitlines()[2] == SYNTHETIC_BANNER
    assert "| method | Performance First: Perf | Performance First: Cost | Performance First: Reward |" in text
    assert "LLM Judge: LLMScore" in text and "### Table 4 shape, fusionfactory protocol" in text
    naive = text.split("## naive", 1)[1].split("\n## ", 1)[0]
    cells = [c.strip() for line in naive.splitlines() if line.startswith("| ") for c in line.strip("|").split("|")]
    numbers = [c for c in cells if re.match(r"^[+-]?\d", c) and not c.replace(",", "").isdigit()]  # not counts
    assert numbers and all(c.endswith("(transductive)") for c in numbers)
    in_distribution = text.split("## in-distribution", 1)[1].split("\n## ", 1)[0]
    assert "(transductive)" not in in_distribution and "leakage check: passed on every split" in in_distribution
    assert re.search(r"\| \*\*knn\*\* \| [+-]\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\] [▲▼=]", in_distribution)
    assert render(read_report(folder)) == render(json.loads((folder / "report.json").read_text()))


def test_without_cost_data_nothing_is_zero_and_cost_aware_routers_are_skipped(tmp_path):
    config = BenchmarkConfig(routers=[RouterSpec("knn", "knn", {"n_neighbors": 5}), RouterSpec("carrot", "carrot")],
                             seeds=[0], scenarios=["id"], n_boot=30)  # fmt: skip
    result = run_benchmark(_data(with_cost=False, synthetic=False), config)
    write_report(result, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert SYNTHETIC_BANNER not in text
    assert "carrot: needs cost" in text.replace("router carrot", "carrot") and "column 'cost_usd'" in text
    row = next(line for line in text.splitlines() if line.startswith("| **knn** |"))
    assert "| 0.000" not in row  # never a 0
    # the columns the data cannot fill are left out of every table, and said once why, under "Skipped"
    tables = [line for line in text.splitlines() if line.startswith("| ")]
    assert tables and not [line for line in tables if "no cost data" in line or ": Cost |" in line]
    header = next(line for line in tables if line.startswith("| method |"))
    assert header.startswith("| method | Performance First: Perf | Performance First: Reward |")
    assert "Balance" not in header and "Cost First" not in header
    assert "| candidate | Perf |\n" in text  # the single candidates: no Cost column
    skipped = text.split("**Skipped**", 1)[1].split("\n## ", 1)[0]
    for line in (
        "- column Cost: no cost data (column 'cost_usd')",
        "- setting balance: no cost data (column 'cost_usd')",
    ):
        assert text.count(line) == 1 and line in skipped
    assert "No cost-accuracy frontier: no cost data." in text
    payload = json.loads((tmp_path / "report.json").read_text())
    balance = payload["scenarios"]["id"]["protocols"]["fusionbench"]["balance"]
    assert balance == {"available": False, "reason": "no cost data (column 'cost_usd')"}


def test_the_report_works_without_matplotlib_and_says_so(report, tmp_path, monkeypatch):
    result, _, _ = report

    def no_matplotlib():
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(plots_module, "pyplot", no_matplotlib)
    files = write_report(result, tmp_path)
    assert {p.name for p in files.values()} == {"report.json", "report.md"}
    assert "matplotlib is not installed" in (tmp_path / "report.md").read_text()


def test_bad_configurations_are_named():
    with pytest.raises(ValueError, match="unknown scenario"):
        run_benchmark(_data(), BenchmarkConfig(scenarios=["transfer"]))
    one_task = _data().take(range(30))  # only gsm8k
    result = run_benchmark(one_task, BenchmarkConfig(routers=[RouterSpec("knn", "knn", {"n_neighbors": 3})],
                                                     seeds=[0], scenarios=["ood"], n_boot=10))  # fmt: skip
    assert result.skipped[0]["scenario"] == "ood" and "at least two tasks" in result.skipped[0]["reason"]


def test_a_router_worse_than_the_best_single_is_explained():
    from fusionbench.fusion.report.tables import worse_lines

    worse = {"value": -0.041, "ci": [-0.065, -0.018], "verdict": "worse"}
    fine = {"value": -0.01, "ci": [-0.03, 0.01], "verdict": "n.s."}
    settings = {
        "performance_first": {
            "paired": {
                "linear": {"vs_best_single_train": {"perf": worse}},
                "knn": {"vs_best_single_train": {"perf": fine}},
            }
        },
        "balance": {"available": False, "reason": "no cost data (column 'cost_usd')"},
    }
    (line,) = worse_lines(settings)
    assert line.startswith(
        "**linear** is significantly worse than the best single candidate (chosen on train) under Performance First"
    )
    assert "-0.041 [-0.065, -0.018] ▼" in line and "over-fits" in line and "`alpha=cv` for linear" in line


def test_report_prints_aiq_beside_the_frontier_and_macro(report):
    _, folder, _ = report
    text = (folder / "report.md").read_text()
    assert "AIQ beside the frontier" in text
    from fusionbench.fusion.report.curves import aiq_rows

    aiqs = aiq_rows(json.loads((folder / "report.json").read_text())["curves"])
    assert set(aiqs) >= {"single candidates (hull)", "oracle"}
    assert aiqs["oracle"] >= aiqs["single candidates (hull)"] - 1e-9  # the oracle's hull dominates the candidates'
    assert f"| oracle | {aiqs['oracle']:.3f} |" in text
    assert "Perf, task mean (macro, 4 tasks)" in text


def test_upper_hull_keeps_only_the_convex_non_dominated_points():
    from fusionbench.metrics.routing import upper_hull

    cost = [0.0, 1.0, 2.0, 3.0, 1.5]
    acc = [0.2, 0.3, 0.8, 0.9, 0.1]  # (1, 0.3) lies under the chord (0, 0.2)-(2, 0.8); (1.5, 0.1) is dominated
    assert upper_hull(acc, cost) == [0, 2, 3]


def test_frontier_labels_every_candidate_and_keeps_the_legend_off_the_points(report, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    _, folder, _ = report
    payload = json.loads((folder / "report.json").read_text())
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    plots_module.frontier(payload, tmp_path / "f.png")
    ax = figures[0].axes[0]
    labels = {t.get_text() for t in ax.texts}
    assert {c.removesuffix("/direct") for c in CANDIDATES} <= labels
    assert payload["data"]["source"] in ax.get_title()
    renderer = figures[0].canvas.get_renderer()
    legend_box, axes_box = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1  # outside the axes: it hides no point
    assert any("upper hull" in line.get_label() for line in ax.lines)
    monkeypatch.undo()
    plt.close(figures[0])
