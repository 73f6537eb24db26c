"""The summariser interface of a template build, and the deterministic extractive summariser.

A summariser turns a query's top responses into one thought template. The LLM summariser (FusionFactory's
prompt through vLLM, transformers or an OpenAI-compatible server) lives in :mod:`fusionbench.generation.thoughts`,
because the fusion package never drives an LLM; :class:`ExtractiveSummarizer` needs none, for tests and for
users without a GPU.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fusionbench.fusion.thoughts.prompts import summarizer_prompt, summarizer_question


@dataclass(frozen=True)
class SummaryRequest:
    """One query to summarise: its question (the text the prompts show) and its top responses, best first."""

    query_id: str
    task: str
    question: str
    responses: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """FusionFactory's summariser prompt for this query."""
        return summarizer_prompt(summarizer_question(self.task, self.question), self.responses)


class Summarizer(Protocol):
    """What a template build needs: a name to record, the prompt's hash (None without a prompt), and one
    template per request: None when it failed (``last_errors`` says why), a blank string for a blank reply."""

    model: str
    prompt_hash: str | None
    last_errors: list[str]

    def summarize(self, requests: Sequence[SummaryRequest]) -> list[str | None]:
        """One template per request (None where it failed), in order."""


_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def first_sentence(text: str, max_chars: int = 400) -> str:
    """The first sentence of ``text`` (up to a ., ! or ? followed by white space, or a line end), at most
    ``max_chars`` characters; blank leading lines are skipped."""
    stripped = text.strip()
    match = _SENTENCE_END.search(stripped)
    sentence = stripped[: match.start()] if match else stripped
    return sentence.strip()[:max_chars]


class ExtractiveSummarizer:
    """No LLM: the template is the first sentence of each top response, in selection order, repeats dropped.

    Deterministic and instant; it records no prompt hash, since it uses no prompt.
    """

    model = "extractive:first-sentence"
    prompt_hash = None

    def __init__(self, max_chars: int = 400) -> None:
        self.max_chars = max_chars
        self.last_errors: list[str] = []

    def summarize(self, requests: Sequence[SummaryRequest]) -> list[str | None]:
        """The distinct first sentences of each request's top responses, joined."""
        out: list[str | None] = []
        for request in requests:
            sentences = [first_sentence(r, self.max_chars) for r in request.responses]
            unique = [s for s in dict.fromkeys(sentences) if s]
            if not unique:
                self.last_errors.append(f"{request.query_id}: every top response is blank")
            out.append(" ".join(unique))
        return out
