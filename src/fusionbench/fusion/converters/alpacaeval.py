"""AlpacaEval 2.0's judge preferences as routing data: the compact matrices of ``alpacaeval2/`` (derived from
tatsu-lab/alpaca_eval ``results/<model>/weighted_alpaca_eval_gpt4_turbo/annotations.json``; see its SOURCES.md).

``alpacaeval2_preference_matrix.csv``: one row per model (``model``, then one column per item id), the weighted
GPT-4-Turbo preference in [1, 2] over the reference ``gpt4_1106_preview`` (2: the model wins); a blank cell is no
annotation (NaN, never 0). Performance = preference - 1, a fractional score in [0, 1] (the model's win
probability). ``alpacaeval2_items.csv``: item_id, dataset (the source subset, kept as the subject) and instruction.
One task, ``alpacaeval``, domain ``instruction``; no costs or tokens (NaN); no split (every item is "test").
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fusionbench.errors import BadInputError
from fusionbench.fusion.converters.common import Builder, external_query_id, find_file
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "alpacaeval2"
PREFERENCES, ITEMS = "alpacaeval2_preference_matrix.csv", "alpacaeval2_items.csv"


def _number(path: Path, line: int, column: str, text: str) -> float:
    if text.strip() == "":
        return np.nan
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(str(path), f"not a number: {text!r}", line=line, column=column) from None
    if not 1.0 <= value <= 2.0:
        raise BadInputError(str(path), f"preference {value} outside [1, 2]", line=line, column=column)
    return value - 1.0


def convert(path: str | Path, *, incomplete: Incomplete = "error", lenient: bool = False) -> RoutingData:
    """RoutingData of the AlpacaEval 2.0 folder (or its preference matrix file) at ``path``. ``lenient`` is
    accepted for the converters' common signature; every value is checked."""
    matrix_file = find_file(Path(path), PREFERENCES)
    items_file = matrix_file.parent / ITEMS
    items: dict[str, tuple[str, str]] = {}
    with items_file.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"item_id", "dataset", "instruction"} <= set(reader.fieldnames):
            raise BadInputError(str(items_file), "expected the columns item_id, dataset, instruction", line=1)
        for row in reader:
            items[row["item_id"]] = (row["dataset"], row["instruction"])
    with matrix_file.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or rows[0][:1] != ["model"]:
        raise BadInputError(str(matrix_file), "expected a header starting with 'model'", line=1)
    item_ids = rows[0][1:]
    unknown = [i for i in item_ids if i not in items]
    if unknown:
        raise BadInputError(str(matrix_file), f"item ids not in {ITEMS}: {unknown[:3]}", line=1)
    models, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(rows[0]):
            raise BadInputError(str(matrix_file), f"{len(row)} cells where the header has {len(rows[0])}", line=line)
        models.append(row[0])
        values.append([_number(matrix_file, line, item, cell) for item, cell in zip(item_ids, row[1:], strict=True)])
    scores = np.array(values).T  # [items, models]
    builder = Builder(KIND, [Candidate(f"{m}/direct", m, "direct") for m in models])
    for j, item in enumerate(item_ids):
        subset, text = items[item]
        builder.add(query_id=external_query_id(KIND, "alpacaeval", text, item), task="alpacaeval",
                    domain="instruction", text=text, split="test", subject=subset, metric="judge_preference",
                    performance=scores[j].tolist())  # fmt: skip
    provenance = {"path": str(matrix_file), "note": "performance = weighted GPT-4-Turbo preference - 1 (win prob.)"}
    data = builder.build(source="alpaca_eval:weighted_alpaca_eval_gpt4_turbo", provenance=provenance,
                         incomplete=incomplete)  # fmt: skip
    return data
