"""Strings that look like credentials, found in model responses before they become training data.

A model that saw a token in its context (or memorised one) may write it out; ``sft-data`` would copy it into every
training file. :func:`find_credentials` looks for the documented formats below and ``sft-data`` drops (and counts)
the examples that hold one unless ``keep_credentials`` is asked for.

Why a regular-expression set and not a detector from PyPI: ``detect-secrets`` (Yelp) had its last release in
May 2024, has no Hugging Face token plugin, and its entropy plugins flag the hex and base64 strings that math and
code answers are full of; ``ggshield`` sends the text to GitGuardian's service. Every pattern here is a format its
issuer documents, anchored on a fixed prefix, so a normal math or code answer does not match:

======================  =====================================================================================
kind                    format
======================  =====================================================================================
huggingface_token       ``hf_`` + 34 or more letters and digits (user access tokens)
aws_access_key_id       ``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16 upper-case letters or digits
aws_secret_access_key   40 base64 characters assigned (``=``/``:``) after a name with ``aws`` and ``secret``
private_key             a PEM ``-----BEGIN ... PRIVATE KEY-----`` line (RSA, EC, DSA, OpenSSH, PKCS#8, PGP)
authorization_header    ``Authorization: Bearer|Basic|Token <credential>`` (16+ characters)
bearer_token            ``Bearer <token>`` of 20+ token characters, with both letters and digits
github_token            ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` + 36, or ``github_pat_`` + 60 or more
openai_key              ``sk-`` (``sk-proj-``, ``sk-svcacct-``, ``sk-admin-``) + 32 or more, letters and digits
anthropic_key           ``sk-ant-`` + 32 or more
slack_token             ``xoxb-``/``xoxp-``/``xoxa-``/``xoxo-``/``xoxs-``/``xoxr-`` + 10 or more, or a
                        ``hooks.slack.com/services/T.../B.../...`` webhook
google_api_key          ``AIza`` + 35
stripe_secret_key       ``sk_live_``/``rk_live_`` + 24 or more
gitlab_token            ``glpat-`` + 20
======================  =====================================================================================
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MIXED = r"(?=[A-Za-z0-9\-._~+/]*[0-9])(?=[A-Za-z0-9\-._~+/]*[A-Za-z])"  # a token holds letters and digits

#: kind -> pattern (see the module docstring for the formats).
PATTERNS: dict[str, str] = {
    "huggingface_token": r"\bhf_[A-Za-z0-9]{34,}\b",
    "aws_access_key_id": r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
    "aws_secret_access_key": (
        r"(?i:aws[\w.\-]{0,30}secret[\w.\-]{0,30})[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
    "private_key": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "authorization_header": (
        r"(?i:authorization)[\"']?\s*[:=]\s*[\"']?(?i:bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{16,}"
    ),
    "bearer_token": r"\b(?i:bearer)\s+" + _MIXED + r"[A-Za-z0-9\-._~+/]{20,}=*",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b",
    "anthropic_key": r"\bsk-ant-[A-Za-z0-9_\-]{32,}",
    "openai_key": r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?" + _MIXED + r"[A-Za-z0-9_\-]{32,}",
    "slack_token": r"\bxox[baposr]-[A-Za-z0-9\-]{10,}|hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}",
    "stripe_secret_key": r"\b[rs]k_live_[0-9A-Za-z]{24,}",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20}",
}
_COMBINED = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in PATTERNS.items()))
#: Fixed pieces (lower case) of which every pattern holds one: a text without any is not searched (substring tests
#: run at memory speed; the combined expression is some hundred times slower).
_HINTS = (
    "hf_", "akia", "asia", "abia", "acca", "aws", "private key", "authorization", "bearer",
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk-", "xox", "hooks.slack.com", "aiza", "k_live_", "glpat-",
)  # fmt: skip


def _may_hold(text: str) -> bool:
    low = text.lower()
    return any(hint in low for hint in _HINTS)


def find_credentials(text: str | None) -> list[str]:
    """The kinds of credential-like strings in ``text``, in order of appearance (empty when none)."""
    if not text:
        return []
    if not _may_hold(text):
        return []
    return [match.lastgroup for match in _COMBINED.finditer(text) if match.lastgroup]


def first_credential(texts: Iterable[str | None]) -> str | None:
    """The kind of the first credential-like string in any of ``texts`` (None when none holds one)."""
    for text in texts:
        if text and _may_hold(text) and (match := _COMBINED.search(text)):
            return match.lastgroup
    return None


def candidates(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A mask of the texts holding one of the patterns' fixed pieces (case aside): the only ones worth searching.
    One pass of Arrow's linear-time regular expressions over the whole column."""
    array = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts, pa.string())
    hints = "|".join(re.escape(hint) for hint in _HINTS)
    found = pc.match_substring_regex(array, hints, ignore_case=True)
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False).astype(bool)


class CredentialScan:
    """Checks texts and remembers what it found: ``kinds`` counts, per kind, the texts that held one."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def held(self, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> np.ndarray:
        """A mask of the texts holding a credential-like string (each counted by the kind found first)."""
        out = np.zeros(len(texts), dtype=bool)
        for row in np.flatnonzero(candidates(texts)):
            text = texts[int(row)]
            kind = first_credential([text.as_py() if isinstance(text, pa.Scalar) else text])
            if kind is not None:
                self.kinds[kind] += 1
                out[row] = True
        return out
