"""Shared fixtures: the real ../shared data (skipped when absent) and small release folders."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# A private datasets cache per test session: no test reads or pollutes the user's cache.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="fusionbench-tests-datasets-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the project; tests that need it skip in a clone without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present (it only exists beside the project's own checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded synthetic sample, built once per test session with the real build path."""
    from fusionbench.build import build_export

    out = tmp_path_factory.mktemp("sample") / "fusionbench"
    build_export(None, out)
    return out
