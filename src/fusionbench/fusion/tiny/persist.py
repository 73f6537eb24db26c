"""A tiny set as a versioned folder, without pickle::

    TINY/
      tiny.json    the artifact manifest (:mod:`fusionbench.artifacts`, format "fusionbench-tiny/1", written last):
                   method, anchors (id, task, weight), population (ids, tasks), per-task gpirt weights, how it
                   was built
      irt/         the item model (irt.json + irt.npz, :mod:`fusionbench.fusion.irt.persist`), when the method has one
      README.md    the card: what it is, the anchors per task, how to use it

Every file is written atomically; loading refuses a damaged or inconsistent file, naming the folder and the file
(a newer ``tiny.json`` asks to upgrade fusionbench). A ``tiny.json`` written before the manifest
(``"format": "fusionbench-tiny"`` with a separate ``"version": 1``) is read as version 1.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, new_manifest, write_manifest
from fusionbench.files import atomic_write_text, ensure_folder
from fusionbench.fusion.irt.persist import DamagedFileError, load_item_model, read_folder_manifest, save_item_model
from fusionbench.fusion.tiny.core import TinySet
from fusionbench.fusion.tiny.select import METHODS

FORMAT = "fusionbench-tiny"
VERSION = 1
JSON_FILE, IRT_FOLDER, CARD = "tiny.json", "irt", "README.md"
#: the tiny set folder's manifest (``tiny.json``)
TINY_ARTIFACT = ArtifactFormat(FORMAT, VERSION, manifest=JSON_FILE, what="a tiny set folder")


def save_tiny(tiny: TinySet, folder: str | Path) -> Path:
    """Write ``tiny`` into ``folder`` (created; a link is refused)."""
    folder = ensure_folder(folder, "the tiny set folder")
    if tiny.item_model is not None:
        save_item_model(tiny.item_model, folder / IRT_FOLDER)
    info = {k: v for k, v in tiny.info.items() if not k.startswith("_")}
    meta = new_manifest(
        TINY_ARTIFACT,
        method=tiny.method,
        estimator=tiny.estimator,
        anchors=[
            {"query_id": q, "task": t, "weight": float(w)}
            for q, t, w in zip(tiny.query_ids, tiny.tasks, tiny.weights, strict=True)
        ],
        population={"query_ids": list(tiny.population_ids), "tasks": [str(t) for t in tiny.population_tasks]},
        task_lambda=tiny.task_lambda,
        item_model=IRT_FOLDER if tiny.item_model is not None else None,
        info=json.loads(json.dumps(info, default=str)),
    )
    atomic_write_text(folder / CARD, card(tiny))
    write_manifest(folder, TINY_ARTIFACT, meta)  # last: the folder is whole
    return folder


def load_tiny(folder: str | Path) -> TinySet:
    """The tiny set saved in ``folder`` by :func:`save_tiny` (or ``TinySet.save``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such tiny set folder")
    meta = read_tiny_manifest(folder)
    try:
        method = str(meta["method"])
        anchors = meta["anchors"]
        ids = tuple(str(a["query_id"]) for a in anchors)
        tasks = tuple(str(a["task"]) for a in anchors)
        weights = np.array([float(a["weight"]) for a in anchors])
        pop_ids = tuple(str(q) for q in meta["population"]["query_ids"])
        pop_tasks = np.array([str(t) for t in meta["population"]["tasks"]], dtype=object)
        lambdas = {str(k): float(v) for k, v in (meta.get("task_lambda") or {}).items()}
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedFileError(folder, JSON_FILE, f"bad or missing field ({error!r})") from None
    if method not in METHODS:
        raise DamagedFileError(folder, JSON_FILE, f"unknown method {method!r}")
    if len(pop_ids) != len(pop_tasks) or not set(ids) <= set(pop_ids) or not ids:
        raise DamagedFileError(folder, JSON_FILE, "the anchors are not among the population's queries")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise DamagedFileError(folder, JSON_FILE, "anchor weights must be finite and >= 0")
    model = None
    if meta.get("item_model"):
        model = load_item_model(folder / IRT_FOLDER)
        if model.items != pop_ids:
            raise DamagedFileError(folder, f"{IRT_FOLDER}/irt.json", "its items are not the tiny set's population")
    elif METHODS[method][1] != "mean":
        raise DamagedFileError(folder, JSON_FILE, f"method {method!r} needs an item model and none is saved")
    info = dict(meta.get("info") or {})
    return TinySet(ids, tasks, weights, method, pop_ids, pop_tasks, model, lambdas, info)


def read_tiny_manifest(folder: str | Path) -> dict[str, Any]:
    """The checked ``tiny.json`` of a tiny set folder (:func:`~fusionbench.fusion.irt.persist.read_folder_manifest`):
    a missing, damaged, foreign or newer one is a :class:`DamagedFileError` naming the folder and the file."""
    return read_folder_manifest(folder, TINY_ARTIFACT)


def card(tiny: TinySet) -> str:
    """The README.md of a tiny set folder."""
    counts = Counter(tiny.tasks)
    sizes = Counter(str(t) for t in tiny.population_tasks)
    rows = "\n".join(f"| {t} | {counts.get(t, 0)} | {sizes[t]} |" for t in tiny.task_names)
    info: dict[str, Any] = tiny.info
    banner = (
        "\n> **Synthetic source data: do not report estimates made with this set.**\n" if info.get("synthetic") else ""
    )
    return f"""# Tiny FusionBench set
{banner}
{len(tiny.query_ids)} anchor queries standing for {len(tiny.population_ids):,} queries of `{info.get("source")}`
(split `{info.get("split")}`), chosen by method `{tiny.method}` (estimator `{tiny.estimator}`, seed
{info.get("seed")}) from the logs of {len(info.get("candidates") or [])} source candidates.

| task | anchors | queries |
|---|---|---|
{rows}

Run a new model on the anchor queries only, then:

```bash
fusionbench estimate RUN --tiny THIS_FOLDER          # a `generate` run folder or an lm-eval --log_samples output
```

or in Python: `load_tiny(folder).estimate({{query_id: score}})` (`fusionbench.fusion.tiny.persist.load_tiny`). The
estimate is the mean over tasks of the estimated per-task accuracy, with a 95 % bootstrap interval over the anchors
and an interpolation flag (is the new model inside the source models' range, do its answers fit the item model).
Files: `tiny.json` (format `{TINY_ARTIFACT.tag}`){", `irt/` (the item model)" if tiny.item_model else ""}.
"""
