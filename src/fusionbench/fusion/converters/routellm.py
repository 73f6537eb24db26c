"""RouteLLM's evaluation caches (lm-sys/RouteLLM ``routellm/evals/``): GPT-4-1106 vs Mixtral-8x7B.

* ``mmlu/responses/mmlu_<subject>.csv``: ``prompt`` and one True/False correctness column per model; task
  ``mmlu``, the subject kept in ``subjects`` (``data.subjects_as_tasks()`` routes per subject). MMLU repeats
  some questions (27 within a subject); each row stays a query of its own (the id includes the subject and
  the repeat number) and the repeats are counted.
* ``gsm8k/gsm8k_responses.csv``: correctness and the response text per model; the gold answer from
  ``gsm8k/test.jsonl``.
* ``mt_bench/judgements.jsonl`` (GPT-4 single-answer grades 1-10 per turn) and ``question.jsonl``:
  performance = judge = (grade - 1) / 9, the mean of the two turns by default.

Each benchmark's ``contaminated_prompts.jsonl`` lists eval prompts found in RouteLLM's training data; they are
removed by default (``decontaminate=True``) and counted, as RouteLLM's own evaluation does. No costs: NaN.
A correctness other than True/False, or a grade that is not a number in 1-10, is an error naming the file, row or
line and column; with ``lenient=True`` it is null (a grade: left out), counted in ``provenance["skipped"]``.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.files import read_jsonl
from fusionbench.fusion.converters.common import Builder, external_query_id, find_file, read_gold
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "routellm"
MODELS = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")
_EVALS = ("routellm/evals", "evals", ".")
_BOOLS = {"True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


def _evals_dir(path: str | Path, benchmark: str) -> Path:
    """The ``<evals>/<benchmark>`` folder under ``path`` (the repository, ``evals`` or the folder itself)."""
    root = Path(path)
    if root.name == benchmark and root.is_dir():
        return root
    return find_file(root, *(f"{e}/{benchmark}" for e in _EVALS))


def _contaminated(folder: Path) -> list[str]:
    path = folder / "contaminated_prompts.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; pass decontaminate=False to convert without it")
    return [_field(path, number, item, "eval_prompt") for number, item in read_jsonl(path)]


def _field(path: Path, number: int, item: object, key: str) -> str:
    """``item[key]``, a text, or an error naming the file and line."""
    if not isinstance(item, dict) or not isinstance(item.get(key), str):
        raise BadInputError(str(path), f"expected an object with the text field {key!r}", line=number)
    return item[key]


def _rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("prompt", *MODELS) if c not in (reader.fieldnames or [])]
        if missing:
            raise BadInputError(str(path), f"missing columns {missing}")
        return list(reader)


def _correct(check: ValueCheck, number: int, row: dict[str, str], model: str) -> float:
    value = row[model]
    if value in _BOOLS:
        return _BOOLS[value]
    if value in ("", None):
        return np.nan
    if check.lenient:
        check.unparsed_values[model] += 1
        return np.nan
    raise BadInputError(check.file, f"correctness must be True or False, not {value!r}", row=number, column=model)


def _candidates() -> list[Candidate]:
    return [Candidate(f"{m}/direct", m, "direct") for m in MODELS]


def _decontaminate(builder_rows: list[dict[str, Any]], folder: Path, enabled: bool, key: str) -> tuple[list, dict]:
    if not enabled:
        return builder_rows, {"decontaminated": False}
    listed = _contaminated(folder)
    bad = set(listed)
    kept = [row for row in builder_rows if row[key] not in bad]
    found = {row[key] for row in builder_rows} & bad
    report = {"decontaminated": True, "contaminated_listed": len(listed), "contaminated_not_found": len(bad - found)}
    return kept, report | {"removed": len(builder_rows) - len(kept)}


def convert_mmlu(
    path: str | Path, *, decontaminate: bool = True, incomplete: Incomplete = "error", lenient: bool = False
) -> RoutingData:
    """RouteLLM's MMLU caches: 14,042 questions of 57 subjects (14,037 after decontamination)."""
    folder = _evals_dir(path, "mmlu")
    files = sorted((folder / "responses").glob("mmlu_*.csv"))
    if not files:
        raise FileNotFoundError(f"{folder}/responses: no mmlu_<subject>.csv files")
    records, checks = [], []
    for file in files:
        subject = file.stem.removeprefix("mmlu_")
        checks.append(check := ValueCheck(file, lenient=lenient))
        for number, row in enumerate(_rows(file), 1):
            scores = [_correct(check, number, row, m) for m in MODELS]
            records.append(
                {"prompt": row["prompt"], "subject": subject, "scores": scores, "where": f"{file.name}:{number}"}
            )
    kept, report = _decontaminate(records, folder, decontaminate, "prompt")
    builder = Builder(f"{KIND}-mmlu", _candidates())
    for check in checks:
        builder.nulled(check)
    repeats: Counter[tuple[str, str]] = Counter()
    for record in kept:
        key = (record["subject"], record["prompt"])
        occurrence = repeats[key]
        repeats[key] += 1
        builder.add(
            query_id=external_query_id(KIND, "mmlu", record["prompt"], f"{record['subject']}#{occurrence}"),
            task="mmlu",
            domain="popular",
            text=record["prompt"],
            split="test",
            subject=record["subject"],
            performance=record["scores"],
        )
    texts = Counter(r["prompt"] for r in kept)
    report |= {
        "rows_read": len(records),
        "subjects": len(files),
        "repeated_within_subject": sum(n - 1 for n in repeats.values()),
        "repeated_texts": sum(n - 1 for n in texts.values()),
    }
    if decontaminate:
        builder.skip("contaminated", report["removed"])
    return builder.build(source="routellm:mmlu", provenance={"path": str(folder), **report}, incomplete=incomplete)


def convert_gsm8k(
    path: str | Path,
    *,
    decontaminate: bool = True,
    with_responses: bool = True,
    incomplete: Incomplete = "error",
    lenient: bool = False,
) -> RoutingData:
    """RouteLLM's GSM8K cache: 1,319 test problems with both models' responses (1,307 after decontamination)."""
    folder = _evals_dir(path, "gsm8k")
    file = folder / "gsm8k_responses.csv"
    rows = _rows(file)
    gold = read_gold(folder / "test.jsonl") if (folder / "test.jsonl").is_file() else {}
    records = [{"prompt": r["prompt"], "row": r, "number": i} for i, r in enumerate(rows, 1)]
    kept, report = _decontaminate(records, folder, decontaminate, "prompt")
    builder = Builder(f"{KIND}-gsm8k", _candidates(), with_responses=with_responses)
    check = ValueCheck(file, lenient=lenient)
    for record in kept:
        row = record["row"]
        builder.add(
            query_id=external_query_id(KIND, "gsm8k", record["prompt"]),
            task="gsm8k",
            domain="math",
            text=record["prompt"],
            split="test",
            ground_truth=gold.get(record["prompt"]),
            performance=[_correct(check, record["number"], row, m) for m in MODELS],
            responses=[row.get(f"{m}_response") for m in MODELS],
        )
    builder.nulled(check)
    report |= {"rows_read": len(rows), "without_gold_answer": sum(r["prompt"] not in gold for r in kept)}
    if decontaminate:
        builder.skip("contaminated", report["removed"])
    return builder.build(source="routellm:gsm8k", provenance={"path": str(folder), **report}, incomplete=incomplete)


def convert_mt_bench(
    path: str | Path,
    *,
    decontaminate: bool = True,
    turn: Literal["mean", 1, 2] = "mean",
    incomplete: Incomplete = "error",
    lenient: bool = False,
) -> RoutingData:
    """RouteLLM's MT-Bench judgements: 80 questions, GPT-4 grades (1-10) normalised to [0, 1]."""
    folder = _evals_dir(path, "mt_bench")
    questions = []
    for number, item in read_jsonl(folder / "question.jsonl"):
        turns = item.get("turns") if isinstance(item, dict) else None
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], str) or "question_id" not in item:
            message = "expected an object with 'question_id' and 'turns' (a list of texts)"
            raise BadInputError(str(folder / "question.jsonl"), message, line=number)
        questions.append(item)
    grades: dict[tuple[int, str], dict[int, float]] = {}
    file = folder / "judgements.jsonl"
    check = ValueCheck(file, lenient=lenient)
    for number, item in read_jsonl(file):
        if not isinstance(item, dict) or not {"score", "question_id", "model", "turn"} <= set(item):
            raise BadInputError(str(file), "expected an object with score, question_id, model and turn", line=number)
        score = item["score"]
        bad_type = isinstance(score, bool) or not isinstance(score, int | float)
        if lenient and (bad_type or not 1 <= score <= 10):
            (check.unparsed_values if bad_type else check.invalid_values)["score"] += 1
            continue
        if bad_type:
            raise BadInputError(str(file), f"not a number: {score!r}", line=number, column="score")
        if not 1 <= score <= 10:
            raise BadInputError(
                str(file), f"grade {score} outside 1-10 (a failed judgement?)", line=number, column="score"
            )
        grades.setdefault((int(item["question_id"]), item["model"]), {})[int(item["turn"])] = (score - 1) / 9
    records = [{"prompt": q["turns"][0], "question": q} for q in questions]
    kept, report = _decontaminate(records, folder, decontaminate, "prompt")
    builder = Builder(f"{KIND}-mt_bench", _candidates())
    builder.nulled(check)
    for record in kept:
        question = record["question"]
        values = []
        for model in MODELS:
            turns = grades.get((int(question["question_id"]), model), {})
            if turn == "mean":
                values.append(np.mean([turns[t] for t in (1, 2)]) if {1, 2} <= set(turns) else np.nan)
            else:
                values.append(turns.get(int(turn), np.nan))
        builder.add(
            query_id=external_query_id(KIND, "mt_bench", record["prompt"], str(question["question_id"])),
            task="mt_bench",
            domain="open_ended",
            text=record["prompt"],
            split="test",
            subject=question.get("category"),
            performance=values,
            judge=values,
        )
    if decontaminate:
        builder.skip("contaminated", report["removed"])
    provenance = {"path": str(folder), "turn": turn, "judge_model": "gpt-4", "grade_scale": "(grade - 1) / 9", **report}
    return builder.build(source="routellm:mt_bench", provenance=provenance, incomplete=incomplete)
