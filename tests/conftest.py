"""Shared fixtures: the real ../shared data (skipped when absent) and small release folders."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# A private datasets cache per test session: no test reads or pollutes the user's cache.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="fusionbench-tests-datasets-")
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)
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


@pytest.fixture(autouse=True)
def fresh_scorer_caches() -> None:
    """Every test computes what it checks: the scorers' ``lru_cache``s start empty. A result cached by an earlier
    test (or, under mutmut, by the clean run that the mutant's process was forked from) would otherwise hide a bug
    in the function behind the cache."""
    from fusionbench.metrics import boxed, code, math_answers, mc, numeric, qa, textscan

    for module in (boxed, code, math_answers, mc, numeric, qa, textscan):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
