"""The queries table: each distinct prompt of the release parsed once into a query record, its embeddings
parsed in the background and attached, and the table built per split."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fusionbench import prompts
from fusionbench.build.embeddings import parse_embeddings, vectors_column
from fusionbench.build.flags import FLAG_BITS, flag_names
from fusionbench.build.positions import bad_value
from fusionbench.build.sources import SourceFile
from fusionbench.export.report import IngestReport
from fusionbench.metrics.code import parse_test_list
from fusionbench.schema import QUERY_SCHEMA, RELEASE_ROWS_PER_QUERY, SPLITS, TASK_DOMAINS, TASKS, query_id

_QUERY_CELLS = ["task_name", "query", "ground_truth", "metric", "task_id", "task_description"]
#: queries-table field -> the release column its embedding comes from.
_EMBEDDINGS = {"embedding": "query_embedding", "task_description_embedding": "task_description_embedding"}


class QueryRegistry:
    """The query records of the rows read, keyed by (split, query_id). Records of a split may be finished
    on other threads once the split is set aside; shared counters are updated under ``lock``."""

    def __init__(self, report: IngestReport, lock: threading.Lock, *, lenient: bool = False) -> None:
        self.report = report
        self.lenient = lenient
        self._lock = lock
        self.records: dict[tuple[str, str], dict] = {}  # (split, query_id) -> queries-table record
        self._prompts: dict[tuple[str, str, str], tuple[str, str, int]] = {}  # (split, task, prompt) -> id, query, mask
        self._cot_of_direct: dict[tuple[str, str, str], tuple[prompts.QueryFields, str]] = {}
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fusionbench-embeddings")
        self._pending: list[tuple] = []  # (split, parsed future, [(record, row)], file, column, target field)
        self._split_pending: dict[str, list[tuple]] = {}  # set aside by set_aside
        self._split_records: dict[str, list[dict]] = {}

    def columns(
        self, batch: pa.RecordBatch, source: SourceFile, mask: np.ndarray, is_cot: pa.Array
    ) -> tuple[pa.Array, pa.Array]:
        """query_id and bare query per row, parsing each distinct prompt once."""
        prompts = batch.column("query").dictionary_encode()  # distinct prompts; then (task, prompt) pairs as ints
        tasks = pc.index_in(batch.column("task_name"), value_set=pa.array(TASKS)).to_numpy()
        pairs = prompts.indices.to_numpy().astype(np.int64) * len(TASKS) + tasks
        unique_pairs, first_rows, indices = np.unique(pairs, return_index=True, return_inverse=True)
        texts_of = prompts.dictionary.take(pa.array(unique_pairs // len(TASKS))).to_pylist()
        keys = [(source.split, TASKS[p % len(TASKS)], t) for p, t in zip(unique_pairs, texts_of, strict=True)]
        new = [position for position, cache_key in enumerate(keys) if cache_key not in self._prompts]
        if new:
            rows = pa.array(first_rows[new])
            columns = [c for c in _QUERY_CELLS if c in batch.schema.names and c not in ("task_name", "query")]
            cells = batch.select(columns).take(rows).to_pylist()
            for position, row_cells, cot in zip(new, cells, is_cot.take(rows).to_pylist(), strict=True):
                _, task, prompt = keys[position]  # one text object for the cache key and the record
                row_cells.update(task_name=task, query=prompt)
                self._prompts[keys[position]] = self._register(row_cells, source, cot)
        ids, texts, masks = [], [], []
        for cache_key in keys:
            qid, text, query_mask = self._prompts[cache_key]
            ids.append(qid)
            texts.append(text)
            masks.append(query_mask)
        mask |= np.asarray(masks, dtype=np.int32)[indices]
        take = pa.array(indices.astype(np.int64))
        return pa.array(ids, pa.string()).take(take), pa.array(texts, pa.string()).take(take)

    def _register(self, cells: dict[str, str], source: SourceFile, cot: bool) -> tuple[str, str, int]:
        """Parse a new prompt (``cells``: its first row) and start or complete its query's record."""

        def cell(column: str) -> str | None:
            return cells.get(column) or None

        task, prompt = cell("task_name"), cell("query")
        # A chain-of-thought prompt that is exactly the template applied to an already parsed direct prompt
        # needs no parsing of its own (the release writes each query's direct row first).
        fields, qid = self._cot_of_direct.pop((source.split, task, prompt), (None, None)) if cot else (None, None)
        fields = fields or prompts.parse(task, prompt)
        mask = 0
        if fields is None:
            self.report.unparsed_prompts += 1
            fields = prompts.QueryFields(question=prompt.strip())
            mask |= FLAG_BITS["unparsed_prompt"]
        qid = qid or query_id(task, fields.question, fields.context, fields.choices or ())
        if not cot and not mask:  # fields a template cannot render (ValueError): the cot prompt is parsed itself
            with contextlib.suppress(ValueError):
                self._cot_of_direct[(source.split, task, prompts.render(task, fields, "cot"))] = (fields, qid)
        if task == "arc_challenge" and any(label.isdigit() for label in fields.choice_labels or ()):
            mask |= FLAG_BITS["arc_digit_labels"]
        if task == "mmlu" and source.split == "train":
            mask |= FLAG_BITS["mmlu_auxiliary_train"]
        if task == "gpqa":
            mask |= FLAG_BITS["gpqa_label_unverified"]
        record = self.records.get((source.split, qid))
        if record is None:
            record = self.records[(source.split, qid)] = self._new_query(task, qid, source.split, fields, cell)
            self.report.arc_digit_label_queries += bool(mask & FLAG_BITS["arc_digit_labels"])
            self.report.mmlu_auxiliary_train_queries += bool(mask & FLAG_BITS["mmlu_auxiliary_train"])
            self.report.gpqa_queries += bool(mask & FLAG_BITS["gpqa_label_unverified"])
        record["prompt_cot" if cot else "prompt_direct"] = record["prompt_cot" if cot else "prompt_direct"] or prompt
        record["_mask"] |= mask
        return qid, fields.question, mask

    @staticmethod
    def _new_query(task: str, qid: str, split: str, fields: prompts.QueryFields, cell) -> dict:
        ground_truth = cell("ground_truth")
        test_list = fields.test_list
        if task == "mbpp" and ground_truth:
            test_list = parse_test_list(ground_truth) or test_list  # the release stores the list's repr
        return {
            "query_id": qid,
            "task": task,
            "domain": TASK_DOMAINS[task],
            "split": split,
            "query": fields.question,
            "context": fields.context,
            "choices": fields.choices,
            "choice_labels": fields.choice_labels,
            "prompt_direct": None,
            "prompt_cot": None,
            "ground_truth": ground_truth,
            "metric": cell("metric"),
            "source_task_id": cell("task_id"),
            "entry_point": fields.entry_point,
            "function_stub": fields.function_stub,
            "test_list": test_list,
            "test_setup_code": None,
            "embedding": None,
            "task_description": cell("task_description"),
            "task_description_embedding": None,
            "n_rows": 0,
            "_mask": 0,
        }

    def queue_embeddings(self, batch: pa.RecordBatch, source: SourceFile, offset: int, ids: pa.Array) -> None:
        """Queue the few non-empty embedding cells (one per release block) for parsing in the background."""
        for target, column in _EMBEDDINGS.items():
            if column not in batch.schema.names:
                continue
            values = batch.column(column)
            present = np.flatnonzero(pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False))
            records = [self.records[(source.split, qid)] for qid in ids.take(pa.array(present)).to_pylist()]
            wanted = [i for i, record in enumerate(records) if record[target] is None]
            if not wanted:
                continue
            parsed = self._parser.submit(_parse_cells, values, present[wanted])
            where = [(records[i], offset + int(present[i]) + 1) for i in wanted]
            self._pending.append((source.split, parsed, where, str(source.path), column, target))

    def _attach(self, pending: list[tuple]) -> None:
        """Wait for queued embeddings and attach them, first one per query wins; errors name the row."""
        for _split, parsed, where, file, column, target in pending:
            for vector, (record, row) in zip(parsed.result(), where, strict=True):
                if vector is None:
                    if not self.lenient:
                        raise bad_value(Path(file), row, "malformed embedding text", column)
                    with self._lock:
                        self.report.unparsed_values[column] += 1
                elif record[target] is None:
                    record[target] = vector
                    record.setdefault("_from", {})[target] = (file, row)

    def _check_dimensions(self, records: list[dict], split: str) -> None:
        """Every embedding of a split must have the split's dimension (that of most of its queries): another is
        an error naming its row, or, lenient, null, counted and flagged ``invalid_value`` on the query."""
        for target, column in _EMBEDDINGS.items():
            sizes = Counter(len(r[target]) for r in records if r[target] is not None)
            if len(sizes) < 2:
                continue
            expected, n_expected = sizes.most_common(1)[0]
            odd = [r for r in records if r[target] is not None and len(r[target]) != expected]
            if not self.lenient:
                file, row = odd[0]["_from"][target]
                found = len(odd[0][target])
                message = f"embedding of {found} numbers, where {n_expected} other {split} queries have {expected}"
                raise bad_value(Path(file), row, message, column)
            for record in odd:
                record[target] = None
                record["_mask"] |= FLAG_BITS["invalid_value"]
            with self._lock:
                self.report.invalid_values[column] += len(odd)

    def end_of_reading(self) -> None:
        """Attach every embedding still queued and stop the background parser."""
        self._attach(self._pending)
        self._pending = []
        self._parser.shutdown()

    def set_aside(self, split: str) -> None:
        """No later row belongs to ``split``: keep its records and queued embeddings apart, so that
        :meth:`table` can build its table on another thread while later files are read."""
        self._split_records[split] = [record for (s, _), record in self.records.items() if s == split]
        self._split_pending[split] = [entry for entry in self._pending if entry[0] == split]
        self._pending = [entry for entry in self._pending if entry[0] != split]

    def count_rows(self, split: str, query_ids: list[str], rows_per_query: list[int]) -> None:
        """Record each query's row count after de-duplication, flagging queries with other than 40 rows."""
        with self._lock:
            for qid, count in zip(query_ids, rows_per_query, strict=True):
                if count == 0:
                    continue
                record = self.records[(split, qid)]
                record["n_rows"] = count
                if count != RELEASE_ROWS_PER_QUERY and record["_mask"] & FLAG_BITS["rows_not_40"] == 0:
                    record["_mask"] |= FLAG_BITS["rows_not_40"]
                    self.report.queries_not_40_rows[count] += 1

    def table(self, split: str) -> pa.Table:
        """The queries table of one split, sorted by task then query_id (call after ``Ingestor.responses`` of every
        slice of the split; safe on another thread once :meth:`set_aside` set the split aside)."""
        records = self._split_records.pop(split, None)
        if records is None:
            records = [r for (s, _), r in self.records.items() if s == split]
        self._attach(self._split_pending.pop(split, []))
        self._check_dimensions(records, split)  # records still in reading order: the first odd one is named
        records.sort(key=lambda r: (TASKS.index(r["task"]), r["query_id"]))
        columns = {}
        for field in QUERY_SCHEMA:
            if field.name in ("embedding", "task_description_embedding"):
                columns[field.name] = vectors_column([r[field.name] for r in records])
            elif field.name == "flags":
                columns[field.name] = pa.array([flag_names(r["_mask"]) for r in records], field.type)
            else:
                columns[field.name] = pa.array([r[field.name] for r in records], field.type)
        return pa.table(columns, schema=QUERY_SCHEMA)

    def count_queries(self) -> None:
        """Report counts that need every query: queries, and queries present in both splits."""
        self.report.queries = len(self.records)
        by_split: dict[str, set[str]] = {split: set() for split in SPLITS}
        for split, qid in self.records:
            by_split[split].add(qid)
        self.report.queries_in_both_splits = len(by_split["train"] & by_split["test"])

    def close(self) -> None:
        """Stop the background parser (safe to call twice)."""
        self._parser.shutdown(cancel_futures=True)


def _parse_cells(values: pa.Array, rows: np.ndarray) -> list[np.ndarray | None]:
    """The embeddings in ``values[rows]``, each distinct text parsed once."""
    encoded = values.take(pa.array(rows, pa.int64())).dictionary_encode()
    vectors = parse_embeddings(encoded.dictionary)
    return [vectors[index] for index in encoded.indices.to_pylist()]
