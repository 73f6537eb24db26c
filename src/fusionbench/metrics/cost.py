"""Cost in USD from token counts and a versioned price sheet, and re-pricing under other sheets.

``cost = input_tokens * input_price / 1e6 + output_tokens * output_price / 1e6`` (prices are USD per
million tokens). Nothing is ever free by accident: a row whose model has no price in the sheet raises
:class:`MissingPriceError` (``on_missing_price="error"``, the default) or is excluded and counted
(``"exclude"``); a row with a missing token count is always excluded and counted, never priced as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fusionbench.catalog import DEFAULT_PRICE_SHEET, PriceSheet, load_price_sheet

OnMissingPrice = Literal["error", "exclude"]
SheetLike = PriceSheet | str | Path


class MissingPriceError(ValueError):
    """A row's model has no price in the price sheet."""


def as_price_sheet(sheet: SheetLike) -> PriceSheet:
    """A :class:`PriceSheet` as is, or a shipped sheet's name / a JSON path loaded."""
    return sheet if isinstance(sheet, PriceSheet) else load_price_sheet(sheet)


def _tokens(values: Sequence[Any], name: str) -> np.ndarray:
    out = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if np.any(out[~np.isnan(out)] < 0):
        raise ValueError(f"{name} has negative token counts")
    return out


def _priced(
    models: Sequence[str],
    input_tokens: Sequence[int | None],
    output_tokens: Sequence[int | None],
    sheet: PriceSheet,
    on_missing_price: OnMissingPrice,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost per row with NaN where unpriced, missing-token mask, no-price mask)."""
    if on_missing_price not in ("error", "exclude"):
        raise ValueError(f"on_missing_price must be 'error' or 'exclude', not {on_missing_price!r}")
    tokens_in, tokens_out = _tokens(input_tokens, "input_tokens"), _tokens(output_tokens, "output_tokens")
    if not len(models) == len(tokens_in) == len(tokens_out):
        raise ValueError(
            f"models ({len(models)}), input_tokens ({len(tokens_in)}) and output_tokens ({len(tokens_out)}) "
            "differ in length"
        )
    prices = [sheet.price(m) for m in models]
    unpriced = sorted({m for m, p in zip(models, prices, strict=True) if p is None})
    if unpriced and on_missing_price == "error":
        raise MissingPriceError(
            f"price sheet {sheet.name!r} has no price for {unpriced}; "
            "use another sheet or on_missing_price='exclude' to leave those rows out (counted)"
        )
    price_in = np.array([math.nan if p is None else p[0] for p in prices], dtype=np.float64)
    price_out = np.array([math.nan if p is None else p[1] for p in prices], dtype=np.float64)
    costs = (tokens_in * price_in + tokens_out * price_out) / 1e6
    no_price = np.array([p is None for p in prices], dtype=bool).reshape(len(models))
    return costs, np.isnan(tokens_in) | np.isnan(tokens_out), no_price


def row_costs(
    models: Sequence[str],
    input_tokens: Sequence[int | None],
    output_tokens: Sequence[int | None],
    sheet: SheetLike = DEFAULT_PRICE_SHEET,
    on_missing_price: OnMissingPrice = "error",
) -> np.ndarray:
    """USD cost of each row; NaN where a token count is missing or (with ``"exclude"``) the price is."""
    return _priced(list(models), input_tokens, output_tokens, as_price_sheet(sheet), on_missing_price)[0]


def cost_summary(
    models: Sequence[str],
    input_tokens: Sequence[int | None],
    output_tokens: Sequence[int | None],
    sheet: SheetLike = DEFAULT_PRICE_SHEET,
    performance: Sequence[float | None] | None = None,
    on_missing_price: OnMissingPrice = "error",
) -> dict[str, Any]:
    """Total, mean per query (row) and per-correct-answer cost under one price sheet.

    Returns ``price_sheet``, ``price_date``, ``price_source``, ``total_usd``, ``mean_usd_per_query``
    (over priced rows), ``n``, ``n_priced``, ``n_missing_tokens``, ``n_missing_price``,
    ``models_without_price``, ``by_model`` (total_usd, n_priced) and, when ``performance`` is given,
    ``n_correct`` (sum of performance over priced rows that have one) and ``cost_per_correct_usd``
    (cost of those rows / n_correct; None when n_correct is 0). Rows with a price but no
    performance count in the totals, not in the per-correct figure.
    """
    sheet = as_price_sheet(sheet)
    models = list(models)
    costs, missing_tokens, no_price = _priced(models, input_tokens, output_tokens, sheet, on_missing_price)
    priced = ~np.isnan(costs)
    by_model: dict[str, dict[str, Any]] = {}
    for model, cost in zip(models, costs, strict=True):
        entry = by_model.setdefault(model, {"total_usd": 0.0, "n_priced": 0})
        if not math.isnan(cost):
            entry["total_usd"] += float(cost)
            entry["n_priced"] += 1
    total = float(costs[priced].sum())
    out: dict[str, Any] = {
        "price_sheet": sheet.name,
        "price_date": sheet.date,
        "price_source": sheet.source,
        "total_usd": total,
        "mean_usd_per_query": total / int(priced.sum()) if priced.any() else None,
        "n": len(models),
        "n_priced": int(priced.sum()),
        "n_missing_tokens": int(missing_tokens.sum()),
        "n_missing_price": int((no_price & ~missing_tokens).sum()),
        "models_without_price": sorted({m for m, bad in zip(models, no_price, strict=True) if bad}),
        "by_model": by_model,
    }
    if performance is not None:
        perf = np.array([np.nan if p is None else float(p) for p in performance], dtype=np.float64)
        if len(perf) != len(models):
            raise ValueError(f"performance ({len(perf)}) and models ({len(models)}) differ in length")
        both = priced & ~np.isnan(perf)
        n_correct = float(perf[both].sum())
        out["n_correct"] = n_correct
        out["cost_per_correct_usd"] = float(costs[both].sum()) / n_correct if n_correct > 0 else None
    return out


def reprice(
    models: Sequence[str],
    input_tokens: Sequence[int | None],
    output_tokens: Sequence[int | None],
    sheets: Sequence[SheetLike],
    performance: Sequence[float | None] | None = None,
    on_missing_price: OnMissingPrice = "error",
) -> dict[str, dict[str, Any]]:
    """The same rows priced under each sheet: ``{sheet name: cost_summary(...)}``."""
    out: dict[str, dict[str, Any]] = {}
    for sheet in sheets:
        summary = cost_summary(models, input_tokens, output_tokens, sheet, performance, on_missing_price)
        out[summary["price_sheet"]] = summary
    return out
