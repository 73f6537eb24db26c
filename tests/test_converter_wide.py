"""The generic wide converter: naming convention and options, one file per split or a split column, a train and a
test file per task, range checks naming file/row/column, lenient counting, binarised scores, dedupe."""

from __future__ import annotations

import numpy as np
import pytest

from fusionbench.errors import BadInputError
from fusionbench.fusion.converters import from_external
from fusionbench.fusion.converters.wide import convert

HEADER = "text,task,split,score:m1,score:m2,cost:m1,cost:m2\n"


def _write(path, body: str, header: str = HEADER):
    path.write_text(header + body, encoding="utf-8")
    return path


def test_one_file_with_a_split_column(tmp_path) -> None:
    file = _write(
        tmp_path / "rows.csv", "q one,math,train,1,0,0.1,0.2\nq two,math,test,0,1,0.1,0.2\nq three,qa,test,1,1,,\n"
    )
    data = from_external("wide", file)
    assert data.candidates == ("m1/direct", "m2/direct")
    assert data.splits.tolist() == ["train", "test", "test"]
    np.testing.assert_array_equal(data.performance, [[1, 0], [0, 1], [1, 1]])
    assert np.isnan(data.cost[2]).all() and data.cost[0].tolist() == [0.1, 0.2]  # a missing cost is NaN, never 0
    assert data.tasks.tolist() == ["math", "math", "qa"]


def test_registered_for_data_wide(tmp_path) -> None:
    from fusionbench.fusion.evaluation.inputs import load_data

    file = _write(tmp_path / "rows.csv", "q one,math,train,1,0,0.1,0.2\nq two,math,test,0,1,0.1,0.2\n")
    data = load_data(f"wide={file}")
    assert data.n_queries == 2 and data.source.startswith("wide:")


def test_a_train_and_a_test_file_per_task(tmp_path) -> None:
    header = "text,score:a,score:b\n"
    _write(tmp_path / "gsm8k_train.csv", "g1,1,0\ng2,0,1\n", header)
    _write(tmp_path / "gsm8k_test.csv", "g3,1,1\n", header)
    _write(tmp_path / "mmlu_train.jsonl", "", "")
    (tmp_path / "mmlu_train.jsonl").write_text('{"text": "m1", "score:a": 0.0, "score:b": 1.0}\n', encoding="utf-8")
    _write(tmp_path / "mmlu_test.csv", "m2,1,0\n", header)
    data = convert(tmp_path)
    rows = sorted(zip(data.tasks.tolist(), data.splits.tolist(), data.texts.tolist(), strict=True))
    assert rows == [("gsm8k", "test", "g3"), ("gsm8k", "train", "g1"), ("gsm8k", "train", "g2"),
                    ("mmlu", "test", "m2"), ("mmlu", "train", "m1")]  # fmt: skip
    mapped = convert({"train": [tmp_path / "gsm8k_train.csv"], "test": tmp_path / "gsm8k_test.csv"})
    assert mapped.splits.tolist() == ["train", "train", "test"]


def test_options_map_other_column_names(tmp_path) -> None:
    file = _write(tmp_path / "x.csv", "a?,t,1,0\nb?,t,0,1\n", "question,domain_task,gpt,llama\n")
    data = convert(file, text_column="question", task_column="domain_task", models=["gpt", "llama"], score_prefix="")
    assert data.texts.tolist() == ["a?", "b?"] and data.candidates == ("gpt/direct", "llama/direct")


def test_bad_values_name_file_row_and_column(tmp_path) -> None:
    file = _write(tmp_path / "bad.csv", "q one,math,test,1,0,0.1,0.2\nq two,math,test,1.5,1,0.1,0.2\n")
    with pytest.raises(BadInputError) as caught:
        convert(file)
    message = str(caught.value)
    assert "bad.csv" in message and "score:m1" in message and "2" in message
    lenient = convert(file, lenient=True, incomplete="drop_queries")
    assert lenient.n_queries == 1
    assert lenient.provenance["skipped"]["invalid_values"] == {"score:m1": 1}
    with pytest.raises(BadInputError, match="no text column"):
        convert(_write(tmp_path / "t.csv", "1,0\n", "score:a,score:b\n"))
    with pytest.raises(BadInputError, match="split 'holdout'"):
        convert(_write(tmp_path / "s.csv", "q,math,holdout,1,0,0,0\n"))


def test_binarize_a_probability_score(tmp_path) -> None:
    file = _write(tmp_path / "p.csv", "q one,math,test,0.0,0.3,0,0\nq two,math,test,0.9,0.0,0,0\n")
    data = convert(file, binarize=0.0)
    np.testing.assert_array_equal(data.performance, [[0, 1], [1, 0]])
    half = convert(file, binarize=0.5)
    np.testing.assert_array_equal(half.performance, [[0, 0], [1, 0]])
    assert half.provenance["binarized"]["threshold"] == 0.5


def test_dedupe_within_a_split_is_counted(tmp_path) -> None:
    body = "Same  question,math,train,1,0,0,0\nsame question,math,train,0,1,0,0\nsame question,math,test,1,1,0,0\n"
    file = _write(tmp_path / "d.csv", body)
    with pytest.raises(ValueError, match="dedupe='first'"):
        convert(file)
    data = convert(file, dedupe="first")
    assert data.n_queries == 2 and data.splits.tolist() == ["train", "test"]
    assert data.provenance["skipped"]["duplicate_texts"] == {"train": 1}
    np.testing.assert_array_equal(data.performance[0], [1, 0])  # the first kept
