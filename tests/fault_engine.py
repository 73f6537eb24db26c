"""A fault-injecting generation engine for the tests: fast, deterministic, and failing where it is told to.

It answers every sample with a fixed text (no model runs; the tiny model's tokenizer builds the prompts), and
raises in the middle of a batch when a request's prompt is one it must fail on (``fail``: every time;
``flaky``: the first time only), after yielding the batch's earlier results, as a real engine that dies
mid-batch does. ``seen`` records every prompt it was sent, retries included.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice

from fusionbench.generation.engines import Completion, Engine, Request, Result
from fusionbench.generation.settings import GenerationSettings

ANSWER = "The answer is 42."


class InjectedError(RuntimeError):
    """The failure the fake engine raises."""


class FaultEngine(Engine):
    def __init__(
        self,
        settings: GenerationSettings,
        *,
        fail: Iterable[str] = (),
        flaky: Iterable[str] = (),
        delay: float = 0.0,
        batch: int = 3,
        name: str = "fake",
    ) -> None:
        super().__init__(settings)
        self.fail, self.flaky = set(fail), set(flaky)
        self.delay, self.batch, self.name = delay, batch, name
        self.seen: list[str] = []

    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        iterator = iter(requests)
        while batch := list(islice(iterator, self.batch)):  # the whole batch is in flight
            self.seen.extend(r.text for r in batch)
            for request in batch:
                if request.text in self.fail:
                    raise InjectedError(f"injected failure ({len(request.prompt_ids)} prompt tokens)")
                if request.text in self.flaky:
                    self.flaky.discard(request.text)
                    raise InjectedError("injected transient failure")
                time.sleep(self.delay)
                completions = [Completion(ANSWER, 5, "stop")] * request.n
                yield Result(request.id, len(request.prompt_ids), completions, 0.001)

    def close(self) -> None:
        pass
