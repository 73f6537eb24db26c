"""RouterBench's wide format (withmartian/routerbench; RouterDC's ``routerbench_zs`` CSVs): one row per
prompt, a correctness column ``<model>``, ``<model>|model_response`` and ``<model>|total_cost`` (USD) per
model, plus ``sample_id``, ``prompt`` and ``eval_name``.

``eval_name`` becomes the task: RouterBench's names for FusionBench tasks are mapped (``mmlu-<subject>`` is
task ``mmlu`` with that subject, ``grade-school-math`` is ``gsm8k``, ``arc-challenge`` is
``arc_challenge``); the others (winogrande, mt-bench, ...) are tasks of their own. A prompt stored as a
Python list literal (``"['...']"``) is read with :func:`ast.literal_eval` (no code runs). The pickle that
RouterBench ships runs code when loaded, so it is refused unless ``trust=True``.

Correctness and cost cells are read as text and checked against the build's valid ranges
(:mod:`fusionbench.build.ranges`): performance in [0, 1], cost >= 0; a bad value is an error naming the file, row,
column, value and range, or with ``lenient=True`` NaN, counted in ``provenance["skipped"]``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.fusion.converters.common import Builder, domain_of, external_query_id
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "routerbench"
RESPONSE_SUFFIX, COST_SUFFIX = "|model_response", "|total_cost"
#: RouterBench eval names of FusionBench tasks
TASK_NAMES = {
    "grade-school-math": "gsm8k",
    "gsm8k": "gsm8k",
    "arc-challenge": "arc_challenge",
    "hellaswag": "hellaswag",
    "mbpp": "mbpp",
    "mmlu": "mmlu",
}
EXTRA_DOMAINS = {"winogrande": "commonsense", "mt_bench": "open_ended", "consensus_summary": "summarization"}


def task_of(eval_name: str) -> tuple[str, str | None]:
    """(task, subject) of a RouterBench ``eval_name``."""
    name = eval_name.strip().lower()
    if name.startswith("mmlu-"):
        return "mmlu", name.removeprefix("mmlu-")
    if name in TASK_NAMES:
        return TASK_NAMES[name], None
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "unknown", None


def _prompt_text(prompt: Any) -> str:
    """The prompt as text: a list literal's items joined by blank lines, anything else as it is."""
    if isinstance(prompt, (list, tuple)):
        return "\n\n".join(str(p) for p in prompt)
    text = str(prompt)
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(parsed, (list, tuple)):
            return "\n\n".join(str(p) for p in parsed)
    return text


def _read(path: Path, trust: bool) -> Any:
    import pandas as pd

    if path.suffix in (".pkl", ".pickle"):
        if not trust:
            raise PermissionError(
                f"{path}: a pickle runs code when it is loaded; convert only a file you trust, with trust=True "
                "(or use RouterBench's CSV)"
            )
        return pd.read_pickle(path)
    models = _models(list(pd.read_csv(path, nrows=0).columns))
    values = [*models, *(m + COST_SUFFIX for m in models)]  # read as written, checked one by one
    return pd.read_csv(path, keep_default_na=True, dtype=dict.fromkeys(values, str))


def _models(columns: list[str]) -> list[str]:
    """The model columns: those with a ``<model>|model_response`` or ``<model>|total_cost`` column."""
    names = set(columns)
    return [c for c in columns if "|" not in c and {c + RESPONSE_SUFFIX, c + COST_SUFFIX} & names]


_BOOLS = {"True": 1.0, "False": 0.0}


def _value(check: ValueCheck, number: int, column: str, field: str, value: Any) -> float:
    """A correctness (``field`` "performance") or cost ("cost_usd") cell, in its valid range (see the docstring)."""
    if isinstance(value, str) and value.strip() in _BOOLS:  # a boolean correctness column
        value = _BOOLS[value.strip()]
    return check.value(value, field, column=column, row=number)


def convert(
    path: str | Path,
    *,
    trust: bool = False,
    with_responses: bool = True,
    incomplete: Incomplete = "error",
    lenient: bool = False,
) -> RoutingData:
    """RoutingData of a RouterBench wide file (CSV; a pickle only with ``trust=True``). Split "test"."""
    file = Path(path)
    frame = _read(file, trust)
    check = ValueCheck(file, lenient=lenient)
    missing = [c for c in ("prompt", "eval_name") if c not in frame.columns]
    if missing:
        raise BadInputError(str(file), f"missing columns {missing} (not RouterBench's wide format?)")
    models = _models(list(frame.columns))
    if not models:
        raise BadInputError(str(file), "no model columns (a model has '<model>|model_response' or '|total_cost')")
    no_cost = [m for m in models if f"{m}{COST_SUFFIX}" not in frame.columns]
    builder = Builder(KIND, [Candidate(f"{m}/direct", m, "direct") for m in models], with_responses=with_responses)
    seen: dict[str, int] = {}
    for number, row in enumerate(frame.to_dict("records"), 1):
        task, subject = task_of(str(row["eval_name"]))
        text = _prompt_text(row["prompt"])
        key = str(row.get("sample_id") or "")
        query_id = external_query_id(KIND, task, text, key)
        if query_id in seen:
            raise BadInputError(str(file), f"repeats row {seen[query_id]} (same sample_id and prompt)", row=number)
        seen[query_id] = number
        builder.add(
            query_id=query_id,
            task=task,
            domain=domain_of(task, EXTRA_DOMAINS),
            text=text,
            split="test",
            subject=subject,
            performance=[_value(check, number, m, "performance", row[m]) for m in models],
            cost=[_value(check, number, m + COST_SUFFIX, "cost_usd", row.get(m + COST_SUFFIX)) for m in models],
            responses=[_response(row.get(m + RESPONSE_SUFFIX)) for m in models],
        )
    builder.nulled(check)
    provenance = {
        "path": str(file),
        "models_without_cost_column": no_cost,
        "cost_unit": "USD per call (total_cost)",
    }
    return builder.build(source=f"routerbench:{file.name}", provenance=provenance, incomplete=incomplete)


def _response(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return _prompt_text(value)
