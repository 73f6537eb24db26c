"""The full-size synthetic export the benchmarks share (~7.6k queries x 40 candidates, 306k rows)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def ensure_export(export: Path) -> None:
    """Generate and build a full-size synthetic export at ``export`` unless one is there (in subprocesses: a
    process's peak RSS survives ``exec``, so the benchmark's own process stays small for its children's numbers)."""
    if (export / "README.md").is_file():
        return
    release = export.with_name(export.name + "-release")
    writer = Path(__file__).with_name("make_synthetic_release.py")
    if not any(release.glob("*.csv")):
        subprocess.run([sys.executable, str(writer), "--out", str(release)], check=True)
    build = [sys.executable, "-m", "fusionbench", "build", "--source", str(release), "--out", str(export)]
    subprocess.run([*build, "--overwrite", "--quiet"], check=True)
