"""One user message in, one reply out: the chat clients the LLM judge and the thought summariser share.

* :class:`ChatClient`: an OpenAI-compatible ``/chat/completions`` endpoint (``vllm serve``, any compatible
  server) over HTTP, with retries and exponential backoff (408, 409, 429, 5xx, timeouts and broken
  connections are retried; other client errors are not) under a concurrency cap;
* :class:`LocalChat`: a local model through the generation engines (``hf`` or ``vllm``).

Both answer ``complete(prompts)`` with one reply per prompt, None where the call failed, and keep the reasons
in ``last_errors``; a failure is never an empty reply or a 0.
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

#: HTTP statuses worth retrying: timeouts, conflicts, rate limits (and every 5xx).
RETRIED_STATUSES = (408, 409, 429)


class ChatEngine(Protocol):
    """What the judge and the summariser need: a model name, and replies to prompts (None on failure)."""

    model: str
    last_errors: list[str]

    def complete(self, prompts: Sequence[str]) -> list[str | None]: ...


@dataclass(frozen=True)
class ChatReply:
    """One chat completion: the reply text (None when the call failed, with ``error`` saying why), why it
    stopped, and the server's usage counts (None where it reports none)."""

    content: str | None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None  # of completion_tokens (usage.completion_tokens_details), when reported
    error: str | None = None
    attempts: int = 1


def _parse_reply(payload: Any, attempts: int) -> ChatReply:
    """A ``/chat/completions`` answer -> :class:`ChatReply` (KeyError/TypeError/ValueError on another shape)."""
    choice = payload["choices"][0]
    content = choice["message"]["content"]
    if not isinstance(content, str):
        raise ValueError(f"message content is {type(content).__name__}, not text")
    usage = payload.get("usage") or {}
    details = usage.get("completion_tokens_details") or {}
    return ChatReply(
        content,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        reasoning_tokens=_count(details.get("reasoning_tokens")),
        attempts=attempts,
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _error_detail(err: urllib.error.HTTPError) -> str:
    """``': message'`` from an error body (OpenAI's ``{"error": {"message": ...}}``), cut short; else ``''``."""
    try:
        body = json.loads(err.read() or b"{}")
        inner = body.get("error")
        message = inner.get("message") if isinstance(inner, dict) else body.get("message")
    except (ValueError, AttributeError, OSError):
        return ""
    return f": {str(message)[:300]}" if message else ""


class ChatClient:
    """An OpenAI-compatible chat completions endpoint, with retries, backoff and a concurrency cap. The judge, the
    thought summariser and ``fusionbench generate --engine openai`` all go through it."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        concurrency: int = 8,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 120.0,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        self.model, self.url = model, base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.concurrency, self.max_retries, self.backoff, self.timeout = concurrency, max_retries, backoff, timeout
        self.max_tokens, self.temperature = max_tokens, temperature
        self.last_errors: list[str] = []

    def chat(self, prompt: str, **params: Any) -> ChatReply:
        """One user message to the endpoint, retried with backoff; ``params`` override the request body's
        sampling fields (``max_tokens``, ``temperature``, ``top_p``, ``seed``, ...). Never raises for a
        failed call: the reply has ``error`` set instead."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **params,
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        error, attempts = "no attempt", 0
        for attempt in range(self.max_retries + 1):
            attempts += 1
            request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    return _parse_reply(json.loads(reply.read()), attempts)
            except urllib.error.HTTPError as err:
                error = f"HTTP {err.code}{_error_detail(err)}"
                if err.code not in RETRIED_STATUSES and err.code < 500:
                    return ChatReply(None, error=error, attempts=attempts)  # a client error stays one
            except (
                urllib.error.URLError,
                http.client.HTTPException,
                TimeoutError,
                ConnectionError,
                KeyError,
                IndexError,
                TypeError,
                ValueError,
            ) as err:
                error = f"{type(err).__name__}: {err}"
            if attempt < self.max_retries:
                time.sleep(self.backoff * 2**attempt * (1 + random.random() / 4))
        return ChatReply(None, error=f"{error} (after {attempts} attempts)", attempts=attempts)

    def _call(self, prompt: str) -> str | None:
        reply = self.chat(prompt)
        if reply.error is not None:
            self.last_errors.append(reply.error)
        return reply.content

    def complete(self, prompts: Sequence[str]) -> list[str | None]:
        """The reply to each prompt (None when every retry failed), at most ``concurrency`` in flight."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._call, prompts))


class LocalChat:
    """A local model through the generation engines (``hf`` or ``vllm``): one sample per prompt.

    Prompts go through the model's chat template as one user message, as generation does. A prompt longer than
    the engine accepts is a failure (None, with the reason), not a crash of the batch.
    """

    def __init__(
        self,
        engine: str,
        model: str,
        *,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
        work: Path | None = None,
        **engine_settings: Any,
    ) -> None:
        from fusionbench.generation.engines import make_engine
        from fusionbench.generation.settings import GenerationSettings, SamplingSettings

        sampling = SamplingSettings(temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens, seed=seed)
        # the engine's scratch folder: the caller's, else one removed with this client (or at exit)
        self._scratch = None if work else tempfile.TemporaryDirectory(prefix="fusionbench-chat-")
        out = Path(work or self._scratch.name)
        settings = GenerationSettings(
            model=model, name=model, out=out, engine=engine, sampling=sampling, progress=False, **engine_settings
        )
        self.model, self.seed, self.last_errors = model, seed, []
        self.engine = make_engine(settings)

    def complete(self, prompts: Sequence[str]) -> list[str | None]:
        from fusionbench.generation.engines import Request
        from fusionbench.generation.settings import request_seed

        limit = self.engine.max_prompt_tokens
        requests = []
        for i, prompt in enumerate(prompts):
            ids = self.engine.encode(prompt)
            if limit is not None and len(ids) > limit:
                self.last_errors.append(f"prompt of {len(ids)} tokens, longer than the engine's {limit}")
                continue
            requests.append(Request(id=i, prompt_ids=ids, n=1, seed=request_seed(self.seed, str(i), "chat", 0)))
        replies: dict[int, str | None] = {}
        for result in self.engine.generate(requests):
            replies[result.id] = result.completions[0].text if result.completions else None
        return [replies.get(i) for i in range(len(prompts))]

    def close(self) -> None:
        self.engine.close()
