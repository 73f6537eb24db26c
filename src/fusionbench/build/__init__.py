"""Building an export from the release files: reading, converting, detecting and flagging, writing.

``build_export(sources, out)`` is the code behind ``fusionbench build``. Its parts, one job each:
:mod:`~fusionbench.build.sources` (finding and reading release files), :mod:`~fusionbench.build.positions`
(the true file position of a bad record), :mod:`~fusionbench.build.ingest`
(converting rows, detecting defects), :mod:`~fusionbench.build.slices` (per-(task, split) storage),
:mod:`~fusionbench.build.queries` (the queries table), :mod:`~fusionbench.build.embeddings` (embedding text),
:mod:`~fusionbench.build.flags` (flag bit masks), :mod:`~fusionbench.build.ranges` (the valid ranges and their
messages, shared with every other input path) and :mod:`~fusionbench.build.pipeline` (the streaming build).
"""

from fusionbench.build.pipeline import DEFAULT_OUT, BuildResult, build_export

__all__ = ["DEFAULT_OUT", "BuildResult", "build_export"]
