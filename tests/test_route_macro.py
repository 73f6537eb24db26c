"""The task-mean (macro) headline beside the query-weighted (micro) one: its value, its bootstrap stratified by task
(no replicate loses a task), its paired differences, and where it shows (evaluate, summary, report, route eval)."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.fusion import RoutingData, evaluate
from fusionbench.metrics.routing_bootstrap import difference, estimate, resample


def _values() -> tuple[dict, np.ndarray]:
    # task "big": 90 queries, system a right on all, b on none; task "small": 10 queries, a on none, b on all
    tasks = np.array(["big"] * 90 + ["small"] * 10)
    a = np.r_[np.ones(90), np.zeros(10)]
    b = 1.0 - a
    return {("a", "perf"): a, ("b", "perf"): b}, tasks


def test_macro_is_the_mean_of_task_means_and_micro_is_unchanged() -> None:
    values, tasks = _values()
    plain = resample(values, n_boot=50, seed=3)
    reps = resample(values, n_boot=50, seed=3, groups=tasks, group_columns=[("a", "perf")])
    assert estimate(reps, ("a", "perf"), 0.95)["value"] == pytest.approx(0.9)  # micro: 90 of 100
    assert estimate(reps, ("a", "perf"), 0.95, macro=True)["value"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert estimate(reps, ("b", "perf"), 0.95, macro=True)["value"] == pytest.approx(0.5)
    # the micro replicates are not moved by the macro bootstrap (its own seeded stream)
    np.testing.assert_array_equal(plain.draws, reps.draws)


def test_the_macro_bootstrap_is_stratified_by_task() -> None:
    values, tasks = _values()
    reps = resample(values, n_boot=300, seed=0, groups=tasks)
    # a per task is constant (1 on big, 0 on small): a stratified resample keeps every task's size, so each
    # replicate's macro value is exactly 0.5; an unstratified one would vary with how many small queries it drew
    np.testing.assert_allclose(reps.macro_draws[:, reps.index(("a", "perf"))], 0.5)
    assert reps.draws[:, reps.index(("a", "perf"))].std() > 0.01
    diff = difference(reps, ("a", "perf"), ("b", "perf"), 0.95, macro=True)
    assert diff["value"] == pytest.approx(0.0) and diff["ci"] == pytest.approx([0.0, 0.0])
    micro = difference(reps, ("a", "perf"), ("b", "perf"), 0.95)
    assert micro["value"] == pytest.approx(0.8) and micro["verdict"] == "better"


def test_macro_ci_varies_within_tasks_and_needs_groups() -> None:
    rng = np.random.default_rng(1)
    tasks = np.repeat(["x", "y", "z"], [200, 30, 5])
    a = (rng.random(len(tasks)) < 0.6).astype(float)
    reps = resample({("a", "perf"): a}, n_boot=400, seed=0, groups=tasks)
    entry = estimate(reps, ("a", "perf"), 0.95, macro=True)
    expected = np.mean([a[tasks == t].mean() for t in ("x", "y", "z")])
    assert entry["value"] == pytest.approx(expected)
    assert entry["ci"][0] < expected < entry["ci"][1]
    with pytest.raises(ValueError, match="groups"):
        estimate(resample({("a", "perf"): a}, n_boot=10, seed=0), ("a", "perf"), 0.95, macro=True)


def _data(n_big: int = 80, n_small: int = 20) -> RoutingData:
    tasks = ["big"] * n_big + ["small"] * n_small
    perf = np.zeros((len(tasks), 2))
    perf[:n_big, 0] = 1.0  # m0 is right on big
    perf[n_big:, 1] = 1.0  # m1 is right on small
    texts = [f"question {t} number {i}" for i, t in enumerate(tasks)]
    return RoutingData.from_arrays(perf, candidates=["m0", "m1"], tasks=tasks, texts=texts)


def test_evaluate_reports_macro_beside_micro() -> None:
    data = _data()
    train, test = data.subset(data.query_ids[::2]), data.subset(data.query_ids[1::2])
    choices = ["m1"] * test.n_queries  # always the small task's model
    ev = evaluate(choices, test, train=train, n_boot=200)
    assert ev.value("router") == pytest.approx(0.2)  # micro: 10 of 50
    macro = ev.macro_rows()
    assert macro["router"]["perf"]["value"] == pytest.approx(0.5)
    assert macro["best_single_train"]["perf"]["value"] == pytest.approx(0.5)  # m0: 1 on big, 0 on small
    assert macro["oracle"]["perf"]["value"] == pytest.approx(1.0)
    paired = ev.paired(macro=True)["router"]["vs_best_single_train"]["perf"]
    assert paired["value"] == pytest.approx(0.0)
    assert ev.paired()["router"]["vs_best_single_train"]["perf"]["verdict"] == "worse"
    payload = ev.to_dict()["macro"]
    assert payload["n_tasks"] == 2 and "stratified" in payload["method"]
    assert "task mean (macro, 2 tasks" in ev.summary()


def test_seed_average_keeps_macro() -> None:
    from fusionbench.fusion.evaluation.result import RoutingEvaluation

    data = _data()
    train, test = data.subset(data.query_ids[::2]), data.subset(data.query_ids[1::2])
    parts = [evaluate(["m0"] * test.n_queries, test, train=train, n_boot=50, seed=s) for s in (0, 1)]
    avg = RoutingEvaluation.average(parts)
    assert avg.macro_rows()["router"]["perf"]["value"] == pytest.approx(0.5)


def test_report_renders_the_macro_table(tmp_path) -> None:
    from fusionbench.fusion.report.tables import render
    from fusionbench.fusion.report.write import evaluation_report

    data = _data()
    train, test = data.subset(data.query_ids[::2]), data.subset(data.query_ids[1::2])
    ev = evaluate(["m1"] * test.n_queries, test, train=train, n_boot=100)
    text = render(evaluation_report({"performance_first": ev}, test, label="eval", seed=0))
    assert "Perf, task mean (macro, 2 tasks)" in text
    line = next(x for x in text.splitlines() if x.startswith("| **router**") and "0.500" in x)
    assert "0.200" in line  # micro beside macro on the same row


def test_benchmark_reports_per_seed_and_per_held_out_group(tmp_path) -> None:
    from fusionbench.fusion.report import BenchmarkConfig, RouterSpec, run_benchmark, write_report

    rng = np.random.default_rng(0)
    tasks = [t for t in ("gsm8k", "mmlu", "boolq", "mbpp") for _ in range(30)]
    perf = (rng.random((len(tasks), 3)) < 0.6).astype(float)
    data = RoutingData.from_arrays(
        perf, candidates=["a", "b", "c"], tasks=tasks, texts=[f"{t} question {i}" for i, t in enumerate(tasks)]
    )
    config = BenchmarkConfig(
        routers=[RouterSpec("knn", "knn", {"n_neighbors": 5})], seeds=[0, 1], scenarios=["id", "ood"],
        settings=["performance_first"], protocols=["fusionbench"], n_boot=50, ood_folds=2, features="tfidf",
    )  # fmt: skip
    result = run_benchmark(data, config).to_dict()
    first = result["scenarios"]["id"]["protocols"]["fusionbench"]["performance_first"]
    assert [item["seeds"] for item in first["per_seed"]] == [[0], [1]]
    assert set(first["per_seed"][0]["macro"]["vs_best_single_train"]) == {"knn"}
    ood = result["scenarios"]["ood"]["protocols"]["fusionbench"]["performance_first"]
    assert [item["seed"] for item in ood["by_group"]] == [0, 1]
    groups = ood["by_group"][0]["groups"]
    held = [set(g.split("+")) for g in groups]
    assert len(held) == 2 and set().union(*held) == {"gsm8k", "mmlu", "boolq", "mbpp"}
    assert sum(g["n_queries"] for g in groups.values()) == 120
    assert all("knn" in g["vs_best_single_train"] for g in groups.values())
    text = (write_report(result, tmp_path / "r")["markdown"]).read_text()
    assert "Per seed (Performance First" in text and "Per held-out group (Performance First" in text


def test_route_eval_prints_the_macro_headline(capsys) -> None:
    from fusionbench.cli.route_tables import print_evaluation

    data = _data()
    train, test = data.subset(data.query_ids[::2]), data.subset(data.query_ids[1::2])
    print_evaluation(evaluate(["m1"] * test.n_queries, test, train=train, n_boot=50))
    printed = capsys.readouterr().out
    assert "task mean (macro, 2 tasks, bootstrap stratified by task), perf:" in printed
    assert "router: 0.500" in printed
