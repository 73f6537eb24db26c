"""The lazy names of fusionbench's packages (one helper, ``fusionbench._lazy.lazy_exports``): every name resolves to
the object of the module that defines it, ``dir()`` lists them, an unknown name is an AttributeError naming the
package, and importing a package loads none of the heavy libraries its names need."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types

import pytest

#: package -> the attribute holding its lazy names (name -> defining module, absolute or relative to the package)
PACKAGES = {
    "fusionbench.fusion": "_EXPORTS",
    "fusionbench.fusion.tiny": "_LAZY",
    "fusionbench.fusion.thoughts": "_EXPORTS",
    "fusionbench.metrics": "_MODULE_CLASSES",
}
#: what importing any of the packages must not load: their docstrings promise scikit-learn (routers), scipy (tiny)
#: and evaluate (the metric classes) on first use only; the rest would make ``import fusionbench.*`` slow too
HEAVY = ["sklearn", "scipy", "evaluate", "torch", "transformers", "sentence_transformers", "datasets", "pandas"]


def _lazy_names(package: str) -> dict[str, str]:
    return getattr(importlib.import_module(package), PACKAGES[package])


@pytest.mark.parametrize("package", PACKAGES)
def test_every_lazy_name_is_the_object_of_its_module(package: str) -> None:
    module = importlib.import_module(package)
    names = _lazy_names(package)
    assert names
    for name, target in names.items():
        defining = importlib.import_module(target, package)
        value = getattr(module, name)
        if name == defining.__name__.rsplit(".", 1)[-1]:
            assert value is defining, f"{package}.{name}"
        else:
            assert value is vars(defining)[name], f"{package}.{name}"
    for name in module.__all__:  # the eager names too: nothing in __all__ is missing
        assert getattr(module, name) is not None


def test_a_name_equal_to_its_module_is_the_module_and_any_other_is_the_module_attribute() -> None:
    import fusionbench.fusion as fusion
    import fusionbench.fusion.evaluation as evaluation

    assert isinstance(fusion.splits, types.ModuleType) and fusion.splits.__name__ == "fusionbench.fusion.splits"
    assert fusion.evaluate is evaluation.evaluate and callable(fusion.evaluate)  # "evaluate" from module evaluation


@pytest.mark.parametrize("package", PACKAGES)
def test_an_unknown_name_is_an_attribute_error_naming_the_package(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match=rf"module '{package}' has no attribute 'NoSuchName'"):
        _ = module.NoSuchName
    assert not hasattr(module, "NoSuchName")
    with pytest.raises(ImportError):  # ``from package import name`` goes through __getattr__ as well
        exec(f"from {package} import NoSuchName", {})


@pytest.mark.parametrize("package", PACKAGES)
def test_dir_lists_the_globals_and_the_lazy_names_once(package: str) -> None:
    module = importlib.import_module(package)
    listed = dir(module)
    assert set(_lazy_names(package)) <= set(listed)
    assert set(module.__all__) <= set(listed) and "__name__" in listed
    assert listed == sorted(set(listed))


def test_importing_the_packages_loads_no_heavy_library() -> None:
    """In a fresh interpreter, each package on its own: none of HEAVY is imported by the package import; touching a
    lazy router name then does load scikit-learn (the test sees the real import, not a stub), and the first access
    to ``splits``/``experiment``, before anything imported those submodules, gives the modules."""
    script = (
        "import importlib, json, sys\n"
        "package, heavy = sys.argv[1], json.loads(sys.argv[2])\n"
        "importlib.import_module(package)\n"
        "print(json.dumps(sorted(h for h in heavy if h in sys.modules)))\n"
    )
    for package in PACKAGES:
        done = subprocess.run(
            [sys.executable, "-c", script, package, json.dumps(HEAVY)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert json.loads(done.stdout) == [], f"import {package} loaded {done.stdout.strip()}"
    touched = subprocess.run(
        [sys.executable, "-c", "import sys, types, fusionbench.fusion as f\n"
         "print([isinstance(f.splits, types.ModuleType), isinstance(f.experiment, types.ModuleType)])\n"
         "f.KNNRouter\nprint('sklearn' in sys.modules)"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert touched.stdout.split() == ["[True,", "True]", "True"]  # first access to a module's name: the module


def test_lazy_exports_resolves_relative_targets_on_first_use(tmp_path, monkeypatch) -> None:
    """The helper alone, on a package written here: nothing is imported before the first access, a ``.name``
    target is resolved against the package, a name equal to its module is the module, and errors name the package."""
    folder = tmp_path / "lazy_probe_pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "from fusionbench._lazy import lazy_exports\n"
        "VISIBLE = 1\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'Thing': '.heavy', 'heavy': '.heavy', 'dumps': 'json'})\n"
    )
    (folder / "heavy.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("lazy_probe_pkg", "lazy_probe_pkg.heavy"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    package = importlib.import_module("lazy_probe_pkg")
    assert "lazy_probe_pkg.heavy" not in sys.modules
    assert {"Thing", "heavy", "dumps", "VISIBLE"} <= set(dir(package))
    heavy = package.heavy  # first access by the module's own name (later ones find the imported submodule)
    assert heavy is sys.modules["lazy_probe_pkg.heavy"]
    assert package.Thing is heavy.Thing and package.dumps is json.dumps
    with pytest.raises(AttributeError, match="module 'lazy_probe_pkg' has no attribute 'loads'"):
        _ = package.loads
    monkeypatch.delitem(sys.modules, "lazy_probe_pkg")
    monkeypatch.delitem(sys.modules, "lazy_probe_pkg.heavy")


def test_a_module_name_asked_as_an_attribute_is_never_imported() -> None:
    """Only the names a package lists are imported: asking for a module's name (``antigravity`` would open a web
    browser, ``this`` prints on import), a relative path or a dotted one raises AttributeError and imports nothing."""
    asked = ["antigravity", "this", ".core", "..fusion", "os.path", "fusionbench.fusion.splits"]
    code = (
        "import importlib, json, sys\n"
        f"asked = {asked!r}\n"
        "refused = {}\n"
        f"for package in {list(PACKAGES)!r}:\n"
        "    module = importlib.import_module(package)\n"
        "    for name in asked:\n"
        "        try:\n"
        "            getattr(module, name)\n"
        "        except AttributeError:\n"
        "            refused[package + ':' + name] = True\n"
        "loaded = [m for m in ('antigravity', 'this') if m in sys.modules]\n"
        "print(json.dumps({'refused': len(refused), 'loaded': loaded}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"refused": len(PACKAGES) * len(asked), "loaded": []}, (report, done.stderr)
