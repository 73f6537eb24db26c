"""Bad input never corrupts or vanishes: a clear error naming file, row and column, or a counted skip."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from release_factory import release_rows, write_release

from fusionbench.build import build_export
from fusionbench.errors import BadInputError, ExportExistsError
from fusionbench.schema import RELEASE_COLUMNS


def _release_with(tmp_path: Path, row: int, **changes: str) -> Path:
    rows = release_rows("gsm8k")
    rows[row - 1].update(changes)
    return write_release(tmp_path / "release" / "train.csv", rows)


def _build_error(source: Path, tmp_path: Path) -> BadInputError:
    with pytest.raises(BadInputError) as caught:
        build_export([str(source)], tmp_path / "out")
    assert not (tmp_path / "out").exists(), "a failed build must not leave an export behind"
    assert not list(tmp_path.glob(".out.partial-*")), "a failed build must not leave its staging folder"
    return caught.value


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("task_name", "quac", "unknown task name: 'quac'"),
        ("input_tokens_num", "ten", "not a number: 'ten'"),
        ("output_tokens_num", "12.5", "not a whole number"),
        ("input_price", "$0.20", "not a number"),
        ("output_price", "free", "not a number"),
        ("cost", "1e-3x", "not a number"),
        ("performance", "{'pass@1': high}", "not a number"),
        ("performance", "{'pass@1': 1.0", "not a number"),
        ("llm_judge", "good", "not a number"),
        ("query_embedding", "tensor([0.1, oops])", "malformed embedding text"),
        ("llm", "", "empty model name"),
    ],
)
def test_bad_values_name_file_row_and_column(tmp_path: Path, column: str, value: str, message: str) -> None:
    row = 1 if column == "query_embedding" else 5
    source = _release_with(tmp_path, row, **{column: value})
    error = _build_error(source, tmp_path)
    assert (error.file, error.row, error.column) == (str(source), row, column)
    assert message in str(error) and f"row {row}" in str(error) and str(source) in str(error)


def test_lenient_mode_nulls_and_counts_bad_values(tmp_path: Path) -> None:
    source = _release_with(tmp_path, 5, input_tokens_num="ten", performance="n/a")
    result = build_export([str(source)], tmp_path / "out", lenient=True)
    assert dict(result.report.unparsed_values) == {"input_tokens_num": 1, "performance": 1}
    rows = pq.read_table(next((tmp_path / "out" / "data" / "gsm8k").glob("*.parquet"))).to_pylist()
    bad = [r for r in rows if "unparsed_value" in r["flags"]]
    assert len(bad) == 1 and bad[0]["input_tokens"] is None and bad[0]["performance"] is None
    assert (
        "unparseable values set to null | 2 (input_tokens_num: 1, performance: 1)"
        in (tmp_path / "out" / "README.md").read_text()
    )


def test_missing_values_become_null_never_zero(tmp_path: Path) -> None:
    source = _release_with(tmp_path, 3, llm_judge="", performance="", cost="nan", input_price="")
    result = build_export([str(source)], tmp_path / "out")
    rows = pq.read_table(next((result.out / "data" / "gsm8k").glob("*.parquet"))).to_pylist()
    row = next(r for r in rows if r["model"] == "qwen2.5-7b-instruct" and r["mode"] == "direct")  # data row 3
    assert (row["judge_score"], row["performance"], row["cost_usd"], row["input_price"]) == (None, None, None, None)
    assert row["output_price"] == 0.2


def test_missing_required_column(tmp_path: Path) -> None:
    columns = tuple(c for c in RELEASE_COLUMNS if c != "response")
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"), columns)
    error = _build_error(source, tmp_path)
    assert "missing required column(s) response" in str(error) and error.file == str(source)


def test_foreign_file_mixed_with_release_files(tmp_path: Path) -> None:
    write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"))
    foreign = tmp_path / "release" / "scores.csv"
    foreign.write_text("model,score\ngpt,1\n")
    error = _build_error(tmp_path / "release", tmp_path)
    assert error.file == str(foreign) and "not a release file" in str(error)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "release" / "train.csv"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    assert "empty file" in str(_build_error(empty, tmp_path))
    write_release(empty, [])
    assert "no data rows" in str(_build_error(empty, tmp_path))


def test_truncated_file(tmp_path: Path) -> None:
    rows = release_rows("gsm8k")
    source = write_release(tmp_path / "release" / "train.csv", rows)
    text = source.read_bytes()
    source.write_bytes(text[: len(text) // 2])  # cut inside a row (and inside a quoted prompt)
    rows_complete = sum(
        len(write_release(tmp_path / "n" / "t.csv", rows[:n]).read_bytes()) <= len(text) // 2 for n in range(1, 41)
    )
    error = _build_error(source, tmp_path)
    assert error.file == str(source) and error.row == rows_complete + 1 and "looks cut short" in str(error)


def test_non_utf8_file(tmp_path: Path) -> None:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"))
    source.write_bytes(source.read_bytes().replace(b"from gemma-7b (direct)", b"from gemma-7b \xff\xfe (direct)"))
    error = _build_error(source, tmp_path)
    assert error.file == str(source) and "not valid UTF-8" in str(error)
    assert (error.row, error.column) == (5, "response")  # gemma-7b is the third model: direct row 5


def test_existing_output_is_refused_unless_overwrite_and_an_export(tmp_path: Path) -> None:
    """An existing export needs --overwrite; a folder that is not an export, or a file, is never replaced."""
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"))
    out = tmp_path / "out"
    build_export([str(source)], out)
    with pytest.raises(ExportExistsError, match="--overwrite"):
        build_export([str(source)], out)
    build_export([str(source)], out, overwrite=True)
    assert (out / "README.md").is_file()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    with pytest.raises(ExportExistsError, match="not a fusionbench export"):
        build_export([str(source)], mine, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["keep.txt"] and (mine / "keep.txt").read_text() == "mine"

    a_file = tmp_path / "notes.txt"
    a_file.write_text("my notes")
    with pytest.raises(ExportExistsError, match="not a folder"):
        build_export([str(source)], a_file, overwrite=True)
    assert a_file.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "mine", "notes.txt", "out", "release"]


def test_failed_overwrite_keeps_the_previous_export(tmp_path: Path) -> None:
    good = write_release(tmp_path / "good" / "train.csv", release_rows("gsm8k"))
    out = tmp_path / "out"
    build_export([str(good)], out)
    before = {p.name: p.read_bytes() for p in out.rglob("*.parquet")}
    bad_rows = release_rows("math")
    bad_rows[30]["cost"] = "lots"
    bad = write_release(tmp_path / "bad" / "train.csv", bad_rows)
    with pytest.raises(BadInputError, match="row 31"):
        build_export([str(good), str(bad)], out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.rglob("*.parquet")} == before
    assert [p.name for p in tmp_path.glob(".out.*")] == [".out.lock"]  # no staging or swapped-out copy left
