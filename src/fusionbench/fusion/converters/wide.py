"""A generic **wide** routing table: one row per query, one score column per model, so a new public dataset needs
no code (``--data wide=PATH``).

Columns, by naming convention (each name can be changed by an option):

* ``text`` (the query; option ``text_column``), ``task`` (``task_column``; absent: the file name's task, see below,
  else ``"default"``), optional ``id`` (``id_column``; absent: a hash of task and text), optional ``split``
  (``split_column``);
* per model ``M``: ``score:M`` (the score in [0, 1]; required), optional ``cost:M`` (USD >= 0),
  ``input_tokens:M`` and ``output_tokens:M`` (whole numbers >= 0). ``models=[...]`` with ``score_prefix=""`` reads
  bare model-named score columns instead.

``path`` is one file (CSV, JSON Lines or Parquet), a folder of such files, or ``{split: file or [files]}``. With
several files, each file's split is its ``split`` column, else the word ``train``, ``val``/``validation`` or
``test`` in its name; a file named ``<task>_<split>.csv`` (e.g. ``gsm8k_train.csv``, ``gsm8k_test.csv``: a train
and a test file per task, as public routing data ships) gives the task when there is no task column. Values are
checked against the build's valid ranges (:mod:`fusionbench.build.ranges`): an error names the file, row and
column, or with ``lenient=True`` the value becomes NaN and is counted. ``binarize=t`` turns a probability-valued
score into 1.0 where it is > t (``binarize=0``: correct when > 0); ``dedupe="first"`` keeps the first of texts
repeated within a split and counts the others (default ``"error"`` refuses them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fusionbench.build.ranges import ValueCheck
from fusionbench.errors import BadInputError
from fusionbench.fusion.converters.combine import binarize as binarize_scores
from fusionbench.fusion.converters.combine import dedupe as dedupe_texts
from fusionbench.fusion.converters.common import Builder, domain_of, external_query_id
from fusionbench.fusion.data import Candidate, Incomplete, RoutingData

KIND = "wide"
SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")
_SPLIT_WORDS = {"train": "train", "val": "val", "validation": "val", "dev": "val", "test": "test"}
#: per-model value columns: prefix -> the valid-range field it is checked against
VALUE_COLUMNS = {"cost": "cost_usd", "input_tokens": "input_tokens", "output_tokens": "output_tokens"}


def _files(path: str | Path | Mapping[str, Any]) -> list[tuple[Path, str | None]]:
    """(file, split from the mapping or the name) of every input file."""
    if isinstance(path, Mapping):
        out = []
        for split, files in path.items():
            for file in [files] if isinstance(files, (str, Path)) else files:
                out.append((Path(file), str(split)))
        return out
    root = Path(path)
    if root.is_dir():
        found = sorted(f for f in root.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
        if not found:
            raise FileNotFoundError(f"{root}: no {', '.join(SUFFIXES)} files")
        return [(f, _split_of(f)) for f in found]
    return [(root, _split_of(root))]


def _split_of(file: Path) -> str | None:
    words = re.split(r"[^a-z]+", file.stem.lower())
    return next((_SPLIT_WORDS[w] for w in reversed(words) if w in _SPLIT_WORDS), None)


def _task_of(file: Path) -> str | None:
    """``gsm8k`` of ``gsm8k_train.csv``; None when the name has no split word or is only one."""
    stem = re.sub(r"[-_. ]*(train|val|validation|dev|test)$", "", file.stem, flags=re.IGNORECASE)
    return stem if stem and stem != file.stem else None


def _read(file: Path) -> Any:
    import pandas as pd

    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(file)
    if suffix in (".jsonl", ".json"):
        return pd.read_json(file, lines=suffix == ".jsonl", dtype=False)
    return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])


def convert(
    path: str | Path | Mapping[str, Any],
    *,
    text_column: str = "text",
    task_column: str = "task",
    id_column: str = "id",
    split_column: str = "split",
    models: Sequence[str] | None = None,
    score_prefix: str = "score:",
    binarize: float | None = None,
    dedupe: str = "error",
    incomplete: Incomplete = "error",
    lenient: bool = False,
) -> RoutingData:
    """RoutingData of wide files (see the module docstring)."""
    files = _files(path)
    frames = [(file, split, _read(file)) for file, split in files]
    names = _model_names(frames, models, score_prefix)
    builder = Builder(KIND, [Candidate(f"{m}/direct", m, "direct") for m in names])
    for file, file_split, frame in frames:
        columns = set(frame.columns)
        if text_column not in columns:
            raise BadInputError(
                str(file), f"no text column {text_column!r} (option text_column); it has {sorted(columns)[:8]}"
            )
        check = ValueCheck(file, lenient=lenient)
        default_task = _task_of(file) if len(files) > 1 or task_column not in columns else None
        for number, row in enumerate(frame.to_dict("records"), 1):
            text = row[text_column]
            if not isinstance(text, str) or not text.strip():
                raise BadInputError(str(file), "empty or missing query text", row=number, column=text_column)
            task = str(row.get(task_column) or default_task or "default")
            split = str(row.get(split_column) or file_split or "test")
            if split not in _SPLIT_WORDS.values():
                raise BadInputError(
                    str(file), f"split {split!r} is not train, val or test", row=number, column=split_column
                )
            key = str(row[id_column]) if id_column in columns and row.get(id_column) is not None else ""
            values: dict[str, list[float] | None] = {}
            for prefix, field in {"score": "performance", **VALUE_COLUMNS}.items():
                head = score_prefix if prefix == "score" else f"{prefix}:"
                present = [f"{head}{m}" in columns for m in names]
                if prefix != "score" and not any(present):
                    values[prefix] = None
                    continue
                values[prefix] = [
                    check.value(row.get(f"{head}{m}"), field, column=f"{head}{m}", row=number) for m in names
                ]
            builder.add(
                query_id=key or external_query_id(KIND, task, text),
                task=task,
                domain=domain_of(task),
                text=text,
                split=split,
                performance=values["score"],  # type: ignore[arg-type]
                cost=values["cost"],
                input_tokens=values["input_tokens"],
                output_tokens=values["output_tokens"],
            )
        builder.nulled(check)
    source = f"wide:{files[0][0].name}" + (f" (+{len(files) - 1} files)" if len(files) > 1 else "")
    provenance = {"path": [str(f) for f, _ in files], "score_columns": f"{score_prefix}<model>"}
    data = _build(builder, source, provenance, dedupe, incomplete)
    return data if binarize is None else binarize_scores(data, binarize)


def _build(
    builder: Builder, source: str, provenance: dict[str, Any], dedupe: str, incomplete: Incomplete
) -> RoutingData:
    """Build, then dedupe texts within a split; ids repeated within a split are refused naming the id."""
    keys = [f"{s}:{q}" for s, q in zip(builder.rows["splits"], builder.rows["query_ids"], strict=True)]
    if len(set(keys)) != len(keys) and dedupe == "error":
        seen: set[str] = set()
        repeated = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise BadInputError(
            source, f"query {repeated!r} occurs twice in its split: pass dedupe='first' to count and drop"
        )
    if len(set(keys)) != len(keys):
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        keep = sorted(first.values())
        for name in builder.rows:
            builder.rows[name] = [builder.rows[name][i] for i in keep]
        for name in builder.cells:
            builder.cells[name] = [builder.cells[name][i] for i in keep]
        builder.skip("duplicate_ids", len(keys) - len(keep))
    return dedupe_texts(builder.build(source=source, provenance=provenance, incomplete=incomplete), dedupe)


def _model_names(frames: list[tuple[Path, str | None, Any]], models: Sequence[str] | None, prefix: str) -> list[str]:
    """The models: ``models``, or every ``<prefix><model>`` column; each file must have them all."""
    if models is not None:
        names = [str(m) for m in models]
    else:
        if not prefix:
            raise ValueError("score_prefix='' needs models=[...] (which bare columns are scores)")
        names = [c[len(prefix) :] for c in frames[0][2].columns if str(c).startswith(prefix)]
    if not names:
        raise BadInputError(str(frames[0][0]), f"no score columns ('{prefix}<model>'); pass models= or score_prefix=")
    for file, _, frame in frames:
        missing = [m for m in names if f"{prefix}{m}" not in frame.columns]
        if missing:
            raise BadInputError(str(file), f"missing score columns {[prefix + m for m in missing]}")
    return names
