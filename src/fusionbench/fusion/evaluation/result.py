"""The result of an evaluation: every system's Table-4 values with CIs, paired differences, per-task values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fusionbench.metrics.routing_bootstrap import Replicates, average, difference, estimate, group_estimates

#: the baseline rows beside every router, in table order
BASELINES: tuple[str, ...] = ("best_single_train", "per_task", "random", "oracle")
#: what each baseline row is
BASELINE_LABELS: dict[str, str] = {
    "best_single_train": "best single (chosen on train)",
    "per_task": "per task (best on train per task)",
    "random": "random (expected value)",
    "oracle": "oracle (per query, on test)",
}
#: how the task mean (macro) and its CIs are computed
MACRO_METHOD = (
    "task mean (each task once); percentile bootstrap stratified by task (each task's queries resampled within it), "
    "every system on the same resamples (paired)"
)
#: paired comparisons of every router
COMPARISONS: dict[str, str] = {"vs_best_single_train": "best_single_train", "vs_per_task": "per_task"}


def sum_choice_counts(tables: Iterable[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Per system, the candidates' choice counts added over several evaluations (folds or seeds)."""
    counts: dict[str, dict[str, int]] = {}
    for table in tables:
        for system, chosen in table.items():
            merged = counts.setdefault(system, {})
            for name, n in chosen.items():
                merged[name] = merged.get(name, 0) + n
    return counts


@dataclass
class RoutingEvaluation:
    """Routers and baselines on one test set (or the seed average of several) under one setting and protocol.

    ``rows()``: ``{system: {metric: {"value", "ci"}}}``; ``paired()``: ``{router: {"vs_best_single_train" |
    "vs_per_task": {metric: {"value", "ci", "verdict"}}}}`` (paired bootstrap, same resamples); ``by_task()``:
    ``{system: {task: {"value", "ci", "n_queries"}}}`` of Perf; ``to_dict()``: all of it, JSON-ready.
    """

    setting: str
    protocol: str
    routers: list[str]
    baselines: list[str]
    candidates: list[str]
    columns: tuple[str, ...]
    replicates: Replicates
    confidence: float
    n_boot: int
    seeds: list[int | None]
    leakage: list[dict[str, Any]] = field(default_factory=list)
    transductive: bool = False
    notes: list[str] = field(default_factory=list)
    choice_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    #: per seed, the held-out groups of a pooled out-of-distribution evaluation (``[{"seed", "groups"}]``)
    by_group: list[dict[str, Any]] = field(default_factory=list)
    #: per seed of a seed average, its headline (Perf, micro and macro, and the paired differences)
    per_seed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_queries(self) -> int:
        """The number of evaluated queries."""
        return self.replicates.n_queries

    @property
    def systems(self) -> list[str]:
        """Every system evaluated: the routers, then the baselines."""
        return [*self.routers, *self.baselines]

    def _row(self, system: str) -> dict[str, dict[str, Any]]:
        return {
            col: estimate(self.replicates, (system, col), self.confidence)
            for col in self.columns
            if self.replicates.has((system, col))
        }

    def rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per system, each metric's estimate with its bootstrap interval."""
        return {system: self._row(system) for system in self.systems}

    def candidate_rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The single candidates' values (for the frontier and the candidates table)."""
        return {c: self._row(f"candidate:{c}") for c in self.candidates}

    @property
    def has_macro(self) -> bool:
        """Whether the task means (macro) were resampled (the evaluation had its tasks)."""
        return self.replicates.macro_point is not None

    def macro_rows(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``rows()`` of the task means: each task counts once (stratified bootstrap by task)."""
        if not self.has_macro:
            return {}
        return {
            system: {
                col: estimate(self.replicates, (system, col), self.confidence, macro=True)
                for col in self.columns
                if self.replicates.has((system, col))
            }
            for system in self.systems
        }

    def paired(self, *, macro: bool = False) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """Paired differences of each router against the train-fitted baselines; ``macro``: of the task means."""
        out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        if macro and not self.has_macro:
            return out
        for router in self.routers:
            out[router] = {}
            for label, baseline in COMPARISONS.items():
                if baseline not in self.baselines:
                    continue
                out[router][label] = {
                    col: difference(self.replicates, (router, col), (baseline, col), self.confidence, macro=macro)
                    for col in self.columns
                    if self.replicates.has((router, col)) and self.replicates.has((baseline, col))
                }
        return out

    def by_task(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per system and task, the performance estimate with its bootstrap interval."""
        return {s: group_estimates(self.replicates, (s, "perf"), self.confidence) for s in self.systems}

    def value(self, system: str, column: str = "perf") -> float:
        """The point value of one cell."""
        return float(self.replicates.point[self.replicates.index((system, column))])

    def verdict(self, router: str, against: str = "best_single_train", column: str = "perf") -> str:
        """``better``, ``worse`` or ``n.s.``: the paired CI of ``router - against`` on ``column``."""
        return difference(self.replicates, (router, column), (against, column), self.confidence)["verdict"]

    @classmethod
    def average(cls, parts: Sequence[RoutingEvaluation]) -> RoutingEvaluation:
        """The seed average of evaluations of the same systems (replicate-by-replicate mean)."""
        if not parts:
            raise ValueError("no evaluations to average")
        first = parts[0]
        counts = sum_choice_counts(p.choice_counts for p in parts)
        return cls(
            setting=first.setting,
            protocol=first.protocol,
            routers=list(first.routers),
            baselines=list(first.baselines),
            candidates=list(first.candidates),
            columns=first.columns,
            replicates=average([p.replicates for p in parts]),
            confidence=first.confidence,
            n_boot=first.n_boot,
            seeds=[s for p in parts for s in p.seeds],
            leakage=[item for p in parts for item in p.leakage],
            transductive=any(p.transductive for p in parts),
            notes=list(dict.fromkeys(n for p in parts for n in p.notes)),
            choice_counts=counts,
            data=dict(first.data),
            by_group=[item for p in parts for item in p.by_group],
            per_seed=[p.headline() for p in parts] if len(parts) > 1 else [],
        )

    def headline(self) -> dict[str, Any]:
        """Perf of every system and each router's paired difference to best_single_train, micro and macro."""
        out: dict[str, Any] = {"seeds": self.seeds, "n_queries": self.n_queries}
        for kind, rows, paired in (
            ("micro", self.rows(), self.paired()),
            ("macro", self.macro_rows(), self.paired(macro=True)),
        ):
            out[kind] = {
                "rows": {s: r["perf"] for s, r in rows.items() if "perf" in r},
                "vs_best_single_train": {
                    r: d["vs_best_single_train"]["perf"]
                    for r, d in paired.items()
                    if "perf" in d.get("vs_best_single_train", {})
                },
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every number with its CI, plus what produced it (JSON-ready)."""
        return (
            {
                "setting": self.setting,
                "protocol": self.protocol,
                "transductive": self.transductive,
                "n_queries": self.n_queries,
                "n_boot": self.n_boot,
                "confidence": self.confidence,
                "seeds": self.seeds,
                "ci_method": "percentile bootstrap over test queries; all systems on the same resamples (paired)"
                + ("; seed average: replicate-by-replicate mean over seeds" if len(self.seeds) > 1 else ""),
                "columns": list(self.columns),
                "routers": self.routers,
                "baselines": self.baselines,
                "rows": self.rows(),
                "paired": self.paired(),
                "by_task": self.by_task(),
                "macro": {
                    "method": MACRO_METHOD,
                    "n_tasks": len(self.replicates.groups),
                    "rows": self.macro_rows(),
                    "paired": self.paired(macro=True),
                },
                "candidates": self.candidate_rows(),
                "choice_counts": self.choice_counts,
                "leakage": self.leakage,
                "notes": self.notes,
                "data": self.data,
            }
            | ({"by_group": self.by_group} if self.by_group else {})
            | ({"per_seed": self.per_seed} if self.per_seed else {})
        )

    def summary(self) -> str:
        """A few lines: each system's Perf (and Cost) with CI, and the paired verdicts."""
        head = f"{self.setting} ({self.protocol} protocol), {self.n_queries:,} queries"
        lines = [head + " [transductive]" * self.transductive]
        rows, paired = self.rows(), self.paired()
        for system, row in rows.items():
            cells = ", ".join(f"{col} {_fmt(cell)}" for col, cell in row.items())
            extra = ""
            if system in paired:
                extra = "; " + ", ".join(
                    f"{label.replace('vs_', 'vs ')} {_fmt(diffs['perf'], signed=True)} {diffs['perf']['verdict']}"
                    for label, diffs in paired[system].items()
                    if "perf" in diffs
                )
            lines.append(f"  {system}: {cells}{extra}")
        if self.has_macro:
            lines.append(f"  task mean (macro, {len(self.replicates.groups)} tasks, stratified bootstrap):")
            macro_rows, macro_paired = self.macro_rows(), self.paired(macro=True)
            for system, row in macro_rows.items():
                if "perf" not in row:
                    continue
                extra = "".join(
                    f"; {label.replace('vs_', 'vs ')} {_fmt(diffs['perf'], signed=True)} {diffs['perf']['verdict']}"
                    for label, diffs in macro_paired.get(system, {}).items()
                    if "perf" in diffs
                )
                lines.append(f"    {system}: perf {_fmt(row['perf'])}{extra}")
        return "\n".join(lines)


def _fmt(cell: dict[str, Any], signed: bool = False) -> str:
    value = f"{cell['value']:+.3f}" if signed else f"{cell['value']:.3f}"
    ci = cell.get("ci")
    return value if ci is None else f"{value} [{ci[0]:.3f}, {ci[1]:.3f}]"
