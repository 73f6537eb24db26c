"""The router folder's typed run context (``route.json``, ``fusionbench-route-train/2``) and its side files through
:mod:`fusionbench.artifacts`: a round trip, an older folder (the CLI's argument dict, written as the code before the
typed context wrote it) still loads and evaluates the same, a newer version is refused, and every damaged side file
is one clear error naming the folder and the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fusionbench.artifacts import ArtifactFormatError
from fusionbench.cli import main
from fusionbench.errors import BadInputError
from fusionbench.fusion import experiment
from fusionbench.fusion.evaluation import Calibration
from fusionbench.fusion.evaluation.trained import RouterFolderError, RunContext
from fusionbench.fusion.report import read_report

SIDE_FILES = ("route.json", "split.json", "training_record.json", "calibration.json")


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[experiment.TrainedRouter, Path]:
    """A linear router on the embedded data (64 TF-IDF terms, a random split with validation), saved, with a
    calibration written beside it."""
    folder = tmp_path_factory.mktemp("ctx") / "linear"
    trained = experiment.train(
        None, "linear", params={"alpha": 2.0}, features="tfidf:64", split="random", split_args={"val_size": 0.1},
        out=folder,
    )  # fmt: skip
    calibration = Calibration(
        knob="lam", value=0.25, target={"cost": 1e-4}, feasible=True, validation={"accuracy": 0.6, "cost": 1e-4},
        test=None, curve={"lam": [0.0, 0.25]}, router="LinearRouter", strong="gpt-4", scale=1.0,
    )  # fmt: skip
    calibration.save(folder / "calibration.json")
    return trained, folder


def _old_layout(folder: Path) -> None:
    """Rewrite the side files as the code before the typed context wrote them (a `route train --router linear
    --set alpha=2.0 --features tfidf:64 --split-scheme random --scheme-arg val_size=0.1` folder)."""
    (folder / "route.json").write_text(json.dumps({
        "format": "fusionbench-route-train/1", "data": None, "incomplete": "error", "tasks_from": "task",
        "lenient": False, "split_scheme": "random", "scheme_args": ["val_size=0.1"], "seed": 0,
        "features": "tfidf:64", "tradeoff": "performance_first", "router": "linear", "set": ["alpha=2.0"],
        "candidates": None,
    }, indent=1) + "\n")  # fmt: skip
    record = json.loads((folder / "training_record.json").read_text())
    old_record = {k: record[k] for k in ("source", "split", "transductive", "query_ids", "text_sha256")}
    (folder / "training_record.json").write_text(json.dumps({"format": "fusionbench-training-record/1", **old_record}))
    calibration = json.loads((folder / "calibration.json").read_text())
    for key in ("format", "fusionbench_version", "created"):
        calibration.pop(key)  # calibration.json had no manifest
    (folder / "calibration.json").write_text(json.dumps(calibration, indent=1) + "\n")


def test_the_context_is_typed_versioned_and_round_trips(saved) -> None:
    trained, folder = saved
    manifest = json.loads((folder / "route.json").read_text())
    assert manifest["format"] == "fusionbench-route-train/2" and manifest["created"]
    assert manifest["fusionbench_version"] == trained.context.fusionbench_version != ""
    context = trained.context
    assert (context.router, dict(context.router_params), context.split_scheme) == ("linear", {"alpha": 2.0}, "random")
    assert dict(context.split_args) == {"val_size": 0.1} and context.features == "tfidf:64"
    assert context.training_fingerprint == trained.router.training_fingerprint_ is not None
    back = experiment.load_trained(folder)
    assert back.context == context and back.split == trained.split and back.record == trained.record
    assert back.calibration.value == 0.25 and back.calibration.knob == "lam"
    with pytest.raises(AttributeError):
        context.router = "knn"  # frozen
    formats = {name: json.loads((folder / name).read_text()) for name in SIDE_FILES}
    assert {name: m["format"] for name, m in formats.items()} == {
        "route.json": "fusionbench-route-train/2",
        "split.json": "fusionbench-split/1",
        "training_record.json": "fusionbench-training-record/1",
        "calibration.json": "fusionbench-calibration/1",
    }
    assert all("fusionbench_version" in formats[n] for n in ("training_record.json", "calibration.json"))


def test_an_older_folder_loads_as_version_1_and_evaluates_the_same(saved, tmp_path) -> None:
    trained, folder = saved
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    _old_layout(old)
    loaded = experiment.load_trained(old)
    assert loaded.context.format_version == 1
    assert dict(loaded.context.router_params) == {"alpha": 2.0} and dict(loaded.context.split_args) == {"val_size": 0.1}
    assert (loaded.context.router, loaded.context.features, loaded.context.data) == ("linear", "tfidf:64", None)
    assert loaded.calibration.value == 0.25 and loaded.record == trained.record
    loaded.calibration = None  # the test calibration's lam needs costs the embedded data lacks
    before = experiment.evaluate_trained(trained, n_boot=30, name="r").evaluations["performance_first"].rows()
    after = experiment.evaluate_trained(loaded, n_boot=30, name="r").evaluations["performance_first"].rows()
    assert after["r"]["perf"] == before["r"]["perf"]
    # a route.json without any format (the argument dict alone) reads as version 1 through the legacy hook
    payload = json.loads((old / "route.json").read_text())
    payload.pop("format")
    (old / "route.json").write_text(json.dumps(payload))
    assert experiment.load_trained(old).context.format_version == 1


def test_a_newer_or_foreign_context_is_refused_naming_the_file(saved, tmp_path) -> None:
    _, folder = saved
    newer = tmp_path / "newer"
    shutil.copytree(folder, newer)
    manifest = json.loads((newer / "route.json").read_text()) | {"format": "fusionbench-route-train/3"}
    (newer / "route.json").write_text(json.dumps(manifest))
    with pytest.raises(RouterFolderError, match="upgrade fusionbench") as refused:
        experiment.load_trained(newer)
    assert str(newer / "route.json") in str(refused.value)
    (newer / "route.json").write_text(json.dumps(manifest | {"format": "fusionbench-split/1"}))
    with pytest.raises(RouterFolderError, match="not a route-train context"):
        experiment.load_trained(newer)


@pytest.mark.parametrize("name", SIDE_FILES)
def test_a_damaged_side_file_is_one_error_naming_folder_and_file(saved, tmp_path, name) -> None:
    _, folder = saved
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    text = (broken / name).read_text()
    (broken / name).write_text(text[: len(text) // 2])  # cut
    with pytest.raises(RouterFolderError) as cut:
        experiment.load_trained(broken)
    assert isinstance(cut.value, BadInputError) and str(broken / name) in str(cut.value)
    payload = json.loads(text)
    for key in ("query_ids", "train_ids", "knob", "router"):
        payload.pop(key, None)  # a key the reader needs is missing: not a bare KeyError
    (broken / name).write_text(json.dumps(payload))
    if name == "route.json":  # every context field has a default: a missing one reads as its default
        (broken / name).write_text(json.dumps(payload | {"seed": "not a seed", "unknown": 1, "candidates": 3}))
    with pytest.raises(RouterFolderError) as missing:
        experiment.load_trained(broken)
    assert str(broken / name) in str(missing.value) and str(broken) in str(missing.value)


def test_the_cli_says_one_line_for_a_damaged_side_file(saved, tmp_path, capsys) -> None:
    _, folder = saved
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "split.json").write_text('{"format": "fusionbench-split/1", "name": "x"')
    assert main(["route", "eval", str(broken), "--n-boot", "10"]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith(f"error: {broken / 'split.json'}") and "Traceback" not in said


def test_the_report_folder_has_a_checked_manifest(tmp_path) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "report.json").write_text('{"format": "fusionbench-route-report/1", "config"')
    with pytest.raises(ArtifactFormatError, match="damaged JSON") as damaged:
        read_report(folder)
    assert str(folder / "report.json") in str(damaged.value)
    (folder / "report.json").write_text(json.dumps({"format": "fusionbench-route-report/2"}))
    with pytest.raises(ArtifactFormatError, match="upgrade fusionbench"):
        read_report(folder / "report.json")


def test_run_context_rejects_fields_of_the_wrong_shape() -> None:
    with pytest.raises(RouterFolderError, match=r"route\.json"):
        RunContext.from_manifest({"format": "fusionbench-route-train/2", "candidates": 3})
