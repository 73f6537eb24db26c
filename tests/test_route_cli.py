"""``fusionbench route`` end to end: train, eval, predict, calibrate, benchmark, report on the embedded real data,
the synthetic sample and a converted public dataset; every bad input a clear one-line error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fusionbench.cli import main
from fusionbench.fusion.evaluation.inputs import load_data
from fusionbench.fusion.report.tables import SYNTHETIC_BANNER


def _err(capsys: pytest.CaptureFixture) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def knn_dir(tmp_path_factory) -> Path:
    """A kNN router trained on the embedded LLMRouter data (release split, TF-IDF with 512 terms)."""
    folder = tmp_path_factory.mktemp("routers") / "knn"
    assert main(["route", "train", "--router", "knn", "--set", "n_neighbors=20", "--features", "tfidf:512",
                 "--out", str(folder), "--quiet"]) == 0  # fmt: skip
    return folder


def test_train_eval_predict_on_the_embedded_real_data(knn_dir, tmp_path, capsys):
    names = {p.name for p in knn_dir.iterdir()}
    assert {"config.json", "state.npz", "featurizer", "route.json", "split.json", "training_record.json"} <= names
    assert main(["route", "eval", str(knn_dir), "--n-boot", "200", "--json", str(tmp_path / "eval.json")]) == 0
    printed = capsys.readouterr().out
    assert "381 queries" in printed and "no cost data (column 'cost_usd')" in printed
    payload = json.loads((tmp_path / "eval.json").read_text())
    result = payload["evaluations"]["performance_first"]
    assert result["leakage"][0]["n_leaked"] == 0 and result["n_queries"] == 381
    assert set(result["rows"]) == {"knn", "best_single_train", "per_task", "random", "oracle"}
    assert result["rows"]["knn"]["perf"]["ci"] is not None and "cost" not in result["rows"]["knn"]
    choices = tmp_path / "choices.parquet"
    assert main(["route", "predict", str(knn_dir), "--out", str(choices)]) == 0
    table = pq.read_table(choices)
    assert table.num_rows == 381 and table.column_names == ["query_id", "task", "candidate", "utility"]
    assert (
        main(["route", "eval", "--choices", str(choices), "--n-boot", "200", "--json", str(tmp_path / "c.json")]) == 0
    )
    again = json.loads((tmp_path / "c.json").read_text())["evaluations"]["performance_first"]["rows"]
    assert again["choices"]["perf"]["value"] == pytest.approx(result["rows"]["knn"]["perf"]["value"])


def test_bad_input_is_one_clear_line(knn_dir, tmp_path, capsys):
    train = ["route", "train", "--features", "tfidf:64", "--quiet"]
    assert main([*train, "--router", "nope", "--out", str(tmp_path / "x")]) == 1
    assert "unknown router 'nope'" in _err(capsys)
    assert main([*train, "--router", "carrot", "--out", str(tmp_path / "x")]) == 1
    assert "CarrotRouter needs costs" in _err(capsys)
    assert main([*train, "--router", "knn", "--tradeoff", "balance", "--out", str(tmp_path / "x")]) == 1
    assert "trade-off 'balance' needs costs" in _err(capsys)
    assert main([*train, "--router", "knn", "--split-scheme", "naive", "--out", str(tmp_path / "x")]) == 1
    assert "only for `fusionbench route benchmark --scenario naive`" in _err(capsys)
    assert main([*train, "--router", "knn", "--split-scheme", "task_ood", "--out", str(tmp_path / "x")]) == 1
    assert "give exactly one of holdout_tasks or domain" in _err(capsys)
    with pytest.raises(SystemExit):
        main([*train, "--router", "knn", "--split-scheme", "shuffled", "--out", str(tmp_path / "x")])
    assert main(["route", "eval", str(knn_dir), "--split-scheme", "naive"]) == 1
    assert "naive split (train = test)" in _err(capsys)
    assert main(["route", "calibrate", str(knn_dir), "--target-accuracy", "0.5"]) == 1
    assert "has no val queries (train with --scheme-arg val_size=0.1;" in _err(capsys)
    assert main(["route", "eval", str(knn_dir), "--setting", "balance"]) == 1
    assert "no cost data (column 'cost_usd')" in _err(capsys)
    other = tmp_path / "other"
    assert main([*train, "--router", "linear", "--out", str(other)]) == 0
    swapped = tmp_path / "swapped"
    shutil.copytree(knn_dir, swapped)
    shutil.rmtree(swapped / "featurizer")
    shutil.copytree(other / "featurizer", swapped / "featurizer")  # a 64-term vocabulary for a 512-term router
    assert main(["route", "eval", str(swapped)]) == 1
    message = _err(capsys)
    assert "gives 64 features, but" in message and "trained on 512" in message


def test_the_synthetic_sample_calibrate_benchmark_and_report(sample_export, tmp_path, capsys):
    data = ["--data", str(sample_export)]
    folder = tmp_path / "knn"
    assert (
        main(["route", "train", "--router", "knn", "--set", "n_neighbors=3", "--out", str(folder), "--quiet", *data])
        == 1
    )
    assert "--incomplete drop_queries" in _err(capsys)  # the sample has incomplete queries: the user chooses
    split = ["--split-scheme", "random", "--scheme-arg", "stratify=None", "--scheme-arg", "val_size=0.3"]
    train = ["route", "train", "--router", "knn", "--set", "n_neighbors=3", "--features", "embedding", "--quiet"]
    assert main([*train, "--out", str(folder), *data, "--incomplete", "drop_queries", *split]) == 0
    assert "synthetic" in _err(capsys).lower()
    assert main(["route", "calibrate", str(folder), "--target-cost", "5e-5"]) == 0
    calibration = json.loads((folder / "calibration.json").read_text())
    assert calibration["knob"] == "lam" and calibration["test"]["cost"] is not None
    assert main(["route", "predict", str(folder), "--out", str(tmp_path / "c.parquet")]) == 0
    assert "calibrated lam" in _err(capsys)
    report = tmp_path / "report"
    # no --incomplete: a benchmark drops the sample's incomplete queries, counts them and lists them under "Skipped"
    bench = ["route", "benchmark", *data, "--routers", "knn,knn-labels=knn,pt=per_task,per_task",
             "--set", "knn.n_neighbors=3", "--set", "knn-labels.target=labels", "--set", "pt.task_source=classifier",
             "--settings", "all", "--seeds", "0", "--scenarios", "naive,id", "--n-boot", "20",
             "--report", str(report), "--quiet"]  # fmt: skip
    assert main(bench) == 0
    text = (report / "report.md").read_text()
    assert SYNTHETIC_BANNER in text and "**knn-labels**" in text and "every number is transductive" in text
    saved = json.loads((report / "report.json").read_text())
    assert saved["config"]["settings"] == ["performance_first", "balance", "cost_first", "llm_judge"]
    dropped = saved["data"]["provenance"]["skipped"]["queries_incomplete"]
    skipped = text.split("**Skipped**", 1)[1].split("\n## ", 1)[0]
    assert f"- queries {dropped}: incomplete (a missing cell): dropped" in skipped and dropped > 0
    assert "- router per_task: a baseline: the row 'per_task' of every table" in skipped
    assert "**pt**" in text  # the classifier variant of per_task is benchmarked, not dropped
    assert main(["route", "train", *data, "--router", "knn", "--out", str(tmp_path / "y"), "--quiet"]) == 1
    assert "--incomplete drop_queries" in _err(capsys)  # route train keeps the explicit choice
    assert main(["route", "report", str(report / "report.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.md").read_text() == text
    assert main(["route", "benchmark", *data, "--incomplete", "drop_queries", "--routers", "knn", "--set",
                 "mf.alpha=1", "--report", str(report)]) == 1  # fmt: skip
    assert "--set names routers that are not benchmarked: ['mf']" in _err(capsys)


def test_a_converted_public_dataset(shared_data, tmp_path):
    gsm8k = f"routellm-gsm8k={shared_data / 'routing' / 'routellm'}"
    folder = tmp_path / "linear"
    assert main(["route", "train", "--data", gsm8k, "--router", "linear", "--features", "tfidf:256",
                 "--out", str(folder), "--quiet"]) == 0  # fmt: skip
    assert main(["route", "eval", str(folder), "--n-boot", "100", "--json", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())["evaluations"]["performance_first"]
    assert result["data"]["source"] == "routellm:gsm8k" and result["n_queries"] == 261  # round(0.2 x 1,307)


def test_a_hub_id_downloads_an_export(sample_export, monkeypatch):
    """The Hub cannot be reached here: snapshot_download is replaced by a function returning a local export."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id: str, repo_type: str) -> str:
        calls.append((repo_id, repo_type))
        return str(sample_export)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    data = load_data("someone/fusionbench-export", incomplete="drop_queries")
    assert calls == [("someone/fusionbench-export", "dataset")] and data.synthetic and data.n_queries > 0
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_data("./not/here")
    with pytest.raises(ValueError, match="unknown data kind 'routerbenchh'"):
        load_data("routerbenchh=/tmp")
