"""Old module paths of the flat layout (before 0.2), kept importable for one release with a DeprecationWarning.

``import fusionbench.release`` (say) gives the module now at ``fusionbench.build.sources``, the same object,
and warns where the import was written.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: old module -> new module
MOVED: dict[str, str] = {
    "fusionbench.release": "fusionbench.build.sources",
    "fusionbench.ingest": "fusionbench.build.ingest",
    "fusionbench.slices": "fusionbench.build.slices",
    "fusionbench.queries": "fusionbench.build.queries",
    "fusionbench.embeddings": "fusionbench.build.embeddings",
    "fusionbench.flags": "fusionbench.build.flags",
    "fusionbench.card": "fusionbench.export.card",
    "fusionbench.report": "fusionbench.export.report",
    "fusionbench.stats": "fusionbench.export.stats",
    "fusionbench.records": "fusionbench.export.records",
    "fusionbench.merge": "fusionbench.export.merge",
    "fusionbench.rescore": "fusionbench.export.rescore",
    "fusionbench.push": "fusionbench.export.push",
    "fusionbench.lm_eval_logs": "fusionbench.harness.logs",
    "fusionbench.judge_runner": "fusionbench.generation.judge",
    "fusionbench.synthetic_items": "fusionbench.synthetic.items",
}


def new_name(old: str) -> str | None:
    """Where an old module (or a submodule of an old package) lives now; None if it did not move."""
    for prefix, target in MOVED.items():
        if old == prefix or old.startswith(prefix + "."):
            return target + old[len(prefix) :]
    return None


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the line that imported the old path: the first frame outside this module and the
    import machinery. ``warnings`` itself skips importlib's bootstrap frames, so those are not counted."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name, filename = frame.f_globals.get("__name__", ""), frame.f_code.co_filename
        bootstrap = "importlib" in filename and "_bootstrap" in filename
        if not bootstrap and name != __name__ and not name.startswith("importlib"):
            return level
        level += not bootstrap
        frame = frame.f_back
    return level


class _Alias(importlib.abc.Loader):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{self.old} moved to {self.new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module is the new one, already imported."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = new_name(name)
        return importlib.util.spec_from_loader(name, _Alias(name, new)) if new else None


def install() -> None:
    """Make the old paths importable (once per interpreter)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())  # before PathFinder, which would load a second copy of a submodule
