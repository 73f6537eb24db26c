"""Bad values are validated, not only parsed: valid ranges, embedding dimensions, column types, optional columns.

Each class of bad value is an error naming file, row, line and column by default, and with ``lenient`` a null,
counted per column in the report (and so in the card) and flagged ``invalid_value`` on its row or query.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from release_factory import release_rows, typed, write_json_lines, write_release

from fusionbench.build import build_export
from fusionbench.errors import BadInputError
from fusionbench.schema import FLAGS, RELEASE_COLUMNS, VALID_RANGES


def _rows(folder: Path, config: str) -> list[dict]:
    return [r for path in sorted((folder / "data" / config).glob("*.parquet")) for r in pq.read_table(path).to_pylist()]


def _error(sources: list[Path], tmp_path: Path) -> BadInputError:
    with pytest.raises(BadInputError) as caught:
        build_export([str(s) for s in sources], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    return caught.value


def _line_of_row(path: Path, rows: list[dict], row: int) -> int:
    """The line data row ``row`` starts on, found independently: the length of the file of the rows before it."""
    before = write_release(path.parent / "before" / path.name, rows[: row - 1])
    return before.read_bytes().count(b"\n") + 1


@pytest.mark.parametrize(
    ("column", "value", "valid"),
    [
        ("input_tokens_num", "-3", ">= 0"),
        ("output_tokens_num", "-1", ">= 0"),
        ("input_price", "-0.5", ">= 0"),
        ("output_price", "-1e-3", ">= 0"),
        ("cost", "-2.0", ">= 0"),
        ("performance", "2.0", "[0, 1]"),
        ("performance", "-1", "[0, 1]"),
        ("llm_judge", "7", "[0, 1]"),
    ],
)
def test_values_out_of_range_are_errors(tmp_path: Path, column: str, value: str, valid: str) -> None:
    rows = [*release_rows("boolq"), *release_rows("gsm8k")]
    rows[52][column] = value  # data row 53: a cot row of gsm8k, whose prompt spans several lines
    source = write_release(tmp_path / "release" / "train.csv", rows)
    error = _error([source], tmp_path)
    assert (error.file, error.row, error.column) == (str(source), 53, column)
    line = _line_of_row(source, rows, 53)
    assert line > 53 + 1  # the quoted prompts of the rows before hold line breaks
    assert f"out of the valid range {valid}: {value!r} (line {line})" in str(error)


def test_mbpp_pass_at_1_out_of_range(tmp_path: Path) -> None:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("mbpp", performance="1.5"))
    error = _error([source], tmp_path)
    assert (error.row, error.column) == (1, "performance") and "\"{'pass@1': 1.5}\"" in str(error)


def test_lenient_nulls_counts_and_flags_values_out_of_range(tmp_path: Path) -> None:
    rows = release_rows("gsm8k")
    rows[4].update(input_tokens_num="-3", llm_judge="7")
    rows[9].update(performance="-1")
    source = write_release(tmp_path / "release" / "train.csv", rows)
    result = build_export([str(source)], tmp_path / "out", lenient=True)
    assert dict(result.report.invalid_values) == {"input_tokens_num": 1, "llm_judge": 1, "performance": 1}
    flagged = [r for r in _rows(result.out, "gsm8k") if "invalid_value" in r["flags"]]
    assert len(flagged) == 2
    by_judge = {r["judge_score"]: r for r in flagged}  # data row 5: tokens and judge nulled; row 10: performance
    assert (by_judge[None]["input_tokens"], by_judge[None]["performance"]) == (None, 1.0)
    assert (by_judge[0.8]["input_tokens"], by_judge[0.8]["performance"]) == (10, None)
    card = (result.out / "README.md").read_text()
    assert (
        "| values outside their valid range set to null | 3 (input_tokens_num: 1, llm_judge: 1, performance: 1) |"
        in card
    )
    assert f"| `invalid_value` | {FLAGS['invalid_value']} |" in card


def test_valid_ranges_cover_every_numeric_response_column() -> None:
    from fusionbench.schema import RESPONSE_SCHEMA

    numeric = {f.name for f in RESPONSE_SCHEMA if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)}
    assert set(VALID_RANGES) == numeric - {"sample"}
    assert VALID_RANGES["performance"] == VALID_RANGES["judge_score"] == (0.0, 1.0)


def _three_queries(cut_column: str, size: int) -> list[dict[str, str]]:
    rows = [*release_rows("gsm8k"), *release_rows("boolq"), *release_rows("math")]
    rows[80][cut_column] = "tensor([[" + ", ".join(["0.1"] * size) + "]])"  # the math query's only embedding
    return rows


@pytest.mark.parametrize("size", [384, 2])
@pytest.mark.parametrize("column", ["query_embedding", "task_description_embedding"])
def test_embedding_of_another_dimension_is_an_error(tmp_path: Path, column: str, size: int) -> None:
    rows = _three_queries(column, size)
    source = write_release(tmp_path / "release" / "train.csv", rows)
    error = _error([source], tmp_path)
    assert (error.file, error.row, error.column) == (str(source), 81, column)
    line = _line_of_row(source, rows, 81)
    assert f"embedding of {size} numbers, where 2 other train queries have 768 (line {line})" in str(error)


def test_lenient_nulls_and_flags_an_embedding_of_another_dimension(tmp_path: Path) -> None:
    source = write_release(tmp_path / "release" / "train.csv", _three_queries("query_embedding", 384))
    result = build_export([str(source)], tmp_path / "out", lenient=True)
    assert dict(result.report.invalid_values) == {"query_embedding": 1}
    queries = {q["task"]: q for q in _rows(result.out, "queries")}
    assert queries["math"]["embedding"] is None and queries["math"]["flags"] == ["invalid_value"]
    assert len(queries["gsm8k"]["embedding"]) == len(queries["boolq"]["embedding"]) == 768
    assert len(queries["math"]["task_description_embedding"]) == 768  # the other column is untouched


def test_parquet_text_column_of_numbers_is_a_type_mismatch(tmp_path: Path) -> None:
    table = pa.Table.from_pylist([typed(r) for r in release_rows("gsm8k")])
    table = table.set_column(table.schema.get_field_index("response"), "response", pa.array(range(40), pa.int64()))
    pq.write_table(table, tmp_path / "train.parquet")
    error = _error([tmp_path / "train.parquet"], tmp_path)
    assert error.column == "response" and "type mismatch: the column holds int64, expected text" in str(error)


def test_parquet_numeric_columns_may_be_numbers_or_text(tmp_path: Path) -> None:
    rows = release_rows("gsm8k")
    (tmp_path / "numbers").mkdir()
    (tmp_path / "texts").mkdir()
    pq.write_table(pa.Table.from_pylist([typed(r) for r in rows]), tmp_path / "numbers" / "train.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "texts" / "train.parquet")
    numbers, texts = (build_export([str(tmp_path / k)], tmp_path / f"out-{k}").out for k in ("numbers", "texts"))
    assert _rows(numbers, "gsm8k") == _rows(texts, "gsm8k")


def test_json_lines_text_column_holding_a_number_names_line_and_column(tmp_path: Path) -> None:
    rows = [typed(r) for r in release_rows("gsm8k")]
    rows[6]["response"] = 42
    source = write_json_lines(tmp_path / "train.jsonl", rows)
    error = _error([source], tmp_path)
    assert (error.row, error.column) == (7, "response")
    assert "type mismatch: 42 is int, expected text (line 7)" in str(error)


def test_json_lines_string_in_a_numeric_field_is_a_bad_value(tmp_path: Path) -> None:
    """Numbers elsewhere, one text in the same field: not Arrow's inference message but the value check."""
    rows = [typed(r) for r in release_rows("gsm8k")]
    rows[29]["input_tokens_num"] = "ten"
    source = write_json_lines(tmp_path / "release" / "train.jsonl", rows)
    error = _error([source], tmp_path)
    assert (error.row, error.column) == (30, "input_tokens_num") and "not a number: 'ten' (line 30)" in str(error)
    result = build_export([str(source)], tmp_path / "out", lenient=True)
    assert dict(result.report.unparsed_values) == {"input_tokens_num": 1}
    bad = [r for r in _rows(result.out, "gsm8k") if "unparsed_value" in r["flags"]]
    assert len(bad) == 1 and bad[0]["input_tokens"] is None and bad[0]["output_tokens"] == 20


def test_json_lines_with_blank_lines_name_the_file_line(tmp_path: Path) -> None:
    source = write_json_lines(tmp_path / "train.jsonl", [typed(r) for r in release_rows("gsm8k")])
    lines = source.read_text().splitlines(keepends=True)
    lines.insert(3, "\n")
    lines.insert(5, "   \n")  # blank lines are no rows: data row 12 is on line 14
    lines[13] = lines[13].replace('"llm_judge": 0.8', '"llm_judge": 1.5')
    source.write_text("".join(lines))
    error = _error([source], tmp_path)
    assert (error.row, error.column) == (12, "llm_judge") and "(line 14)" in str(error)


def test_missing_optional_columns_are_reported(tmp_path: Path) -> None:
    rows = release_rows("gsm8k") + release_rows("mbpp")  # mbpp rows have a task_id
    no_cost = tuple(c for c in RELEASE_COLUMNS if c != "cost")
    write_release(tmp_path / "release" / "train.csv", rows, no_cost)
    write_release(tmp_path / "release" / "partial_test.csv", [{**r, "llm_judge": ""} for r in release_rows("mbpp")])
    result = build_export([str(tmp_path / "release")], tmp_path / "out")
    assert result.report.absent_columns == {"cost": ["train.csv"]}
    assert result.report.empty_columns == {"llm_judge": ["partial_test.csv"]} and result.report.unknown_columns == {}
    assert all(r["cost_usd"] is None for r in _rows(result.out, "gsm8k"))
    card = (result.out / "README.md").read_text()
    assert "| optional columns absent (null) | cost (train.csv) |" in card
    assert "| optional columns without any value (null) | llm_judge (partial_test.csv) |" in card
    assert all(r["judge_score"] is None for r in _rows(result.out, "mbpp") if r["split"] == "test")


def test_misspelt_column_is_reported_with_a_hint(tmp_path: Path) -> None:
    rows = [
        {**{k: v for k, v in r.items() if k != "llm_judge"}, "llm_judgee": r["llm_judge"]}
        for r in release_rows("gsm8k")
    ]
    columns = tuple("llm_judgee" if c == "llm_judge" else c for c in RELEASE_COLUMNS)
    source = write_release(tmp_path / "release" / "train.csv", rows, columns)
    result = build_export([str(source)], tmp_path / "out")
    assert result.report.absent_columns == {"llm_judge": ["train.csv"]}
    assert result.report.unknown_columns == {"llm_judgee": ["train.csv"]}
    assert (
        "| unknown columns (ignored) | llm_judgee (train.csv; did you mean llm_judge?) |"
        in (result.out / "README.md").read_text()
    )
    assert all(r["judge_score"] is None for r in _rows(result.out, "gsm8k"))


def test_complete_release_reports_no_column_problem(tmp_path: Path) -> None:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k") + release_rows("mbpp"))
    report = build_export([str(source)], tmp_path / "out").report
    assert (report.absent_columns, report.empty_columns, report.unknown_columns) == ({}, {}, {})
    assert dict(report.invalid_values) == {} and dict(report.unparsed_values) == {}


@pytest.mark.parametrize("later", ["input_price", "input_tokens_num", "task_name"])
def test_the_first_bad_row_is_reported_whatever_its_column(tmp_path: Path, later: str) -> None:
    """The columns are checked one after another: a cost error on row 7 must win over a bad value on row 9 in a
    column checked earlier (prices, tokens, the task name), not the other way round."""
    rows = release_rows("gsm8k")
    rows[6]["cost"] = "-1.5"
    rows[8][later] = "nope" if later == "task_name" else "-2"
    source = write_release(tmp_path / "release" / "train.csv", rows)
    error = _error([source], tmp_path)
    assert (error.file, error.row, error.column) == (str(source), 7, "cost")
    assert f"out of the valid range >= 0: '-1.5' (line {_line_of_row(source, rows, 7)})" in str(error)
    rows[6]["cost"] = rows[8]["cost"]  # the later row alone: it is reported
    source = write_release(tmp_path / "again" / "train.csv", rows)
    assert (_error([source], tmp_path).row, _error([source], tmp_path).column) == (9, later)


def test_json_lines_value_nested_too_deeply_names_the_row_and_line(tmp_path: Path) -> None:
    rows = [typed(r) for r in release_rows("gsm8k")]
    for position in (0, 3):  # on the first line Arrow's reader is not even tried
        path = write_json_lines(tmp_path / f"release{position}" / "train.jsonl", rows)
        lines = path.read_text().splitlines()
        lines[position] = "[" * 100_000 + "]" * 100_000
        path.write_text("\n".join(lines) + "\n")
        error = _error([path], tmp_path)
        assert (error.file, error.row) == (str(path), position + 1)
        assert str(error).endswith(f"a JSON value nested too deeply (line {position + 1})")
