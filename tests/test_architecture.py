"""The architecture of docs/architecture.md, checked: import-linter's contracts (pyproject.toml), small modules,
and a README layout table that matches the tree."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fusionbench"
MAX_LINES = 430  # "no module over ~400 lines"


def test_import_contracts_hold() -> None:
    """lint-imports (import-linter, configured in pyproject.toml) over the installed package: every contract kept."""
    lint_imports = Path(sys.executable).with_name("lint-imports")  # the console script of the dev extra's package
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    kept = re.search(r"Contracts: (\d+) kept, (\d+) broken", done.stdout)
    assert kept and int(kept.group(1)) >= 5 and kept.group(2) == "0", done.stdout[-2000:]


def test_no_module_is_large() -> None:
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_the_readme_layout_table_matches_the_tree() -> None:
    """Every package and top-level module of src/fusionbench is in the README's layout table, and every path
    the table names exists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(src/fusionbench/[^`]+?)/?`", table))
    for path in named:
        assert (ROOT / path).exists(), f"the README's layout table names {path}, which does not exist"
    packages = {p.parent for p in PACKAGE.glob("*/__init__.py")}
    modules = {p for p in PACKAGE.glob("*.py") if not p.name.startswith("_")}
    for item in sorted(packages | modules):
        relative = item.relative_to(ROOT).as_posix()
        assert relative in named, f"{relative} is missing from the README's layout table"


@pytest.mark.parametrize(
    "old",
    ["fusionbench.release", "fusionbench.card", "fusionbench.merge", "fusionbench.lm_eval_logs",
     "fusionbench.judge_runner", "fusionbench.synthetic_items.math_items"],
)  # fmt: skip
def test_old_module_paths_of_the_flat_layout_are_gone(old: str) -> None:
    """The shims announced for one release (0.2) are removed in 0.3: an old path is an ordinary ImportError."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_deprecated_names_and_build_add_run_are_gone() -> None:
    import fusionbench.export
    import fusionbench.fusionbench_dataset
    import fusionbench.generation
    from fusionbench.cli import main

    for module, name in [(fusionbench.export, "build_export"), (fusionbench.fusionbench_dataset, "load"),
                         (fusionbench.generation, "load_queries")]:  # fmt: skip
        assert not hasattr(module, name), f"{module.__name__}.{name} should be gone"
    assert not (PACKAGE / "_moved.py").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["build", "--add-run", "run", "--out", "export"])
    assert exit_.value.code == 2  # argparse: unrecognized arguments


def test_documented_entry_points_keep_working() -> None:
    from fusionbench.fusionbench_dataset import FusionBench
    from fusionbench.harness import tasks_path

    assert (tasks_path() / "fusionbench_gsm8k.yaml").is_file()
    assert FusionBench.DEFAULT_CONFIG_NAME == "all"
