"""Model-level fusion commands: ``sft-data`` (SFT examples from an export) and ``finetune`` (a LoRA fine-tune)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fusionbench.cli.common import console, csv_list, out


def cmd_sft_data(args: argparse.Namespace) -> int:
    from rich.markdown import Markdown

    from fusionbench.fusion.sft import SFTOptions, make_sft_data

    options = SFTOptions(
        select=args.select, top_k=args.top_k, protocol=args.protocol, split=args.split, pool=args.pool,
        models=tuple(csv_list(args.models)) if args.models else None,
        tasks=tuple(csv_list(args.tasks)) if args.tasks else None, score=args.score,
        include_ground_truth=not args.no_ground_truth, tokenizer=args.tokenizer, max_tokens=args.max_tokens,
        references=tuple(args.references or ()), name=args.name, keep_credentials=args.keep_credentials,
        **({"instruction": args.instruction} if args.instruction is not None else {}),
    )  # fmt: skip
    result = make_sft_data(
        args.data if len(args.data) > 1 else args.data[0], Path(args.out), options, overwrite=args.overwrite
    )
    report, files = result.report, result.files
    out.print(Markdown(report.markdown()))
    if report.references:
        found = ", ".join(f"{k} {v:,}" for k, v in sorted(report.references.items()))
        console.print(f"code reference solutions: {found}")
    if report.tasks_without_examples:
        console.print(f"[yellow]tasks without any example: {', '.join(report.tasks_without_examples)}")
    found = ", ".join(f"{kind} {n:,}" for kind, n in report.credentials.items())
    if report.credentials_dropped:
        console.print(
            f"[yellow]{report.credentials_dropped:,} responses or examples held a credential-like string ({found}): "
            "dropped (--keep-credentials keeps them)"
        )
    if report.credentials_kept:
        console.print(f"[yellow]{report.credentials_kept:,} examples hold a credential-like string ({found}): kept")
    if report.synthetic:
        console.print("[yellow]the export is synthetic: do not report results on models trained on it")
    repeated = f" (the list repeated {report.repeats} times)" if report.repeats > 1 else ""
    console.print(
        f"[green]{files.folder}[/green]: {report.examples:,} examples{repeated} in {files.alpaca.name} (Alpaca) and "
        f"{files.sharegpt.name} (ShareGPT), registered in {files.dataset_info.name}; hf/, {files.provenance.name}, "
        f"{files.report.name}"
    )
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from fusionbench.generation.finetune import FinetuneConfig, finetune

    targets = args.target_modules if args.target_modules == "all-linear" else tuple(csv_list(args.target_modules))
    config = FinetuneConfig(
        base_model=args.model, max_steps=args.max_steps, epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, gradient_accumulation=args.gradient_accumulation, max_length=args.max_length,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, target_modules=targets,
        dtype=args.dtype, chat_template=not args.no_chat_template, seed=args.seed, logging_steps=args.logging_steps,
        dataset=args.name,
    )  # fmt: skip
    result = finetune(args.data, args.out, config, overwrite=args.overwrite)
    last = f", last logged loss {result.losses[-1]:.4f}" if result.losses else ""
    console.print(
        f"[green]{result.adapter}[/green]: LoRA adapter after {result.steps:,} steps on {result.examples:,} examples"
        f"{last}; evaluate it with `fusionbench eval {result.manifest['evaluate_with']} ...`"
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``sft-data`` and ``finetune`` to the ``fusionbench`` parser."""
    sft = commands.add_parser(
        "sft-data", help="model-level fusion: SFT examples (Alpaca, ShareGPT, HF dataset) from an export's train split"
    )
    sft.add_argument(
        "--data", nargs="+", required=True, help="export folder (or release files, --protocol fusionfactory)"
    )
    sft.add_argument("--out", required=True, help="SFT folder to write (e.g. LLaMA-Factory's data/)")
    sft.add_argument("--split", default="train", help="source split (train; the test split is refused)")
    sft.add_argument("--select", choices=["perf", "judge", "hybrid", "label-only"], default="perf")
    sft.add_argument("--top-k", type=int, default=5, help="responses per query (default 5)")
    sft.add_argument(
        "--protocol", choices=["fusionbench", "fusionfactory"], default="fusionbench",
        help="fusionfactory: the original sft_data_gen.py's records, exactly, its quirks included",
    )  # fmt: skip
    sft.add_argument("--pool", choices=["all", "small"], default="all", help="small: the 10 models up to 12B")
    sft.add_argument("--models", help="only these models' responses (comma-separated)")
    sft.add_argument("--tasks", help="only these tasks (comma-separated)")
    sft.add_argument("--score", default="performance", help="released (performance) or rescored (rescored_performance)")
    sft.add_argument("--no-ground-truth", action="store_true", help="no ground-truth example per query")
    sft.add_argument("--references", nargs="+", help="HumanEval / MBPP JSON Lines: reference solutions of code queries")
    sft.add_argument("--tokenizer", help="tokenizer to count tokens with (the model you will fine-tune)")
    sft.add_argument("--max-tokens", type=int, help="drop examples over N tokens (default 2048 with --tokenizer)")
    sft.add_argument("--instruction", help="the instruction of every example (default: FusionFactory's)")
    sft.add_argument("--name", help="dataset name: <name>.json and its dataset_info.json entry")
    sft.add_argument("--overwrite", action="store_true", help="replace an earlier run's files of the same name")
    sft.add_argument(
        "--keep-credentials", action="store_true",
        help="keep examples holding credential-like strings (tokens, keys, private keys); by default they are dropped",
    )  # fmt: skip
    sft.set_defaults(func=cmd_sft_data)

    tune = commands.add_parser("finetune", help="LoRA fine-tune a model on sft-data output (TRL + PEFT, the sft extra)")
    tune.add_argument("--data", required=True, help="SFT folder (its hf/ dataset) or an Alpaca JSON file")
    tune.add_argument("--name", help="use the folder's <name>.json instead of its hf/ dataset")
    tune.add_argument("--model", required=True, help="base model: local folder or Hub id")
    tune.add_argument("--out", required=True, help="folder for the adapter, tokenizer and finetune.json")
    tune.add_argument("--max-steps", type=int, default=-1, help="stop after N optimiser steps (default: --epochs)")
    tune.add_argument("--epochs", type=float, default=3.0)
    tune.add_argument("--learning-rate", type=float, default=1e-4)
    tune.add_argument("--batch-size", type=int, default=1, help="per-device batch size")
    tune.add_argument("--gradient-accumulation", type=int, default=8)
    tune.add_argument("--max-length", type=int, default=2048, help="truncate examples to N tokens")
    tune.add_argument("--lora-r", type=int, default=8)
    tune.add_argument("--lora-alpha", type=int, default=16)
    tune.add_argument("--lora-dropout", type=float, default=0.0)
    tune.add_argument("--target-modules", default="all-linear", help="all-linear, or module names (comma-separated)")
    tune.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    tune.add_argument(
        "--no-chat-template", action="store_true", help="plain prompts, not the tokenizer's chat template"
    )
    tune.add_argument("--seed", type=int, default=42)
    tune.add_argument("--logging-steps", type=int, default=10)
    tune.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    tune.set_defaults(func=cmd_finetune)
