"""Cost from tokens and versioned price sheets: the release's prices, re-pricing, and no free rows."""

from __future__ import annotations

import csv
import json
import math
import sys
from importlib import resources

import pytest

from fusionbench.catalog import PriceSheet, load_price_sheet, price_sheet_names
from fusionbench.metrics import MissingPriceError, cost_summary, reprice, row_costs
from fusionbench.schema import split_model_mode

RELEASE, ILLUSTRATIVE = "fusionbench-release-2025", "illustrative-output-4x"


def test_shipped_sheets_are_versioned_and_honest() -> None:
    assert {RELEASE, ILLUSTRATIVE} <= set(price_sheet_names())
    release, other = load_price_sheet(RELEASE), load_price_sheet(ILLUSTRATIVE)
    assert release.date and release.source and other.date != release.date
    assert "illustrative" in other.source.lower() and "not" in other.source.lower()
    assert set(other.prices) == set(release.prices)
    for model, (price_in, price_out) in other.prices.items():
        assert price_in == release.prices[model][0] and price_out == pytest.approx(4 * price_in)
    assert release.price("deepseek-r1") == (0.55, 2.19)


#: The release's prices ($ per million tokens, in / out), typed from the release notes (the FusionBench code's
#: price table), not from the package's sheet: the independent source the sheet is checked against.
RELEASE_NOTES_PRICES = {
    "qwen2-7b-instruct": (0.2, 0.2), "qwen2.5-7b-instruct": (0.2, 0.2), "gemma-7b": (0.2, 0.2),
    "codegemma-7b": (0.2, 0.2), "gemma-2-9b-it": (0.1, 0.1), "llama-3.1-8b-instruct": (0.2, 0.2),
    "granite-3.0-8b-instruct": (0.2, 0.2), "llama3-chatqa-1.5-8b": (0.2, 0.2), "mistral-nemo-12b-instruct": (0.3, 0.3),
    "mistral-7b-instruct-v0.3": (0.2, 0.2), "llama-3.3-nemotron-super-49b-v1": (0.9, 0.9),
    "llama-3.1-nemotron-51b-instruct": (0.9, 0.9), "llama3-chatqa-1.5-70b": (0.9, 0.9),
    "llama-3.1-70b-instruct": (0.9, 0.9), "llama3-70b-instruct": (0.9, 0.9), "granite-34b-code-instruct": (0.8, 0.8),
    "mixtral-8x7b-instruct-v0.1": (0.6, 0.6), "deepseek-r1": (0.55, 2.19), "mixtral-8x22b-instruct-v0.1": (1.2, 1.2),
    "palmyra-creative-122b": (1.8, 1.8),
}  # fmt: skip


def test_release_sheet_matches_the_release_notes() -> None:
    assert load_price_sheet(RELEASE).prices == RELEASE_NOTES_PRICES


def test_release_sheet_is_tokens_times_price() -> None:
    models = ["gemma-2-9b-it", "deepseek-r1", "palmyra-creative-122b"]
    costs = row_costs(models, [1000, 1000, 10], [500, 2000, 0], RELEASE)
    expected = [(1000 * 0.1 + 500 * 0.1) / 1e6, (1000 * 0.55 + 2000 * 2.19) / 1e6, 10 * 1.8 / 1e6]
    assert costs.tolist() == pytest.approx(expected)


def test_row_costs_agree_with_the_sample_release_costs() -> None:
    """A consistency check of the pricing code against the cost column of the sample (which the generator wrote
    from the same sheet: the prices themselves are checked against the release notes above)."""
    csv.field_size_limit(sys.maxsize)
    text = resources.files("fusionbench.synthetic").joinpath("sample", "train.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    models = [split_model_mode(r["llm"])[0] for r in rows]
    tokens_in = [int(r["input_tokens_num"]) if r["input_tokens_num"] else None for r in rows]
    tokens_out = [int(r["output_tokens_num"]) if r["output_tokens_num"] else None for r in rows]
    costs = row_costs(models, tokens_in, tokens_out, RELEASE)
    checked = 0
    for row, cost in zip(rows, costs, strict=True):
        if row["cost"] and not math.isnan(cost):
            assert cost == pytest.approx(float(row["cost"]) / 1e6, rel=1e-9)  # the release stores micro-dollars
            checked += 1
    assert checked > 1000
    summary = cost_summary(models, tokens_in, tokens_out, RELEASE)
    assert summary["n_missing_tokens"] == sum(t is None for t in tokens_in) > 0  # counted, not priced at 0
    assert summary["n_priced"] == checked


def test_repricing_changes_totals_as_expected() -> None:
    models, tokens_in, tokens_out = ["gemma-7b", "llama-3.1-70b-instruct"], [1000, 2000], [100, 300]
    both = reprice(models, tokens_in, tokens_out, [RELEASE, ILLUSTRATIVE], performance=[1.0, 0.0])
    release = (1000 * 0.2 + 100 * 0.2 + 2000 * 0.9 + 300 * 0.9) / 1e6
    illustrative = (1000 * 0.2 + 100 * 0.8 + 2000 * 0.9 + 300 * 3.6) / 1e6
    assert both[RELEASE]["total_usd"] == pytest.approx(release)
    assert both[ILLUSTRATIVE]["total_usd"] == pytest.approx(illustrative)
    assert both[ILLUSTRATIVE]["price_date"] == "2026-11"
    assert both[RELEASE]["mean_usd_per_query"] == pytest.approx(release / 2)
    assert both[RELEASE]["n_correct"] == 1.0 and both[RELEASE]["cost_per_correct_usd"] == pytest.approx(release)


def test_missing_price_is_an_error_or_a_counted_exclusion() -> None:
    sheet = PriceSheet(name="partial", date="2025-01", source="test", prices={"a": (1.0, 2.0)})
    with pytest.raises(MissingPriceError, match="'b'"):
        cost_summary(["a", "b"], [10, 10], [10, 10], sheet)
    r = cost_summary(["a", "b", "b"], [10, 10, None], [10, 10, 10], sheet, on_missing_price="exclude")
    assert r["total_usd"] == pytest.approx(30 / 1e6)  # only row a; b is excluded, never free
    assert r["n_priced"] == 1 and r["n_missing_price"] == 1 and r["n_missing_tokens"] == 1
    assert r["models_without_price"] == ["b"]
    with pytest.raises(ValueError, match="on_missing_price"):
        cost_summary(["a"], [1], [1], sheet, on_missing_price="free")


def test_missing_tokens_are_excluded_and_counted(tmp_path) -> None:
    path = tmp_path / "sheet.json"
    path.write_text(
        json.dumps(
            {"name": "file", "date": "2024-06", "source": "a test file", "prices": {"a": {"input": 1, "output": 1}}}
        )
    )
    r = cost_summary(["a", "a", "a"], [1_000_000, None, 5], [0, 7, None], path, performance=[1.0, 1.0, None])
    assert r["price_sheet"] == "file" and r["total_usd"] == 1.0 and r["n_missing_tokens"] == 2
    assert r["mean_usd_per_query"] == 1.0 and r["n_correct"] == 1.0 and r["cost_per_correct_usd"] == 1.0
    assert cost_summary(["a"], [None], [None], path)["mean_usd_per_query"] is None
    with pytest.raises(ValueError, match="negative"):
        row_costs(["a"], [-1], [0], path)
