"""The one canonical schema of fusionbench: tasks, modes, and the Arrow schemas of every table.

Every other module imports its column names and types from here. There are three tables:

* **responses** (configs ``<task>`` and ``all``): one row per (query, model, mode, sample);
* **queries**: one row per query, with both prompts, the gold answer and the fields scorers need;
* **models**: one row per model, with the id that really generated its rows and its prices.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

#: task -> domain, in the release's order.
TASK_DOMAINS: dict[str, str] = {
    "gsm8k": "math",
    "math": "math",
    "mbpp": "code",
    "human_eval": "code",
    "commonsense_qa": "commonsense",
    "openbook_qa": "commonsense",
    "arc_challenge": "commonsense",
    "hellaswag": "commonsense",
    "natural_qa": "world_knowledge",
    "trivia_qa": "world_knowledge",
    "squad": "reading",
    "boolq": "reading",
    "mmlu": "popular",
    "gpqa": "popular",
}
TASKS: tuple[str, ...] = tuple(TASK_DOMAINS)
DOMAINS: tuple[str, ...] = tuple(dict.fromkeys(TASK_DOMAINS.values()))
#: task -> the family of its scoring rule (one scorer per family in :mod:`fusionbench.metrics`).
TASK_FAMILIES: dict[str, str] = {
    "gsm8k": "number",
    "math": "boxed_math",
    "mbpp": "code",
    "human_eval": "code",
    **dict.fromkeys(["commonsense_qa", "openbook_qa", "arc_challenge", "hellaswag", "mmlu", "gpqa"], "multiple_choice"),
    **dict.fromkeys(["natural_qa", "trivia_qa", "squad"], "qa"),
    "boolq": "boolean",
}


def tasks_of_family(family: str) -> frozenset[str]:
    """The tasks scored by one family's rule."""
    return frozenset(task for task, f in TASK_FAMILIES.items() if f == family)


CODE_TASKS: frozenset[str] = tasks_of_family("code")
MULTIPLE_CHOICE_TASKS: frozenset[str] = tasks_of_family("multiple_choice")
#: Open-answer QA (contains-match, token F1): natural_qa, trivia_qa, squad.
QA_TASKS: frozenset[str] = tasks_of_family("qa")

#: Queries-table columns the scorers read, besides task, response and ground truth.
SCORER_FIELDS: tuple[str, ...] = (
    "choices",
    "choice_labels",
    "context",
    "test_list",
    "test_setup_code",
    "function_stub",
    "entry_point",
)

#: The metric name the release stores for each task.
RELEASE_METRICS: dict[str, str] = {
    **dict.fromkeys(["natural_qa", "trivia_qa", "squad", "boolq"], "cem"),
    **dict.fromkeys(sorted(MULTIPLE_CHOICE_TASKS), "em_mc"),
    "gsm8k": "GSM8K",
    "math": "MATH",
    "mbpp": "code_eval",
    "human_eval": "code_eval",
}

#: The release's two prompt modes: every release query was asked directly and with chain-of-thought.
RELEASE_MODES: tuple[str, ...] = ("direct", "cot")
#: Every prompt mode a responses row may have: the release's two, and ``thought`` (the query's direct prompt
#: augmented with retrieved thought templates, written by ``fusionbench thoughts apply``).
MODES: tuple[str, ...] = (*RELEASE_MODES, "thought")
#: The score columns a responses table may hold: the release's, and ours (``fusionbench rescore --write``).
SCORE_COLUMNS: dict[str, str] = {"released": "performance", "rescored": "rescored_performance"}
#: The release marks chain-of-thought rows by this suffix on the model name.
THINK_SUFFIX = "_think"
SPLITS: tuple[str, ...] = ("train", "test")
#: Release split names -> ours.
SPLIT_ALIASES: dict[str, str] = {"train": "train", "test": "test", "partial_test": "test"}
#: Rows per query in the release: 20 models x 2 modes.
RELEASE_ROWS_PER_QUERY = 40
#: Who counted the release's tokens (the GPT-2 tokenizer, for every model).
RELEASE_TOKEN_COUNTER = "gpt2"

#: The release's 18 columns, in order.
RELEASE_COLUMNS: tuple[str, ...] = (
    "task_name",
    "task_id",
    "task_description",
    "task_description_embedding",
    "query",
    "query_embedding",
    "ground_truth",
    "metric",
    "llm",
    "input_price",
    "output_price",
    "input_tokens_num",
    "output_tokens_num",
    "performance",
    "cost",
    "response",
    "llm_description",
    "llm_judge",
)
#: Columns a release file must have; the others are optional (null when absent).
RELEASE_REQUIRED_COLUMNS: tuple[str, ...] = ("task_name", "query", "ground_truth", "llm", "response")

#: Values of the per-row and per-query ``flags`` columns.
FLAGS: dict[str, str] = {
    "missing_response": "the response is null or empty (generation failed)",
    "duplicate": "another row had the same (query, model, mode); the first one is kept",
    "model_id_swapped": "the release's model name does not match the model that generated the row",
    "arc_digit_labels": "ARC item with digit labels (1-4): the release's letter regex can never score it",
    "mmlu_auxiliary_train": "MMLU 'train' item drawn from auxiliary_train (ARC/OBQA/RACE-style), not MMLU",
    "gpqa_label_unverified": "GPQA answer letter may be wrong after the release's option shuffle",
    "rows_not_40": "the query has other than 40 rows (20 models x 2 modes) in the release",
    "unparsed_prompt": "the prompt did not match the task's template; query holds the whole prompt",
    "unparsed_value": "a numeric or performance value could not be parsed and is null",
    "invalid_value": "a value outside its valid range (negative tokens, price or cost; performance or judge score "
    "outside [0, 1]) or an embedding of another dimension than its split's was set to null (--lenient builds)",
}

#: Inclusive (low, high) bounds of the responses table's numeric columns; the build refuses a value outside them
#: (with ``--lenient``: null, counted and flagged ``invalid_value``). Token counts must also be whole numbers.
VALID_RANGES: dict[str, tuple[float, float]] = {
    "input_tokens": (0, math.inf),
    "output_tokens": (0, math.inf),
    "input_price": (0.0, math.inf),
    "output_price": (0.0, math.inf),
    "cost_usd": (0.0, math.inf),
    "performance": (0.0, 1.0),
    "judge_score": (0.0, 1.0),
}


def doc_field(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    """An Arrow field with its description in the metadata (``doc``), as every fusionbench table documents its
    columns (the cards render them)."""
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


RESPONSE_SCHEMA = pa.schema(
    [
        doc_field("query_id", pa.string(), "stable hash of task + bare query (+ context and options)", False),
        doc_field("task", pa.string(), "one of the 14 task names", False),
        doc_field("domain", pa.string(), "math, code, commonsense, world_knowledge, reading or popular", False),
        doc_field("split", pa.string(), "train or test (the release's partial_test)", False),
        doc_field("model", pa.string(), "canonical model name, without the _think suffix", False),
        doc_field("mode", pa.string(), "direct, cot (chain-of-thought) or thought (with thought templates)", False),
        doc_field("sample", pa.int32(), "sample index for this (query, model, mode), 0 in the release", False),
        doc_field("query", pa.string(), "the bare question, without the instruction template", False),
        doc_field("prompt", pa.string(), "the exact text sent to the model", False),
        doc_field("ground_truth", pa.string(), "gold answer as released (tests for code tasks)"),
        doc_field("metric", pa.string(), "the release's metric name (cem, em_mc, GSM8K, MATH, code_eval)"),
        doc_field("response", pa.string(), "the model's response; null if never generated"),
        doc_field("input_tokens", pa.int64(), "prompt tokens, counted by token_counter"),
        doc_field("output_tokens", pa.int64(), "response tokens, counted by token_counter"),
        doc_field("token_counter", pa.string(), "tokenizer that counted the tokens (gpt2 for the release)"),
        doc_field("input_price", pa.float64(), "USD per million input tokens"),
        doc_field("output_price", pa.float64(), "USD per million output tokens"),
        doc_field("cost_usd", pa.float64(), "cost of this call in USD (the release's cost / 1e6)"),
        doc_field("performance", pa.float64(), "score in [0, 1] as released; null if unscored"),
        doc_field("judge_score", pa.float64(), "LLM-judge score in [0, 1]; null if missing"),
        doc_field("judge_model", pa.string(), "model that produced judge_score; null if unknown"),
        doc_field("source", pa.string(), "file (and row) or run this row came from", False),
        doc_field("flags", pa.list_(pa.string()), "data-quality flags, see the card's flag table", False),
    ]
)

QUERY_SCHEMA = pa.schema(
    [
        doc_field("query_id", pa.string(), "stable hash of task + bare query (+ context and options)", False),
        doc_field("task", pa.string(), "one of the 14 task names", False),
        doc_field("domain", pa.string(), "the task's domain", False),
        doc_field("split", pa.string(), "train or test", False),
        doc_field("query", pa.string(), "the bare question", False),
        doc_field("context", pa.string(), "passage for squad/boolq, null elsewhere"),
        doc_field("choices", pa.list_(pa.string()), "option texts for multiple-choice tasks"),
        doc_field("choice_labels", pa.list_(pa.string()), "option labels (A, B, ... or 1, 2, ...)"),
        doc_field("prompt_direct", pa.string(), "exact direct prompt"),
        doc_field("prompt_cot", pa.string(), "exact chain-of-thought prompt"),
        doc_field("ground_truth", pa.string(), "gold answer as released (tests for code tasks)"),
        doc_field("metric", pa.string(), "the release's metric name"),
        doc_field("source_task_id", pa.string(), "the benchmark's own id (MBPP / HumanEval task_id)"),
        doc_field("entry_point", pa.string(), "HumanEval: name of the function under test"),
        doc_field("function_stub", pa.string(), "HumanEval: signature and docstring given to the model"),
        doc_field("test_list", pa.list_(pa.string()), "MBPP: the assert statements"),
        doc_field("test_setup_code", pa.string(), "MBPP: code run before the tests"),
        doc_field("embedding", pa.list_(pa.float32()), "the release's 768-d Longformer query embedding"),
        doc_field("task_description", pa.string(), "the release's task description"),
        doc_field("task_description_embedding", pa.list_(pa.float32()), "embedding of task_description"),
        doc_field("n_rows", pa.int32(), "response rows found for this query", False),
        doc_field("flags", pa.list_(pa.string()), "data-quality flags of the query", False),
    ]
)

MODEL_SCHEMA = pa.schema(
    [
        doc_field("model", pa.string(), "canonical model name used in the responses tables", False),
        doc_field("generated_by", pa.string(), "API id of the model that really generated the rows"),
        doc_field("id_swapped", pa.bool_(), "true when generated_by is not the model the name says", False),
        doc_field("size_b", pa.float64(), "parameters, in billions"),
        doc_field("input_price", pa.float64(), "USD per million input tokens"),
        doc_field("output_price", pa.float64(), "USD per million output tokens"),
        doc_field("price_date", pa.string(), "date the prices were valid (ISO 8601)"),
        doc_field("price_source", pa.string(), "where the prices come from"),
        doc_field("description", pa.string(), "the release's model description"),
        doc_field("n_rows", pa.int64(), "response rows of this model in the export", False),
    ]
)

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "responses": RESPONSE_SCHEMA,
    "queries": QUERY_SCHEMA,
    "models": MODEL_SCHEMA,
}


#: The columns that identify a response row: adding rows with the same key replaces, never duplicates.
ROW_KEY: tuple[str, ...] = ("query_id", "split", "model", "mode", "sample")


def row_keys(table: pa.Table) -> pa.Array:
    """One string per row joining its :data:`ROW_KEY` values, for set lookups between tables."""
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(*[pc.cast(table[c], pa.string()) for c in ROW_KEY], "\x1f")


def score_column(choice: str) -> str:
    """The column of a score choice: ``"released"``/``"performance"`` or ``"rescored"``/``"rescored_performance"``."""
    if choice in SCORE_COLUMNS:
        return SCORE_COLUMNS[choice]
    if choice in SCORE_COLUMNS.values():
        return choice
    options = ", ".join(f"{name} ({column})" for name, column in SCORE_COLUMNS.items())
    raise ValueError(f"unknown score {choice!r}; expected one of {options}")


def column_docs(schema: pa.Schema) -> list[tuple[str, str, str]]:
    """(name, Arrow type, description) for each column of ``schema``, for the dataset card."""
    return [(f.name, str(f.type), (f.metadata or {}).get(b"doc", b"").decode()) for f in schema]


def query_id(task: str, query: str, context: str | None = None, choices: Sequence[str] = ()) -> str:
    """Stable 16-hex-digit id of a query: a SHA-256 of task, bare query, context and options."""
    parts = [task, query, context or "", *choices]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def split_model_mode(llm: str) -> tuple[str, str]:
    """``'x_think'`` -> ``('x', 'cot')``; ``'x'`` -> ``('x', 'direct')``."""
    if llm.endswith(THINK_SUFFIX):
        return llm[: -len(THINK_SUFFIX)], "cot"
    return llm, "direct"


@dataclass(frozen=True)
class ModelInfo:
    """One model of the catalogue (see :mod:`fusionbench.catalog`)."""

    name: str
    size_b: float
    generated_by: str
    description: str

    @property
    def id_swapped(self) -> bool:
        """True when the API id that generated the rows is not the model the name says."""
        return not self.generated_by.endswith("/" + self.name)
