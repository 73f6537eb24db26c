"""GSM8K: the final number of a response, compared numerically with the gold's.

The final answer is the first number after the last ``####``, then after the last line-initial
``A:``, then after the last "the answer is", then inside the last ``\\boxed{}``; else the last number
of the text. Thousands commas, ``$``, ``%``, units and sentence-final periods are dropped, but a
decimal point is kept: "18.5" is 18.5, not 185 (the release's defect 5). A thousands comma is followed
by exactly three digits and no space: "32, 349" is two numbers, not 32349.

GSM8K's calculator annotations ``<<4-16=-12>>`` are removed first, so "4 - 16 = -<<4-16=-12>>12"
reads -12, not 12. A response with none of the markers above that says it has no answer ("it is not
possible to determine", "cannot be determined", "not enough information", "no solution", ...) has
no answer, whatever number it ends with.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from fusionbench.metrics.boxed import last_boxed
from fusionbench.metrics.textscan import last_digit, last_match_after

#: A number: optional sign and ``$``, thousands groups or plain digits, optional decimals; or ``.5``.
_NUMBER = re.compile(r"(?<![\w.])(?P<sign>[-+]?)\s?\$?\s?(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?![\d])")
_A_LINE = re.compile(r"(?m)^[ \t*#]*A\s*:")
_ANSWER_IS = re.compile(r"(?i:answer)\s*(?:is\b|:)\s*:?")
_WINDOW = 100  # no number is longer than this
_CALCULATOR = re.compile(r"<<[^<>\n]*>>")
#: Phrases by which a response declines to give a number (only consulted when no answer marker gives one).
_NO_ANSWER = re.compile(
    r"(?i)\b(?:"
    r"(?:not |im)possible to (?:determine|tell|know|say|calculate|compute|answer|find)"
    r"|(?:can ?not|can['’]t|could not|couldn['’]t|unable to) (?:be )?(?:determined?|calculated?|computed?|answered?)"
    r"|(?:not enough|insufficient|missing) (?:information|data)"
    r"|(?:no|not a) (?:unique |single |definite |numerical |valid )?(?:solution|answer)\b"
    r")"
)


def _to_float(match: re.Match[str]) -> float:
    value = float(match.group("num").replace(",", ""))
    return -value if match.group("sign") == "-" else value


def _number_in_line(text: str, start: int) -> float | None:
    """The first number on the line from ``start``; None when there is none or the words before it
    decline an answer ("the answer is not possible to determine from 4 apples")."""
    end = text.find("\n", start)
    match = _NUMBER.search(text, start, len(text) if end == -1 else end)
    if match is None or _NO_ANSWER.search(text, start, match.start()):
        return None
    return _to_float(match)


def _last_number(text: str) -> float | None:
    end = last_digit(text)
    if end == -1:
        return None
    value = None
    for match in _NUMBER.finditer(text, max(0, end - _WINDOW), end + 1):
        value = _to_float(match)
    return value


def extract_number(response: str) -> float | None:
    """The response's final numeric answer, or None when it has no number or says it has no answer."""
    text = response.replace("−", "-") if "−" in response else response
    if "<<" in text:
        text = _CALCULATOR.sub("", text)
    value = _marked_number(text)
    if value is not None:
        return value
    if _NO_ANSWER.search(text):
        return None
    return _last_number(text)


def _marked_number(text: str) -> float | None:
    """The number that an answer marker (``####``, ``A:``, "the answer is", ``\\boxed``) gives, or None."""
    i = text.rfind("####")
    if i != -1 and (value := _number_in_line(text, i + 4)) is not None:
        return value
    if "A" in text and ":" in text:
        last = None
        for last in _A_LINE.finditer(text):  # noqa: B007 - the last one counts
            pass
        if last is not None and (value := _number_in_line(text, last.end())) is not None:
            return value
    match = last_match_after(text, ("answer",), _ANSWER_IS)
    if match is not None and (value := _number_in_line(text, match.end())) is not None:
        return value
    if "\\boxed" in text or "\\fbox" in text:
        boxed = last_boxed(text)
        if boxed is not None:
            match = _NUMBER.search(boxed.replace("{,}", ",").replace("\\$", "$").replace("\\!", ""))
            if match:
                return _to_float(match)
    return None


@lru_cache(maxsize=65536)
def gold_number(ground_truth: str) -> float | None:
    """The gold number: after ``####`` (or ``A:``) in a GSM8K solution, or a bare number."""
    return extract_number(ground_truth)


def numbers_equal(a: float, b: float) -> bool:
    """Equal within 1e-6 (a relative 1e-9 above 1,000: float rounding). The answers are exact, so no
    relative tolerance may hide a wrong digit: 10,000,001 is not 10,000,000."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def gsm8k_score(response: str, ground_truth: object) -> float:
    """1.0 when the response's final number equals the gold number."""
    gold = gold_number(str(ground_truth)) if not isinstance(ground_truth, (int, float)) else float(ground_truth)
    if gold is None:
        return 0.0
    pred = extract_number(response)
    return 1.0 if pred is not None and numbers_equal(pred, gold) else 0.0
