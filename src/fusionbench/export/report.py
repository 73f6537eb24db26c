"""The ingestion report: what was read, fixed, flagged or skipped, printed by ``build`` and put in the card."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from fusionbench.schema import RELEASE_COLUMNS


@dataclass
class IngestReport:
    """Counts of everything the ingestion noticed. Every skipped row is counted here."""

    files: dict[str, int] = field(default_factory=dict)  # file -> rows read
    rows_read: int = 0
    rows_written: int = 0
    queries: int = 0
    missing_responses: int = 0
    duplicates_dropped: int = 0
    queries_not_40_rows: Counter[int] = field(default_factory=Counter)  # rows found -> queries
    unparsed_values: Counter[str] = field(default_factory=Counter)  # column -> values set to null
    invalid_values: Counter[str] = field(default_factory=Counter)  # column -> out-of-range values set to null
    absent_columns: dict[str, list[str]] = field(default_factory=dict)  # optional column -> files without it
    empty_columns: dict[str, list[str]] = field(default_factory=dict)  # optional column -> files where all null
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)  # column not in the release -> files
    unparsed_prompts: int = 0
    arc_digit_label_queries: int = 0
    mmlu_auxiliary_train_queries: int = 0
    gpqa_queries: int = 0
    swapped_model_rows: int = 0
    cost_mismatch_rows: int = 0
    price_mismatch_rows: int = 0
    queries_in_both_splits: int = 0
    unknown_models: set[str] = field(default_factory=set)
    synthetic: bool = False

    def lines(self) -> list[tuple[str, str]]:
        """(what, count) pairs, in reading order, for the console and the card."""
        not_40 = sum(self.queries_not_40_rows.values())
        detail = ", ".join(f"{n} with {rows} rows" for rows, n in sorted(self.queries_not_40_rows.items()))
        unparsed = ", ".join(f"{col}: {n}" for col, n in sorted(self.unparsed_values.items()))
        invalid = ", ".join(f"{col}: {n}" for col, n in sorted(self.invalid_values.items()))
        n_files = len(self.files)
        return [
            ("files read", str(len(self.files))),
            ("rows read", f"{self.rows_read:,}"),
            ("rows written", f"{self.rows_written:,}"),
            ("queries", f"{self.queries:,}"),
            ("duplicate (query, model, mode) rows dropped, first kept", f"{self.duplicates_dropped:,}"),
            ("missing or empty responses (kept, response null)", f"{self.missing_responses:,}"),
            ("queries with other than 40 rows", f"{not_40:,}" + (f" ({detail})" if detail else "")),
            (
                "unparseable values set to null",
                f"{sum(self.unparsed_values.values()):,}" + (f" ({unparsed})" if unparsed else ""),
            ),
            (
                "values outside their valid range set to null",
                f"{sum(self.invalid_values.values()):,}" + (f" ({invalid})" if invalid else ""),
            ),
            ("optional columns absent (null)", _columns(self.absent_columns, n_files) or "none"),
            ("optional columns without any value (null)", _columns(self.empty_columns, n_files) or "none"),
            ("unknown columns (ignored)", _columns(self.unknown_columns, n_files, hint=True) or "none"),
            ("prompts not matching the task template", f"{self.unparsed_prompts:,}"),
            ("ARC queries with digit labels (unscorable by the release)", f"{self.arc_digit_label_queries:,}"),
            ("MMLU train queries from auxiliary_train", f"{self.mmlu_auxiliary_train_queries:,}"),
            ("GPQA queries (answer letter unverified)", f"{self.gpqa_queries:,}"),
            ("rows of the two models with swapped ids", f"{self.swapped_model_rows:,}"),
            ("rows whose cost != tokens x prices", f"{self.cost_mismatch_rows:,}"),
            ("rows whose prices differ from the price sheet", f"{self.price_mismatch_rows:,}"),
            ("queries present in both train and test", f"{self.queries_in_both_splits:,}"),
            ("models not in the catalogue", ", ".join(sorted(self.unknown_models)) or "none"),
        ]

    def markdown(self) -> str:
        """The report as a Markdown table."""
        rows = "\n".join(f"| {what} | {count} |" for what, count in self.lines())
        return "| check | count |\n|---|---|\n" + rows


def _columns(files_of: dict[str, list[str]], n_files: int, *, hint: bool = False) -> str:
    """``column (in a.csv, b.csv)`` per column, ``(every file)`` when all lack it; with a did-you-mean hint."""
    parts = []
    for column, files in sorted(files_of.items()):
        where = "every file" if len(files) == n_files > 1 else ", ".join(sorted(files))
        close = difflib.get_close_matches(column, RELEASE_COLUMNS, n=1) if hint else []
        parts.append(f"{column} ({where}" + (f"; did you mean {close[0]}?" if close else "") + ")")
    return ", ".join(parts)
