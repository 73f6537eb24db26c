"""Router reports: the benchmark runner (:mod:`.benchmark`), Markdown and JSON tables in the shape of
FusionFactory's Table 4 (:mod:`.tables`), and PNG plots with matplotlib when it is installed (:mod:`.plots`).

``run_benchmark(data, BenchmarkConfig(...))`` -> :class:`BenchmarkResult`; ``write_report(result, folder)``
writes ``report.md``, ``report.json`` and the plots.
"""

from __future__ import annotations

from fusionbench.fusion.report.benchmark import (
    DEFAULT_ROUTERS,
    SCENARIOS,
    BenchmarkConfig,
    BenchmarkResult,
    RouterSpec,
    run_benchmark,
)
from fusionbench.fusion.report.write import read_report, write_report

__all__ = [
    "DEFAULT_ROUTERS",
    "SCENARIOS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "RouterSpec",
    "read_report",
    "run_benchmark",
    "write_report",
]
