"""PNG plots of an analysis report (matplotlib, the optional ``plot`` extra), each marked on synthetic data:
the clustered error-consistency heatmap, the greedy oracle@k curve, the leaderboard with CIs, judge vs truth
(kappa and AUROC per task) and the per-task difficulty histograms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.fusion.plotting import pyplot, save_figure


def _save(fig: Any, path: Path, report: dict[str, Any]) -> str:
    return save_figure(fig, path, synthetic=report.get("synthetic", False), dpi=100).name


def heatmap(report: dict[str, Any], path: Path, key: str = "error_consistency") -> str:
    plt = pyplot()
    sim = report["similarity"][key]
    order = sim["order"]
    matrix = np.array(sim["matrix"], dtype=np.float64)[np.ix_(order, order)]
    names = [sim["candidates"][i] for i in order]
    size = min(10.0, max(5.0, 0.22 * len(names) + 2.5))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="viridis", vmin=min(0.0, np.nanmin(matrix)), vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(image, ax=ax, label="kappa")
    ax.set_title(f"{key.replace('_', ' ')} (clustered): {report['data']['source']}", fontsize=9)
    return _save(fig, path, report)


def oracle_curve(report: dict[str, Any], path: Path) -> str:
    plt = pyplot()
    curve = report["oracle_at_k"]
    ks = [r["k"] for r in curve]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(ks, [r["oracle"] for r in curve], marker="o", label="oracle of the first k (greedy)")
    if curve and curve[0].get("ci_low") is not None:
        ax.fill_between(ks, [r["ci_low"] for r in curve], [r["ci_high"] for r in curve], alpha=0.25)
    ax.set_xticks(ks, [f"{r['k']}\n{r['added'].split('/')[0][:12]}" for r in curve], fontsize=6)
    ax.set_xlabel("pool size k (candidate added)")
    ax.set_ylabel("mean per-query oracle")
    ax.grid(alpha=0.3)
    ax.set_title(f"Greedy oracle@k: {report['data']['source']}", fontsize=9)
    return _save(fig, path, report)


def leaderboard(report: dict[str, Any], path: Path) -> str:
    plt = pyplot()
    ranks = report["leaderboard"]["ranks"]
    macro = {r["candidate"]: r for r in report["leaderboard"]["scores"] if r["task"] == "(macro)"}
    names = [r["candidate"] for r in ranks][::-1]
    values = np.array([macro[n]["accuracy"] for n in names])
    low = np.array([macro[n]["ci_low"] if macro[n]["ci_low"] is not None else macro[n]["accuracy"] for n in names])
    high = np.array([macro[n]["ci_high"] if macro[n]["ci_high"] is not None else macro[n]["accuracy"] for n in names])
    fig, ax = plt.subplots(figsize=(6.5, max(3.0, 0.28 * len(names) + 1.2)))
    ax.errorbar(values, range(len(names)), xerr=[values - low, high - values], fmt="o", capsize=3)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("macro accuracy (95% CI)")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(f"Leaderboard: {report['data']['source']}", fontsize=9)
    return _save(fig, path, report)


def judge_vs_truth(report: dict[str, Any], path: Path) -> str:
    plt = pyplot()
    cells = [r for r in report["judge"]["cells"] if r["candidate"] == "(all)"]
    tasks = [r["task"] for r in cells]
    x = np.arange(len(tasks))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(tasks) + 2), 4.2))
    for offset, key in ((-0.2, "kappa"), (0.2, "auroc")):
        ax.bar(x + offset, [r[key] if r[key] is not None else np.nan for r in cells], width=0.4, label=key)
    ax.axhline(report["judge"]["min_kappa"], color="k", ls="--", lw=1, label="kappa bound")
    ax.set_xticks(x, tasks, rotation=60, fontsize=7)
    ax.legend(fontsize=8)
    ax.set_title(f"Judge vs ground truth: {report['data']['source']}", fontsize=9)
    return _save(fig, path, report)


CLASSICAL = (
    ("difficulty_histograms", "difficulty (share of candidates failing the query)"),
    ("discrimination_histograms", "discrimination (point-biserial, item vs rest)"),
)
IRT = (
    ("irt_difficulty_histograms", "IRT difficulty (-b, logits; tails clipped)"),
    ("irt_discrimination_histograms", "IRT discrimination (a; tails clipped)"),
)


def difficulty(report: dict[str, Any], path: Path, keys: tuple = CLASSICAL, title: str = "Item statistics") -> str:
    """Per-task histograms of item difficulty and discrimination (classical, or the IRT fit's with ``IRT``)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2))
    for ax, (key, label) in zip(axes, keys, strict=True):
        for task, hist in report["skills"][key].items():
            counts = np.asarray(hist["counts"], dtype=np.float64)
            centres = (np.asarray(hist["edges"][:-1]) + np.asarray(hist["edges"][1:])) / 2
            ax.plot(centres, counts / max(counts.sum(), 1), marker=".", lw=1, label=task)
        ax.set_xlabel(label)
        ax.set_ylabel("share of the task's queries")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"{title} per task: {report['data']['source']}", fontsize=9)
    return _save(fig, path, report)


def write_plots(report: dict[str, Any], folder: Path) -> tuple[dict[str, str], str | None]:
    """({name: file}, a note on what was left out and why)."""
    try:
        pyplot()
    except ImportError:
        return {}, "Plots: matplotlib is not installed (`pip install 'fusionbench[plot]'`); the tables are complete."
    written = {
        "leaderboard with 95% CIs": leaderboard(report, folder / "leaderboard.png"),
        "error consistency, clustered": heatmap(report, folder / "similarity.png"),
        "greedy oracle@k": oracle_curve(report, folder / "oracle_at_k.png"),
        "item difficulty and discrimination": difficulty(report, folder / "difficulty.png"),
    }
    if "irt_items" in report["skills"]:
        written["IRT item parameters"] = difficulty(report, folder / "irt_items.png", IRT, "IRT item parameters")
    if "capa" in report["similarity"]:
        written["CAPA, clustered"] = heatmap(report, folder / "capa.png", "capa")
    if report.get("judge"):  # without judge scores, the report's Skipped list says so once
        written["judge vs ground truth"] = judge_vs_truth(report, folder / "judge_vs_truth.png")
    return written, None
