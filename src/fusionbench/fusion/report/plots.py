"""PNG plots of a report (matplotlib, the optional ``plot`` extra): the cost-accuracy frontier and per-task bars.

* ``frontier.png``: every single candidate (grey points, each labelled) and their upper hull (dotted), each score
  router's curve over CARROT's λ, the oracle's curve (dashed), for the in-distribution split of the first seed,
  titled with the data's name, the legend outside the axes; needs cost data. The report prints each curve's AIQ
  beside it (:func:`~fusionbench.fusion.report.curves.aiq_rows`).
* ``per_task.png``: Perf per task of the routers, best_single_train, per task and oracle, with the CIs as error bars.

A synthetic report carries :data:`~fusionbench.fusion.plotting.WATERMARK` on every plot. :func:`write_plots`
returns the files written and a note saying what was left out and why (no matplotlib, no cost data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fusionbench.fusion.plotting import pyplot, save_figure


def frontier(report: dict[str, Any], path: Path) -> Path:
    """Every single candidate (labelled), their upper hull, each router's λ sweep and the oracle's; the legend
    outside the axes, so no point is hidden under it; titled with the data's name."""
    from fusionbench.metrics.routing import upper_hull

    plt = pyplot()
    curves = report["curves"]
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    points = curves["candidates"]
    names = list(points)
    xs, ys = [points[n]["cost"] for n in names], [points[n]["perf"] for n in names]
    ax.scatter(xs, ys, c="0.45", s=22, zorder=3, label="single candidates")
    for i, name in enumerate(names):
        ax.annotate(name.removesuffix("/direct"), (xs[i], ys[i]), xytext=(4, 3 if i % 2 else -9),
                    textcoords="offset points", fontsize=7, color="0.25")  # fmt: skip
    hull = upper_hull(ys, xs)
    ax.plot([xs[i] for i in hull], [ys[i] for i in hull], color="0.45", lw=1, ls=":", label="candidates' upper hull")
    for name, line in curves.get("routers", {}).items():
        ax.plot(line["cost"], line["perf"], marker="o", ms=3, lw=1.2, label=f"{name} (λ sweep)")
    oracle = curves["oracle"]
    ax.plot(oracle["cost"], oracle["perf"], "k--", lw=1.2, label="oracle (λ sweep)")
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("accuracy (mean performance)")
    ax.set_title(f"{report['data']['source']}: cost-accuracy frontier ({curves['scenario']}, seed {curves['seed']})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, synthetic=report.get("synthetic", False), dpi=120, tight_bbox=True)


def per_task(report: dict[str, Any], path: Path, scenario: str) -> Path | None:
    plt = pyplot()
    protocols = report["scenarios"][scenario]["protocols"]
    result = protocols.get("fusionbench", next(iter(protocols.values()))).get("performance_first")
    if not result or not result.get("available", True):
        return None
    by_task = result["by_task"]
    systems = [s for s in [*result["routers"], "best_single_train", "per_task", "oracle"] if by_task.get(s)]
    tasks = list(dict.fromkeys(t for s in systems for t in by_task[s]))
    if not tasks:
        return None
    import numpy as np

    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(min(16.0, max(7.0, 0.2 * len(tasks) * len(systems))), 4.8))
    for i, system in enumerate(systems):
        values, low, high = [], [], []
        for task in tasks:
            entry = by_task[system].get(task) or {}
            value = entry.get("value")
            ci = entry.get("ci") or [value, value]
            values.append(np.nan if value is None else value)
            low.append(0 if value is None or ci[0] is None else value - ci[0])
            high.append(0 if value is None or ci[1] is None else ci[1] - value)
        x = np.arange(len(tasks)) + (i - (len(systems) - 1) / 2) * width
        ax.bar(x, values, width, yerr=[low, high], capsize=2, label=system.replace("_", " "))
    ax.set_xticks(np.arange(len(tasks)), tasks, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"Perf ({result['protocol']} protocol)")
    ax.set_title(f"Per task, {report['scenarios'][scenario]['label']}: {report['data']['source']}")
    ax.legend(fontsize=7, ncol=min(len(systems), 4))
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path, synthetic=report.get("synthetic", False), dpi=120)


def write_plots(report: dict[str, Any], folder: Path) -> tuple[dict[str, str], str | None]:
    """Write the plots into ``folder``; returns ({name: file name}, a note on what was left out)."""
    try:
        pyplot()
    except ImportError:
        return {}, "No plots: matplotlib is not installed (`pip install 'fusionbench[plot]'`); the tables are complete."
    written: dict[str, str] = {}
    notes = []
    if report.get("curves"):
        written["cost-accuracy frontier"] = frontier(report, folder / "frontier.png").name
    else:
        reason = "no cost data" if not report["data"].get("has_cost") else "no in-distribution scenario was run"
        notes.append(f"No cost-accuracy frontier: {reason}.")
    order = [s for s in ("id", "ood", "naive") if s in report["scenarios"]] + list(report["scenarios"])
    scenario = order[0] if order else None
    if scenario is not None and (made := per_task(report, folder / "per_task.png", scenario)) is not None:
        written[f"Perf per task ({scenario})"] = made.name
    return written, " ".join(notes) or None
