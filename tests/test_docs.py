"""The documentation site (mkdocs.yml): it builds in strict mode (a broken page, link or API reference fails), and
every public name of every documented package has a docstring and a place in the generated API reference."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the packages whose ``__all__`` is the public API, each with an API page (docs/api/)
PUBLIC_PACKAGES = (
    "fusionbench",
    "fusionbench.metrics",
    "fusionbench.fusion",
    "fusionbench.fusion.routers",
    "fusionbench.fusion.evaluation",
    "fusionbench.fusion.experiment",
    "fusionbench.fusion.analysis",
    "fusionbench.fusion.irt",
    "fusionbench.fusion.tiny",
    "fusionbench.fusion.thoughts",
    "fusionbench.fusion.sft",
    "fusionbench.fusion.converters",
    "fusionbench.fusion.report",
    "fusionbench.generation",
    "fusionbench.harness",
    "fusionbench.export",
    "fusionbench.build",
)
#: modules without ``__all__`` whose public functions and classes are the API
PUBLIC_MODULES = ("fusionbench.loading", "fusionbench.fusionbench_dataset", "fusionbench.fusion.data",
                  "fusionbench.fusion.splits", "fusionbench.artifacts", "fusionbench.errors")  # fmt: skip


def _public(module: ModuleType) -> list[str]:
    if hasattr(module, "__all__"):
        return [name for name in module.__all__ if not name.startswith("__")]
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    ]


def _own_docstring(obj: Any) -> str | None:
    doc = obj.__doc__ if inspect.isclass(obj) or inspect.ismodule(obj) else inspect.getdoc(obj)
    if inspect.isclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        return None  # the signature a dataclass writes when it has no docstring
    return doc


def _documentable(obj: Any) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)


def _public_objects() -> list[tuple[str, Any]]:
    names = []
    for package in (*PUBLIC_PACKAGES, *PUBLIC_MODULES):
        module = importlib.import_module(package)
        names += [(f"{package}.{name}", getattr(module, name)) for name in _public(module)]
    return names


def test_every_public_name_and_method_has_a_docstring() -> None:
    missing = []
    for dotted, obj in _public_objects():
        if _documentable(obj) and not _own_docstring(obj):
            missing.append(dotted)
        if inspect.isclass(obj) and obj.__module__.startswith("fusionbench"):
            for name, member in vars(obj).items():
                function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                if not name.startswith("_") and inspect.isfunction(function) and not inspect.getdoc(function):
                    missing.append(f"{dotted}.{name}")
    assert not missing, f"{len(missing)} public names without a docstring: {sorted(set(missing))}"


def _resolve(dotted: str) -> Any:
    """The object an API-reference anchor names (``pkg.module.Class.attr``), or None."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
        return obj
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings-python is in the dev extra")
    out = tmp_path_factory.mktemp("site")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
    done = subprocess.run([*mkdocs, "--site-dir", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return out


def test_docs_build_in_strict_mode(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in (ROOT / "docs").rglob("*.md"):
        built = site / page.relative_to(ROOT / "docs").with_suffix("")
        html = built.parent / "index.html" if built.name == "index" else built / "index.html"
        assert html.is_file(), f"{page} was not built"


def test_every_public_name_is_in_the_api_reference(site: Path) -> None:
    html = "".join(page.read_text(encoding="utf-8") for page in (site / "api").rglob("*.html"))
    anchors = set(re.findall(r'id="(fusionbench[\w.]*)"', html))
    documented = {id(obj) for obj in map(_resolve, anchors) if _documentable(obj)}
    missing = [
        dotted
        for dotted, obj in _public_objects()
        if dotted not in anchors and not (_documentable(obj) and id(obj) in documented)
    ]
    assert not missing, f"{len(missing)} public names missing from docs/api (add them to a page): {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("readme", ["README.md", "src/fusionbench/fusion/README.md"])
def test_readme_links_resolve(readme: str) -> None:
    """Every relative link of the two READMEs (outside the site) names a file that exists, and an anchor a
    heading of the file it points into."""
    source = ROOT / readme
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (source.parent / path).resolve() if path else source
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{readme}: broken links {broken}"
