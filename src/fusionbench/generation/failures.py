"""Per-request failures: an engine error becomes a failed :class:`Result` (rows with a null response and the error
recorded), never a failed job.

:func:`isolate_failures` runs an engine over a stream of requests. When the engine raises with several requests
in flight, each of those is rerun alone (when the engine allows it, ``Engine.retry_singly``): the ones that fail
alone become failed results and the others are generated; then the stream goes on. Every request in flight at a
failure gets exactly one more try by itself, however the requests were batched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fusionbench.generation.engines import Completion, Engine, Request, Result

#: finish_reason of a sample whose request failed in the engine.
ERROR = "error"
#: finish_reason of a sample whose prompt is longer than the engine accepts (never sent).
TOO_LONG = "prompt_too_long"
#: Longest error message kept in a row.
MAX_ERROR_CHARS = 500


def describe(error: BaseException) -> str:
    """``'Type: message'``, cut to :data:`MAX_ERROR_CHARS`."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def failed_result(request: Request, error: str, reason: str = ERROR, prompt_tokens: int | None = None) -> Result:
    """The result of a request that produced nothing: ``n`` empty completions with ``reason``, and ``error``."""
    tokens = prompt_tokens if prompt_tokens is not None else (len(request.prompt_ids) or None)
    return Result(request.id, tokens, [Completion("", 0, reason)] * request.n, 0.0, error)


def isolate_failures(engine: Engine, requests: Iterable[Request]) -> Iterator[Result]:
    """``engine.generate(requests)``, with every request that makes the engine raise turned into a failed result."""
    source = iter(requests)
    while True:
        pulled: dict[int, Request] = {}

        def feed(pulled: dict[int, Request] = pulled) -> Iterator[Request]:
            for request in source:
                pulled[request.id] = request
                yield request

        try:
            for result in engine.generate(feed()):
                pulled.pop(result.id, None)
                yield result
            return
        except Exception:
            suspects = list(pulled.values())
            if not suspects or (len(suspects) > 1 and not engine.retry_singly):
                raise  # not a request's failure: the job stops (its finished rows are kept; rerun to resume)
            for request in suspects:  # each once more by itself (a transient failure then passes)
                yield _alone(engine, request)


def _alone(engine: Engine, request: Request) -> Result:
    """One request by itself: its result, or a failed result naming the error."""
    try:
        results = [r for r in engine.generate([request]) if r.id == request.id]
    except Exception as err:
        return failed_result(request, describe(err))
    if not results:
        return failed_result(request, "the engine returned no result for this request")
    return results[0]
