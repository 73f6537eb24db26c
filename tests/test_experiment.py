"""The Python twins of the ``fusionbench route`` verbs (:mod:`fusionbench.fusion.experiment`), end to end on the
embedded real data and the synthetic sample: train, predict, calibrate, evaluate (a router and choices), benchmark
(incomplete queries dropped and counted, ``settings="all"``, nothing configured left out in silence) and report."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from fusionbench.artifacts import read_manifest
from fusionbench.cli import parser
from fusionbench.fusion import experiment
from fusionbench.fusion.evaluation import SETTINGS
from fusionbench.fusion.experiment.runs import EVAL_ARTIFACT
from fusionbench.fusion.report import RouterSpec

README = Path(__file__).parents[1] / "src" / "fusionbench" / "fusion" / "README.md"


@pytest.fixture(scope="module")
def knn(tmp_path_factory) -> experiment.TrainedRouter:
    folder = tmp_path_factory.mktemp("exp") / "knn"
    return experiment.train(None, "knn", params={"n_neighbors": 20}, features="tfidf:128", split="random", out=folder)


def test_train_predict_evaluate_report_on_the_embedded_data(knn, tmp_path) -> None:
    assert knn.folder is not None and (knn.folder / "route.json").is_file()
    test_ids = set(knn.split.test_ids)
    table = experiment.predict(knn.folder, out=tmp_path / "choices.parquet")
    assert table.num_rows == len(test_ids) and set(table["query_id"].to_pylist()) == test_ids
    assert (tmp_path / "choices.parquet").is_file()
    run = experiment.evaluate_trained(knn.folder, setting="all", n_boot=50)
    assert list(run.evaluations) == ["performance_first"]  # "all": every setting the data (no cost, no judge) allows
    rows = run.evaluations["performance_first"].rows()
    assert {"knn", "best_single_train", "per_task", "random", "oracle"} <= set(rows)
    assert run.evaluations["performance_first"].leakage[0]["n_leaked"] == 0
    same = experiment.evaluate_trained(knn, n_boot=50, name="knn").evaluations["performance_first"].rows()
    assert same["knn"]["perf"] == rows["knn"]["perf"]  # in memory or from its folder: the same numbers
    choices = dict(zip(table["query_id"].to_pylist(), table["candidate"].to_pylist(), strict=True))
    fixed = experiment.evaluate_choices(choices, split=knn.split, n_boot=50, name="picked")
    assert fixed.evaluations["performance_first"].rows()["picked"]["perf"]["value"] == pytest.approx(
        rows["knn"]["perf"]["value"]
    )
    payload = run.to_dict()
    assert payload["format"] == "fusionbench-route-eval/1" and payload["split"] == "test"
    saved = read_manifest(run.save_json(tmp_path / "eval.json"), EVAL_ARTIFACT)  # the --json file's format checked
    assert saved["fusionbench_version"] and saved["evaluations"]["performance_first"]["n_queries"] == len(test_ids)
    files = run.write_report(tmp_path / "report")
    again = experiment.report(tmp_path / "report" / "report.json", tmp_path / "again")
    assert again["markdown"].read_text() == files["markdown"].read_text()


def test_train_refuses_what_the_cli_refuses() -> None:
    with pytest.raises(ValueError, match="only for `fusionbench route benchmark --scenario naive`"):
        experiment.train(None, "knn", split="naive", features="tfidf:16")
    with pytest.raises(ValueError, match="CarrotRouter needs costs"):
        experiment.train(None, "carrot", features="tfidf:16")


def test_calibrate_on_the_sample_is_kept_with_the_router(sample_export, tmp_path) -> None:
    folder = tmp_path / "knn"
    trained = experiment.train(
        str(sample_export), "knn", params={"n_neighbors": 3}, features="embedding", split="random",
        split_args={"stratify": None, "val_size": 0.3}, incomplete="drop_queries", out=folder,
    )  # fmt: skip
    assert trained.context.incomplete == "drop_queries" and trained.context.data == str(sample_export)
    calibration = experiment.calibrate(folder, target_cost=5e-5)
    assert calibration.knob == "lam" and calibration.test["cost"] is not None
    loaded = experiment.load_trained(folder)
    assert loaded.calibration.value == calibration.value
    table = experiment.predict(loaded)  # the calibrated choices
    assert table.num_rows == len(loaded.split.test_ids)


def test_benchmark_drops_incomplete_queries_and_lists_everything_it_skips(sample_export, tmp_path) -> None:
    routers = [
        "knn",
        RouterSpec("pt", "per_task", {"task_source": "classifier"}),  # a variant of a baseline: benchmarked
        "per_task",  # the baseline itself: a row of every table, said so
        RouterSpec("bad", "knn", {"n_neighbours": 3}),  # misspelt parameter: cannot be built
    ]
    result = experiment.benchmark(
        str(sample_export), routers, settings="all", scenarios=["id"], seeds=[0], n_boot=20,
        report_folder=tmp_path / "report",
    )  # fmt: skip
    assert list(result.config.settings) == list(SETTINGS)
    dropped = result.data["provenance"]["skipped"]["queries_incomplete"]
    skipped = {(item.get("router"), item.get("queries"), item["reason"].split(":")[0]) for item in result.skipped}
    assert (None, dropped, "incomplete (a missing cell)") in skipped and dropped > 0
    assert ("per_task", None, "a baseline") in skipped and ("bad", None, "cannot build 'knn'") in skipped
    rows = result.evaluations["id"]["fusionbench"]["performance_first"].rows()
    assert "pt" in rows and "knn" in rows and "bad" not in rows
    text = (tmp_path / "report" / "report.md").read_text()
    skipped_section = text.split("**Skipped**", 1)[1].split("\n## ", 1)[0]
    assert f"queries {dropped}: incomplete" in skipped_section
    assert "router per_task: a baseline" in skipped_section and "router bad: cannot build" in skipped_section


def test_every_route_verb_has_a_documented_python_twin() -> None:
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    route = next(a for a in commands.choices["route"]._actions if isinstance(a, argparse._SubParsersAction))
    section = README.read_text(encoding="utf-8").split("## Python twins of the route verbs", 1)[1].split("\n## ", 1)[0]
    twins = dict(re.findall(r"^\| `route (\w+)[^`]*` \| `experiment\.(\w+)\(", section, flags=re.M))
    assert set(twins) == set(route.choices), twins
    for function in twins.values():
        assert callable(getattr(experiment, function)) and getattr(experiment, function).__doc__
