"""The corrected scores flow: build -> rescore --write -> accuracy, info and the routing metric on
``rescored_performance``, end to end with the real CLI, datasets and evaluate."""

from __future__ import annotations

import shutil
from pathlib import Path

import evaluate
import numpy as np
import pytest
from datasets import load_dataset

from fusionbench.cli import main
from fusionbench.fusion import RoutingData
from fusionbench.metrics import accuracy_summary, matrices_from_rows, oracle_choices, path
from fusionbench.schema import score_column


@pytest.fixture(scope="module")
def rescored(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = Path(shutil.copytree(sample_export, tmp_path_factory.mktemp("rescored") / "fusionbench"))
    assert main(["rescore", str(export), "--write", "--tasks", "arc_challenge,gsm8k", "--quiet"]) == 0
    return export


def test_routing_on_the_rescored_column(rescored: Path) -> None:
    rows = load_dataset(str(rescored), "arc_challenge", split="train")
    released = matrices_from_rows(rows)
    ours = matrices_from_rows(rows, score_column="rescored_performance")
    assert released.candidates == ours.candidates and released.query_ids == ours.query_ids
    # the sample's digit-labelled ARC item: the release scored its right answers 0, we score them 1
    assert ours.performance.sum() > released.performance.sum()
    expected = np.array(rows["rescored_performance"], dtype=float)
    assert np.nansum(ours.performance) == pytest.approx(np.nansum(expected))

    routing = evaluate.load(path("fusionbench_routing"))
    choices = [ours.candidates[i] for i in oracle_choices(ours.performance, ours.cost)]
    on_ours = routing.compute(predictions=choices, references=ours.query_ids, rows=rows,
                              score_column="rescored_performance", n_boot=0)  # fmt: skip
    on_released = routing.compute(predictions=choices, references=ours.query_ids, rows=rows, n_boot=0)
    assert on_ours["router_accuracy"] == pytest.approx(ours.performance.max(axis=1).mean())
    assert on_ours["router_accuracy"] > on_released["router_accuracy"]

    with pytest.raises(ValueError, match=r"no column 'rescored_performance' in the shards of .*boolq"):
        RoutingData.from_export(rescored, split="train", score_column="rescored_performance")
    data = RoutingData.from_export(rescored, split="train", score_column="rescored_performance",
                                   tasks=["arc_challenge", "gsm8k"], incomplete="drop_queries")  # fmt: skip
    arc = np.array(data.tasks) == "arc_challenge"
    assert np.nansum(data.performance[arc]) == pytest.approx(np.nansum(ours.performance))


def test_accuracy_and_info_on_either_score(rescored: Path, capsys: pytest.CaptureFixture) -> None:
    rows = load_dataset(str(rescored), "arc_challenge", split="train")
    by_score = {name: accuracy_summary(rows[score_column(name)], rows["task"], rows["mode"])
                for name in ("released", "rescored")}  # fmt: skip
    assert by_score["released"]["n"] == by_score["rescored"]["n"] == rows.num_rows
    assert by_score["rescored"]["accuracy"] > by_score["released"]["accuracy"]  # the digit-labelled item

    assert main(["info", str(rescored)]) == 0  # both scores, since the export has both
    printed = " ".join(capsys.readouterr().out.split())
    assert "acc direct" in printed and "rescored direct" in printed
    assert main(["info", str(rescored), "--score", "rescored"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "rescored direct" in printed and "acc direct" not in printed
    with pytest.raises(SystemExit):  # argparse refuses an unknown score, naming the choices
        main(["info", str(rescored), "--score", "nonsense"])
    assert "choose from" in capsys.readouterr().err
