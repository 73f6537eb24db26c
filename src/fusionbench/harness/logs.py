"""Turn lm-eval ``--log_samples`` output of the ``fusionbench_*`` tasks into export rows (the add-a-model loop).

``fusionbench ingest OUTPUT_DIR --model NAME [--tokenizer PATH_OR_ID] [--prices SHEET] --into EXPORT``:
mode from the task name, prompt and response from the log, token counts from the model's own
tokenizer, cost from the price sheet, performance from :mod:`fusionbench.metrics`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from fusionbench.catalog import load_price_sheet
from fusionbench.errors import BadInputError
from fusionbench.export.merge import MergeReport, merge_rows
from fusionbench.export.records import NewResponse, build_rows
from fusionbench.files import read_jsonl
from fusionbench.schema import MODES, TASKS

SAMPLES_FILE = re.compile(r"^samples_(?P<task>fusionbench_\w+?)_(?P<date>\d{4}-\d{2}-\d{2}T[\d\-.]+)\.jsonl$")
#: The tiny tasks' ``fusionbench_tiny[_cot]`` task part and the doc column naming their tiny set folder (the
#: values of :mod:`fusionbench.harness_tasks.utils`, an independent sibling this package does not import).
TINY_TASK, TINY_COLUMN = "tiny", "fusionbench_tiny"
_REQUIRED_DOC = ("query_id", "task", "split", "query", "ground_truth", "metric", "domain")


def sample_files(run_dir: Path) -> list[Path]:
    """The ``samples_fusionbench_*`` files under an lm-eval ``--output_path``."""
    files = sorted(p for p in Path(run_dir).rglob("samples_*.jsonl") if SAMPLES_FILE.match(p.name))
    if not files:
        raise FileNotFoundError(f"{run_dir}: no samples_fusionbench_*.jsonl files (run lm-eval with --log_samples)")
    for path in files:
        task = file_task(path)
        if task not in TASKS and task != TINY_TASK:
            raise BadInputError(
                str(path),
                f"unknown task {task!r} in the file name: expected fusionbench_<task>[_cot|_thought] or "
                f"fusionbench_tiny[_domain_<domain>][_cot], task one of " + ", ".join(TASKS),
            )
    return files


def tiny_source(doc: dict) -> str | None:
    """``tiny:<name>`` for a sample of the ``fusionbench_tiny[_cot]`` tasks (the tiny set folder's name), else
    None: the ``source`` of ingested rows starts with it, so anchors are never mistaken for a full evaluation."""
    folder = doc.get(TINY_COLUMN)
    return f"tiny:{Path(folder).name}" if isinstance(folder, str) and folder else None


def file_task_mode(path: Path) -> tuple[str, str]:
    """The FusionBench task and prompt mode of a samples file: ``samples_fusionbench_gsm8k_cot_<date>.jsonl`` ->
    ``("gsm8k", "cot")``; no mode suffix is the direct prompt; every tiny task (``fusionbench_tiny[_domain_<d>]``)
    is ``tiny``."""
    name = SAMPLES_FILE.match(path.name).group("task").removeprefix("fusionbench_")
    mode = next((m for m in MODES[1:] if name.endswith(f"_{m}")), MODES[0])
    name = name.removesuffix(f"_{mode}") if mode != MODES[0] else name
    if name.startswith(f"{TINY_TASK}_domain_"):  # fusionbench_tiny_domain_<domain>[_cot]: anchors of one domain
        name = TINY_TASK
    return name, mode


def file_task(path: Path) -> str:
    """The FusionBench task of a samples file: ``samples_fusionbench_gsm8k_cot_<date>.jsonl`` -> ``gsm8k``."""
    return file_task_mode(path)[0]


def run_model_args(run_dir: Path) -> dict[str, str]:
    """The ``--model_args`` of the run (``pretrained``, ``peft``, ...), read from lm-eval's results_*.json."""
    for results in sorted(Path(run_dir).rglob("results_*.json")):
        try:
            content = json.loads(results.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError) as err:
            raise BadInputError(str(results), f"not an lm-eval results file ({type(err).__name__})") from None
        config = content.get("config") if isinstance(content, dict) else None
        model_args = (config.get("model_args") if isinstance(config, dict) else None) or ""
        if not isinstance(model_args, dict | str):
            message = f"expected 'k=v,...' or an object, not {model_args!r}: not an lm-eval results file"
            raise BadInputError(str(results), message, column="config.model_args")
        if isinstance(model_args, dict):
            return {key: str(value) for key, value in model_args.items()}
        pairs = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
        if pairs:
            return pairs
    return {}


def run_model_path(run_dir: Path) -> str | None:
    """The ``pretrained=`` model of the run (None if absent)."""
    return run_model_args(run_dir).get("pretrained")


def run_generator(run_dir: Path) -> str | None:
    """What generated the run's responses: the pretrained model, with its LoRA adapter when ``peft=`` was given."""
    args = run_model_args(run_dir)
    if "pretrained" not in args:
        return None
    return args["pretrained"] + (f"+peft={args['peft']}" if args.get("peft") else "")


def _context(path: Path, line: int, sample: dict) -> str:
    """The exact text lm-eval sent (chat template applied if it was asked for): ``arguments.gen_args_0.arg_0``, or
    ``arguments[0][0]`` in older lm-eval logs."""
    arguments = sample.get("arguments")
    if isinstance(arguments, dict) and isinstance(arguments.get("gen_args_0"), dict):
        first = arguments["gen_args_0"].get("arg_0")
    elif isinstance(arguments, list) and arguments and isinstance(arguments[0], list) and arguments[0]:
        first = arguments[0][0]
    else:
        raise _shape(path, line, "arguments", "{'gen_args_0': {'arg_0': PROMPT, ...}} or [[PROMPT, ...]]", arguments)
    if isinstance(first, str):
        return first
    if isinstance(first, list | dict):  # chat messages
        return json.dumps(first)
    raise _shape(path, line, "arguments", "a prompt text or chat messages", first)


def _shape(path: Path, line: int, column: str, expected: str, found: object) -> BadInputError:
    """A record of another shape than lm-eval writes, naming the file, line and field."""
    shown = repr(found)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    message = f"expected {expected}, not {shown}: not an lm-eval sample"
    return BadInputError(str(path), message, line=line, column=column)


def _generations(path: Path, line: int, sample: dict) -> list[str | None]:
    """The sample's generations: ``resps`` is ``[[TEXT, ...]]`` (one list per request) or ``[TEXT, ...]``; absent or
    empty means no response."""
    outputs = sample.get("resps")
    if outputs is None or outputs == []:
        return [None]
    generations = outputs[0] if isinstance(outputs, list) and isinstance(outputs[0], list) else outputs
    if not isinstance(generations, list) or not all(text is None or isinstance(text, str) for text in generations):
        raise _shape(path, line, "resps", "a list of generated texts ([[TEXT, ...]])", outputs)
    return generations or [None]


def _sample_doc(path: Path, line: int, sample: object) -> dict:
    """The sample's ``doc``, once the record is an object with a ``doc`` object holding the fusionbench fields."""
    if not isinstance(sample, dict):
        raise _shape(path, line, "sample", "a JSON object per line", sample)
    doc = sample.get("doc")
    if not isinstance(doc, dict):
        raise _shape(path, line, "doc", "the task's document (an object)", doc)
    missing = [k for k in _REQUIRED_DOC if k not in doc]
    if missing:
        raise BadInputError(str(path), f"the doc has no {', '.join(missing)}: not a fusionbench task", line=line)
    for key in _REQUIRED_DOC:
        if doc[key] is not None and not isinstance(doc[key], str):
            raise _shape(path, line, f"doc.{key}", "a text", doc[key])
    return doc


def read_samples(run_dir: Path) -> Iterator[tuple[Path, int, str, dict]]:
    """(file, line number, lm-eval task name, sample) for every logged sample."""
    for path in sample_files(run_dir):
        task_name = SAMPLES_FILE.match(path.name).group("task")
        for line_number, sample in read_jsonl(path):
            yield path, line_number, task_name, sample


def responses_from_run(run_dir: Path, model: str, tokenizer) -> list[NewResponse]:
    """One :class:`NewResponse` per logged generation (several per doc with ``repeats``)."""
    counter = getattr(tokenizer, "name_or_path", None) or type(tokenizer).__name__
    responses = []
    for path, line_number, _, sample in read_samples(run_dir):
        doc = _sample_doc(path, line_number, sample)
        tiny = tiny_source(doc) if file_task(path) == TINY_TASK else None
        if file_task(path) == TINY_TASK and (tiny is None or doc["task"] not in TASKS):
            message = f"a {TINY_TASK} sample needs a fusionbench task and doc.{TINY_COLUMN}, found {doc['task']!r}"
            raise BadInputError(str(path), message, line=line_number, column=f"doc.{TINY_COLUMN}")
        if tiny is None and doc["task"] != file_task(path):
            known = "unknown task" if doc["task"] not in TASKS else "task"
            message = f"{known} {doc['task']!r} in the doc of a {file_task(path)} samples file"
            raise BadInputError(str(path), message, line=line_number, column="doc.task")
        prompt = _context(path, line_number, sample)
        generations = _generations(path, line_number, sample)
        input_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        for index, text in enumerate(generations):
            responses.append(
                NewResponse(
                    query=doc,
                    model=model,
                    mode=file_task_mode(path)[1],
                    sample=index,
                    prompt=prompt,
                    response=text if text else None,
                    input_tokens=input_tokens,
                    output_tokens=len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else None,
                    token_counter=counter,
                    source=(f"{tiny}:" if tiny else "") + f"lm-eval:{Path(run_dir).name}/{path.name}",
                )
            )
    return responses


def ingest_lm_eval_run(
    run_dir: Path,
    export_dir: Path,
    model: str,
    *,
    tokenizer: str | None = None,
    prices: str | None = None,
    workers: int | None = None,
) -> MergeReport:
    """Score, price and merge an lm-eval run of ``fusionbench_*`` tasks into an export."""
    from transformers import AutoTokenizer

    sample_files(run_dir)  # fail early, before loading a tokenizer, when there is nothing to ingest
    generated_by = run_generator(run_dir)
    tokenizer_path = tokenizer or run_model_path(run_dir)
    if tokenizer_path is None:
        raise ValueError(f"{run_dir}: cannot tell which tokenizer the model uses; pass --tokenizer PATH_OR_ID")
    loaded = AutoTokenizer.from_pretrained(tokenizer_path)
    sheet = load_price_sheet(prices) if prices else None
    rows = build_rows(responses_from_run(run_dir, model, loaded), sheet, workers=workers)
    price = sheet.price(model) if sheet else None
    model_row = {
        "model": model,
        "generated_by": generated_by or model,
        "input_price": price[0] if price else None,
        "output_price": price[1] if price else None,
        "price_date": sheet.date if price else None,
        "price_source": sheet.source if price else None,
        "description": f"Added from the lm-eval run {Path(run_dir).name}",
    }
    label = f"lm-eval run `{Path(run_dir).name}`"
    tiny = sorted({s.split(":")[1] for s in rows.column("source").to_pylist() if s and s.startswith("tiny:")})
    if tiny:
        label += f" (anchors of the tiny set {', '.join(f'`{t}`' for t in tiny)}: not a full evaluation)"
    return merge_rows(export_dir, rows, [model_row], source=str(run_dir), label=label)
