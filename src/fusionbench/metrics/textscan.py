"""Fast scanning helpers: ``str.find`` in C instead of a regex tried at every position of a long text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def word_positions(text: str, word: str, start: int = 0) -> Iterator[int]:
    """Start positions of ``word`` in ``text`` as a whole word, left to right."""
    n = len(word)
    i = text.find(word, start)
    while i != -1:
        if (i == 0 or not _is_word_char(text[i - 1])) and (i + n >= len(text) or not _is_word_char(text[i + n])):
            yield i
        i = text.find(word, i + 1)


def last_match_after(text: str, keywords: Iterable[str], tail: re.Pattern[str], lowered: str | None = None):
    """The match of ``tail`` at the last whole-word occurrence of any keyword that ``tail`` accepts there.

    Keywords are looked up in ``lowered`` (``text.lower()`` when not given); ``tail`` is matched against
    ``text`` itself at the keyword's position, so it can be case-sensitive after the keyword.
    """
    lowered = text.lower() if lowered is None else lowered
    positions = sorted((p for kw in keywords for p in word_positions(lowered, kw)), reverse=True)
    for pos in positions:
        match = tail.match(text, pos)
        if match:
            return match
    return None


_DIGITS = "0123456789"


def last_digit(text: str) -> int:
    """Index of the last ASCII digit of ``text``, or -1."""
    return max(text.rfind(d) for d in _DIGITS)
