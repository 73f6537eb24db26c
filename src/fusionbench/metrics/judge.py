"""The FusionBench LLM-judge rubric: the prompt (in one place), a robust parser, and calibration.

The release stored failed judge calls as 0.0, indistinguishable from a real 0. Here a judge output that
cannot be read is ``None`` and counted (``n_failed``), and coverage is reported beside the mean.
Calibration compares judge scores with ``performance`` (correctness): Spearman's rho and a rank-based
AUROC of the judge score for telling correct rows (performance >= threshold) from the rest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The rubric's anchor scores.
JUDGE_ANCHORS: tuple[float, ...] = (0.0, 0.3, 0.6, 0.8, 1.0)

_TEMPLATE = """You are an expert judge evaluating the quality of an AI model's response. \
Please score the response based on the following criteria:

1. Correctness (0-1): Is the answer correct according to the ground truth?
2. Thought Process (0-1): Does the response show clear reasoning and explanation?
3. Training Data Quality (0-1): Is the response well-structured and suitable for supervised fine-tuning?

Query: {query}
Ground Truth: {ground_truth}
Response: {response}

Please provide a single score from 0 to 1, where:
- 0: Incorrect answer
- 0.3: Correct answer but minimal thought process
- 0.6: Correct answer with some thought process
- 0.8: Correct answer with good thought process
- 1.0: Correct answer with excellent thought process and well-suited for training

Return the score in the following format:
<answer>SCORE</answer>
where SCORE is a number between 0 and 1."""


def judge_prompt(query: str, response: str, ground_truth: str) -> str:
    """The release's judge prompt (FusionFactory ``add_llm_judge.py``) for one row, as one user message."""
    return _TEMPLATE.format(query=query, ground_truth=ground_truth, response=response)


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_VALUE_TEXT = rf"{_NUMBER}\s*(?:%|(?:/|\bout\s+of\b)\s*{_NUMBER})?"
_VALUE = re.compile(rf"^(?P<num>{_NUMBER})\s*(?:(?P<pct>%)|(?:/|\bout\s+of\b)\s*(?P<den>{_NUMBER}))?$", re.IGNORECASE)
_VALUE_TOKEN = re.compile(rf"(?<![\w.]){_VALUE_TEXT}", re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_OPEN_ANSWER = re.compile(r"<answer>\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
_SCORE_PHRASE = re.compile(rf"\bscore\b(?:\s+is|\s+of)?\s*[:=]?\s*[*_`]*\s*(?P<value>{_VALUE_TEXT})", re.IGNORECASE)


def _parse_value(text: str) -> float | None:
    """One value: ``0.8``, ``.8``, ``80%``, ``4/5``, ``4 out of 5``; None unless it lies in [0, 1]."""
    match = _VALUE.match(text.lstrip(" \t\r\n*_`'\"").rstrip(" \t\r\n*_`'\".,;:!"))
    if match is None:
        return None
    value = float(match["num"])
    if match["pct"]:
        value /= 100.0
    elif match["den"] is not None:
        denominator = float(match["den"])
        if denominator <= 0:
            return None
        value /= denominator
    return value if 0.0 <= value <= 1.0 else None


def _parse_content(text: str) -> float | None:
    """A value from a short text: the whole text, else its last "score: x" phrase, else its only value."""
    value = _parse_value(text)
    if value is not None:
        return value
    phrases = list(_SCORE_PHRASE.finditer(text))
    if phrases:
        return _parse_value(phrases[-1]["value"])
    tokens = _VALUE_TOKEN.findall(text)
    return _parse_value(tokens[0]) if len(tokens) == 1 else None


def parse_judge_output(output: Any) -> float | None:
    """A judge score in [0, 1] from a judge's output, or None when it cannot be read.

    Reads the last ``<answer>..</answer>`` (or, if the output was cut off, an unclosed ``<answer>``);
    its content may be a value, "Score: value", or text holding exactly one value. Without answer tags,
    the whole output must be a bare value or hold a "score: value" phrase (the last one counts). A value
    is a number, a percentage ("80%") or a fraction ("4/5", "4 out of 5"). Out-of-range values (1.5,
    120%, -0.2) give None: they are rejected, not clamped. Numbers are validated the same way; None,
    NaN and "" give None.
    """
    if output is None or isinstance(output, bool):
        return None
    if isinstance(output, (int, float, np.integer, np.floating)):
        value = float(output)
        return value if not math.isnan(value) and 0.0 <= value <= 1.0 else None
    text = str(output)
    answers = _ANSWER.findall(text)
    if answers:
        return _parse_content(answers[-1])
    unclosed = _OPEN_ANSWER.search(text)
    if unclosed:
        return _parse_content(unclosed.group(1))
    value = _parse_value(text)
    if value is not None:
        return value
    phrases = list(_SCORE_PHRASE.finditer(text))
    return _parse_value(phrases[-1]["value"]) if phrases else None


def auroc(
    scores: Sequence[float], labels: Sequence[bool | int], weights: Sequence[float] | None = None
) -> float | None:
    """AUROC as the Mann-Whitney statistic (the share of positive-negative pairs the scores order correctly, ties
    counted half), each query counted ``weights`` times (a bootstrap resample's multiplicities); None when a
    class is absent."""
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"scores ({x.shape}) and labels ({y.shape}) differ in shape")
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    _, group = np.unique(x, return_inverse=True)
    pos_w = np.bincount(group, weights=w * y)
    neg_w = np.bincount(group, weights=w * ~y)
    total_pos, total_neg = pos_w.sum(), neg_w.sum()
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = np.cumsum(neg_w) - neg_w  # negative weight strictly below each score
    return float((pos_w * (below + 0.5 * neg_w)).sum() / (total_pos * total_neg))


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """(rho, p-value) from ``scipy.stats.spearmanr``; None where undefined (< 2 pairs, a constant side)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None, None
    result = spearmanr(a, b)
    rho, p_value = float(result.statistic), float(result.pvalue)
    return (None if math.isnan(rho) else rho), (None if math.isnan(p_value) else p_value)


def judge_summary(
    outputs: Sequence[Any],
    performance: Sequence[float | None] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Parse judge outputs; mean, coverage and calibration against performance.

    Returns ``mean`` (over parsed scores), ``coverage`` (parsed / n), ``n``, ``n_parsed``, ``n_failed``,
    ``anchor_rate`` (share of parsed scores on a rubric anchor) and, when ``performance`` is given,
    ``spearman``, ``spearman_p``, ``auroc`` (correct = performance >= ``threshold``), ``n_calibration``
    (rows with both a judge score and a performance) and ``mean_when_correct`` / ``mean_when_incorrect``.
    """
    scores = [parse_judge_output(o) for o in outputs]
    parsed = np.array([s for s in scores if s is not None], dtype=np.float64)
    n = len(scores)
    out: dict[str, Any] = {
        "mean": float(parsed.mean()) if len(parsed) else None,
        "coverage": len(parsed) / n if n else None,
        "n": n,
        "n_parsed": len(parsed),
        "n_failed": n - len(parsed),
        "anchor_rate": float(np.isclose(parsed[:, None], JUDGE_ANCHORS).any(axis=1).mean()) if len(parsed) else None,
    }
    if performance is None:
        return out
    perf = [None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p) for p in performance]
    if len(perf) != n:
        raise ValueError(f"outputs ({n}) and performance ({len(perf)}) differ in length")
    pairs = [(s, p) for s, p in zip(scores, perf, strict=True) if s is not None and p is not None]
    judge = np.array([s for s, _ in pairs], dtype=np.float64)
    truth = np.array([p for _, p in pairs], dtype=np.float64)
    correct = truth >= threshold
    rho, p_value = spearman(judge, truth)
    out.update(
        {
            "spearman": rho,
            "spearman_p": p_value,
            "auroc": auroc(judge, correct) if len(pairs) else None,
            "n_calibration": len(pairs),
            "mean_when_correct": float(judge[correct].mean()) if correct.any() else None,
            "mean_when_incorrect": float(judge[~correct].mean()) if (~correct).any() else None,
        }
    )
    return out
