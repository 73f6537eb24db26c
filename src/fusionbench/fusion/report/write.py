"""Write a report folder: ``report.json`` (every number with its CI, seeds, splits, protocol, provenance, the
synthetic flag), ``report.md`` (:mod:`.tables`) and the PNG plots (:mod:`.plots`, when matplotlib is there)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, check_manifest, new_manifest, read_file_or_folder
from fusionbench.files import TEMP_PREFIX, atomic_write_text, ensure_folder, move_into, refuse_symlink
from fusionbench.fusion.report.plots import write_plots
from fusionbench.fusion.report.tables import render

REPORT_JSON = "report.json"
#: the report folder's manifest is its ``report.json`` (:mod:`fusionbench.artifacts`)
REPORT_ARTIFACT = ArtifactFormat(
    "fusionbench-route-report", 1, manifest=REPORT_JSON, what="a route report (fusionbench route benchmark / eval)"
)
REPORT_MD = "report.md"
#: Every file a report folder may hold (the plots' names are :mod:`.plots`').
OUTPUT_FILES = (REPORT_JSON, REPORT_MD, "frontier.png", "per_task.png")


def jsonable(value: Any) -> Any:
    """numpy scalars and arrays as Python values, NaN and infinities as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(result: Any, folder: str | Path) -> dict[str, Path]:
    """Write ``result`` (a BenchmarkResult or its ``to_dict()``) into ``folder``; returns the files written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_symlink() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: the report is a folder")
    report = jsonable(result.to_dict() if hasattr(result, "to_dict") else result)
    check_manifest(report, REPORT_ARTIFACT, folder / REPORT_JSON)
    report = new_manifest(REPORT_ARTIFACT) | report  # fusionbench_version and created, unless it has them
    ensure_folder(folder, "the report folder")
    for name in OUTPUT_FILES:  # refused before anything is written: a link is never written through
        refuse_symlink(folder / name, "a report file")
    files = {"json": folder / REPORT_JSON, "markdown": folder / REPORT_MD}
    atomic_write_text(files["json"], json.dumps(report, indent=1, allow_nan=False) + "\n")
    with tempfile.TemporaryDirectory(dir=folder, prefix=f"{TEMP_PREFIX}plots-") as scratch:
        plots, note = write_plots(report, Path(scratch))  # drawn in a fresh private folder, then renamed in
        for file in plots.values():
            move_into(Path(scratch) / file, folder / file)
    atomic_write_text(files["markdown"], render(report, plots, note))
    files |= {name: folder / file for name, file in plots.items()}
    return files


def evaluation_report(results: dict[str, Any], test: Any, *, label: str, seed: int | None) -> dict[str, Any]:
    """A report dict (the benchmark's shape, one scenario) of ``route eval``'s evaluations ``{setting: ev}``."""
    from fusionbench.fusion.evaluation.core import describe

    first = next(iter(results.values()))
    config = {"routers": [{"name": r} for r in first.routers], "seeds": [seed], "protocols": [first.protocol]}
    config |= {"n_boot": first.n_boot, "confidence": first.confidence}
    scenario = {"label": label, "transductive": first.transductive, "splits": []}
    scenario["protocols"] = {first.protocol: {s: ev.to_dict() for s, ev in results.items()}}
    return {
        "format": "fusionbench-route-report/1",
        "synthetic": bool(test.synthetic),
        "config": config,
        "data": describe(test) | {"features": "as saved with the router"},
        "scenarios": {"eval": scenario},
        "skipped": [],
        "curves": {},
        "timings_s": {},
    }


def read_report(path: str | Path) -> dict[str, Any]:
    """A ``report.json`` (or the folder holding one), its format checked (an ArtifactFormatError naming the file)."""
    return read_file_or_folder(path, REPORT_ARTIFACT)
