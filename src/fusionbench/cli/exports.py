"""Commands on export folders: ``build``, ``info``, ``rescore``, ``push``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from fusionbench.cli.common import console, csv_list, out, progress_display
from fusionbench.schema import MODES, RELEASE_MODES, SCORE_COLUMNS, TASKS, score_column


def cmd_build(args: argparse.Namespace) -> int:
    from fusionbench.build import build_export
    from fusionbench.export.card import SYNTHETIC_NOTICE

    if args.modes and set(args.modes) - set(RELEASE_MODES):
        console.print(
            f"[red]unknown mode(s) {sorted(set(args.modes) - set(RELEASE_MODES))}; the release has {RELEASE_MODES}"
        )
        return 2
    if args.source is None:
        console.print(SYNTHETIC_NOTICE.replace("> ", "").replace("**", ""), style="yellow")
    with progress_display(args.quiet) as progress:
        bars: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            label = {"read": "reading release files (MiB)", "write": "writing slices"}[stage]
            if stage == "read":
                done, total = done / 2**20, total / 2**20
            if stage not in bars:
                bars[stage] = progress.add_task(label, total=total)
            progress.update(bars[stage], completed=done, total=total)

        result = build_export(
            args.source,
            Path(args.out),
            overwrite=args.overwrite,
            lenient=args.lenient,
            models=args.models,
            modes=args.modes,
            on_progress=on_progress,
        )
    table = Table(title="ingestion report", show_header=True)
    table.add_column("check")
    table.add_column("count", justify="right")
    for what, count in result.report.lines():
        table.add_row(what, count)
    console.print(table)
    console.print(
        f"[green]wrote {result.out}[/green]: {len(result.shards)} shards, {result.report.rows_written:,} rows. "
        f"Load it with: load_dataset({str(result.out)!r}, 'gsm8k')"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from fusionbench.export.stats import by, export_summary, fmt

    rows = export_summary(Path(args.export))
    keys = ["model"] if args.by == "model" else ["task", "model"]
    groups = by(rows, [*keys, "mode"])
    present = [c for c in SCORE_COLUMNS.values() if any(g[f"{c}_count"] for g in groups)]
    modes = [m for m in MODES if any(g["mode"] == m for g in groups)]  # only the modes the export has
    scores = [score_column(args.score)] if args.score else present or [SCORE_COLUMNS["released"]]
    merged: dict[tuple, dict] = {}
    for group in groups:
        entry = merged.setdefault(tuple(group[k] for k in keys), {"rows": 0})
        entry["rows"] += group["rows"]
        entry[group["mode"]] = group
    table = Table(title=f"{args.export}: per {' and '.join(keys)}")
    label = {SCORE_COLUMNS["released"]: "acc", SCORE_COLUMNS["rescored"]: "rescored"}
    score_headers = [f"{label[c]} {m}" for c in scores for m in modes]
    for name in [*keys, "rows", *score_headers, "mean cost $", "mean judge"]:
        table.add_column(name, justify="left" if name in keys else "right", no_wrap=name in keys)
    order = {t: i for i, t in enumerate(TASKS)}
    for key in sorted(merged, key=lambda k: (order.get(k[0], -1), *k) if len(k) > 1 else k):
        entry = merged[key]
        both = [entry[m] for m in modes if m in entry]
        accuracies = [fmt(entry.get(m, {}).get(f"{c}_mean")) for c in scores for m in modes]
        cost, judge = _mean_over(both, "cost_usd"), _mean_over(both, "judge_score")
        table.add_row(*key, f"{entry['rows']:,}", *accuracies, fmt(cost, 6), fmt(judge))
    out.print(table)
    _print_tiny_rows(Path(args.export), sum(group["rows"] for group in groups))
    return 0


def _print_tiny_rows(export: Path, total: int) -> None:
    """Say which rows are a tiny set's anchors (``ingest`` marks them ``tiny:<set>:...``): not a full evaluation."""
    from fusionbench.runs import tiny_anchor_rows

    for name, subjects in tiny_anchor_rows(export).items():
        rows = sum(subjects.values())
        who = ", ".join(f"{subject} {n:,}" for subject, n in subjects.items())
        out.print(
            f"tiny anchors: {rows:,} of the {total:,} rows are anchors of the tiny set {name} ({who}): not a full "
            f"evaluation, their accuracies above are of the anchors only; `fusionbench estimate RUN --tiny "
            f"{name}` estimates the full benchmark",
            highlight=False,
            markup=False,
        )


def _mean_over(groups: list[dict], column: str) -> float | None:
    total = sum(g[f"{column}_total"] or 0 for g in groups)
    count = sum(g[f"{column}_count"] or 0 for g in groups)
    return total / count if count else None


def cmd_push(args: argparse.Namespace) -> int:
    from fusionbench.export.push import push_export

    info = push_export(
        Path(args.export), args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr
    )
    console.print(f"[green]pushed[/green] {args.export} to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from fusionbench.export.rescore import CAUSES, rescore_export
    from fusionbench.export.stats import fmt

    with progress_display(args.quiet) as progress:
        bar = progress.add_task("rescoring", total=None)

        def on_progress(shard: str, done: int, total: int) -> None:
            progress.update(bar, description=f"rescoring {shard}", completed=done, total=total)

        results = rescore_export(
            Path(args.export), tasks=args.tasks, write=args.write, workers=args.workers, timeout=args.timeout,
            against=score_column(args.against), on_progress=on_progress,
        )  # fmt: skip
    table = Table(title=f"{args.export}: our scores vs {score_column(args.against)}")
    for name in ["task", "rows", "both scored", "agreement", args.against, "rescored", "disagreements by cause"]:
        table.add_column(name, justify="left" if name in ("task", "disagreements by cause") else "right")
    for task, r in results.items():
        causes = "\n".join(f"{n} {reason}" for reason, n in r.reasons.most_common()) or "—"
        table.add_row(
            task, f"{r.rows:,}", f"{r.scored_both:,}", "—" if r.agreement is None else f"{r.agreement:.1%}",
            fmt(r.released_mean), fmt(r.rescored_mean), causes,
        )  # fmt: skip
    out.print(table)
    seen = {reason for r in results.values() for reason in r.reasons}
    for code in (c for c in CAUSES if c in seen):
        out.print(f"  {code}: {CAUSES[code]}")
    if args.write:
        console.print(f"[green]wrote[/green] rescored_performance into {args.export} and updated its card")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the export commands to the ``fusionbench`` parser."""
    build = commands.add_parser("build", help="ingest release files into a Hub-ready export folder")
    build.add_argument(
        "--source",
        nargs="+",
        help="release files, globs, folders, split=path pairs, or a Hub id (default: the embedded synthetic sample)",
    )
    build.add_argument("--out", default="fusionbench", help="export folder (default: ./fusionbench)")
    build.add_argument("--overwrite", action="store_true", help="replace an existing export folder")
    build.add_argument("--lenient", action="store_true", help="bad values become null and are counted and flagged")
    build.add_argument("--models", type=csv_list, help="keep only these models (comma-separated)")
    build.add_argument("--modes", type=csv_list, help="keep only these modes of the release: direct, cot")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=cmd_build)

    score_choices = sorted({*SCORE_COLUMNS, *SCORE_COLUMNS.values()})
    info = commands.add_parser("info", help="per-task, per-model table of an export")
    info.add_argument("export", help="export folder")
    info.add_argument("--by", choices=["task", "model"], default="task", help="rows per task and model, or per model")
    info.add_argument(
        "--score", choices=score_choices,
        help="the score to show: released (performance) or rescored (rescored_performance); default: every one present",
    )  # fmt: skip
    info.set_defaults(func=cmd_info)

    rescore = commands.add_parser("rescore", help="rescore every response and compare with the release")
    rescore.add_argument("export", help="export folder")
    rescore.add_argument("--tasks", type=csv_list, help="only these tasks (comma-separated)")
    rescore.add_argument("--write", action="store_true", help="add rescored_performance to the export and its card")
    rescore.add_argument(
        "--against", choices=score_choices, default="released",
        help="the score our scores are compared with (default: released, the performance column)",
    )  # fmt: skip
    rescore.add_argument("--workers", type=int, help="parallel code sandboxes (default: CPU count)")
    rescore.add_argument("--timeout", type=float, default=3.0, help="seconds per code program (default 3)")
    rescore.add_argument("--quiet", action="store_true", help="no progress bar")
    rescore.set_defaults(func=cmd_rescore)

    push = commands.add_parser("push", help="upload an export to the Hugging Face Hub")
    push.add_argument("export", help="export folder")
    push.add_argument("--repo-id", required=True, help="ORG/NAME of the dataset repository")
    push.add_argument("--private", action="store_true", help="create the repository as private")
    push.add_argument("--revision", help="branch to push to")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to the branch")
    push.set_defaults(func=cmd_push)
