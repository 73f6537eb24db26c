"""MATH: the boxed answer, equivalence through ``math-verify``.

The response's answer is everything it boxes: one ``\\boxed{}`` gives that answer; several boxes with
the same answer (a restated result) give it once; several boxes with different answers give their
set ("the solutions are \\boxed{2} and \\boxed{3}" is the answer ``2, 3``). That set must equal the
gold's, order-insensitive: a list gold ("2, 3", "\\{2,3\\}", or a solution that boxes 2 and 3) is
matched by the two boxes or by one "\\boxed{3, 2}", while a single-answer gold is never matched by
boxes that disagree with each other ("\\boxed{2} ... actually \\boxed{3}" with gold 3 scores 0: the
response states two answers, and a hedge is not credited with the one that happens to be right).

A thousands separator is a comma followed by exactly three digits, with no space: "1,000" is 1000,
but "32, 349" is the list of 32 and 349 (and "32, 349" does not match 32349).

Fast paths come first: equal strings after the Hendrycks normalisation, or two plain numbers (equal
within 1e-6, :func:`~fusionbench.metrics.numeric.numbers_equal`). Only
the rest goes to math-verify (fractions, ``\\dfrac``, roots, intervals, sets, units, ...). math-verify
times out with ``SIGALRM``, which only works in the main thread: there it runs with its timeouts; in
any other thread it runs without them, on answers short and tame enough to be safe (no huge powers or
factorials), and anything else falls back to the string comparison.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from fusionbench.metrics.boxed import boxed_answers
from fusionbench.metrics.numeric import numbers_equal

#: Seconds math-verify may spend parsing one answer or comparing two (main thread only).
MATH_VERIFY_TIMEOUT = 5
_MAX_UNTIMED_LEN = 200
_RISKY = re.compile(r"\^\s*\{?\s*[\d.]{3,}|\^\s*\{[^}]*\^|!\s*!|\d{3,}\s*!|\\(?:int|sum|prod|lim)\b")

_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{\s*([^{}]*?)\s*\}")
_UNITS = re.compile(
    r"\s*\\(?:text|mbox|mathrm)\{\s*(?:units?|cm|m|km|inches|inch|feet|ft|degrees?|dollars?|cents?|"
    r"square\s+\w+|sq\s+\w+|hours?|minutes?|seconds?|days?|meters?|miles?|pounds?)\s*\}\s*\^?\d*"
)
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
#: A number written with thousands separators: 1-3 digits, then groups of exactly three after a bare comma.
_THOUSANDS = re.compile(r"(?<![\w.])(?<!\d,)\d{1,3}(?:,\d{3})+(?!\d|,\d)")


def _fix_fracs(s: str) -> str:
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{") or len(part) < 2:
            out += part
            continue
        a, b, rest = part[0], part[1], part[2:]
        out += "{" + a + "}" + (b + rest if b == "{" else "{" + b + "}" + rest)
    return out


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt\s*(\w)", r"\\sqrt{\1}", s)


def _fix_a_slash_b(s: str) -> str:
    match = re.fullmatch(r"(-?\d+)/(\d+)", s)
    return f"\\frac{{{match.group(1)}}}{{{match.group(2)}}}" if match else s


@lru_cache(maxsize=65536)
def normalize_math(answer: str) -> str:
    """The Hendrycks MATH string normalisation (``strip_string``), slightly extended."""
    s = answer.replace("\n", "").replace("\\!", "").replace("\\\\", "\\").replace("{,}", ",").strip()
    if "," in s:  # before spaces are dropped: "1,000" is a number, "32, 349" a list of two
        s = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), s)
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "").replace("$", "")
    s = _UNITS.sub("", s)
    s = _TEXT.sub(r"\1", s)
    s = s.replace("\\%", "").replace("%", "").replace("\\displaystyle", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    if re.fullmatch(r"[a-zA-Z]\s*=.*", s) and len(s.split("=")[0]) <= 2:
        s = s.split("=", 1)[1]
    s = _fix_sqrt(s).replace(" ", "")
    s = _fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    s = _fix_a_slash_b(s)
    s = s.rstrip(".")
    return s


def _plain_number(s: str) -> float | None:
    """The value of a normalised answer that is one plain number (thousands separators already dropped)."""
    return float(s) if _NUMBER.fullmatch(s) else None


@lru_cache(maxsize=65536)
def _parse(answer: str, timed: bool) -> tuple:
    from math_verify import parse

    timeout = MATH_VERIFY_TIMEOUT if timed else None
    try:
        return tuple(parse("\\boxed{" + answer + "}", parsing_timeout=timeout))
    except Exception:  # math-verify's own exceptions, sympy errors, timeouts
        return ()


@lru_cache(maxsize=65536)
def _verify(gold: str, pred: str, timed: bool) -> bool:
    from math_verify import verify

    gold_parsed, pred_parsed = _parse(gold, timed), _parse(pred, timed)
    if not gold_parsed or not pred_parsed:
        return False
    try:
        return bool(
            verify(list(gold_parsed), list(pred_parsed), timeout_seconds=MATH_VERIFY_TIMEOUT if timed else None)
        )
    except Exception:
        return False


def math_equivalent(gold: str, pred: str) -> bool:
    """True when two final answers (without ``\\boxed``) are mathematically the same."""
    g, p = normalize_math(gold), normalize_math(pred)
    if not p:
        return False
    if g == p:
        return True
    gn, pn = _plain_number(g), _plain_number(p)
    if gn is not None and pn is not None:
        return numbers_equal(gn, pn)
    timed = threading.current_thread() is threading.main_thread()
    if not timed and any(len(x) > _MAX_UNTIMED_LEN or _RISKY.search(x) for x in (gold, pred)):
        return False
    return _verify(gold, pred, timed)


def _joined_answer(boxes: list[str]) -> str:
    """The boxed answers as one answer: a restated answer once, different answers as a comma list."""
    distinct = list(dict((normalize_math(b), b) for b in boxes if b).values())
    return ", ".join(distinct)


@lru_cache(maxsize=65536)
def gold_answer(ground_truth: str) -> str:
    """The gold answer: what a full solution boxes (several different boxes as a comma list), else the
    bare text (``$`` stripped)."""
    boxes = boxed_answers(ground_truth)
    return _joined_answer(boxes) if boxes else ground_truth.strip().strip("$").strip()


def extract_math_answer(response: str) -> str | None:
    """The response's final answer, or None when it boxes nothing: the content of its ``\\boxed{}`` /
    ``\\fbox{}``, or its different boxed answers joined by ", " (see the module doc)."""
    boxes = boxed_answers(response)
    return _joined_answer(boxes) if boxes else None


def math_score(response: str, ground_truth: object) -> float:
    """1.0 when the response's boxed answer (the set of its boxed answers) is equivalent to the gold answer."""
    pred = extract_math_answer(response)
    if not pred:
        return 0.0
    gold = gold_answer(str(ground_truth))
    return 1.0 if gold and math_equivalent(gold, pred) else 0.0
