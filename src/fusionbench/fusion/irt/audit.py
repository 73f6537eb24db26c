"""A label audit by the item model: the items (and models) whose data look wrong, with the evidence, per task.

Item flags (subjects ranked by their fitted ability; ``strong`` the top ``strong_share`` of them, ``weak`` the bottom):

* ``negative_discrimination``: the 2PL discrimination is negative and the item's score correlates negatively with
  the subjects' ability (better models do worse on it);
* ``strong_wrong_weak_right``: every strong subject fails the item while at least half of the weak ones pass it;
* ``strong_agree_other_answer``: a majority of the strong subjects give the same answer (the scorers' own extraction,
  :mod:`fusionbench.fusion.analysis.answers`), and it is not the gold answer (a wrong gold label?);
* ``gold_unscorable``: a majority of the strong subjects give the gold answer, yet (almost) none is scored right (the
  gold cannot be matched by the scoring: ARC's digit labels);
* ``scores_contradict_answers``: a wrong answer scored right (the scoring compares something else than the answer:
  GSM8K's stripped decimal point, BoolQ's "untrue" read as "true"); the evidence also counts right answers scored
  wrong, which alone are mostly format slips (no parenthesised letter) and not flagged.

Model flag ``ability_below_size``: a model whose ability lies far below what its size predicts among the others
(a robust line of ability on log size): rows labelled with a model that did not write them (the release's swapped
ids). With the release's known defects (:func:`planted_defects`) the report gives precision and recall.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fusionbench.fusion.analysis.answers import extract_answers
from fusionbench.fusion.irt.model import fit_irt

ITEM_FLAGS = ("negative_discrimination", "strong_wrong_weak_right", "strong_agree_other_answer", "gold_unscorable",
              "scores_contradict_answers")  # fmt: skip


def _gold_answers(data: Any, answers: Any) -> list[Any]:
    """The gold answer of each row in the extraction's terms (None where there is none)."""
    from fusionbench.fusion.analysis.answers import extract

    gold: list[Any] = []
    truths = data.ground_truths if data.ground_truths is not None else [None] * data.n_queries
    for i, (task, truth) in enumerate(zip(data.tasks, truths, strict=True)):
        if answers is None or not answers.supported[i] or truth is None:
            gold.append(None)
        elif answers.gold[i] is not None:
            gold.append(answers.gold[i])
        elif task == "gsm8k":
            gold.append(extract(task, "#### " + str(truth).split("####")[-1].strip()))
        elif task == "math":
            gold.append(extract(task, str(truth)))
        else:
            gold.append(extract(task, str(truth)))
    return gold


def _model_flags(data: Any, theta: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    """Models whose ability lies more than ``threshold`` below the robust size line of the others."""
    by_model: dict[str, list[int]] = {}
    sizes: dict[str, float] = {}
    for j, info in enumerate(data.candidate_info):
        by_model.setdefault(info.model, []).append(j)
        if info.size_b:
            sizes[info.model] = float(info.size_b)
    models = [m for m in by_model if m in sizes]
    if len(models) < 5:
        return []
    ability = np.array([theta[by_model[m]].mean() for m in models])
    logsize = np.log(np.array([sizes[m] for m in models]))
    flags = []
    for k, model in enumerate(models):
        rest = np.arange(len(models)) != k
        x, y = logsize[rest], ability[rest]
        pairs = [(y[b] - y[a]) / (x[b] - x[a]) for a in range(len(x)) for b in range(a + 1, len(x)) if x[b] != x[a]]
        slope = float(np.median(pairs)) if pairs else 0.0
        intercept = float(np.median(y - slope * x))
        spread = float(np.median(np.abs(y - slope * x - intercept))) * 1.4826 + 1e-9
        residual = float(ability[k] - (intercept + slope * logsize[k]))
        if residual < -threshold * spread:
            flags.append({"model": model, "flag": "ability_below_size", "ability": float(ability[k]),
                          "expected": float(intercept + slope * logsize[k]), "size_b": sizes[model],
                          "residual_in_spread": residual / spread})  # fmt: skip
    return flags


def audit(
    data: Any,
    *,
    strong_share: float = 1 / 3,
    majority: float = 0.6,
    size_threshold: float = 3.0,
    seed: int = 0,
) -> dict[str, Any]:
    """The audit report of ``data`` (a RoutingData; response texts, where present, give the answer flags)."""
    model = fit_irt(data, kind="2pl", seed=seed)
    theta = model.theta[:, 0]
    order = np.argsort(-theta)
    n_strong = max(3, round(strong_share * len(theta)))
    strong, weak = order[:n_strong], order[-n_strong:]
    y = data.performance
    answers = extract_answers(data)
    gold = _gold_answers(data, answers)
    items = []
    for i in range(data.n_queries):
        row = y[i]
        seen = ~np.isnan(row)
        evidence: dict[str, Any] = {"difficulty": float(-model.b[i]), "discrimination": float(model.a[i, 0])}
        flags = []
        if seen.sum() >= 4 and np.nanstd(row) > 0:
            corr = float(np.corrcoef(row[seen], theta[seen])[0, 1])
            evidence["ability_correlation"] = corr
            if model.a[i, 0] < 0 and corr < 0:
                flags.append("negative_discrimination")
        s_seen, w_seen = strong[seen[strong]], weak[seen[weak]]
        if len(s_seen) and len(w_seen):
            s_mean, w_mean = float(row[s_seen].mean()), float(row[w_seen].mean())
            evidence |= {"strong_mean": s_mean, "weak_mean": w_mean}
            if np.all(row[s_seen] < 0.5) and w_mean >= 0.5:
                flags.append("strong_wrong_weak_right")
        if answers is not None and answers.supported[i]:
            flags += _answer_flags(answers.answers[i], gold[i], row, strong, majority, evidence)
        if flags:
            items.append({"query_id": str(data.query_ids[i]), "key": str(data.keys[i]), "task": str(data.tasks[i]),
                          "flags": flags, "evidence": evidence})  # fmt: skip
    report: dict[str, Any] = {
        "source": str(data.source),
        "synthetic": bool(data.synthetic),
        "n_queries": data.n_queries,
        "n_subjects": data.n_candidates,
        "strong": [data.candidates[j] for j in strong],
        "weak": [data.candidates[j] for j in weak],
        "answers_extracted": answers is not None,
        "items": items,
        "models": _model_flags(data, theta, size_threshold),
        "per_task": {
            t: dict(Counter(f for item in items if item["task"] == t for f in item["flags"]))
            for t in dict.fromkeys(str(t) for t in data.tasks)
        },
    }
    planted = planted_defects(data)
    if planted["items"] or planted["models"]:
        report["planted"] = score_against(report, planted)
    return report


def _answer_flags(
    answers: np.ndarray, gold: Any, row: np.ndarray, strong: np.ndarray, majority: float, evidence: dict[str, Any]
) -> list[str]:
    flags = []
    given = [(answers[j], row[j]) for j in strong if answers[j] is not None and not np.isnan(row[j])]
    if len(given) >= 3:
        top, count = Counter(a for a, _ in given).most_common(1)[0]
        share = count / len(given)
        evidence |= {"strong_answer": str(top), "strong_answer_share": share, "gold_answer": str(gold)}
        if share >= majority and gold is not None and top != gold:
            flags.append("strong_agree_other_answer")
        scored = [s for a, s in given if a == gold]
        if gold is not None and share >= majority and top == gold and np.mean(np.array(scored) >= 0.5) <= 0.1:
            flags.append("gold_unscorable")
    if gold is not None:
        cells = [(a == gold, s >= 0.5) for a, s in zip(answers, row, strict=True) if a is not None and not np.isnan(s)]
        wrong_right = sum(1 for match, ok in cells if ok and not match)
        right_wrong = sum(1 for match, ok in cells if match and not ok)
        evidence |= {"wrong_answer_scored_right": wrong_right, "right_answer_scored_wrong": right_wrong}
        if wrong_right:
            flags.append("scores_contradict_answers")
    return flags


def planted_defects(data: Any) -> dict[str, list[str]]:
    """The release's known defects visible in ``data`` (shared/notes/fusionbench-release.md: ARC items with digit
    labels, GSM8K golds with a decimal point, BoolQ answers saying "untrue" scored as "true", models whose rows
    another model generated), for precision and recall."""
    truths = data.ground_truths if data.ground_truths is not None else [None] * data.n_queries
    items = []
    for i, (key, task, truth) in enumerate(zip(data.keys, data.tasks, truths, strict=True)):
        text = "" if truth is None else str(truth).strip()
        untrue = (
            task == "boolq"
            and text.lower() == "true"
            and data.responses is not None
            and any(
                r is not None and "untrue" in str(r).lower() and s >= 0.5
                for r, s in zip(data.responses[i], data.performance[i], strict=True)
            )
        )
        if (
            (task == "arc_challenge" and text.isdigit())
            or (task == "gsm8k" and "." in text.split("####")[-1])
            or untrue
        ):
            items.append(str(key))
    models = sorted({c.model for c in data.candidate_info
                     if c.generated_by and c.generated_by.rsplit("/", 1)[-1] != c.model})  # fmt: skip
    return {"items": items, "models": models}


def score_against(report: dict[str, Any], planted: dict[str, list[str]]) -> dict[str, Any]:
    """Precision (flagged that are planted) and recall (planted that are flagged), items and models together."""
    flagged = {item["key"] for item in report["items"]} | {m["model"] for m in report["models"]}
    truth = set(planted["items"]) | set(planted["models"])
    hits = flagged & truth
    return {"planted": sorted(truth), "found": sorted(hits), "missed": sorted(truth - flagged),
            "precision": len(hits) / len(flagged) if flagged else None,
            "recall": len(hits) / len(truth) if truth else None, "flagged": len(flagged)}  # fmt: skip


def audit_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: per task, the flagged items with their evidence; the model flags; the planted check."""
    lines = [f"# Label audit of {report['source']}", ""]
    if report["synthetic"]:
        lines += ["> synthetic data: do not report these numbers", ""]
    lines += [f"{report['n_queries']:,} queries x {report['n_subjects']} subjects; strong: "
              f"{', '.join(report['strong'][:5])}{'...' * (len(report['strong']) > 5)}; "
              f"{len(report['items'])} items flagged", ""]  # fmt: skip
    if not report["answers_extracted"]:
        lines += ["(no response texts: the answer flags were not checked)", ""]
    for task, counts in report["per_task"].items():
        flagged = [item for item in report["items"] if item["task"] == task]
        if not flagged:
            continue
        lines += [f"## {task}: {', '.join(f'{k} {v}' for k, v in counts.items())}", ""]
        for item in flagged[:50]:
            ev = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in item["evidence"].items())
            lines.append(f"- `{item['query_id']}` {', '.join(item['flags'])}: {ev}")
        lines.append("")
    for flag in report["models"]:
        lines.append(
            f"- model `{flag['model']}` ({flag['size_b']:g}B): ability {flag['ability']:.2f}, expected "
            f"{flag['expected']:.2f} from its size ({flag['residual_in_spread']:.1f} spreads below)"
        )
    if "planted" in report:
        p = report["planted"]
        lines += ["", f"Known defects: {len(p['found'])} of {len(p['planted'])} found (recall {p['recall']}), "
                  f"precision {p['precision']} over {p['flagged']} flags; missed: {p['missed']}"]  # fmt: skip
    return "\n".join(lines) + "\n"
