"""A ``generate`` run on a tiny set's anchors, end to end through the command line on the offline random Llama:
``tiny build`` -> ``generate --tiny`` (only the anchors, the set recorded in run.json) -> ``estimate`` (the recorded
set) -> ``ingest`` (rows marked ``tiny:<set>:...``, the card's row says not a full evaluation) -> ``info`` (says how
many rows are anchors, of which set)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_tiny import _simulated
from tiny_model import build_tiny_llama

from fusionbench.cli import main
from fusionbench.export.folder import response_shards
from fusionbench.fusion.tiny import build_tiny, load_tiny
from fusionbench.generation.store import read_manifest, read_run

NAME = "tiny-llama"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny-llama")


@pytest.fixture(scope="module")
def tiny_dir(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "tiny-sample"
    assert main(["tiny", "build", "--data", str(sample_export), "--total", "4", "--incomplete", "drop_queries",
                 "--out", str(out)]) == 0  # fmt: skip
    return out


def _generate(llama: Path, sample_export: Path, out: Path, *extra: str) -> int:
    return main(["generate", "--model", str(llama), "--name", NAME, "--engine", "hf", "--out", str(out),
                 "--export", str(sample_export), "--modes", "direct", "--max-new-tokens", "4", "--batch-size", "4",
                 "--quiet", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def run(llama: Path, sample_export: Path, tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "anchors-run"
    with pytest.warns(UserWarning, match="cost_usd left null"):
        assert _generate(llama, sample_export, out, "--tiny", str(tiny_dir)) == 0
    return out


def test_generate_tiny_runs_exactly_the_anchors_and_records_the_set(run: Path, tiny_dir: Path) -> None:
    tiny = load_tiny(tiny_dir)
    rows = read_run(run)
    assert sorted(rows["query_id"].to_pylist()) == sorted(tiny.query_ids)  # the anchors, no other query
    assert set(rows["split"].to_pylist()) == {"train"} and set(rows["mode"].to_pylist()) == {"direct"}
    recorded = read_manifest(run)
    assert recorded["tiny"]["name"] == "tiny-sample" and recorded["tiny"]["anchors"] == 4
    assert recorded["tiny"]["path"] == str(tiny_dir.resolve()) and recorded["settings"]["split"] == "train"
    assert recorded["settings"]["tiny"] == f"tiny-sample@{recorded['tiny']['fingerprint']}"


def test_estimate_reads_the_recorded_tiny_set(run: Path, tiny_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "estimate.json"
    assert main(["estimate", str(run), "--json", str(out), "--n-boot", "10"]) == 0  # no --tiny: run.json names it
    result = json.loads(out.read_text())["estimates"][f"{NAME}/direct"]
    rows = read_run(run)
    scores = dict(zip(rows["query_id"].to_pylist(), rows["performance"].to_pylist(), strict=True))
    expected = load_tiny(tiny_dir).estimate(scores, n_boot=10)
    assert result["n_answered"] == 4 and result["overall"] == pytest.approx(expected.overall)


def test_ingest_marks_the_rows_as_anchors_and_info_says_so(
    run: Path, sample_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    export = tmp_path / "fusionbench"
    shutil.copytree(sample_export, export)
    assert main(["info", str(export)]) == 0
    assert "tiny anchors" not in capsys.readouterr().out  # the release's rows are no anchors
    assert main(["ingest", str(run), "--into", str(export)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "these rows are the anchors of tiny:tiny-sample" in err and "not a full evaluation" in err
    sources = [
        source
        for shard in response_shards(export)
        for source, model in zip(*pq.read_table(shard, columns=["source", "model"]).to_pydict().values(), strict=True)
        if model == NAME
    ]
    assert len(sources) == 4 and all(s.startswith("tiny:tiny-sample:generate:anchors-run/") for s in sources)
    card = (export / "README.md").read_text()
    assert "(anchors of the tiny set `tiny-sample`: not a full evaluation)" in card
    total = sum(pq.read_metadata(shard).num_rows for shard in response_shards(export))
    assert main(["info", str(export), "--by", "model"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert f"tiny anchors: 4 of the {total:,} rows are anchors of the tiny set tiny-sample ({NAME}/direct 4): not a " \
           "full evaluation" in printed  # fmt: skip


def test_generate_tiny_refuses_another_split_and_anchors_of_other_data(
    llama: Path, sample_export: Path, tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _generate(llama, sample_export, tmp_path / "a", "--tiny", str(tiny_dir), "--split", "test") == 1
    assert "are train queries, not 'test': drop --split or pass --split train" in " ".join(
        capsys.readouterr().err.split()
    )
    other = build_tiny(_simulated(), total=3, method="stratified").save(tmp_path / "simulated-tiny")
    assert _generate(llama, sample_export, tmp_path / "b", "--tiny", str(other), "--split", "train") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "3 of the 3 anchors of the tiny set" in err and "are not among the train queries of" in err
    assert "pass the --export the tiny set was built from" in err
    assert not list((tmp_path / "b").glob("shard-*.parquet"))
