"""Write an analysis report folder: ``report.json`` (strict JSON, every number with its CI), ``report.md`` and the
PNG plots (when matplotlib is installed), the conventions of :mod:`fusionbench.fusion.report.write`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fusionbench.fusion.analysis.markdown import render
from fusionbench.fusion.analysis.plots import write_plots
from fusionbench.fusion.analysis.run import FORMAT
from fusionbench.fusion.report.write import REPORT_JSON, REPORT_MD, jsonable


def write_analysis(report: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Write ``report`` (from :func:`~fusionbench.fusion.analysis.analyze`) into ``folder``; the files written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: the report is a folder")
    if report.get("format") != FORMAT:
        raise ValueError(f"not a fusionbench analysis report (format {report.get('format')!r})")
    folder.mkdir(parents=True, exist_ok=True)
    report = jsonable(report)
    files = {"json": folder / REPORT_JSON, "markdown": folder / REPORT_MD}
    files["json"].write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    plots, note = write_plots(report, folder)
    files["markdown"].write_text(render(report, plots, note), encoding="utf-8")
    return files | {name: folder / file for name, file in plots.items()}
