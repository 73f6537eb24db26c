"""One verb to add rows to an export: ``fusionbench ingest RUN --into EXPORT``.

A run folder is either an lm-eval ``--output_path`` made with ``--log_samples`` on the ``fusionbench_*``
tasks, or a ``fusionbench generate`` run folder; :func:`run_kind` tells which (or says why it is neither)
and :func:`ingest_run` adds its rows, keyed so that adding a run again replaces its rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fusionbench.export.merge import MergeReport

RunKind = Literal["lm-eval", "generate"]


class NotARunError(FileNotFoundError):
    """A folder that is neither an lm-eval samples folder nor a generation run."""


def run_kind(run_dir: Path) -> RunKind:
    """``"generate"`` for a folder with ``run.json``; ``"lm-eval"`` for one with ``samples_fusionbench_*.jsonl``."""
    from fusionbench.generation.store import MANIFEST
    from fusionbench.harness.logs import SAMPLES_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotARunError(f"{run_dir}: no such folder")
    if (run_dir / MANIFEST).is_file():
        return "generate"
    samples = list(run_dir.rglob("samples_*.jsonl"))
    if any(SAMPLES_FILE.match(p.name) for p in samples):
        return "lm-eval"
    found = (
        f"its samples files ({', '.join(sorted(p.name for p in samples)[:3])}) are not of fusionbench_* tasks"
        if samples
        else "it has no samples_*.jsonl files"
    )
    raise NotARunError(
        f"{run_dir}: neither a fusionbench generate run (no {MANIFEST}) nor an lm-eval run of the fusionbench_* "
        f"tasks made with --log_samples ({found})"
    )


def left_out_tasks(run_dir: Path) -> list[str]:
    """The tasks of an lm-eval run's samples files that ingest leaves out, not being fusionbench tasks (lm-eval's
    own ``gsm8k`` run beside ``fusionbench_gsm8k``, say), sorted; empty for a generation run."""
    from fusionbench.harness.logs import SAMPLES_FILE

    names = (p.name for p in Path(run_dir).rglob("samples_*.jsonl") if not SAMPLES_FILE.match(p.name))
    return sorted({name.removeprefix("samples_").rsplit("_", 1)[0] for name in names})


def tiny_sets(run_dir: Path) -> list[str]:
    """The tiny sets (``tiny:<name>`` sources) whose anchors an lm-eval run of ``fusionbench_tiny[_cot]`` or a
    ``generate --tiny`` run ran, sorted; empty for any other run. Their rows are anchors, never a full evaluation."""
    import json

    from fusionbench.harness.logs import SAMPLES_FILE, TINY_TASK, file_task, tiny_source

    if run_kind(run_dir) == "generate":
        tiny = (generate_manifest(run_dir).get("tiny") or {}).get("name")
        return [f"tiny:{tiny}"] if tiny else []
    names = set()
    for path in Path(run_dir).rglob("samples_*.jsonl"):
        if not SAMPLES_FILE.match(path.name) or file_task(path) != TINY_TASK:
            continue
        with path.open(encoding="utf-8") as lines:
            first = next((line for line in lines if line.strip()), None)
        doc = json.loads(first).get("doc") if first else None
        if isinstance(doc, dict) and (source := tiny_source(doc)):
            names.add(source)
    return sorted(names)


def generate_manifest(run_dir: Path) -> dict:
    """The ``run.json`` of a generate run (checked)."""
    from fusionbench.generation.store import read_manifest

    return read_manifest(Path(run_dir))


def tiny_anchor_rows(export_dir: Path) -> dict[str, dict[str, int]]:
    """{tiny set: {"model/mode": rows}} of an export's rows that ``ingest`` marked as a tiny set's anchors (source
    ``tiny:<set>:...``), sorted; empty when there are none."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from fusionbench.export.folder import response_shards

    shards = response_shards(Path(export_dir))
    schema = pa.unify_schemas([pq.read_schema(p) for p in shards], promote_options="permissive") if shards else None
    if schema is None or "source" not in schema.names:
        return {}
    marked = pc.starts_with(pc.field("source"), "tiny:")
    table = pads.dataset([str(p) for p in shards], schema=schema).to_table(columns=["source", "model", "mode"],
                                                                             filter=marked)  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for source, model, mode in zip(*(table[c].to_pylist() for c in ("source", "model", "mode")), strict=True):
        subjects = counts.setdefault(source.split(":")[1], {})
        subjects[f"{model}/{mode}"] = subjects.get(f"{model}/{mode}", 0) + 1
    return {name: dict(sorted(subjects.items())) for name, subjects in sorted(counts.items())}


def ingest_run(
    run_dir: Path,
    export_dir: Path,
    *,
    model: str | None = None,
    tokenizer: str | None = None,
    prices: str | None = None,
    workers: int | None = None,
) -> MergeReport:
    """Add a run's rows to an export. lm-eval runs need ``model`` (the name in the export) and score, count
    tokens and price their rows here; generation runs carry all of that in their rows and manifest."""
    kind = run_kind(run_dir)
    if kind == "generate":
        given = {"--model": model, "--tokenizer": tokenizer, "--prices": prices}
        ignored = [flag for flag, value in given.items() if value is not None]
        if ignored:
            raise ValueError(
                f"{run_dir} is a generation run: its model name, token counts and prices are in its run.json; "
                f"drop {', '.join(ignored)}"
            )
        from fusionbench.generation.runner import add_run

        return add_run(Path(run_dir), Path(export_dir))
    if model is None:
        raise ValueError(f"{run_dir} is an lm-eval run: pass --model NAME, the model's name in the export")
    from fusionbench.harness.logs import ingest_lm_eval_run

    return ingest_lm_eval_run(
        Path(run_dir), Path(export_dir), model, tokenizer=tokenizer, prices=prices, workers=workers
    )
