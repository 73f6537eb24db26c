"""What every command shares: the consoles, the progress display, small argument parsers."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 160)  # piped tables keep their columns


def progress_display(quiet: bool) -> Progress:
    """The progress display every long command uses (on stderr; off with --quiet)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, disable=quiet)


def csv_list(text: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def print_merge(report, export: str) -> None:
    """What adding rows to an export did."""
    console.print(
        f"[green]{export}[/green]: {report.rows_added:,} rows added, {report.rows_replaced:,} replaced "
        f"({', '.join(report.models)}; tasks: {', '.join(f'{t} {n}' for t, n in report.tasks.items())})"
    )
    if report.unknown_queries:
        console.print(f"[yellow]skipped {report.unknown_queries:,} rows whose query is not in {export}")
    if getattr(report, "failed_rows", 0):
        console.print(f"[yellow]skipped {report.failed_rows:,} failed rows (no response; rerun generate to retry them)")
    if report.dropped_columns:
        console.print(f"[yellow]dropped now-stale column(s) {', '.join(sorted(report.dropped_columns))}; rerun rescore")
