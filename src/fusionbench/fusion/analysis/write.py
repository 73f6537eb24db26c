"""Write an analysis report folder: ``report.json`` (strict JSON, every number with its CI), ``report.md`` and the
PNG plots (when matplotlib is installed), the conventions of :mod:`fusionbench.fusion.report.write`.

``report.json`` is the folder's artifact manifest (:mod:`fusionbench.artifacts`, ``fusionbench-analysis-report/1``
with ``fusionbench_version`` and ``created``), written atomically and never through a link; :func:`read_analysis`
checks it (a report written before it had ``created`` reads as version 1, as its ``format`` says)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fusionbench.artifacts import check_manifest, new_manifest, read_file_or_folder
from fusionbench.files import atomic_write_text, ensure_folder, refuse_symlink
from fusionbench.fusion.analysis.markdown import render
from fusionbench.fusion.analysis.plots import write_plots
from fusionbench.fusion.analysis.run import ANALYSIS_ARTIFACT
from fusionbench.fusion.report.write import REPORT_JSON, REPORT_MD, jsonable


def write_analysis(report: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Write ``report`` (from :func:`~fusionbench.fusion.analysis.analyze`) into ``folder``; the files written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_symlink() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: the report is a folder")
    report = jsonable(report)
    check_manifest(report, ANALYSIS_ARTIFACT, folder / REPORT_JSON)
    report = new_manifest(ANALYSIS_ARTIFACT) | report  # fusionbench_version and created, unless it has them
    ensure_folder(folder, "the report folder")
    files = {"json": folder / REPORT_JSON, "markdown": folder / REPORT_MD}
    for path in files.values():  # refused before anything is written: a link is never written through
        refuse_symlink(path, "a report file")
    atomic_write_text(files["json"], json.dumps(report, indent=1, allow_nan=False) + "\n")
    plots, note = write_plots(report, folder)
    atomic_write_text(files["markdown"], render(report, plots, note))
    return files | {name: folder / file for name, file in plots.items()}


def read_analysis(path: str | Path) -> dict[str, Any]:
    """An analysis ``report.json`` (or the folder holding one), its manifest checked: another format, a newer
    version or damaged JSON is an :class:`~fusionbench.artifacts.ArtifactFormatError` naming the file."""
    return read_file_or_folder(path, ANALYSIS_ARTIFACT)
