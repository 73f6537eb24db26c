"""Build canonical response rows for new generations (lm-eval logs, the generation runner)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fusionbench.catalog import PriceSheet
from fusionbench.metrics import score_batch
from fusionbench.metrics.cost import row_costs
from fusionbench.schema import RESPONSE_SCHEMA, SCORER_FIELDS


@dataclass
class NewResponse:
    """One generated response to a query of an export, before scoring and pricing."""

    query: dict  # a row of the queries table
    model: str
    mode: str
    sample: int
    prompt: str
    response: str | None
    input_tokens: int | None
    output_tokens: int | None
    token_counter: str | None
    source: str


def build_rows(
    responses: Sequence[NewResponse], sheet: PriceSheet | None, *, workers: int | None = None, timeout: float = 3.0
) -> pa.Table:
    """Score every response with :mod:`fusionbench.metrics`, price it with ``sheet``; a response with
    no price keeps a null cost (and a warning names the model), never a zero."""
    scores = score_batch(
        [r.query["task"] for r in responses],
        [r.response for r in responses],
        [r.query["ground_truth"] for r in responses],
        [{k: r.query.get(k) for k in SCORER_FIELDS} for r in responses],
        workers=workers,
        timeout=timeout,
    )
    costs = (
        row_costs(
            [r.model for r in responses], [r.input_tokens for r in responses], [r.output_tokens for r in responses],
            sheet, on_missing_price="exclude",
        )
        if sheet is not None
        else np.full(len(responses), np.nan)
    )  # fmt: skip
    unpriced = sorted({r.model for r in responses if sheet is None or sheet.price(r.model) is None})
    if unpriced:
        where = f"price sheet {sheet.name!r} has" if sheet else "no price sheet given, so"
        warnings.warn(f"{where} no price for {', '.join(unpriced)}: cost_usd left null", stacklevel=2)
    rows = []
    for r, performance, cost in zip(responses, scores, costs.tolist(), strict=True):
        price = sheet.price(r.model) if sheet else None
        rows.append(
            {
                "query_id": r.query["query_id"],
                "task": r.query["task"],
                "domain": r.query["domain"],
                "split": r.query["split"],
                "model": r.model,
                "mode": r.mode,
                "sample": r.sample,
                "query": r.query["query"],
                "prompt": r.prompt,
                "ground_truth": r.query["ground_truth"],
                "metric": r.query["metric"],
                "response": r.response,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "token_counter": r.token_counter,
                "input_price": price[0] if price else None,
                "output_price": price[1] if price else None,
                "cost_usd": None if math.isnan(cost) else cost,
                "performance": performance,
                "judge_score": None,
                "judge_model": None,
                "source": r.source,
                "flags": [] if r.response else ["missing_response"],
            }
        )
    return pa.Table.from_pylist(rows, schema=RESPONSE_SCHEMA)
