"""``report.md`` of an analysis report dict: one section per analysis, every number with its CI
(``value [low, high]``), the synthetic banner on synthetic data, and the skipped analyses listed once."""

from __future__ import annotations

from typing import Any

from fusionbench.fusion.report.tables import SYNTHETIC_BANNER, number, table


def ci(row: dict[str, Any], key: str = "accuracy") -> str:
    value = row.get(key)
    if value is None:
        return "—"
    low, high = row.get("ci_low"), row.get("ci_high")
    return f"{value:.3f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else " [no CI]")


def _leaderboard(report: dict[str, Any]) -> list[str]:
    board = report["leaderboard"]
    out = [
        "## 1. Leaderboard",
        "",
        "Ranks by the macro mean (every task weighs the same), with the 95% interval "
        "of the rank over query resamples and the share of resamples in which the candidate is best.",
        "",
    ]
    micro = {r["candidate"]: r for r in board["scores"] if r["task"] == "(micro)"}
    macro = {r["candidate"]: r for r in board["scores"] if r["task"] == "(macro)"}
    body = []
    for r in board["ranks"]:
        rank_ci = f"{r['rank_ci_low']:.0f}–{r['rank_ci_high']:.0f}" if r.get("rank_ci_low") is not None else "—"
        cost = micro[r["candidate"]]["mean_cost_usd"]
        tokens = micro[r["candidate"]]["mean_output_tokens"]
        body.append(
            [
                str(r["rank"]),
                r["candidate"],
                ci(macro[r["candidate"]]),
                ci(micro[r["candidate"]]),
                rank_ci,
                number(r.get("p_best")),
                "no cost data" if cost is None else f"{cost:.3g}",
                "—" if tokens is None else f"{tokens:.0f}",
            ]
        )
    header = [
        "rank",
        "candidate",
        "macro accuracy",
        "micro accuracy",
        "rank 95% CI",
        "P(best)",
        "mean cost (USD)",
        "mean output tokens",
    ]
    out += [table(header, body), ""]
    tasks = [t for t in dict.fromkeys(r["task"] for r in board["scores"]) if not t.startswith("(")]
    order = [r["candidate"] for r in board["ranks"]]
    cells = {(r["candidate"], r["task"]): r for r in board["scores"]}
    out += ["Accuracy per task (95% CI):", ""]
    out += [table(["task", *order], [[t, *(ci(cells[(c, t)]) for c in order)] for t in tasks]), ""]
    return out


def _judge(report: dict[str, Any]) -> list[str]:
    judge = report.get("judge")
    if not judge:
        return []
    zero = (
        (
            "every judge score of 0.0 is counted as a possible failure (`n_zero`) and left out of the judgements; "
            "the `with zeros` columns count them as scores"
        )
        if judge["zero_is_failure"]
        else "0.0 is a grade the named judge gave, counted as a judgement"
    )
    out = [
        "## 2. Judge vs ground truth",
        "",
        f"Judge and ground truth thresholded at {judge['threshold']}; {zero}. Tasks with kappa below "
        f"{judge['min_kappa']} are flagged ⚑.",
        "",
    ]
    ranking = {r["task"]: r for r in judge["ranking"]}
    body = []
    for r in (r for r in judge["cells"] if r["candidate"] == "(all)"):
        tau = ranking.get(r["task"])
        body.append(
            [
                r["task"] + (" ⚑" if r["flagged"] else ""),
                f"{r['n_judged']:,}",
                f"{r['n_zero']:,}",
                number(r["kappa"]),
                number(r["auroc"]),
                number(r["kappa_with_zeros"]),
                number(r["auroc_with_zeros"]),
                ci(tau, "kendall_tau") if tau else "—",
            ]
        )
    header = [
        "task",
        "judged",
        "0.0 scores",
        "kappa",
        "AUROC",
        "kappa with zeros",
        "AUROC with zeros",
        "Kendall tau of the model order (95% CI)",
    ]
    out += [table(header, body), "", "Per candidate, over all tasks:", ""]
    body = [
        [r["candidate"], f"{r['n_judged']:,}", f"{r['n_zero']:,}", number(r["kappa"]), number(r["auroc"])]
        for r in judge["cells"]
        if r["task"] == "(all)" and r["candidate"] != "(all)"
    ]
    return [*out, table(["candidate", "judged", "0.0 scores", "kappa", "AUROC"], body), ""]


def _matrix_table(sim: dict[str, Any], label: str) -> list[str]:
    names, matrix, order = sim["candidates"], sim["matrix"], sim["order"]
    body = [[names[i], *(number(matrix[i][j]) if i != j else "·" for j in order)] for i in order]
    return [table([label, *(names[j] for j in order)], body), ""]


def _similarity(report: dict[str, Any]) -> list[str]:
    sim = report["similarity"]
    out = [
        "## 3. Model similarity",
        "",
        "Error consistency (Geirhos et al. 2020): kappa of agreement on which queries each candidate fails, "
        "beyond chance given their accuracies, pooled over all queries (clustered order):",
        "",
    ]
    out += _matrix_table(sim["error_consistency"], "error consistency")
    pairs = sorted(sim["error_consistency"]["pairs"], key=lambda p: -(p["kappa"] or -9))
    out += [
        "Most alike pairs (pooled kappa; mean of per-task kappas beside it): "
        + "; ".join(f"{p['a']} – {p['b']} {number(p['kappa'])} ({number(p['kappa_within_task'])})" for p in pairs[:5]),
        "",
    ]
    if "capa" in sim:
        out += ["CAPA (Goel et al. 2025, discrete kappa_p) on the multiple-choice queries with extracted answers:", ""]
        out += _matrix_table(sim["capa"], "CAPA")
    out += ["### Router pool: greedy oracle@k", ""]
    body = [[str(r["k"]), r["added"], ci(r, "oracle"), number(r["share_of_oracle"])] for r in report["oracle_at_k"]]
    return [
        *out,
        table(["k", "candidate added", "oracle of the first k (95% CI)", "share of the full oracle"], body),
        "",
    ]


def _skills(report: dict[str, Any]) -> list[str]:
    skills = report["skills"]
    out = ["## 4. Skill structure", ""]
    if skills["variance"]:
        body = [[str(r["factor"]), number(r["variance_ratio"]), number(r["cumulative"])] for r in skills["variance"]]
        out += ["PCA of the candidate x task accuracy matrix:", "", table(["factor", "variance", "cumulative"], body)]
        factors = [k for k in skills["loadings"][0] if k != "task"][:3]
        out += [
            "",
            table(
                ["task", *(f"loading {f}" for f in factors)],
                [[r["task"], *(f"{r[f]:+.2f}" for f in factors)] for r in skills["loadings"]],
            ),
            "",
        ]
    if skills["leave_one_task_out"]:
        out += [
            "Each task predicted from the others across candidates (ridge, leave one candidate out): mean "
            "absolute error (95% CI over candidates) vs predicting the other candidates' mean:",
            "",
        ]
        body = [[r["task"], ci(r, "mae"), number(r["baseline_mae"])] for r in skills["leave_one_task_out"]]
        out += [table(["task", "MAE", "baseline MAE"], body), ""]
    out += [
        "### 6. Item statistics (classical test theory)",
        "",
        "Difficulty = share of candidates that fail the query; discrimination = point-biserial correlation "
        "between being right on it and accuracy on the rest of the task (quartiles).",
        "",
    ]
    body = [
        [
            r["task"],
            f"{r['n_queries']:,}",
            f"{number(r['difficulty_q1'])} / {number(r['difficulty_median'])} / {number(r['difficulty_q3'])}",
            number(r["share_all_fail"]),
            number(r["share_none_fail"]),
            f"{number(r['discrimination_q1'])} / {number(r['discrimination_median'])} / "
            f"{number(r['discrimination_q3'])}",
        ]
        for r in skills["items"]
    ]
    header = ["task", "queries", "difficulty q1/median/q3", "all fail", "none fail", "discrimination q1/median/q3"]
    out = [*out, table(header, body), ""]
    if skills.get("irt_items"):
        out += [
            "IRT (a one-dimensional 2PL fitted on every candidate): difficulty = -b in logits (higher is harder), "
            "discrimination = a (negative: weak candidates get it right more often; a label to check).",
            "",
        ]
        irt_body = [
            [
                r["task"],
                f"{r['n_queries']:,}",
                f"{number(r['difficulty_q1'])} / {number(r['difficulty_median'])} / {number(r['difficulty_q3'])}",
                f"{number(r['discrimination_q1'])} / {number(r['discrimination_median'])} / "
                f"{number(r['discrimination_q3'])}",
                number(r["share_negative_discrimination"]),
            ]
            for r in skills["irt_items"]
        ]
        irt_header = ["task", "queries", "IRT difficulty q1/median/q3", "IRT discrimination q1/median/q3", "a < 0"]
        out += [table(irt_header, irt_body), ""]
    return out


BOUND_LABELS = {
    "best_single": "best single",
    "per_task_best": "per-task best",
    "oracle_at_k": "oracle@k (greedy pool)",
    "oracle": "oracle",
    "majority_vote": "majority vote",
    "judge_best_of_n": "judge-picked best-of-n",
}


def _bounds(report: dict[str, Any]) -> list[str]:
    bounds = report["bounds"]
    names = [b for b in BOUND_LABELS if any(r["bound"] == b for r in bounds)]
    cells = {(r["task"], r["bound"]): r for r in bounds}
    tasks = list(dict.fromkeys(r["task"] for r in bounds))
    body = [[t, *(ci(cells[(t, b)], "value") if (t, b) in cells else "—" for b in names)] for t in tasks]
    k = report["config"]["k"]
    header = ["task", *(BOUND_LABELS[b].replace("@k", f"@{k}") for b in names)]
    return [
        "## 5. Fusion upper bounds from the logs",
        "",
        "What the logs alone allow, per task (95% CI over queries); per-task best is chosen in-sample.",
        "",
        table(header, body),
        "",
    ]


def render(report: dict[str, Any], plots: dict[str, str], plot_note: str | None) -> str:
    """The Markdown report."""
    data = report["data"]
    out = ["# fusionbench analyze", ""]
    if report.get("synthetic"):
        out += [SYNTHETIC_BANNER, ""]
    config = report["config"]
    out += [
        f"- **Data**: {data['source']}: {data['n_queries']:,} queries x {len(data['candidates'])} candidates, "
        f"{len(data['tasks'])} tasks; cost data: {'yes' if data['has_cost'] else 'no'}",
        f"- **Bootstrap**: {config['n_boot']:,} query resamples, seed {config['seed']}, "
        f"{config['confidence']:.0%} percentile intervals; correct = score >= {config['threshold']}",
        "",
    ]
    for section in (_leaderboard, _judge, _similarity, _skills, _bounds):
        out += section(report)
    if plots:
        out += ["## Plots", ""] + [f"![{name}]({file})" for name, file in plots.items()] + [""]
    skipped = list(report.get("skipped", [])) + ([plot_note] if plot_note else [])
    if skipped:
        out += ["## Skipped", ""] + [f"- {item}" for item in skipped] + [""]
    return "\n".join(out)
