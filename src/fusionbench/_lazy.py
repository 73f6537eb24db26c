"""Lazy module attributes (PEP 562): a package names what it exports and where each name is defined, and the
defining module is imported on first access, so that importing the package stays cheap.

Imports nothing of fusionbench, so that every layer may use it (the lowest layer of pyproject's import-linter
contract)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(module_name: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of module ``module_name`` for the lazy names ``exports``.

    ``exports`` maps a public name to the module that defines it: an absolute name, or one starting with ``.``,
    relative to ``module_name`` (then a package). A name equal to its module's last component (``splits`` ->
    ``fusionbench.fusion.splits``) is that module; any other is the module's attribute of the same name. An
    unknown name raises :class:`AttributeError` naming ``module_name``; ``__dir__`` lists the module's globals and
    the lazy names. Use as ``__getattr__, __dir__ = lazy_exports(__name__, {...})``.
    """
    targets = dict(exports)

    def __getattr__(name: str) -> Any:
        if name not in targets:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module = import_module(targets[name], module_name)
        return module if name == module.__name__.rsplit(".", 1)[-1] else getattr(module, name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[module_name]), *targets})

    return __getattr__, __dir__
