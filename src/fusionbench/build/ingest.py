"""Convert release batches into the canonical tables, detecting and flagging the release's defects.

Two passes keep memory bounded (by ``MEMORY_BUDGET`` plus the largest (task, split) slice) rather than
by the size of the release:

1. :meth:`Ingestor.add` converts each string batch with Arrow compute kernels and keeps it per
   (task, split) in memory, spilling every slice to a temporary Arrow IPC file once the converted rows
   pass ``MEMORY_BUDGET``; query records (:mod:`fusionbench.build.queries`) and model records are collected on
   the side.
2. :meth:`Ingestor.responses` reads one slice back, drops duplicate (query, model, mode, sample)
   rows, counts rows per query, applies the model/mode filters, sorts and returns the final table.

With ``streaming=True`` the passes overlap: the release is sorted by task, so a (task, split) slice is
complete as soon as rows of another slice follow it, and :meth:`Ingestor.completed` hands it over for
pass 2 while later files are still being read; memory then holds about one slice instead of the release.
Input in any other order raises :class:`SliceReopened` (the caller rebuilds without streaming).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fusionbench import catalog
from fusionbench.build.flags import FLAG_BITS, flags_column
from fusionbench.build.positions import bad_value
from fusionbench.build.queries import QueryRegistry
from fusionbench.build.ranges import NUMBER, RELEASE_RANGES, range_text
from fusionbench.build.slices import Slice, ranks
from fusionbench.build.sources import OPTIONAL_COLUMNS, SourceFile, prefetched, read_batches
from fusionbench.export.report import IngestReport
from fusionbench.schema import (
    RELEASE_COLUMNS,
    RELEASE_ROWS_PER_QUERY,
    RELEASE_TOKEN_COUNTER,
    RESPONSE_SCHEMA,
    SPLITS,
    TASK_DOMAINS,
    TASKS,
    THINK_SUFFIX,
)

#: Converted rows kept in memory before every slice spills to disk (bounds memory on a full-size release).
MEMORY_BUDGET = 768 << 20
_MISSING = pa.array(["", "nan", "NaN", "None", "none", "null"])
_PASS_AT_1 = r"^\{\s*['\"]pass@1['\"]\s*:\s*(?P<v>[^\s}]+)\s*\}$"


class SliceReopened(Exception):
    """Rows of a (task, split) slice arrived after the slice was handed over (input not grouped by task)."""


class _BadCell(Exception):
    """The first bad value one check found in a batch: its index in the batch, column and message."""

    def __init__(self, index: int, column: str, message: str) -> None:
        super().__init__(message)
        self.index, self.column, self.message = index, column, message


class Ingestor:
    """Collects release files into canonical tables; see the module docstring for the two passes."""

    def __init__(
        self,
        workdir: Path,
        report: IngestReport,
        *,
        lenient: bool = False,
        models: Iterable[str] | None = None,
        modes: Iterable[str] | None = None,
        streaming: bool = False,
    ) -> None:
        self.workdir = workdir
        self.streaming = streaming
        self._open: tuple[str, str] | None = None  # streaming: the slice now receiving rows
        self._complete: list[tuple[str, str]] = []  # streaming: slices no later row may belong to
        self._sealed: set[tuple[str, str]] = set()
        self.slices_done = 0  # slices handed over for :meth:`responses`
        self._lock = threading.Lock()
        self.report = report
        self.lenient = lenient
        self.model_filter = sorted(models) if models else None
        self.mode_filter = sorted(modes) if modes else None
        self._slices: dict[tuple[str, str], Slice] = {}
        self._in_memory = 0  # bytes of converted rows held in memory, across slices
        self.queries = QueryRegistry(report, self._lock, lenient=lenient)
        self.model_descriptions: dict[str, str | None] = {}
        self.model_prices: dict[str, tuple[float | None, float | None]] = {}
        self._seq = 0
        self._sheet = catalog.load_price_sheet()
        self._swapped = [m.name for m in catalog.models().values() if m.id_swapped]
        self._values_present: dict[str, int] = dict.fromkeys(OPTIONAL_COLUMNS, 0)  # file's non-null values per column

    # ---- pass 1 -------------------------------------------------------------------------------

    def add(self, source: SourceFile) -> Iterator[int]:
        """Read one release file into the per-(task, split) slices; yields the text bytes of each batch read
        (a generator: iterate it to read the file; between batches, :meth:`completed` may hand slices over)."""
        rows, names = 0, {}
        self._values_present = dict.fromkeys(OPTIONAL_COLUMNS, 0)
        for batch, offset in prefetched(read_batches(source)):
            names.update(dict.fromkeys(batch.schema.names))
            text_bytes = batch.nbytes
            table = self._convert(batch, source, offset)
            rows += table.num_rows
            tasks = pc.unique(table["task"]).to_pylist()
            for task in tasks:  # release files are sorted by task: most batches hold one, stored without a copy
                part = table if len(tasks) == 1 else table.filter(pc.equal(table["task"], task))
                self._store(task, source.split, part)
            yield text_bytes
        self.report.files[str(source.path)] = rows
        self.report.rows_read += rows
        self._note_columns(source, list(names))

    def _note_columns(self, source: SourceFile, names: list[str]) -> None:
        """Report the optional columns the file lacks or has without a value, and those the release does not have."""
        for column in OPTIONAL_COLUMNS:
            if column not in names:
                self.report.absent_columns.setdefault(column, []).append(source.path.name)
            elif not self._values_present[column]:
                self.report.empty_columns.setdefault(column, []).append(source.path.name)
        for column in names:
            if column not in RELEASE_COLUMNS:
                self.report.unknown_columns.setdefault(column, []).append(source.path.name)

    def _store(self, task: str, split: str, part: pa.Table) -> None:
        """Keep converted rows in memory; past ``MEMORY_BUDGET`` bytes, spill every slice to Arrow IPC files."""
        key = (task, split)
        if self.streaming and key != self._open:
            if key in self._sealed:
                raise SliceReopened(f"rows of {task} ({split}) follow rows of other tasks")
            if self._open is not None:
                self._complete.append(self._open)
                self._sealed.add(self._open)
            self._open = key
        if key not in self._slices:
            self._slices[key] = Slice(self.workdir / f"{task}.{split}.arrow", task, split)
        self._slices[key].add(part)
        self._in_memory += part.nbytes
        if self._in_memory > MEMORY_BUDGET:
            for piece in self._slices.values():
                piece.spill()
            self._in_memory = 0

    def _fail(self, source: SourceFile, offset: int, bad: pa.Array, column: str, message: str, values) -> None:
        index = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])  # this column's first bad row
        raise _BadCell(index, column, f"{message}: {values[index].as_py()!r}")  # _convert finds the batch's first

    def _number(self, batch: pa.RecordBatch, column: str, source: SourceFile, offset: int, mask: np.ndarray):
        """A text column -> float64 in its valid range; '' / nan -> null; junk or a value out of range -> error,
        or null + flag when lenient."""
        if column not in batch.schema.names:
            return pa.nulls(batch.num_rows, pa.float64())
        values = self._parsed(batch, column, source, offset, mask)
        self._values_present[column] += len(values) - values.null_count
        return self._in_range(values, batch, column, source, offset, mask)

    def _parsed(self, batch: pa.RecordBatch, column: str, source: SourceFile, offset: int, mask: np.ndarray):
        """A text column -> float64; '' / nan -> null; junk -> error, or null + flag when lenient."""
        text = batch.column(column)
        missing = pc.fill_null(pc.is_in(text, value_set=_MISSING), True)
        try:  # fast path: one cast of the text as it is
            values = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), text), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # white space, "{'pass@1': x}" or junk
            values, text = None, pc.utf8_trim_whitespace(text)
            if column == "performance":  # code tasks store "{'pass@1': 1.0}"
                text = pc.coalesce(pc.struct_field(pc.extract_regex(text, _PASS_AT_1), "v"), text)
            missing = pc.fill_null(pc.is_in(text, value_set=_MISSING), True)
        try:  # only a failed cast (or inf) pays for the row-by-row regex check
            if values is None:
                values = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), text), pa.float64())
            bad = pc.invert(pc.fill_null(pc.is_finite(values), True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = None
            bad = pc.and_(pc.invert(missing), pc.invert(pc.fill_null(pc.match_substring_regex(text, NUMBER), False)))
        if pc.any(bad).as_py():
            if not self.lenient:
                self._fail(source, offset, bad, column, "not a number", batch.column(column))
            self.report.unparsed_values[column] += pc.sum(bad).as_py()
            mask |= np.where(bad.to_numpy(zero_copy_only=False), FLAG_BITS["unparsed_value"], 0).astype(np.int32)
            values = None
        if values is None:
            values = pc.cast(pc.if_else(pc.or_(missing, bad), pa.scalar(None, pa.string()), text), pa.float64())
        return values

    def _in_range(self, values, batch: pa.RecordBatch, column: str, source: SourceFile, offset: int, mask):
        """``values`` with those outside the column's valid range refused, or nulled, counted and flagged."""
        low, high = RELEASE_RANGES[column]
        extremes = pc.min_max(values).as_py()  # one pass; nulls skipped
        if extremes["min"] is None or (low <= extremes["min"] and extremes["max"] <= high):
            return values
        out = pc.fill_null(pc.or_(pc.less(values, low), pc.greater(values, high)), False)
        if not self.lenient:
            valid = f"out of the valid range {range_text(low, high)}"
            self._fail(source, offset, out, column, valid, batch.column(column))
        self.report.invalid_values[column] += pc.sum(out).as_py()
        mask |= np.where(out.to_numpy(zero_copy_only=False), FLAG_BITS["invalid_value"], 0).astype(np.int32)
        return pc.if_else(out, pa.scalar(None, pa.float64()), values)

    def _count(self, batch: pa.RecordBatch, column: str, source: SourceFile, offset: int, mask: np.ndarray):
        values = self._number(batch, column, source, offset, mask)
        fractional = pc.fill_null(pc.not_equal(pc.floor(values), values), False)
        if pc.any(fractional).as_py():
            if not self.lenient:
                self._fail(
                    source, offset, fractional, column, "token count is not a whole number", batch.column(column)
                )
            self.report.unparsed_values[column] += pc.sum(fractional).as_py()
            values = pc.if_else(fractional, pa.scalar(None, pa.float64()), values)
        return pc.cast(values, pa.int64())

    def _text(self, batch: pa.RecordBatch, column: str) -> pa.Array:
        """An optional text column; '' -> null."""
        if column not in batch.schema.names:
            return pa.nulls(batch.num_rows, pa.string())
        values = batch.column(column)
        empty = pc.equal(values, "")
        n_empty = pc.sum(empty).as_py() or 0
        if column in self._values_present:
            self._values_present[column] += len(values) - n_empty
        return pc.if_else(empty, pa.scalar(None, pa.string()), values) if n_empty else values

    def _count_texts(self, batch: pa.RecordBatch, columns: tuple[str, ...]) -> None:
        """Count the non-empty cells of optional text columns the conversion does not otherwise read."""
        for column in columns:
            if column in batch.schema.names:
                self._values_present[column] += pc.sum(pc.not_equal(batch.column(column), "")).as_py() or 0

    def _convert(self, batch: pa.RecordBatch, source: SourceFile, offset: int) -> pa.Table:
        """The batch as canonical rows; a bad value is an error naming its file, row, line and column. Columns are
        checked one after another, so a failed check is repeated on the rows before the bad one until none fails:
        the error names the first bad row, whatever its column (a cost on row 7 before a price on row 9)."""
        try:
            return self._converted(batch, source, offset)
        except _BadCell as found:
            bad = found
        while bad.index > 0:
            try:
                self._converted(batch.slice(0, bad.index), source, offset)
                break
            except _BadCell as earlier:
                bad = earlier
        raise bad_value(source.path, offset + bad.index + 1, bad.message, bad.column)

    def _converted(self, batch: pa.RecordBatch, source: SourceFile, offset: int) -> pa.Table:
        n = batch.num_rows
        task = batch.column("task_name")
        unknown = pc.fill_null(pc.invert(pc.is_in(task, value_set=pa.array(TASKS))), True)
        if pc.any(unknown).as_py():
            self._fail(source, offset, unknown, "task_name", "unknown task name", task)
        llm = batch.column("llm")
        no_model = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(llm), ""), True)
        if pc.any(no_model).as_py():
            self._fail(source, offset, no_model, "llm", "empty model name", llm)
        prompt = batch.column("query")
        no_prompt = pc.fill_null(pc.equal(prompt, ""), True)
        if pc.any(no_prompt).as_py():
            self._fail(source, offset, no_prompt, "query", "empty query", prompt)
        is_cot = pc.ends_with(llm, THINK_SUFFIX)
        mode = pc.if_else(is_cot, "cot", "direct")
        model = pc.if_else(is_cot, pc.utf8_slice_codeunits(llm, 0, -len(THINK_SUFFIX)), llm)
        mask = np.zeros(n, dtype=np.int32)

        ids, queries = self.queries.columns(batch, source, mask, is_cot)
        in_tok = self._count(batch, "input_tokens_num", source, offset, mask)
        out_tok = self._count(batch, "output_tokens_num", source, offset, mask)
        in_price = self._number(batch, "input_price", source, offset, mask)
        out_price = self._number(batch, "output_price", source, offset, mask)
        cost = self._number(batch, "cost", source, offset, mask)
        performance = self._number(batch, "performance", source, offset, mask)
        judge = self._number(batch, "llm_judge", source, offset, mask)
        self._count_texts(batch, ("task_id", "task_description", "task_description_embedding", "query_embedding"))
        self.queries.queue_embeddings(batch, source, offset, ids)

        # the texts are copied only in a batch where some response is blank and must become null
        response = batch.column("response") if "response" in batch.schema.names else pa.nulls(n, pa.string())
        blank = pc.or_(pc.equal(response, ""), pc.utf8_is_space(response))
        missing = pc.fill_null(blank, True).to_numpy(zero_copy_only=False)
        if missing.any():
            response = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), response)
        mask |= np.where(missing, FLAG_BITS["missing_response"], 0).astype(np.int32)
        self.report.missing_responses += int(missing.sum())
        swapped = pc.is_in(model, value_set=pa.array(self._swapped, pa.string())).to_numpy(zero_copy_only=False)
        mask |= np.where(swapped, FLAG_BITS["model_id_swapped"], 0).astype(np.int32)
        self.report.swapped_model_rows += int(swapped.sum())
        self._check_costs(model, in_tok, out_tok, in_price, out_price, cost)
        self._collect_models(batch, model, in_price, out_price)

        seq = pa.array(np.arange(self._seq, self._seq + n, dtype=np.int64))
        self._seq += n
        columns = {
            "query_id": ids,
            "task": task,
            "domain": pc.take(pa.array([TASK_DOMAINS[t] for t in TASKS]), pc.index_in(task, value_set=pa.array(TASKS))),
            "split": pa.repeat(pa.scalar(source.split, pa.string()), n),
            "model": model,
            "mode": mode,
            "sample": pa.array(np.zeros(n, dtype=np.int32)),
            "query": queries,
            "prompt": prompt,
            "ground_truth": self._text(batch, "ground_truth"),
            "metric": self._text(batch, "metric"),
            "response": response,
            "input_tokens": in_tok,
            "output_tokens": out_tok,
            "token_counter": pa.repeat(pa.scalar(RELEASE_TOKEN_COUNTER, pa.string()), n),
            "input_price": in_price,
            "output_price": out_price,
            "cost_usd": pc.divide(cost, 1e6),
            "performance": performance,
            "judge_score": judge,
            "judge_model": pa.nulls(n, pa.string()),
            "source": pa.repeat(pa.scalar(source.path.name, pa.string()), n),
            "_mask": pa.array(mask),
            "_seq": seq,
        }
        return pa.table(columns)

    def close(self) -> None:
        """Release the background parser and the temporary files' handles (safe to call twice)."""
        self.queries.close()
        for piece in self._slices.values():
            piece.close()

    def _check_costs(self, model, in_tok, out_tok, in_price, out_price, cost) -> None:
        expected = pc.add(pc.multiply(in_tok, in_price), pc.multiply(out_tok, out_price))
        off = pc.greater(pc.abs(pc.subtract(expected, cost)), pc.add(pc.multiply(pc.abs(cost), 1e-6), 1e-6))
        self.report.cost_mismatch_rows += pc.sum(pc.fill_null(off, False)).as_py() or 0
        names = list(self._sheet.prices)
        position = pc.index_in(model, value_set=pa.array(names, pa.string()))
        sheet_in = pc.take(pa.array([self._sheet.prices[m][0] for m in names]), position)
        sheet_out = pc.take(pa.array([self._sheet.prices[m][1] for m in names]), position)
        differs = pc.or_(pc.not_equal(sheet_in, in_price), pc.not_equal(sheet_out, out_price))
        self.report.price_mismatch_rows += pc.sum(pc.fill_null(differs, False)).as_py() or 0

    def _collect_models(self, batch: pa.RecordBatch, model: pa.Array, in_price, out_price) -> None:
        encoded = model.dictionary_encode()
        _, first_rows = np.unique(encoded.indices.to_numpy(), return_index=True)
        description = self._text(batch, "llm_description")
        for position, name in enumerate(encoded.dictionary.to_pylist()):
            if name not in self.model_descriptions:
                row = int(first_rows[position])
                self.model_descriptions[name] = description[row].as_py()
                self.model_prices[name] = (in_price[row].as_py(), out_price[row].as_py())

    # ---- pass 2 -------------------------------------------------------------------------------

    @property
    def slices_seen(self) -> int:
        """(task, split) slices met so far, handed over or not."""
        return self.slices_done + len(self._slices)

    def completed(self) -> list[Slice]:
        """Streaming: the slices complete so far, handed over for :meth:`responses` (each once)."""
        done, self._complete = self._complete, []
        return [self._hand_over(key) for key in done]

    def slices(self) -> list[Slice]:
        """The slices not yet handed over, in task order (ends the first pass)."""
        self.queries.end_of_reading()
        keys = sorted(self._slices, key=lambda key: (TASKS.index(key[0]), SPLITS.index(key[1])))
        return [self._hand_over(key) for key in keys]

    def end_of_split(self, split: str) -> list[Slice]:
        """Streaming, files read in split order: no later row belongs to ``split``. Hands its remaining slices
        over and sets its queries aside (see :meth:`QueryRegistry.set_aside`)."""
        keys = sorted((key for key in self._slices if key[1] == split), key=lambda key: TASKS.index(key[0]))
        self._complete = [key for key in self._complete if key[1] != split]
        self._sealed.update(keys)
        if self._open is not None and self._open[1] == split:
            self._open = None
        self.queries.set_aside(split)
        return [self._hand_over(key) for key in keys]

    def _hand_over(self, key: tuple[str, str]) -> Slice:
        piece = self._slices.pop(key)
        piece.close()
        self.slices_done += 1
        self._in_memory = max(0, self._in_memory - piece.nbytes)
        return piece

    def responses(self, piece: Slice) -> pa.Table:
        """The final, sorted responses table of a handed-over slice. Slices may be finished on several threads
        at once (and while files are still read): updates of the report and query records take a lock."""
        split = piece.split
        table = piece.read()  # rows in reading order
        query, n_queries, query_names = ranks(table["query_id"])
        model, n_models, _ = ranks(table["model"])
        mode, _, _ = ranks(table["mode"])
        sample = table["sample"].to_numpy().astype(np.int64)
        key = ((query * n_models + model) * 2 + mode) * (int(sample.max(initial=0)) + 1) + sample
        _, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        keep = np.sort(first)  # the first row of each (query_id, model, mode, sample) key
        mask = table["_mask"].to_numpy()[keep].copy()
        mask |= np.where(counts[inverse[keep]] > 1, FLAG_BITS["duplicate"], 0).astype(np.int32)

        rows_per_query = np.bincount(query[keep], minlength=n_queries)
        with self._lock:
            self.report.duplicates_dropped += table.num_rows - len(keep)
        self.queries.count_rows(split, query_names, rows_per_query.tolist())
        odd = rows_per_query[query[keep]] != RELEASE_ROWS_PER_QUERY
        mask |= np.where(odd, FLAG_BITS["rows_not_40"], 0).astype(np.int32)

        wanted = np.ones(len(keep), dtype=bool)
        if self.model_filter:
            wanted &= pc.is_in(table["model"], value_set=pa.array(self.model_filter)).to_numpy(False)[keep]
        if self.mode_filter:
            wanted &= pc.is_in(table["mode"], value_set=pa.array(self.mode_filter)).to_numpy(False)[keep]
        kept, mask = keep[wanted], mask[wanted]
        order = np.lexsort((sample[kept], query[kept], mode[kept], model[kept]))  # model, mode, query_id, sample
        table = table.drop_columns(["_mask", "_seq"]).take(pa.array(kept[order]))
        table = table.append_column("flags", flags_column(mask[order]))
        with self._lock:
            self.report.rows_written += table.num_rows
        return table.select(RESPONSE_SCHEMA.names).cast(RESPONSE_SCHEMA)

    def finish_report(self) -> None:
        """Counts that need every slice: queries, queries present in both splits, unknown models."""
        self.queries.count_queries()
        self.report.unknown_models = set(self.model_descriptions) - set(catalog.models())

    def model_table(self, rows_per_model: dict[str, int]) -> pa.Table:
        """The models table of the rows read (see :func:`fusionbench.catalog.models_table`)."""
        return catalog.models_table(rows_per_model, self._sheet, self.model_descriptions, self.model_prices)
