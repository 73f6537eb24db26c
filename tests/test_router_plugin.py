"""A router from another installed package, end to end: the fusion README's one-module example is built into a
package of its own whose pyproject declares the ``fusionbench.routers`` entry point, pip-installed into a
``--target`` folder (the project's venv is left as it was), and a fresh interpreter with that folder on its
path trains, saves, loads, evaluates and benchmarks it through the CLI and writes the reports. A router
folder's config.json cannot make fusionbench import a module that is not a registered entry point."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "src" / "fusionbench" / "fusion" / "README.md"

DRIVER = textwrap.dedent(
    """
    import json, sys, warnings
    from pathlib import Path
    from importlib.metadata import entry_points

    out = Path(sys.argv[1])
    seen = {p.name: p.value for p in entry_points(group="fusionbench.routers")}
    import fusionbench.fusion.routers as routers
    imported_early = "centroid_router" in sys.modules
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router = routers.make_router("centroid", n_centroids=4)
    plugin_warnings = [str(w.message) for w in caught if w.category.__name__ == "RouterPluginWarning"]
    passed = routers.check_router(router)
    try:
        routers.make_router("broken")
        broken = None
    except ValueError as error:
        broken = str(error)
    from fusionbench.cli import main
    folder, report, bench = out / "centroid", out / "eval-report", out / "bench-report"
    codes = {
        "train": main(["route", "train", "--router", "centroid", "--set", "n_centroids=16", "--features", "tfidf:256",
                       "--out", str(folder), "--quiet"]),
        "eval": main(["route", "eval", str(folder), "--n-boot", "50", "--json", str(out / "eval.json"),
                      "--report", str(report)]),
        "benchmark": main(["route", "benchmark", "--routers", "centroid,cheap=centroid", "--set", "cheap.n_centroids=2",
                           "--seeds", "0", "--scenarios", "id", "--n-boot", "50", "--features", "tfidf:256",
                           "--report", str(bench), "--quiet"]),
    }
    loaded = routers.BaseRouter.from_pretrained(folder)  # no trust: installed code
    json.dump({
        "entry_points": seen, "imported_early": imported_early, "plugin_warnings": plugin_warnings,
        "checks": passed, "broken": broken, "codes": codes,
        "loaded": type(loaded).__module__ + "." + type(loaded).__name__,
        "config_class": json.loads((folder / "config.json").read_text())["class"],
    }, open(out / "summary.json", "w"))
    """
)


def _readme_example() -> tuple[str, str]:
    """(the module, the entry-point table) of the README's "Adding a router" section."""
    section = README.read_text().split("## Adding a router", 1)[1]
    module = re.search(r"```python\n(.*?)```", section, re.S)
    table = re.search(r"```toml\n(.*?)```", section, re.S)
    assert module and table, "the README's 'Adding a router' section lost its example"
    return module.group(1), table.group(1)


def _package(root: Path, name: str, module: str, code: str, table: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / f"{module}.py").write_text(code)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1.0"\n\n[tool.setuptools]\npy-modules = ["{module}"]\n\n{table}'
    )
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's router and a broken one, pip-installed into a target folder (not into the venv)."""
    root = tmp_path_factory.mktemp("plugins")
    code, table = _readme_example()
    good = _package(root, "centroid-router", "centroid_router", code, table)
    bad_table = '[project.entry-points."fusionbench.routers"]\nbroken = "broken_router:BrokenRouter"\n'
    bad = _package(root, "broken-router", "broken_router", "raise ImportError('a dependency is missing')\n", bad_table)
    target = root / "site"
    # setuptools in this environment builds offline; without it (Python >= 3.12 venvs) pip fetches it
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline, "--target", str(target), str(good),
         str(bad)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return target


def _run(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=900)


def test_an_installed_router_works_end_to_end(site: Path, tmp_path: Path) -> None:
    assert "centroid" not in {p.name for p in entry_points(group="fusionbench.routers")}  # this venv is untouched
    (tmp_path / "driver.py").write_text(DRIVER)
    done = _run(site, str(tmp_path / "driver.py"), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["entry_points"]["centroid"] == "centroid_router:CentroidRouter"
    assert not summary["imported_early"]  # entry points load on first use
    assert summary["plugin_warnings"] and "broken_router:BrokenRouter" in summary["plugin_warnings"][0]
    assert "plugin 'broken' failed to load" in summary["broken"] and "a dependency is missing" in summary["broken"]
    assert "check_cost_routing" in summary["checks"] and len(summary["checks"]) == 10
    assert summary["codes"] == {"train": 0, "eval": 0, "benchmark": 0}
    assert summary["loaded"] == "centroid_router.CentroidRouter" and summary["config_class"] == "CentroidRouter"
    evaluation = json.loads((tmp_path / "eval.json").read_text())["evaluations"]["performance_first"]
    assert evaluation["n_queries"] == 381 and {"centroid", "oracle"} <= set(evaluation["rows"])
    assert 0.0 < evaluation["rows"]["centroid"]["perf"]["value"] <= 1.0
    assert "centroid" in (tmp_path / "eval-report" / "report.md").read_text()
    bench = json.loads((tmp_path / "bench-report" / "report.json").read_text())
    assert [r["router"] for r in bench["config"]["routers"]] == ["centroid", "centroid"]
    rows = json.dumps(bench["scenarios"]["id"])
    assert '"centroid"' in rows and '"cheap"' in rows
    assert "| centroid" in (tmp_path / "bench-report" / "report.md").read_text()


def test_a_config_cannot_import_an_unregistered_module(site: Path, tmp_path: Path) -> None:
    """A module on the path but not in the fusionbench.routers group is never imported by a router folder."""
    marker = tmp_path / "imported"
    (site / "sneaky_router.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        import numpy as np
        from fusionbench.fusion.routers import BaseRouter, KNNRouter
        from fusionbench.fusion.routers.persistence_checks import UntrustedRouterError
        knn = KNNRouter(n_neighbors=3).fit(np.eye(6), np.eye(6)[:, :3])
        folder = knn.save_pretrained(Path({str(tmp_path)!r}) / "r")
        said = []
        for name in ("sneaky_router:SneakyRouter", "sneaky_router.SneakyRouter", "SneakyRouter", "sneaky_router"):
            config = json.loads((folder / "config.json").read_text())
            config["class"] = name
            (folder / "config.json").write_text(json.dumps(config))
            for trust in (False, True):
                try:
                    BaseRouter.from_pretrained(folder, trust=trust)
                    said.append("loaded")
                except UntrustedRouterError as error:
                    said.append(str(error))
        print(json.dumps({{"said": said, "imported": "sneaky_router" in sys.modules}}))
        """
    )
    done = _run(site, "-c", script)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["imported"] and not marker.exists()
    assert len(result["said"]) == 8 and all("not a fusionbench router" in s for s in result["said"])
    assert "'CentroidRouter'" in result["said"][0]  # the registered classes, the installed entry point's included
