"""``--engine ray`` (and ``--data-parallel-size D`` > 1): a Ray Data pipeline over a Ray cluster.

The runner's work items, prompts (token ids built here, on the driver, by the model's chat template, as every
engine does), sampling settings and token counting are the same as in-process; the requests become a Ray Dataset
that ``D`` engine replicas (a Ray Data actor pool, one per device group, on any node of the cluster) work through,
and the results stream back to the runner, which scores them and writes the run folder's shards (and journal) as
for any engine. Inside the pipeline:

* **vLLM installed**: :mod:`ray.data.llm` (``vLLMEngineProcessorConfig`` + ``build_processor``) with
  ``should_continue_on_error``; each sample is its own row (``n=1``), a failed row keeps its error;
* **otherwise**: a ``map_batches`` stage whose actors each run the ``hf`` engine (the CPU / test path).

A request that fails inside a replica becomes a failed result (rows with a null response and the error); an actor
that dies is restarted by Ray and its batch retried (``max_restarts``/``max_task_retries``); a pipeline that fails
anyway stops the job, whose finished rows are on disk or in its journal, so a rerun resumes it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace
from typing import Any

from fusionbench.generation.engines import (
    Completion,
    Engine,
    EngineUnavailableError,
    Request,
    Result,
    vllm_engine_kwargs,
)
from fusionbench.generation.failures import ERROR
from fusionbench.generation.settings import DEFAULT_BATCH_SIZE, GenerationSettings

#: Restarts of a dead replica actor, and retries of the batch it held.
ACTOR_RESTARTS = 3


def _result_json(result: Result) -> str:
    return json.dumps(asdict(result))


def _result_from_json(text: str) -> Result:
    data = json.loads(text)
    return Result(**{**data, "completions": [Completion(**c) for c in data["completions"]]})


class HFStage:
    """A Ray Data actor: the ``hf`` engine (or ``factory``'s) over batches of requests; every failure of a
    request is a failed result."""

    def __init__(self, settings: GenerationSettings, factory: Callable[[GenerationSettings], Engine] | None) -> None:
        from fusionbench.generation.engines import HFEngine

        self.engine = (factory or HFEngine)(settings)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from fusionbench.generation.failures import isolate_failures

        columns = (batch["id"], batch["prompt_ids"], batch["n"], batch["seed"], batch["text"])
        requests = [
            Request(int(i), [int(t) for t in ids], int(n), int(seed), str(text))
            for i, ids, n, seed, text in zip(*columns, strict=True)
        ]
        return {"result": [_result_json(r) for r in isolate_failures(self.engine, requests)]}


class RayEngine(Engine):
    """Ray Data over the requests: ``data_parallel_size`` replicas of the vLLM (``ray.data.llm``) or hf engine."""

    retry_singly = False  # a request's failure is isolated inside the pipeline; a pipeline failure is the job's

    def __init__(
        self, settings: GenerationSettings, *, engine_factory: Callable[[GenerationSettings], Engine] | None = None
    ) -> None:
        """``engine_factory``: what each replica of the map_batches path builds instead of the hf engine (it must
        pickle: a class or a partial of one; the tests pass a fault-injecting engine)."""
        try:
            import ray
            import ray.data
        except ImportError as err:
            raise EngineUnavailableError(
                "--engine ray (and --data-parallel-size > 1) needs Ray Data: pip install 'fusionbench[ray]'"
            ) from err
        super().__init__(settings)
        self.ray = ray
        inner = settings.ray_engine or (settings.engine if settings.engine in ("hf", "vllm") else None)
        if inner is None:
            inner = "vllm" if importlib.util.find_spec("vllm") is not None else "hf"
        self.inner = "hf" if engine_factory is not None else inner
        self.factory = engine_factory
        self.name = f"ray/{self.inner}"
        self.replicas = settings.data_parallel_size
        self.batch_size = settings.batch_size or DEFAULT_BATCH_SIZE[self.inner]
        if self.inner == "vllm" and settings.max_model_len is not None:
            self.max_prompt_tokens = settings.max_model_len - 1
        self._started = not ray.is_initialized()
        if self._started:  # RAY_ADDRESS or a `ray start` cluster on this node is joined; else a local one starts
            ray.init(address=settings.ray_address, ignore_reinit_error=True, log_to_driver=settings.progress)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = settings.progress

    def generate(self, requests: Iterable[Request]) -> Iterator[Result]:
        rows = [{"id": r.id, "prompt_ids": r.prompt_ids, "n": r.n, "seed": r.seed, "text": r.text} for r in requests]
        if not rows:
            return
        dataset = self.ray.data.from_items(rows)
        yield from (self._vllm(dataset, {r["id"]: r["n"] for r in rows}) if self.inner == "vllm" else self._hf(dataset))

    def _hf(self, dataset: Any) -> Iterator[Result]:
        inner = replace(self.settings, engine="hf", data_parallel_size=1, batch_size=self.batch_size, progress=False)
        gpu = 1 if self.ray.cluster_resources().get("GPU", 0) > 0 else 0  # one device per hf replica
        results = dataset.map_batches(
            HFStage,
            fn_constructor_kwargs={"settings": inner, "factory": self.factory},
            batch_size=self.batch_size,
            concurrency=self.replicas,
            num_cpus=1,
            num_gpus=gpu,
            max_restarts=ACTOR_RESTARTS,
            max_task_retries=ACTOR_RESTARTS,
        )
        for row in results.iter_rows():
            yield _result_from_json(row["result"])

    def vllm_processor(self) -> Any:
        """The ``ray.data.llm`` processor of this run: vLLM replicas fed token ids (no templating or tokenizing
        stage: the prompts are built on the driver), failed rows kept with their error."""
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig

        settings = self.settings
        engine_kwargs = vllm_engine_kwargs(settings, self.token_counter)
        config = vLLMEngineProcessorConfig(
            model_source=settings.model,
            engine_kwargs=engine_kwargs | settings.engine_kwargs,
            concurrency=self.replicas,
            batch_size=self.batch_size,
            should_continue_on_error=True,
            chat_template_stage=False,
            tokenize_stage=False,
            detokenize_stage=False,
        )
        return build_processor(config)

    def _vllm(self, dataset: Any, samples: dict[int, int]) -> Iterator[Result]:
        """``ray.data.llm``: one row per sample (its output holds one completion), regrouped per request here."""
        sampling = self.settings.sampling
        params = {"n": 1, "temperature": sampling.temperature, "top_p": sampling.top_p,
                  "max_tokens": sampling.max_new_tokens}  # fmt: skip
        expanded = dataset.flat_map(
            lambda row: [
                {"id": row["id"], "sample": s, "tokenized_prompt": list(row["prompt_ids"]), "sampling_params": params}
                for s in range(int(row["n"]))
            ]
        )
        processed = self.vllm_processor()(expanded)
        partial: dict[int, dict[int, dict[str, Any]]] = {}
        for row in processed.iter_rows():
            request = int(row["id"])
            got = partial.setdefault(request, {})
            got[int(row["sample"])] = row
            if len(got) == samples[request]:
                yield self.vllm_result(request, [got[s] for s in sorted(got)])
                del partial[request]

    def vllm_result(self, request: int, rows: list[dict[str, Any]]) -> Result:
        """One request's result from its ``ray.data.llm`` output rows (one per sample, in sample order)."""
        errors = [str(r["__inference_error__"]) for r in rows if r.get("__inference_error__")]
        prompt_tokens = next((int(r["num_input_tokens"]) for r in rows if r.get("num_input_tokens")), None)
        latency = max(0.0, *(float(r.get("time_taken_llm") or 0.0) for r in rows))  # -1 on a failed row
        if errors:
            completions = [Completion("", 0, ERROR)] * len(rows)
            return Result(request, prompt_tokens, completions, latency, f"ray/vllm: {errors[0]}"[:500])
        limit = self.settings.sampling.max_new_tokens
        completions = []
        for row in rows:
            tokens = int(row["num_generated_tokens"])
            completions.append(Completion(row["generated_text"], tokens, "length" if tokens >= limit else "stop"))
        return Result(request, prompt_tokens, completions, latency)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
