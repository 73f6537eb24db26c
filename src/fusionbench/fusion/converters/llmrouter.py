"""LLMRouter / RouterDC JSON: per-query scores of 9 FusionBench models, with the query JSONL for tasks.

Layout (ulab-uiuc/LLMRouter ``data/``)::

    dcrouter_preprocessed/{train,test}.json     [{question, scores: {model: score}, cluster_id?}, ...]
    example_data/query_data/default_query_{train,test}.jsonl   {task_name, query, ground_truth, metric, ...}

A question's task, ground truth and metric come from the query file of the same split, matched on the exact
text. The train query file repeats 8 texts (6 of them under two tasks, e.g. mmlu and openbook_qa); the JSON
keeps each text once, in the order of its first occurrence, so the first occurrence's task is used and the
ambiguous ones are counted. FusionBench task names are kept as they are; the others (agentverse-*,
commongen) are tasks of their own. There are no costs or token counts: those cells are NaN. A score must be a
number in the build's valid range of performance, [0, 1] (:mod:`fusionbench.build.ranges`): another is an error
naming the file, row (the item's position in the JSON list), column ``scores.<model>``, value and range, or with
``lenient=True`` NaN, counted in ``provenance["skipped"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fusionbench import catalog
from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.files import read_jsonl
from fusionbench.fusion.converters.common import Builder, domain_of, external_query_id, find_file
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "llmrouter"
#: domains of LLMRouter's tasks that are not FusionBench tasks
EXTRA_DOMAINS = {"agentverse-mgsm": "math", "agentverse-logicgrid": "reasoning", "commongen": "generation"}
_SPLITS = {"train": "train", "test": "test"}


def _read_json(path: Path) -> list[dict[str, Any]]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BadInputError(str(path), f"not valid JSON ({error})") from None
    except RecursionError:
        raise BadInputError(str(path), "a JSON value nested too deeply") from None
    if not isinstance(items, list):
        raise BadInputError(str(path), "expected a JSON list of {question, scores} objects")
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or "question" not in item or not isinstance(item.get("scores"), dict):
            raise BadInputError(str(path), "expected an object with 'question' and a 'scores' mapping", row=number)
    return items


def _read_queries(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """{text: first record with that text}, and how many texts occur under more than one task."""
    first: dict[str, dict[str, Any]] = {}
    tasks: dict[str, set[str]] = {}
    for number, record in read_jsonl(path):
        if not isinstance(record, dict) or "query" not in record or "task_name" not in record:
            raise BadInputError(str(path), "a query record needs 'query' and 'task_name'", line=number)
        first.setdefault(record["query"], record)
        tasks.setdefault(record["query"], set()).add(record["task_name"])
    return first, sum(len(t) > 1 for t in tasks.values())


def _candidates(names: list[str]) -> list[Candidate]:
    known, sheet = catalog.models(), catalog.load_price_sheet()
    out = []
    for name in names:
        info, price = known.get(name), sheet.price(name) or (None, None)
        out.append(
            Candidate(
                f"{name}/direct",
                name,
                "direct",
                size_b=info.size_b if info else None,
                input_price=price[0],
                output_price=price[1],
                description=info.description if info else None,
                generated_by=info.generated_by if info else None,
            )
        )
    return out


def convert(path: str | Path, *, incomplete: Incomplete = "error", lenient: bool = False) -> RoutingData:
    """RoutingData of LLMRouter's shipped train and test sets (splits "train" and "test")."""
    root = Path(path)
    files = {
        split: (
            find_file(root, f"data/dcrouter_preprocessed/{split}.json", f"dcrouter_preprocessed/{split}.json"),
            find_file(
                root,
                f"data/example_data/query_data/default_query_{split}.jsonl",
                f"example_data/query_data/default_query_{split}.jsonl",
            ),
        )
        for split in _SPLITS
    }
    items = {split: _read_json(scores) for split, (scores, _) in files.items()}
    models = list(dict.fromkeys(m for split_items in items.values() for item in split_items for m in item["scores"]))
    builder = Builder(KIND, _candidates(models))
    ambiguous = {}
    for split, (scores_path, queries_path) in files.items():
        queries, ambiguous[split] = _read_queries(queries_path)
        check = ValueCheck(scores_path, lenient=lenient)
        for number, item in enumerate(items[split], 1):
            record = queries.get(item["question"])
            if record is None:
                builder.skip(f"{split}_questions_not_in_query_file")
                continue
            task = record["task_name"]
            scores = item["scores"]
            for model, value in scores.items():
                if value is not None and not isinstance(value, (int, float)):
                    raise BadInputError(str(scores_path), f"score of {model!r} is not a number: {value!r}", row=number)
                scores[model] = check.value(value, "performance", column=f"scores.{model}", row=number)
            builder.add(
                query_id=external_query_id(KIND, task, item["question"]),
                task=task,
                domain=domain_of(task, EXTRA_DOMAINS),
                text=item["question"],
                split=_SPLITS[split],
                performance=[scores.get(m) for m in models],
                ground_truth=None if record.get("ground_truth") is None else str(record["ground_truth"]),
                metric=record.get("metric"),
            )
        builder.nulled(check)
    provenance = {
        "path": str(root),
        "files": {split: [str(a), str(b)] for split, (a, b) in files.items()},
        "texts_under_two_tasks": ambiguous,
        "note": "no costs or token counts in the source: cost is NaN",
    }
    return builder.build(source="llmrouter:dcrouter_preprocessed", provenance=provenance, incomplete=incomplete)
