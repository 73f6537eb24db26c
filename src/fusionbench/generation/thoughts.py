"""The LLM thought summariser of ``fusionbench thoughts build``: FusionFactory's prompt through a chat engine.

The templates job itself (:func:`fusionbench.fusion.thoughts.build_templates`: selection, resumable folder) is
data in, data out; this module gives it an LLM to call. The engines are the ones the judge uses
(:mod:`fusionbench.generation.chat_client`): an OpenAI-compatible server (``vllm serve``, any compatible API)
with retries, exponential backoff and a concurrency cap, or a local model through vLLM or transformers.
FusionFactory's settings are the defaults: 1,024 new tokens, temperature 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fusionbench.fusion.thoughts.prompts import (
    SUMMARIZER_MAX_TOKENS,
    SUMMARIZER_PROMPT_SHA256,
    SUMMARIZER_TEMPERATURE,
)
from fusionbench.fusion.thoughts.summarizers import ExtractiveSummarizer, Summarizer, SummaryRequest
from fusionbench.generation.chat_client import ChatClient, ChatEngine, LocalChat

ENGINES: tuple[str, ...] = ("extractive", "openai", "vllm", "hf")


class LLMSummarizer:
    """A :class:`~fusionbench.fusion.thoughts.summarizers.Summarizer` that sends FusionFactory's summariser
    prompt to a chat engine; the reply, stripped, is the template (None when the call failed)."""

    prompt_hash = SUMMARIZER_PROMPT_SHA256

    def __init__(self, chat: ChatEngine) -> None:
        self.chat = chat
        self.model = chat.model

    @property
    def last_errors(self) -> list[str]:
        return self.chat.last_errors

    def summarize(self, requests: Sequence[SummaryRequest]) -> list[str | None]:
        replies = self.chat.complete([request.prompt for request in requests])
        return [None if reply is None else reply.strip() for reply in replies]

    def close(self) -> None:
        close = getattr(self.chat, "close", None)
        if close is not None:
            close()


def make_summarizer(
    engine: str,
    model: str | None = None,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 8,
    max_retries: int = 4,
    timeout: float = 300.0,
    max_tokens: int = SUMMARIZER_MAX_TOKENS,
    temperature: float = SUMMARIZER_TEMPERATURE,
    **engine_settings: Any,
) -> Summarizer:
    """The summariser of ``engine``: ``extractive`` (no model), ``openai`` (``base_url``; the key from the caller),
    or ``vllm`` / ``hf`` (``model``: a Hub id or local path; ``engine_settings``: tensor_parallel_size, dtype,
    max_model_len, ... of :class:`~fusionbench.generation.settings.GenerationSettings`)."""
    if engine == "extractive":
        return ExtractiveSummarizer()
    if engine not in ENGINES:
        raise ValueError(f"unknown summariser engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if not model:
        raise ValueError(f"the {engine} summariser needs a model (--summarizer-model)")
    if engine == "openai":
        if not base_url:
            raise ValueError("the openai summariser needs a base URL (--base-url or OPENAI_BASE_URL)")
        chat: ChatEngine = ChatClient(
            model, base_url, api_key, concurrency=concurrency, max_retries=max_retries, timeout=timeout,
            max_tokens=max_tokens, temperature=temperature,
        )  # fmt: skip
    else:
        chat = LocalChat(engine, model, max_new_tokens=max_tokens, temperature=temperature, **engine_settings)
    return LLMSummarizer(chat)
