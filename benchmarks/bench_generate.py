"""Benchmark ``fusionbench generate`` against the bare engine on the same prompts, in one process.

* bare   — ``vllm.LLM.generate`` on the runner's exact requests (same token ids, same sampling parameters,
           same per-request seeds), outputs kept in memory; with ``--engine hf``: a plain transformers
           ``generate`` loop over left-padded batches of the same size, decoded;
* runner — :func:`fusionbench.generation.generate` with the same engine object (loaded once): query
           loading, work items, continuous feeding, scoring, pricing and fsynced Parquet shards included.

Throughput is completion tokens per wall-clock second; the ratio runner / bare is the figure of merit
(target >= 0.95 on a GPU). Each side runs ``--repeats`` times, alternating, after a warm-up; the best run
of each side counts.

Usage::

    python benchmarks/bench_generate.py --random-llama-1b --samples 8 --max-new-tokens 256   # GPU, vLLM
    python benchmarks/bench_generate.py --model PATH_OR_ID --split train --limit 50
    python benchmarks/bench_generate.py --random-llama-tiny --engine hf --max-new-tokens 32   # CPU fallback
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from fusionbench.generation import GenerationSettings, SamplingSettings, generate, run_queries
from fusionbench.generation.engines import Engine, HFEngine, Request, VLLMEngine, make_engine
from fusionbench.generation.random_model import build_random_llama, parameter_count
from fusionbench.generation.runner import work_items


def bare_vllm(engine: VLLMEngine, requests: list[Request]) -> int:
    """``LLM.generate`` on the same requests; returns completion tokens."""
    prompts = [{"prompt_token_ids": r.prompt_ids} for r in requests]
    outputs = engine.llm.generate(prompts, [engine.sampling_params(r) for r in requests], use_tqdm=False)
    return sum(len(c.token_ids) for output in outputs for c in output.outputs)


def bare_hf(engine: HFEngine, requests: list[Request], batch_size: int) -> int:
    """A plain transformers loop: pad left, ``generate``, decode; returns completion tokens (EOS included)."""
    import torch

    tokenizer, model, sampling = engine.tokenizer, engine.model, engine.settings.sampling
    tokenizer.padding_side = "left"
    tokens = 0
    for start in range(0, len(requests), batch_size):
        batch = requests[start : start + batch_size]
        inputs = tokenizer.pad({"input_ids": [r.prompt_ids for r in batch]}, return_tensors="pt").to(engine.device)
        torch.manual_seed(batch[0].seed)
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                do_sample=True,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=0,
                max_new_tokens=sampling.max_new_tokens,
                num_return_sequences=batch[0].n,
                pad_token_id=engine.pad_id,
            )
        new = output[:, inputs["input_ids"].shape[1] :]
        tokenizer.batch_decode(new, skip_special_tokens=True)
        for row in new.tolist():
            ends = [i for i, t in enumerate(row) if t in engine.eos_ids]
            tokens += ends[0] + 1 if ends else len(row)
    return tokens


def run_bare(engine: Engine, requests: list[Request], settings: GenerationSettings) -> tuple[float, int]:
    start = time.perf_counter()
    if isinstance(engine, VLLMEngine):
        tokens = bare_vllm(engine, requests)
    else:
        tokens = bare_hf(engine, requests, settings.effective_batch_size)  # type: ignore[arg-type]
    return time.perf_counter() - start, tokens


def run_runner(engine: Engine, settings: GenerationSettings) -> tuple[float, int, float]:
    shutil.rmtree(settings.out, ignore_errors=True)
    start = time.perf_counter()
    summary = generate(settings, engine=engine)
    return time.perf_counter() - start, summary.completion_tokens, summary.elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="Hub id or local path")
    model.add_argument("--random-llama-1b", action="store_true", help="build a ~1B random-weight Llama on the spot")
    model.add_argument("--random-llama-tiny", action="store_true", help="build a 2-layer random Llama (CPU smoke)")
    parser.add_argument("--engine", choices=["vllm", "hf"], default="vllm")
    parser.add_argument("--workdir", type=Path, help="where models and runs go (default: a temporary folder)")
    parser.add_argument("--export", help="export folder with a queries table (default: the embedded sample)")
    parser.add_argument("--split", default="train", help="queries split (default train: 28 queries in the sample)")
    parser.add_argument("--tasks", help="comma-separated tasks (default: all)")
    parser.add_argument("--limit", type=int, help="queries per task")
    parser.add_argument("--samples", type=int, default=8, help="K samples per (query, mode)")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--batch-size", type=int, help="requests per shard (hf: per generate call)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--enforce-eager", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # no price sheet: every row warns that its cost is null

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-generate-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = args.model
    if not path:
        size = "1b" if args.random_llama_1b else "tiny"
        folder = workdir / f"random-llama-{size}"
        if not (folder / "config.json").exists():
            start = time.perf_counter()
            build_random_llama(folder, size=size, dtype="bfloat16" if size == "1b" else "float32")
            print(f"built {folder} in {time.perf_counter() - start:.1f} s")
        path = str(folder)
        print(f"random Llama: {parameter_count(folder) / 1e6:,.1f} M parameters")

    settings = GenerationSettings(
        model=path, name="bench", out=workdir / "run", engine=args.engine, split=args.split,
        tasks=tuple(args.tasks.split(",")) if args.tasks else None, limit=args.limit, export=args.export,
        sampling=SamplingSettings(max_new_tokens=args.max_new_tokens, samples=args.samples),
        batch_size=args.batch_size, dtype=args.dtype, max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager, progress=False,
    )  # fmt: skip
    start = time.perf_counter()
    engine = make_engine(settings)
    print(f"{args.engine} engine ready in {time.perf_counter() - start:.1f} s")
    items, _ = work_items(settings, run_queries(settings), set())
    requests = [Request(i, engine.encode(item.prompt), len(item.samples), item.seed) for i, item in enumerate(items)]
    if engine.max_prompt_tokens is not None:
        requests = [r for r in requests if len(r.prompt_ids) <= engine.max_prompt_tokens]
    print(f"{len(requests)} requests x {args.samples} samples, up to {args.max_new_tokens} new tokens each")
    run_bare(engine, requests[: max(1, len(requests) // 8)], settings)  # warm-up

    bare, runner = [], []
    for _ in range(args.repeats):
        seconds, tokens = run_bare(engine, requests, settings)
        bare.append(tokens / seconds)
        print(f"  bare   {tokens:>9,} tokens in {seconds:7.2f} s = {tokens / seconds:>10,.1f} tok/s")
        seconds, tokens, generation_s = run_runner(engine, settings)
        runner.append(tokens / seconds)
        print(
            f"  runner {tokens:>9,} tokens in {seconds:7.2f} s = {tokens / seconds:>10,.1f} tok/s "
            f"(generation phase {generation_s:.2f} s)"
        )
    ratio = max(runner) / max(bare)
    print(f"throughput ratio runner / bare = {ratio:.3f} (best of {args.repeats}; target >= 0.95 on a GPU)")
    engine.close()


if __name__ == "__main__":
    main()
