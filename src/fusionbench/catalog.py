"""The 20 models of the release and their price sheets (data files shipped in the package)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

from fusionbench.schema import MODEL_SCHEMA, ModelInfo

DEFAULT_PRICE_SHEET = "fusionbench-release-2025"


@cache
def models() -> dict[str, ModelInfo]:
    """The release's 20 models by canonical name, in the release's order."""
    text = resources.files("fusionbench").joinpath("models.json").read_text(encoding="utf-8")
    return {m["name"]: ModelInfo(**m) for m in json.loads(text)["models"]}


@dataclass(frozen=True)
class PriceSheet:
    """USD prices per million tokens for a set of models, valid at ``date``, from ``source``."""

    name: str
    date: str
    source: str
    prices: dict[str, tuple[float, float]]

    def price(self, model: str) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, or None when the sheet has no price."""
        return self.prices.get(model)


def price_sheet_names() -> list[str]:
    """Names of the price sheets shipped in the package."""
    folder = resources.files("fusionbench").joinpath("price_sheets")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_price_sheet(name_or_path: str | Path = DEFAULT_PRICE_SHEET) -> PriceSheet:
    """Load a shipped sheet by name, or any JSON file of the same shape by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        text = path.read_text(encoding="utf-8")
    elif str(name_or_path) in price_sheet_names():
        text = (
            resources.files("fusionbench").joinpath("price_sheets", f"{name_or_path}.json").read_text(encoding="utf-8")
        )
    else:
        raise FileNotFoundError(
            f"no price sheet {str(name_or_path)!r}: give a JSON path or one of {price_sheet_names()}"
        )
    data = json.loads(text)
    for key in ("name", "date", "source", "prices"):
        if key not in data:
            raise ValueError(f"price sheet {name_or_path}: missing key {key!r}")
    prices = {m: (float(p["input"]), float(p["output"])) for m, p in data["prices"].items()}
    return PriceSheet(name=data["name"], date=data["date"], source=data["source"], prices=prices)


def models_table(
    rows_per_model: dict[str, int],
    sheet: PriceSheet,
    descriptions: dict[str, str | None],
    row_prices: dict[str, tuple[float | None, float | None]],
) -> pa.Table:
    """One row per model with rows: catalogue facts (true generator, size), the descriptions seen in the
    rows, and prices from ``sheet`` (else the prices stored in the rows)."""
    known = models()
    names = [m for m in known if m in rows_per_model] + sorted(set(rows_per_model) - set(known))
    rows = []
    for name in names:
        info = known.get(name)
        price = sheet.price(name)
        prices = price or row_prices.get(name, (None, None))
        rows.append(
            {
                "model": name,
                "generated_by": info.generated_by if info else None,
                "id_swapped": bool(info and info.id_swapped),
                "size_b": info.size_b if info else None,
                "input_price": prices[0],
                "output_price": prices[1],
                "price_date": sheet.date if price else None,
                "price_source": sheet.source if price else "prices stored in the rows",
                "description": descriptions.get(name) or (info.description if info else None),
                "n_rows": rows_per_model[name],
            }
        )
    return pa.Table.from_pylist(rows, schema=MODEL_SCHEMA)
