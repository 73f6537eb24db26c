"""``make_sft_data``: an export (or, for the original protocol, release files) in, an SFT folder out."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.export.folder import is_export
from fusionbench.fusion.sft.examples import INSTRUCTION, Example
from fusionbench.fusion.sft.fusionfactory import (
    default_name,
    fusionfactory_examples,
    rows_from_export,
    rows_from_files,
    small_models,
)
from fusionbench.fusion.sft.lengths import TokenCounter
from fusionbench.fusion.sft.references import ReferenceIndex, attach
from fusionbench.fusion.sft.report import SFTReport
from fusionbench.fusion.sft.secrets import CredentialScan
from fusionbench.fusion.sft.selection import CRITERIA, DefaultSelection
from fusionbench.fusion.sft.source import read_export
from fusionbench.fusion.sft.writers import SFTFiles, write_sft_dir
from fusionbench.schema import RELEASE_ROWS_PER_QUERY, split_model_mode

PROTOCOLS = ("fusionbench", "fusionfactory")
POOLS = ("all", "small")
#: the default --max-tokens when a tokenizer is given (the paper's inference cut-off, ``--cutoff_len 2048``)
DEFAULT_MAX_TOKENS = 2048


@dataclass(frozen=True)
class SFTOptions:
    """What ``fusionbench sft-data`` selects; see :mod:`fusionbench.fusion.sft.selection` (default protocol)
    and :mod:`fusionbench.fusion.sft.fusionfactory` (``protocol="fusionfactory"``)."""

    select: str = "perf"
    top_k: int = 5
    protocol: str = "fusionbench"
    split: str = "train"
    pool: str = "all"
    models: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None
    score: str = "performance"
    include_ground_truth: bool = True
    #: a tokenizer (local folder or Hub id, or a loaded tokenizer) to count tokens with
    tokenizer: Any = None
    #: examples over this many tokens are dropped (default 2048 when a tokenizer is given)
    max_tokens: int | None = None
    instruction: str = INSTRUCTION
    references: tuple[str | Path, ...] = ()
    name: str | None = None
    #: keep examples holding credential-like strings (tokens, keys, private keys); by default they are dropped
    keep_credentials: bool = False

    def check(self) -> None:
        """Raise ValueError naming the option when a choice is unknown or options contradict."""
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        if self.select not in CRITERIA:
            raise ValueError(f"unknown selection {self.select!r}; expected one of {', '.join(CRITERIA)}")
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}; expected one of {', '.join(POOLS)}")
        if self.max_tokens is not None and self.tokenizer is None:
            raise ValueError("--max-tokens needs --tokenizer: the tokenizer of the model you will fine-tune")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, not {self.max_tokens}")
        if self.protocol == "fusionfactory":
            changed = [
                flag for flag, differs in (
                    ("--no-ground-truth", not self.include_ground_truth),
                    ("--score", self.score != "performance"),
                    ("--references", bool(self.references)),
                    ("--instruction", self.instruction != INSTRUCTION),
                ) if differs
            ]  # fmt: skip
            if changed:
                raise ValueError(f"--protocol fusionfactory reproduces the original; it does not take {changed}")


@dataclass
class SFTResult:
    """What one run made: its examples (before any repetition), the report and the files."""

    examples: list[Example]
    report: SFTReport
    files: SFTFiles | None = None
    skipped: Counter = field(default_factory=Counter)


def _counter(tokenizer: Any) -> TokenCounter | None:
    if tokenizer is None:
        return None
    return tokenizer if isinstance(tokenizer, TokenCounter) else TokenCounter(tokenizer)


def _count_all(examples: list[Example], counter: TokenCounter) -> None:
    prompts = counter.count([e.prompt for e in examples])
    outputs = counter.count([e.output for e in examples])
    for example, prompt_tokens, output_tokens in zip(examples, prompts.tolist(), outputs.tolist(), strict=True):
        example.input_tokens, example.output_tokens = prompt_tokens, output_tokens


def _screen(examples: list[Example], scan: CredentialScan, report: SFTReport, keep: bool) -> list[Example]:
    """The examples without those whose target or input holds a credential-like string (dropped and counted), or
    with ``keep`` all of them, those counted as kept."""
    held = scan.held([example.output for example in examples])
    prompts = list(dict.fromkeys(example.input for example in examples))  # a query's examples share one input
    bad_prompts = {prompt for prompt, bad in zip(prompts, scan.held(prompts), strict=True) if bad}
    held |= np.array([example.input in bad_prompts for example in examples], dtype=bool)
    if keep:
        report.credentials_kept = int(held.sum())
    else:
        report.skipped["credential_examples"] += int(held.sum())
        examples = [example for example, bad in zip(examples, held.tolist(), strict=True) if not bad]
    report.credentials = dict(sorted(scan.kinds.items()))
    return examples


def select_examples(data: str | Path | Sequence[str | Path], options: SFTOptions) -> SFTResult:
    """The examples and report of one selection, nothing written."""
    options.check()
    counter = _counter(options.tokenizer)
    max_tokens = options.max_tokens if options.max_tokens is not None else (DEFAULT_MAX_TOKENS if counter else None)
    paths = [data] if isinstance(data, str | Path) else list(data)
    export = paths[0] if len(paths) == 1 and is_export(Path(paths[0])) else None
    pool_models = small_models() if options.pool == "small" else None
    report = SFTReport(
        protocol=options.protocol, select=options.select, top_k=options.top_k, source=", ".join(map(str, paths)),
        split=options.split, pool=options.pool, models=list(options.models) if options.models else None,
        tokenizer=counter.name if counter else None, max_tokens=max_tokens,
    )  # fmt: skip
    if export is None and options.protocol == "fusionbench":
        raise ValueError(
            f"{report.source} is not a fusionbench export folder; the default protocol needs one (its query ids and "
            "direct prompts): run `fusionbench build --source FILES --out EXPORT` first, or pass --protocol "
            "fusionfactory to read release files as the original did"
        )
    if export is not None:
        default = options.protocol == "fusionbench"
        source = read_export(
            export, options.split, tasks=options.tasks, models=options.models if default else None,
            pool=pool_models if default else None, score=options.score, with_prompts=not default,
        )  # fmt: skip
        report.synthetic, report.score_column = source.synthetic, source.score_column
        report.skipped.update(source.skipped)
    scan = CredentialScan()
    if options.protocol == "fusionbench":
        index = ReferenceIndex.from_files(options.references) if options.references else None
        report.references = dict(attach(source.queries, index))
        selection = DefaultSelection(
            source, select=options.select, top_k=options.top_k, include_ground_truth=options.include_ground_truth,
            counter=counter, max_tokens=max_tokens, instruction=options.instruction,
            credentials=None if options.keep_credentials else scan,
        )  # fmt: skip
        examples = selection.run()
        report.skipped.update(selection.skipped)
        queries = Counter(q["task"] for q in source.queries)
    else:
        rows = rows_from_export(source) if export is not None else rows_from_files(paths)
        if options.tasks is not None:
            rows = [r for r in rows if r.task_name in set(options.tasks)]
        allowed = frozenset(options.models) if options.models else None
        unknown = sorted((allowed or frozenset()) - {split_model_mode(r.llm)[0] for r in rows})
        if unknown:
            raise ValueError(f"{report.source}: no {options.split} rows of model(s) {', '.join(unknown)}")
        if pool_models is not None:
            allowed = pool_models & allowed if allowed is not None else pool_models
        examples, report.repeats, skipped = fusionfactory_examples(
            rows, options.select, options.top_k, allowed_models=allowed
        )
        report.skipped.update(skipped)
        if counter is not None:
            _count_all(examples, counter)
            over = sum(e.input_tokens + e.output_tokens > max_tokens for e in examples)
            report.skipped["over_length_kept"] += over
        queries = Counter(
            rows[b * RELEASE_ROWS_PER_QUERY].task_name for b in range(len(rows) // RELEASE_ROWS_PER_QUERY)
        )
    examples = _screen(examples, scan, report, options.keep_credentials)
    report.skipped = Counter({k: v for k, v in report.skipped.items() if v})
    report.count_examples(examples, dict(queries))
    return SFTResult(examples, report)


def make_sft_data(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    options: SFTOptions | None = None,
    *,
    overwrite: bool = False,
    **overrides: Any,
) -> SFTResult:
    """Select SFT examples from ``data`` (an export folder; or release files under the original protocol) and
    write them into ``out`` (see :mod:`fusionbench.fusion.sft.writers`; ``overwrite`` replaces an earlier run's
    files of the same name). ``overrides``: :class:`SFTOptions`
    fields, e.g. ``select="judge", top_k=10``."""
    options = dataclasses.replace(options or SFTOptions(), **overrides)
    result = select_examples(data, options)
    name = options.name or (
        default_name(options.select, options.top_k)
        if options.protocol == "fusionfactory"
        else (
            "fusionbench_label_only"
            if options.select == "label-only"
            else f"fusionbench_{options.select}_top{options.top_k}"
        )
    )
    result.files = write_sft_dir(
        out, name, result.examples, result.report, repeats=result.report.repeats, token_counter=result.report.tokenizer,
        overwrite=overwrite,
    )  # fmt: skip
    return result
