"""Hand-made release files for tests: a few queries in the release's exact CSV format.

Unlike the package's synthetic generator, these are small and fully controlled, so a test can
plant one specific defect and check the exact error or count it causes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fusionbench import catalog
from fusionbench.prompts import QueryFields, render
from fusionbench.schema import RELEASE_COLUMNS, RELEASE_METRICS, THINK_SUFFIX

EMBEDDING = "tensor([[" + ", ".join(f"{(i % 7) / 10 - 0.3:.4f}" for i in range(768)) + "]])"

QUERIES: dict[str, tuple[QueryFields, str]] = {
    "gsm8k": (QueryFields("Ann has 3 apples and buys 4. How many now?"), "3 + 4 = 7\n#### 7"),
    "math": (QueryFields("What is $\\frac{1}{2}+\\frac{1}{2}$?"), "It is $\\boxed{1}$."),
    "arc_challenge": (
        QueryFields("Which is a gas?", choices=["rock", "air", "ice", "wood"], choice_labels=list("1234")),
        "2",
    ),
    "boolq": (QueryFields("is the sky blue", context="The sky is blue on clear days."), "True"),
    "mbpp": (
        QueryFields("Write a function add(a, b).", test_list=["assert add(1, 2) == 3"]),
        "['assert add(1, 2) == 3']",
    ),
    "mmlu": (QueryFields("What is 2 + 2?", choices=["3", "4", "5", "22"], choice_labels=list("ABCD")), "B"),
    "gpqa": (
        QueryFields(
            "Which particle is a lepton?", choices=["proton", "muon", "pion", "kaon"], choice_labels=list("ABCD")
        ),
        "B",
    ),
}


def release_rows(task: str, *, performance: str = "1.0") -> list[dict[str, str]]:
    """The 40 rows (20 models x 2 modes) of one query of ``task``."""
    fields, gold = QUERIES[task]
    rows = []
    for position, (name, info) in enumerate(catalog.models().items()):
        price_in, price_out = catalog.load_price_sheet().price(name)
        for mode in ("direct", "cot"):
            first = position == 0 and mode == "direct"
            perf = f"{{'pass@1': {performance}}}" if task == "mbpp" else performance
            rows.append(
                {
                    "task_name": task,
                    "task_id": "Mbpp/1" if task == "mbpp" else "",
                    "task_description": f"The {task} task.",
                    "task_description_embedding": EMBEDDING if first else "",
                    "query": render(task, fields, mode),
                    "query_embedding": EMBEDDING if first else "",
                    "ground_truth": gold,
                    "metric": RELEASE_METRICS[task],
                    "llm": name + (THINK_SUFFIX if mode == "cot" else ""),
                    "input_price": str(price_in),
                    "output_price": str(price_out),
                    "input_tokens_num": "10",
                    "output_tokens_num": "20",
                    "performance": perf,
                    "cost": repr(10 * price_in + 20 * price_out),
                    "response": f"The answer is \\boxed{{7}} from {name} ({mode}).",
                    "llm_description": info.description,
                    "llm_judge": "0.8",
                }
            )
    return rows


def write_release(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = RELEASE_COLUMNS, *, line_end: str = "\n"
) -> Path:
    """Write rows as the release did: pandas-style CSV with a backslash escape character. ``line_end="\\r\\n"``
    writes the file a Windows tool would save: every line break, also those inside quoted cells, is CRLF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=list(columns), escapechar="\\", lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    if line_end != "\n":
        path.write_bytes(path.read_bytes().replace(b"\n", line_end.encode()))
    return path


def write_json_lines(path: Path, rows: list[dict[str, object]]) -> Path:
    """Write rows as JSON Lines, one object per line (values as given: text, numbers or anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def typed(row: dict[str, str]) -> dict[str, object]:
    """A release row with its numbers as JSON numbers (as a JSON or Parquet release would hold them)."""
    numbers = {"input_tokens_num": int, "output_tokens_num": int, "input_price": float, "output_price": float}
    numbers |= {"cost": float, "llm_judge": float}
    return {k: numbers[k](v) if k in numbers and v != "" else v for k, v in row.items()}
