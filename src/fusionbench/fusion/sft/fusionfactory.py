"""The original protocol (``--protocol fusionfactory``): FusionFactory's ``model_level/sft_data_gen.py``, records
reproduced exactly, its quirks included.

What the original does, which this module re-implements (the code is not copied):

* the rows are cut into **fixed 40-row blocks** in file order (rows after the last full block are ignored), so a
  query with a missing or duplicated row shifts every later block;
* each block is sorted, descending with NaN last and ties in file order: ``perf`` and ``baseline`` by
  (performance, output tokens) — ties go to the *longer* response —, ``judge`` by (judge score, output tokens),
  ``hybrid`` by (performance, judge score); performance and judge cells are read as a float or a
  ``{'pass@1': x}`` dict (else NaN);
* walking the sorted block (with ``--pool small``, rows of the 10 models up to 12B only): the first row visited
  gives **one ground-truth example** per block: input = that row's prompt with ``"let's think step by step"`` and
  ``"Let's think step by step"`` removed (so a dot or line break of the trigger stays), output =
  ``"[BEGIN]\\n {gt} \\n[DONE]"`` for code (``gt`` is the release's *test code*), ``"(X)"`` for multiple choice,
  else the ground truth as is; then the walk **stops at the first row with performance 0** — before the top-k
  test, so a block whose best row is wrong gives only its ground truth —, otherwise up to k responses are
  emitted with the row's prompt as input (the trigger kept);
* ``baseline`` (``label-only``) emits the ground-truth examples only, and the whole list is repeated k + 1 times.

Texts are as the original's ``pd.read_csv`` of the release CSV gives them: a null cell, or one of pandas' default
missing-value markers (``""``, ``"NA"``, ``"None"``, ...), becomes ``"nan"``; and every backslash is doubled, since
the release was written with ``escapechar="\\"`` and the original reads it without (a MATH target has
``\\\\boxed``). Rows from an export get the same treatment. Not reproduced: pandas reading an all-numeric text
column as numbers (``"0.50"`` -> ``"0.5"``).
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from fusionbench import catalog, prompts
from fusionbench.build.positions import csv_header
from fusionbench.build.sources import SourceFile, check_header, read_batches, resolve_sources
from fusionbench.fusion.sft.examples import INSTRUCTION, REFERENCE_RELEASE, REFERENCE_TEST_CODE, Example
from fusionbench.fusion.sft.source import SFTSource, refuse_test_split
from fusionbench.schema import RELEASE_ROWS_PER_QUERY, TASKS, THINK_SUFFIX, query_id, split_model_mode

SETTINGS = {"perf": "perf", "judge": "judge", "hybrid": "hybrid", "label-only": "baseline"}
_CODE = ("mbpp", "human_eval")
_MULTIPLE_CHOICE = ("mmlu", "gpqa", "commonsense_qa", "openbook_qa", "arc_challenge", "hellaswag")
#: pandas' default missing-value markers (``read_csv``'s ``na_values``), read as NaN, printed as "nan"
PANDAS_NA = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip
_NP_FLOAT = re.compile(r"np\.float64\((.*?)\)")


def small_models() -> frozenset[str]:
    """The original's "small" pool: the catalogue's models of up to 12B parameters (the same 10 models)."""
    return frozenset(name for name, info in catalog.models().items() if info.size_b <= 12)


def as_text(value: object, *, escaped: bool = False) -> str:
    """A cell as ``str()`` of what pandas read: null and pandas' missing-value markers -> ``"nan"``. ``escaped``:
    the value as the release CSV holds it (its backslashes doubled), for a value read back unescaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    text = str(value).replace("\\", "\\\\") if escaped else str(value)
    return "nan" if text in PANDAS_NA else text


def as_number(value: object) -> float:
    """A performance or judge cell as the original reads it: a float, or a dict's ``pass@1``; else NaN."""
    if value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text in PANDAS_NA:
        return math.nan
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = ast.literal_eval(_NP_FLOAT.sub(r"\1", text))
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return math.nan
    if isinstance(parsed, dict) and "pass@1" in parsed:
        try:
            return float(parsed["pass@1"])
        except (TypeError, ValueError):
            return math.nan
    return math.nan


def as_count(value: object) -> float:
    """An output-token cell as ``pd.to_numeric(errors="coerce")`` reads it."""
    try:
        return float(str(value).strip()) if value is not None else math.nan
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class ReleaseRow:
    """One row as the original reads it (its ``llm`` carries the ``_think`` suffix)."""

    task_name: str
    llm: str
    query: str
    ground_truth: str
    response: str
    performance: float
    judge: float
    output_tokens: float
    query_id: str | None = None
    source: str | None = None


def rows_from_export(source: SFTSource) -> list[ReleaseRow]:
    """An export's rows in the release's order: queries in the export's order, each query's rows by model in
    catalogue order (other models after, by name), the direct row before the chain-of-thought row."""
    table = source.responses
    order_of_model = {name: i for i, name in enumerate(catalog.models())}
    queries = {q["query_id"]: (i, q) for i, q in enumerate(source.queries)}
    columns = {name: table[name].to_pylist() for name in table.column_names}
    keyed = []
    for r in range(table.num_rows):
        found = queries.get(columns["query_id"][r])
        if found is None:
            continue
        model = columns["model"][r]
        keyed.append(((found[0], order_of_model.get(model, len(order_of_model)), model, columns["mode"][r]), r))
    keyed.sort(key=lambda item: (item[0][0], item[0][1], item[0][2], item[0][3] != "direct"))
    rows = []
    for _, r in keyed:
        query = queries[columns["query_id"][r]][1]
        rows.append(
            ReleaseRow(
                task_name=columns["task"][r],
                llm=columns["model"][r] + (THINK_SUFFIX if columns["mode"][r] == "cot" else ""),
                query=as_text(columns["prompt"][r], escaped=True),
                ground_truth=as_text(query.get("ground_truth"), escaped=True),
                response=as_text(columns["response"][r], escaped=True),
                performance=as_number(columns["performance"][r]),
                judge=as_number(columns["judge_score"][r]),
                output_tokens=as_count(columns["output_tokens"][r]),
                query_id=columns["query_id"][r],
                source=columns["source"][r],
            )
        )
    return rows


def _raw_csv(path: Path) -> pa.Table:
    """A release CSV as the original's ``pd.read_csv`` parses it: no escape character, every cell as text."""
    names = csv_header(path)
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False),
    )


def _file_batches(file: SourceFile) -> Iterator[tuple[dict[str, list], int]]:
    if file.format == "csv":
        table = _raw_csv(file.path)
        check_header(table.column_names, str(file.path))
        yield table.to_pydict(), 0
        return
    for batch, before in read_batches(file):  # JSON Lines and Parquet: the cells as written
        yield batch.to_pydict(), before


def _query_ids(escaped: bool) -> Callable[[str, str], str | None]:
    """``(task, prompt) -> query_id`` as the build computes it (None for a task it does not know), cached."""

    @functools.cache
    def query_id_of(task: str, prompt: str) -> str | None:
        if task not in TASKS:
            return None
        text = prompt.replace("\\\\", "\\") if escaped else prompt
        fields = prompts.parse(task, text) or prompts.QueryFields(question=text.strip())
        return query_id(task, fields.question, fields.context, fields.choices or ())

    return query_id_of


def rows_from_files(paths: Sequence[str | Path]) -> list[ReleaseRow]:
    """Release files in file order, each cell as the original reads it (CSV without an escape character), with
    the query id the build would give the row. A file of the test split (``test`` in its name, or a ``test=``
    prefix) is refused."""
    rows = []
    for file in resolve_sources([str(p) for p in paths]):
        refuse_test_split(file.split)
        query_id_of = _query_ids(escaped=file.format == "csv")
        for cells, before in _file_batches(file):
            for i in range(len(cells["llm"])):
                rows.append(
                    ReleaseRow(
                        task_name=as_text(cells["task_name"][i]),
                        llm=as_text(cells["llm"][i]),
                        query=as_text(cells["query"][i]),
                        ground_truth=as_text(cells["ground_truth"][i]),
                        response=as_text(cells["response"][i]),
                        performance=as_number(cells["performance"][i] if "performance" in cells else None),
                        judge=as_number(cells["llm_judge"][i] if "llm_judge" in cells else None),
                        output_tokens=as_count(cells["output_tokens_num"][i] if "output_tokens_num" in cells else None),
                        query_id=query_id_of(cells["task_name"][i] or "", cells["query"][i] or ""),
                        source=f"{file.path.name}:{before + i + 1}",
                    )
                )
    return rows


def _sorted_block(block: list[ReleaseRow], setting: str) -> list[ReleaseRow]:
    def descending(value: float) -> tuple[bool, float]:
        return (math.isnan(value), -value if not math.isnan(value) else 0.0)

    if setting in ("perf", "baseline"):
        return sorted(block, key=lambda r: (descending(r.performance), descending(r.output_tokens)))
    if setting == "judge":
        return sorted(block, key=lambda r: (descending(r.judge), descending(r.output_tokens)))
    if setting == "hybrid":
        return sorted(block, key=lambda r: (descending(r.performance), descending(r.judge)))
    raise ValueError(f"unknown setting {setting!r}; expected one of {', '.join(SETTINGS)}")


def _ground_truth(row: ReleaseRow) -> tuple[str, str]:
    if row.task_name in _CODE:
        return f"[BEGIN]\n {row.ground_truth} \n[DONE]", REFERENCE_TEST_CODE
    if row.task_name in _MULTIPLE_CHOICE:
        return f"({row.ground_truth})", REFERENCE_RELEASE
    return row.ground_truth, REFERENCE_RELEASE


def _example(row: ReleaseRow, kind: str, text_input: str, output: str, **extra) -> Example:
    model, mode = split_model_mode(row.llm)
    perf = None if math.isnan(row.performance) else row.performance
    judge = None if math.isnan(row.judge) else row.judge
    return Example(
        INSTRUCTION, text_input, output, task=row.task_name, kind=kind, query_id=row.query_id, split="train",
        model=model, mode=mode, performance=perf, judge=judge, source=row.source, **extra,
    )  # fmt: skip


def fusionfactory_examples(
    rows: Sequence[ReleaseRow], select: str = "perf", top_k: int = 5, *, allowed_models: frozenset[str] | None = None
) -> tuple[list[Example], int, Counter]:
    """The original's records (as examples with provenance), before the label-only repetition; the number of
    repetitions (k + 1 for label-only, else 1); and what was skipped. ``allowed_models``: the pool (bare model
    names; both modes), e.g. :func:`small_models`."""
    if select not in SETTINGS:
        raise ValueError(f"unknown selection {select!r}; expected one of {', '.join(SETTINGS)}")
    setting = SETTINGS[select]
    skipped: Counter = Counter()
    blocks = len(rows) // RELEASE_ROWS_PER_QUERY
    skipped["trailing_rows"] = len(rows) - blocks * RELEASE_ROWS_PER_QUERY
    examples: list[Example] = []
    for b in range(blocks):
        block = _sorted_block(list(rows[b * RELEASE_ROWS_PER_QUERY : (b + 1) * RELEASE_ROWS_PER_QUERY]), setting)
        emitted_ground_truth, emitted = False, 0
        for rank, row in enumerate(block):
            if allowed_models is not None and split_model_mode(row.llm)[0] not in allowed_models:
                continue
            if not emitted_ground_truth:
                text = row.query.replace("let's think step by step", "").replace("Let's think step by step", "")
                output, reference = _ground_truth(row)
                examples.append(_example(row, "ground_truth", text, output, reference=reference))
                emitted_ground_truth = True
            if row.performance == 0:
                skipped["blocks_stopped_at_wrong_row"] += 1
                break
            if setting != "baseline" and emitted < top_k:
                examples.append(_example(row, "response", row.query, row.response, rank=rank))
                emitted += 1
    repeats = top_k + 1 if setting == "baseline" else 1
    return examples, repeats, skipped


def default_name(select: str, top_k: int) -> str:
    """The original's file name stem: ``{setting}_sft_top_{k}``."""
    return f"{SETTINGS[select]}_sft_top_{top_k}"
