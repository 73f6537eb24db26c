"""``\\boxed{...}`` / ``\\fbox{...}`` extraction with nested braces."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\b")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces kept), or None.

    The brace-less form ``\\boxed 5`` gives the token after the space. An unclosed brace gives None.
    """
    starts = [m.end() for m in _BOX.finditer(text)]
    for start in reversed(starts):
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
                        return text[i + 1 : j].strip()
            continue
        if i > start:  # "\boxed 5"
            token = re.match(r"[^\s$]+", text[i:])
            if token:
                return token.group(0)
    return None
