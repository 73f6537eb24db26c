"""Writing SFT data: Alpaca and ShareGPT JSON, LLaMA-Factory's ``dataset_info.json``, a Hugging Face dataset
folder, the provenance table and the report.

``SFT_DIR`` after a run::

    <name>.json              Alpaca: [{"instruction", "input", "output"}, ...]
    <name>_sharegpt.json     ShareGPT: [{"conversations": [{"from": "human", ...}, {"from": "gpt", ...}]}, ...]
    dataset_info.json        LLaMA-Factory's registration of both (other entries of an existing file are kept)
    hf/README.md             dataset card with a ``configs:`` block: ``load_dataset(SFT_DIR / "hf")``
    hf/data/train-00000-of-00001.parquet
    provenance.parquet       one row per example: query, model, mode, rank, performance, judge, token counts
    report.json              counts per task, tasks without examples, every skip
    manifest.json            format (fusionbench-sft/1), the dataset name, its files and example count; written last

Each file is written to a temporary name and renamed, so a reader never sees half of one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, new_manifest, read_manifest, write_manifest
from fusionbench.errors import ExportExistsError
from fusionbench.export.folder import write_parquet
from fusionbench.files import atomic_write_text, ensure_folder, refuse_symlink
from fusionbench.fusion.sft.examples import Example
from fusionbench.fusion.sft.report import SFTReport
from fusionbench.schema import doc_field

DATASET_INFO = "dataset_info.json"
PROVENANCE = "provenance.parquet"
REPORT = "report.json"
HF_DIR = "hf"
HF_SHARD = "data/train-00000-of-00001.parquet"
SFT_FORMAT = ArtifactFormat("fusionbench-sft", 1, "manifest.json", "an SFT folder (fusionbench sft-data)")


EXAMPLE_SCHEMA = pa.schema(
    [
        doc_field("instruction", pa.string(), "the instruction (the same for every example)"),
        doc_field("input", pa.string(), "the query's prompt (the direct prompt under the default protocol)"),
        doc_field("output", pa.string(), "the target: a selected response or the query's ground truth"),
        doc_field("task", pa.string(), "the query's task"),
        doc_field("kind", pa.string(), "response or ground_truth"),
        doc_field("query_id", pa.string(), "the query's id (as the build gives it)"),
        doc_field("model", pa.string(), "the model that wrote the response (ground truth: the row it was read from)"),
        doc_field("mode", pa.string(), "direct or cot"),
    ]
)
PROVENANCE_SCHEMA = pa.schema(
    [
        doc_field("example", pa.int64(), "position of the example in <name>.json"),
        doc_field("query_id", pa.string(), "the query's id in the export"),
        doc_field("task", pa.string(), "the query's task"),
        doc_field("split", pa.string(), "the export split it came from (train)"),
        doc_field("kind", pa.string(), "response or ground_truth"),
        doc_field("model", pa.string(), "model of the response row"),
        doc_field("mode", pa.string(), "mode of the response row"),
        doc_field("rank", pa.int32(), "position in the query's ranking (0 = best); null for ground truth"),
        doc_field("performance", pa.float64(), "the response row's score"),
        doc_field("judge", pa.float64(), "the response row's judge score"),
        doc_field("reference", pa.string(), "ground truth: where the answer came from"),
        doc_field("source", pa.string(), "the row's source (file and row, or run)"),
        doc_field("input_tokens", pa.int64(), "tokens of instruction + input (null without --tokenizer)"),
        doc_field("output_tokens", pa.int64(), "tokens of the output (null without --tokenizer)"),
        doc_field("token_counter", pa.string(), "the tokenizer that counted them"),
    ]
)


@dataclass(frozen=True)
class SFTFiles:
    """The files one run wrote."""

    folder: Path
    alpaca: Path
    sharegpt: Path
    dataset_info: Path
    hf: Path
    provenance: Path
    report: Path
    manifest: Path


def _atomic_text(path: Path, text: str) -> None:
    """Write through a new temporary file and a rename; a link at ``path`` is refused, never written through."""
    atomic_write_text(path, text)


def _json(records: Sequence[dict]) -> str:
    """A JSON list with one record per line (the C encoder: ``indent`` would fall back to the Python one)."""
    if not records:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"


def alpaca_records(examples: Sequence[Example]) -> list[dict[str, str]]:
    return [{"instruction": e.instruction, "input": e.input, "output": e.output} for e in examples]


def sharegpt_records(examples: Sequence[Example]) -> list[dict[str, Any]]:
    return [
        {"conversations": [{"from": "human", "value": e.prompt}, {"from": "gpt", "value": e.output}]} for e in examples
    ]


def dataset_info_entries(name: str) -> dict[str, dict]:
    """LLaMA-Factory's registration of ``<name>.json`` (Alpaca) and ``<name>_sharegpt.json``."""
    return {
        name: {
            "file_name": f"{name}.json",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        },
        f"{name}_sharegpt": {
            "file_name": f"{name}_sharegpt.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        },
    }


def _merged_dataset_info(path: Path, name: str) -> str:
    existing: dict = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err.msg}, line {err.lineno}); fix or remove it") from err
        if not isinstance(existing, dict):
            raise ValueError(f"{path}: expected a JSON object of dataset entries")
    return json.dumps({**existing, **dataset_info_entries(name)}, ensure_ascii=False, indent=2) + "\n"


def _card(name: str, report: SFTReport, rows: int) -> str:
    from huggingface_hub import DatasetCardData

    tags = ["fusionbench", "sft", "llm-fusion", *(["synthetic"] * report.synthetic)]
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}]
    data = DatasetCardData(configs=configs, tags=tags, task_categories=["text-generation"], pretty_name=name)
    notice = (
        "> **Synthetic.** Made from a synthetic fusionbench sample: do not report results on it.\n\n"
        if report.synthetic
        else ""
    )
    columns = "\n".join(f"| `{f.name}` | {f.metadata[b'doc'].decode()} |" for f in EXAMPLE_SCHEMA)
    selection = f"`{report.select}`, top {report.top_k}, pool `{report.pool}`" + (
        f", models {', '.join(report.models)}" if report.models else ""
    )
    length = (
        f"tokens counted with `{report.tokenizer}`, at most {report.max_tokens:,} per example"
        if report.tokenizer and report.max_tokens
        else (f"tokens counted with `{report.tokenizer}`" if report.tokenizer else "no length check (no tokenizer)")
    )
    repeated = f" (the list repeated {report.repeats} times)" if report.repeats > 1 else ""
    usage = 'from datasets import load_dataset\n\nds = load_dataset("path/to/SFT_DIR/hf", split="train")'
    parts = [
        f"---\n{data.to_yaml()}\n---\n\n# {name}\n\n{notice}",
        f"Supervised fine-tuning data made by `fusionbench sft-data` from `{report.source}` (split `{report.split}`, "
        f"score column `{report.score_column}`): protocol `{report.protocol}`, selection {selection}; {length}. "
        f"{rows:,} examples{repeated}.\n\n```python\n{usage}\n```\n\n",
        f"## Columns\n\n| column | meaning |\n|---|---|\n{columns}\n\n",
        f"## Selection report\n\n{report.markdown()}\n",
    ]
    return "".join(parts)


def _refuse_existing(paths: Sequence[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        names = ", ".join(str(p) for p in existing)
        raise ExportExistsError(f"{names} exist(s); pass overwrite=True (--overwrite) to replace them")


def write_sft_dir(
    folder: str | Path,
    name: str,
    examples: Sequence[Example],
    report: SFTReport,
    *,
    repeats: int = 1,
    token_counter: str | None = None,
    overwrite: bool = False,
) -> SFTFiles:
    """Write one run's files into ``folder`` (see the module docstring); ``repeats`` copies of the list."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid dataset name {name!r}: a plain file name stem is needed")
    folder = Path(folder)
    files = SFTFiles(
        folder, folder / f"{name}.json", folder / f"{name}_sharegpt.json", folder / DATASET_INFO, folder / HF_DIR,
        folder / PROVENANCE, folder / REPORT, SFT_FORMAT.path(folder),
    )  # fmt: skip
    _refuse_existing([files.alpaca, files.sharegpt, files.hf, files.provenance, files.report], overwrite)
    ensure_folder(folder, "the SFT folder")
    for path in (files.alpaca, files.sharegpt, files.dataset_info, files.provenance, files.report, files.manifest):
        refuse_symlink(path, "an output file")  # before anything is written: all or nothing
    refuse_symlink(files.hf, "the SFT folder's hf folder")
    refuse_symlink(files.hf / "data", "the SFT folder's hf/data folder")
    written = list(examples) * repeats
    _atomic_text(files.alpaca, _json(alpaca_records(written)))
    _atomic_text(files.sharegpt, _json(sharegpt_records(written)))
    _atomic_text(files.dataset_info, _merged_dataset_info(files.dataset_info, name))
    table = pa.table({f.name: [getattr(e, f.name) for e in written] for f in EXAMPLE_SCHEMA}, schema=EXAMPLE_SCHEMA)
    ensure_folder(files.hf, "the SFT folder's hf folder")
    ensure_folder(files.hf / "data", "the SFT folder's hf/data folder")
    for stale in (files.hf / "data").glob("*.parquet"):
        stale.unlink()  # removes a link itself, never what it points to
    write_parquet(table, files.hf / HF_SHARD)
    _atomic_text(files.hf / "README.md", _card(name, report, len(written)))
    columns = {name: [getattr(e, name) for e in written] for name in PROVENANCE_SCHEMA.names if hasattr(Example, name)}
    columns |= {"example": list(range(len(written))), "token_counter": [token_counter] * len(written)}
    write_parquet(pa.table(columns, schema=PROVENANCE_SCHEMA), files.provenance)
    _atomic_text(files.report, report.to_json())
    relative = {key: str(getattr(files, key).relative_to(folder)) for key in ("alpaca", "sharegpt", "hf", "provenance")}
    fields = {"name": name, "examples": len(written), "source": report.source, "split": report.split}
    write_manifest(folder, SFT_FORMAT, new_manifest(SFT_FORMAT, **fields, files=relative | {"report": REPORT}))
    return files


def read_sft_manifest(folder: str | Path) -> dict[str, Any]:
    """The checked manifest of an SFT folder. A folder written before it had one (a ``report.json`` and no
    ``manifest.json``) reads as version 1 with ``name`` None; anything else is a clear
    :class:`~fusionbench.artifacts.ArtifactFormatError` naming the folder."""
    folder = Path(folder)

    def legacy(found: dict[str, Any] | None) -> dict[str, Any] | None:
        if found is None and (folder / REPORT).is_file():
            try:
                report = json.loads((folder / REPORT).read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ArtifactFormatError(str(folder / REPORT), f"damaged JSON ({err.msg})", line=err.lineno) from None
            return {"format": f"{SFT_FORMAT.name}/1", "name": None, "legacy": True, "report": report}
        return None

    return read_manifest(folder, SFT_FORMAT, legacy=legacy)
