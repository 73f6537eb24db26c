"""``--engine openai``: generation through any OpenAI-compatible ``/chat/completions`` server.

A ``vllm serve`` fleet behind a load balancer, or any compatible API. It goes through the judge's client
(:class:`~fusionbench.generation.chat_client.ChatClient`: concurrency cap, retries with exponential backoff on
408/409/429/5xx, timeouts and broken connections). The prompt is sent as ONE user message (the server applies the
model's chat template); each sample is its own request (``n=1``, seeded from the run seed), so every row has its
own usage counts: ``input_tokens`` / ``output_tokens`` are the server's ``usage.prompt_tokens`` /
``usage.completion_tokens`` and ``reasoning_tokens`` its ``completion_tokens_details.reasoning_tokens`` (part of
``output_tokens``) when it reports them. A request that still fails after its retries becomes rows with a null
response and the error (HTTP status and the server's message) recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice

from fusionbench.generation.chat_client import ChatClient, ChatReply
from fusionbench.generation.engines import Completion, Engine, Request, Result
from fusionbench.generation.settings import GenerationSettings

#: Requests queued per request in flight, so the pool never runs dry and memory stays bounded.
QUEUE_FACTOR = 2


class OpenAIEngine(Engine):
    """An OpenAI-compatible server: no local tokenizer or model; token counts from the server's usage."""

    name = "openai"

    def __init__(self, settings: GenerationSettings) -> None:  # no super().__init__: nothing local to load
        self.settings = settings
        self.token_counter = settings.tokenizer or f"{settings.model} (server usage)"
        self.tokenizer = None
        self.templated = True  # the server applies the model's chat template
        self.max_prompt_tokens = None  # the server says when a prompt is too long (an error row)
        api_key = os.environ.get(settings.api_key_env) or None
        sampling = settings.sampling
        assert settings.base_url is not None  # GenerationSettings checks it
        self.client = ChatClient(
            settings.model,
            settings.base_url,
            api_key,
            concurrency=settings.concurrency,
            max_retries=settings.max_retries,
            timeout=settings.request_timeout_s,
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
        )

    def encode(self, text: str) -> list[int]:
        return []  # the server tokenizes

    def _sample(self, request: Request, sample: int) -> ChatReply:
        sampling = self.settings.sampling
        return self.client.chat(request.text, top_p=sampling.top_p, n=1, seed=request.seed + sample)

    def _request(self, request: Request) -> Result:
        """The ``n`` samples of one request, one HTTP call each (concurrently with the other requests')."""
        start = time.perf_counter()
        replies = [self._sample(request, s) for s in range(request.n)]
        latency = time.perf_counter() - start
        failed = next((r for r in replies if r.error is not None), None)
        prompt_tokens = next((r.prompt_tokens for r in replies if r.prompt_tokens is not None), None)
        if failed is not None:  # all samples of a request stand or fall together (a rerun retries the request)
            completions = [Completion("", 0, "error")] * request.n
            return Result(request.id, prompt_tokens, completions, latency, f"openai: {failed.error}")
        completions = [
            Completion(r.content or "", r.completion_tokens or 0, r.finish_reason or "stop", r.reasoning_tokens)
            for r in replies
        ]
        return Result(request.id, prompt_tokens, completions, latency)

    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        """Results as they finish, at most ``concurrency`` requests in flight."""
        pending = iter(requests)
        window = self.settings.concurrency * QUEUE_FACTOR
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="fusionbench-openai") as pool:
            in_flight: set[Future] = {pool.submit(self._request, r) for r in islice(pending, window)}
            try:
                while in_flight:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                    in_flight |= {pool.submit(self._request, r) for r in islice(pending, window - len(in_flight))}
            finally:
                for future in in_flight:  # interrupted: queued requests are dropped, running ones finish
                    future.cancel()

    def close(self) -> None:
        pass
