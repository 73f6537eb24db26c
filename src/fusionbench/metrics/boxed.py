"""``\\boxed{...}`` / ``\\fbox{...}`` extraction with nested braces."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_TOKEN = re.compile(r"[^\s$]+")


def _box_at(text: str, start: int) -> tuple[str, int] | None:
    """The content of the box whose command ends at ``start`` and the index after it, or None (unclosed)."""
    i = start
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        depth = 0
        for j in range(i, len(text)):
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j].strip(), j + 1
        return None
    if i > start:  # "\boxed 5"
        token = _TOKEN.match(text, i)
        if token:
            return token.group(0), token.end()
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces kept), or None.

    The brace-less form ``\\boxed 5`` gives the token after the space. An unclosed brace gives None.
    """
    for match in reversed(list(_BOX.finditer(text))):
        box = _box_at(text, match.end())
        if box is not None:
            return box[0]
    return None


def boxed_answers(text: str) -> list[str]:
    """The contents of every outermost ``\\boxed{}`` / ``\\fbox{}`` in ``text``, left to right.

    A box nested in another is part of the outer one's content; an unclosed box is skipped.
    """
    answers: list[str] = []
    pos = 0
    while (match := _BOX.search(text, pos)) is not None:
        box = _box_at(text, match.end())
        if box is None:
            pos = match.end()
            continue
        answers.append(box[0])
        pos = box[1]
    return answers
