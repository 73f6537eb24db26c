"""The tables `fusionbench route` prints: evaluations with their CIs, held-out correctness AUROCs."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from fusionbench.cli.common import console, out


def _fmt(entry: dict[str, Any] | None, usd: bool = False, signed: bool = False) -> str:
    from fusionbench.fusion.report.tables import cell

    return cell(entry, usd=usd, signed=signed)


def print_evaluation(ev: Any) -> None:
    """One evaluation as a table: every system's cells, its paired differences against the baselines, notes."""
    usd = ev.protocol == "fusionbench"
    title = f"{ev.setting} ({ev.protocol} protocol), {ev.n_queries:,} queries, {int(ev.confidence * 100)} % CIs"
    table = Table(title=title)
    columns = list(ev.columns)
    for name in ["system", *columns, "Δ vs best single (train)", "Δ vs per task"]:
        table.add_column(name, justify="left" if name == "system" else "right")
    rows, paired = ev.rows(), ev.paired()
    headline = "llm_score" if ev.setting == "llm_judge" else ("perf" if ev.setting == "performance_first" else "reward")
    for system, row in rows.items():
        diffs = paired.get(system, {})
        table.add_row(
            system, *[_fmt(row.get(c), usd=usd and c == "cost") for c in columns],
            *[_fmt(diffs.get(k, {}).get(headline), signed=True) for k in ("vs_best_single_train", "vs_per_task")],
        )  # fmt: skip
    out.print(table)
    if ev.has_macro and headline in columns:
        macro, macro_paired = ev.macro_rows(), ev.paired(macro=True)
        n_tasks = len(ev.replicates.groups)
        out.print(f"task mean (macro, {n_tasks} tasks, bootstrap stratified by task), {headline}:")
        for system, row in macro.items():
            diff = macro_paired.get(system, {}).get("vs_best_single_train", {}).get(headline)
            extra = f"  Δ vs best single (train) {_fmt(diff, signed=True)}" if diff else ""
            out.print(f"  {system}: {_fmt(row.get(headline))}{extra}")
    if "cost" not in columns:
        out.print("cost: no cost data (column 'cost_usd')")
    for note in ev.notes:
        console.print(f"[yellow]note: {note}")


def print_aurocs(aurocs: dict[str, Any]) -> None:
    """One line per held-out candidate: its correctness AUROC with CI, or why there is none."""
    for name, r in aurocs.items():
        text = r.get("reason") if r["value"] is None else f"{r['value']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        out.print(f"held-out {name}: correctness AUROC {text}")
