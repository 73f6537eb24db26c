"""Errors name the true file, data row and line; cut files, CRLF files and very large cells are read right.

The expected rows and lines are found independently of the reader: a file of the rows before the planted one
is written on its own, and its length and line count say where the planted row starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from release_factory import release_rows, typed, write_json_lines, write_release

from fusionbench.build import build_export, sources
from fusionbench.errors import BadInputError

TASKS_600 = ("gsm8k", "boolq", "math", "mbpp", "arc_challenge") * 3  # 15 queries x 40 rows = 600 data rows


def _error(source: Path, tmp_path: Path, **options) -> BadInputError:
    with pytest.raises(BadInputError) as caught:
        build_export([str(source)], tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()
    return caught.value


def _start_of_row(tmp_path: Path, rows: list[dict], row: int) -> tuple[int, int]:
    """(byte offset, line) at which data row ``row`` starts in ``write_release(rows)``."""
    before = write_release(tmp_path / "before" / "train.csv", rows[: row - 1]).read_bytes()
    return len(before), before.count(b"\n") + 1


@pytest.fixture
def rows_600() -> list[dict]:
    return [row for task in TASKS_600 for row in release_rows(task)]


@pytest.fixture(params=[sources.BLOCK_BYTES, 1 << 16], ids=["one-block", "many-blocks"])
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Read with the normal block, and with blocks small enough that the bad row is far from the first one."""
    monkeypatch.setattr(sources, "BLOCK_BYTES", request.param)
    return request.param


def test_invalid_utf8_names_its_row_line_and_column(tmp_path: Path, rows_600: list[dict], block: int) -> None:
    source = write_release(tmp_path / "release" / "train.csv", rows_600)
    start, line = _start_of_row(tmp_path, rows_600, 560)
    data = source.read_bytes()
    at = data.index(b"The answer is", start)  # inside the response cell of data row 560
    source.write_bytes(data[:at] + b"\xff\xfe" + data[at:])
    error = _error(source, tmp_path)
    assert (error.file, error.row, error.column) == (str(source), 560, "response")
    assert f"not valid UTF-8 text (line {line})" in str(error)


def test_truncated_file_names_the_cut_row(tmp_path: Path, rows_600: list[dict], block: int) -> None:
    source = write_release(tmp_path / "release" / "train.csv", rows_600)
    start, line = _start_of_row(tmp_path, rows_600, 560)
    source.write_bytes(source.read_bytes()[: start + 300])  # cut inside the quoted prompt of data row 560
    error = _error(source, tmp_path)
    assert (error.file, error.row) == (str(source), 560)
    assert "looks cut short" in str(error) and f"(line {line})" in str(error)


def test_record_with_a_field_missing_names_its_row(tmp_path: Path, rows_600: list[dict], block: int) -> None:
    source = write_release(tmp_path / "release" / "train.csv", rows_600)
    start, line = _start_of_row(tmp_path, rows_600, 433)
    data = source.read_bytes()
    cut = data.index(b",10,20,", start)  # the token counts of data row 433
    source.write_bytes(data[:cut] + data[cut + 3 :])  # ",10,20," -> ",20,": one field fewer
    error = _error(source, tmp_path)
    assert error.row == 433 and "17 fields where the header has 18" in str(error) and f"(line {line})" in str(error)


def test_file_cut_inside_its_last_field(tmp_path: Path) -> None:
    """`0.8` -> `0.` still parses as a number: the missing line end at the end of the file gives the cut away."""
    rows = release_rows("gsm8k")
    source = write_release(tmp_path / "release" / "train.csv", rows)
    data = source.read_bytes()
    assert data.endswith(b",0.8\n")
    source.write_bytes(data[:-2])
    _, line = _start_of_row(tmp_path, rows, 40)
    error = _error(source, tmp_path)
    assert (error.file, error.row) == (str(source), 40)
    assert "ends inside its last record, without a line break" in str(error) and f"(line {line})" in str(error)
    error = _error(source, tmp_path, lenient=True)  # not a bad value: the file is incomplete
    assert error.row == 40


def test_broken_json_line_names_one_row_and_its_line(tmp_path: Path) -> None:
    source = write_json_lines(tmp_path / "train.jsonl", [typed(r) for r in release_rows("gsm8k")])
    lines = source.read_text().splitlines(keepends=True)
    lines[12] = lines[12][: len(lines[12]) // 2] + "\n"
    lines.insert(1, "\n")  # a blank line: data row 13 is on line 14
    source.write_text("".join(lines))
    error = _error(source, tmp_path)
    assert (error.file, error.row) == (str(source), 13)
    assert "not a JSON line" in str(error) and "(line 14)" in str(error)
    assert " in row " not in str(error) and "line 1 column" not in str(error)  # no contradictory positions


def test_invalid_utf8_in_json_lines_names_its_line(tmp_path: Path) -> None:
    source = write_json_lines(tmp_path / "train.jsonl", [typed(r) for r in release_rows("gsm8k")])
    lines = source.read_bytes().splitlines(keepends=True)
    lines[20] = lines[20].replace(b"The answer", b"The \xff answer")
    source.write_bytes(b"".join(lines))
    error = _error(source, tmp_path)
    assert error.row == 21 and "not valid UTF-8 text" in str(error) and "of line 21)" in str(error)


def _shards(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.parquet")
    }


def test_crlf_file_gives_the_same_export_as_the_lf_file(tmp_path: Path) -> None:
    rows = release_rows("boolq") + release_rows("gsm8k")
    for row in rows:
        row["response"] = "Line one.\nLine two: \\boxed{7}"  # a quoted cell with a line break
    lf = write_release(tmp_path / "lf" / "train.csv", rows)
    crlf = write_release(tmp_path / "crlf" / "train.csv", rows, line_end="\r\n")
    assert crlf.read_bytes().count(b"\r\n") == lf.read_bytes().count(b"\n") > 41 * 2
    exports = [build_export([str(path)], tmp_path / name / "out").out for name, path in (("a", lf), ("b", crlf))]
    assert _shards(exports[0]) == _shards(exports[1])
    responses = pq.read_table(exports[1] / "data" / "boolq" / "train-00000-of-00001.parquet")["response"]
    assert set(responses.to_pylist()) == {"Line one.\nLine two: \\boxed{7}"}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_10_mib_response_cell_is_read_and_rows_stay_right(tmp_path: Path, fmt: str) -> None:
    rows = release_rows("gsm8k") + release_rows("boolq")
    big = "A" * (10 << 20) + " \\boxed{7}\nthe end"
    rows[5]["response"] = big
    rows[60]["performance"] = "high"  # a bad value after the big cell: its row must still be 61
    write = write_release if fmt == "csv" else lambda path, rows: write_json_lines(path, [typed(r) for r in rows])
    source = write(tmp_path / "release" / f"train.{fmt}", rows)
    error = _error(source, tmp_path)
    assert (error.row, error.column) == (61, "performance") and "not a number: 'high'" in str(error)
    rows[60]["performance"] = "1.0"
    source = write(source, rows)
    result = build_export([str(source)], tmp_path / "out")
    assert result.report.rows_read == 80
    gsm8k = pq.read_table(result.out / "data" / "gsm8k" / "train-00000-of-00001.parquet").to_pylist()
    assert [r["response"] for r in gsm8k if len(r["response"]) > 1000] == [big]


def test_invalid_utf8_in_parquet_names_its_row_and_column(tmp_path: Path) -> None:
    import pyarrow as pa

    table = pa.Table.from_pylist([typed(r) for r in release_rows("gsm8k")])
    responses = [r.encode() for r in table["response"].to_pylist()]
    responses[16] = b"The \xff answer"
    column = pa.array(responses, pa.binary()).view(pa.string())  # Arrow writes the bytes as they are
    table = table.set_column(table.schema.get_field_index("response"), "response", column)
    pq.write_table(table, tmp_path / "train.parquet")
    error = _error(tmp_path / "train.parquet", tmp_path)
    assert (error.row, error.column) == (17, "response") and "not valid UTF-8 text" in str(error)
