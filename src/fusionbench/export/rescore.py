"""Rescore every response of an export with :mod:`fusionbench.metrics` and explain where the release differs.

``fusionbench rescore DIR`` prints, per task, how often our score agrees with the released
``performance`` and why they disagree, by defect class. With ``--write`` the scores are added to the
export as a ``rescored_performance`` column and the card's rescoring and checksum sections are
rewritten; the export is replaced as a whole, never left half-written.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.export import card
from fusionbench.export.folder import (
    QUERIES,
    README,
    config_dir,
    require_export,
    response_shards,
    rewrite,
    write_parquet,
)
from fusionbench.metrics import QA_TASKS, extract_number, gold_number, score_batch
from fusionbench.schema import CODE_TASKS, MULTIPLE_CHOICE_TASKS, SCORER_FIELDS

RESCORED_COLUMN = "rescored_performance"


@dataclass
class TaskAgreement:
    """How our scores compare with the released ones for one task."""

    rows: int = 0
    scored_both: int = 0
    agree: int = 0
    released_only: int = 0  # the release scored it, we could not (no response)
    ours_only: int = 0  # we scored it, the release left it null
    released_mean: float | None = None
    rescored_mean: float | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def agreement(self) -> float | None:
        return self.agree / self.scored_both if self.scored_both else None


#: Defect classes that explain a disagreement, by short code.
CAUSES: dict[str, str] = {
    "arc-digit-labels": "ARC item labelled 1-4: the release's letter regex cannot read digits",
    "gpqa-label": "GPQA: the release's option shuffle may have mislabelled the gold letter",
    "gsm8k-decimal": "GSM8K: the release strips the decimal point (18.5 read as 185)",
    "gsm8k-extraction": "GSM8K: final-number extraction (####, 'the answer is', \\boxed, last number)",
    "qa-token-f1": "QA: the release stored token F1, not contains-match",
    "qa-lenient-substring": "QA: the release's substring match is lenient ('untrue' contains 'true')",
    "qa-normalisation": "QA: other gold aliases, word boundaries or an explicit answer",
    "mc-no-parentheses": "multiple choice: answer given without a parenthesised letter",
    "mc-label-outside": "multiple choice: parenthesised label outside the options, or a later stray letter",
    "math-equivalence": "MATH: math-verify equivalence vs the release's string normalisation",
    "code-execution": "code: execution differs (code extraction, sandbox, time limit)",
    "other": "other",
}


def explain(task: str, released: float, ours: float, response: str, ground_truth: str | None, flags: list[str]) -> str:
    """The code (a key of :data:`CAUSES`) of the defect class that explains one disagreement."""
    if "arc_digit_labels" in flags:
        return "arc-digit-labels"
    if "gpqa_label_unverified" in flags and ours > released:
        return "gpqa-label"
    if task == "gsm8k":
        numbers = [extract_number(response), gold_number(ground_truth or "")]
        has_decimals = any(n is not None and float(n) != int(float(n)) for n in numbers)
        return "gsm8k-decimal" if has_decimals else "gsm8k-extraction"
    if task in QA_TASKS or task == "boolq":
        if released not in (0.0, 1.0):
            return "qa-token-f1"
        return "qa-lenient-substring" if released > ours else "qa-normalisation"
    if task in MULTIPLE_CHOICE_TASKS:
        return "mc-no-parentheses" if ours > released else "mc-label-outside"
    if task == "math":
        return "math-equivalence"
    if task in CODE_TASKS:
        return "code-execution"
    return "other"


def _query_fields(folder: Path) -> dict[tuple[str, str], dict]:
    table = pq.read_table(config_dir(folder, QUERIES), columns=["query_id", "split", *SCORER_FIELDS])
    return {(row.pop("split"), row.pop("query_id")): row for row in table.to_pylist()}


def rescore_table(
    table: pa.Table,
    queries: dict[tuple[str, str], dict],
    workers: int | None = None,
    timeout: float = 3.0,
    against: str = "performance",
) -> tuple[pa.Array, TaskAgreement]:
    """Our score for every row of one responses table, and its agreement with the ``against`` column."""
    if against not in table.column_names:
        raise ValueError(f"no {against!r} column to compare with (has `fusionbench rescore --write` been run?)")
    columns = ["query_id", "split", "task", "response", "ground_truth", "flags"]
    rows = table.select(columns).append_column("performance", table[against]).to_pylist()
    fields = [queries.get((r["split"], r["query_id"]), {}) for r in rows]
    ours = score_batch(
        [r["task"] for r in rows], [r["response"] for r in rows], [r["ground_truth"] for r in rows], fields,
        workers=workers, timeout=timeout,
    )  # fmt: skip
    result = TaskAgreement(rows=len(rows))
    for row, mine in zip(rows, ours, strict=True):
        released = row["performance"]
        if released is None or mine is None:
            result.released_only += released is not None
            result.ours_only += mine is not None
            continue
        result.scored_both += 1
        if abs(released - mine) < 1e-9:
            result.agree += 1
        else:
            reason = explain(row["task"], released, mine, row["response"], row["ground_truth"], row["flags"])
            result.reasons[reason] += 1
    column = pa.array(ours, pa.float64())
    result.released_mean = pc.mean(table[against]).as_py()
    result.rescored_mean = pc.mean(column).as_py()
    return column, result


def rescore_export(
    folder: Path,
    *,
    tasks: Iterable[str] | None = None,
    write: bool = False,
    workers: int | None = None,
    timeout: float = 3.0,
    against: str = "performance",
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, TaskAgreement]:
    """Rescore an export's responses and compare with the ``against`` column (the released ``performance`` by
    default); with ``write``, add ``rescored_performance`` and update the card."""
    folder = Path(folder)
    with rewrite(folder) if write else contextlib.nullcontext(require_export(folder)) as target:
        queries = _query_fields(target)
        shards = response_shards(target, tasks)
        if not shards:
            raise FileNotFoundError(f"{folder}: no responses shards to rescore")
        results: dict[str, TaskAgreement] = {}
        for done, shard in enumerate(shards):
            if on_progress:
                on_progress(shard.parent.name, done, len(shards))
            table = pq.read_table(shard)
            column, agreement = rescore_table(table, queries, workers=workers, timeout=timeout, against=against)
            results[shard.parent.name] = _merge(results.get(shard.parent.name), agreement)
            if write:
                if RESCORED_COLUMN in table.column_names:
                    table = table.drop_columns([RESCORED_COLUMN])
                write_parquet(table.append_column(RESCORED_COLUMN, column), shard)
        if on_progress:
            on_progress("done", len(shards), len(shards))
        if write:
            readme = target / README
            readme.write_text(update_card(readme.read_text(encoding="utf-8"), results), encoding="utf-8")
    return results


def _merge(left: TaskAgreement | None, right: TaskAgreement) -> TaskAgreement:
    if left is None:
        return right
    merged = TaskAgreement(
        rows=left.rows + right.rows,
        scored_both=left.scored_both + right.scored_both,
        agree=left.agree + right.agree,
        released_only=left.released_only + right.released_only,
        ours_only=left.ours_only + right.ours_only,
        reasons=left.reasons + right.reasons,
    )
    for name in ("released_mean", "rescored_mean"):
        a, b = getattr(left, name), getattr(right, name)
        total = (a or 0) * left.rows + (b or 0) * right.rows
        setattr(merged, name, None if a is None and b is None else total / merged.rows)
    return merged


def agreement_markdown(results: dict[str, TaskAgreement]) -> str:
    """Per task: agreement with the release and the disagreements by defect class."""
    lines = [
        "| task | rows | scored by both | agreement | released mean | rescored mean | disagreements by cause |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, r in results.items():
        causes = ", ".join(f"`{reason}` {n}" for reason, n in r.reasons.most_common()) or "—"
        agreement = "—" if r.agreement is None else f"{r.agreement:.1%}"
        means = ["—" if m is None else f"{m:.3f}" for m in (r.released_mean, r.rescored_mean)]
        lines.append(f"| {task} | {r.rows:,} | {r.scored_both:,} | {agreement} | {means[0]} | {means[1]} | {causes} |")
    return "\n".join(lines)


def update_card(text: str, results: dict[str, TaskAgreement]) -> str:
    """The card with a rescoring section (the checksums are refreshed by :func:`~fusionbench.export.folder.rewrite`)."""
    rescoring = (
        f"Column `{RESCORED_COLUMN}` (`double`): every response rescored with `fusionbench.metrics`, which "
        "fixes the release's scoring defects; null where there is no response. `performance` keeps the "
        "released value.\n\n"
        + agreement_markdown(results)
        + "\n\nCauses:\n\n"
        + "\n".join(f"- `{code}`: {text}" for code, text in CAUSES.items())
    )
    return card.replace_section(text, "Rescoring", rescoring, before="Checksums")
