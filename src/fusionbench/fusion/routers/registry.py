"""The router registry: every router fusionbench can build by name, from three doors.

* **In the tree**: each module of :mod:`fusionbench.fusion.routers` is imported on the first look-up, so a
  class decorated with :func:`register_router` in a new module there is known without editing any other file.
* **Your own code**: ``@register_router("name")`` registers a class when its module is imported.
* **An installed package**: an entry point in the group ``fusionbench.routers`` of the package's metadata
  (``[project.entry-points."fusionbench.routers"] tiny = "tiny_router:TinyRouter"``), loaded on the first
  look-up of a name (or class name) the tree does not have, or when every router is listed.

The registry feeds :func:`make_router`, ``from_pretrained`` (a router folder's ``config.json`` names a
class, which must be registered), ``fusionbench route train --router NAME`` and ``route benchmark
--routers NAME``. A short name maps to one class, and a class name to one class, because a saved folder names
its class. Loading an entry point imports an installed distribution's module, like importing any installed
package, so it needs no ``trust``; a ``config.json`` can only choose among the registered names, never make
fusionbench import a module it names.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar, overload

#: The entry-point group an installed package declares its routers in.
ENTRY_POINT_GROUP = "fusionbench.routers"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_PACKAGE = "fusionbench.fusion.routers"
R = TypeVar("R", bound=type)


class RouterPluginWarning(UserWarning):
    """An entry point of the ``fusionbench.routers`` group that could not be loaded (the others still are)."""


@dataclass(frozen=True)
class RouterEntry:
    """A registered router: its short name, its class and where it came from."""

    name: str
    cls: type
    origin: str


_BY_NAME: dict[str, RouterEntry] = {}
_FAILED: dict[str, str] = {}
_LOADED = {"tree": False, "entry_points": False}


def default_name(cls: type) -> str:
    """``KNNRouter`` -> ``knn``, ``BestSingleRouter`` -> ``best_single``: the snake-case class name without
    its ``Router`` suffix."""
    base = cls.__name__.removesuffix("Router") or cls.__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


def _register(name: str, cls: Any, origin: str, replace: bool) -> None:
    from fusionbench.fusion.routers.base import BaseRouter

    if not (isinstance(cls, type) and issubclass(cls, BaseRouter)):
        raise TypeError(f"router {name!r} ({origin}) is {cls!r}, not a subclass of BaseRouter")
    if not _NAME.match(name):
        raise ValueError(f"router name {name!r} ({origin}) must be lower-case letters, digits and '_'")
    taken = _BY_NAME.get(name)
    if taken is not None and taken.cls is not cls and not replace:
        raise ValueError(
            f"router name {name!r} ({origin}) is taken by {_path(taken.cls)} ({taken.origin}); pick another name"
        )
    twin = next((e for e in _BY_NAME.values() if e.cls.__name__ == cls.__name__ and e.cls is not cls), None)
    if twin is not None and not (replace and twin.name == name):
        raise ValueError(
            f"router class name {cls.__name__!r} ({origin}) is taken by {_path(twin.cls)} ({twin.origin}); a router "
            "folder names its class, so class names must differ"
        )
    if taken is None or taken.cls is not cls:
        _BY_NAME[name] = RouterEntry(name, cls, origin)


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def register_router(name: R, *, replace: bool = False) -> R: ...
@overload
def register_router(name: str | None = None, *, replace: bool = False) -> Callable[[R], R]: ...
def register_router(name: Any = None, *, replace: bool = False) -> Any:
    """Class decorator: register a :class:`~fusionbench.fusion.routers.BaseRouter` subclass under ``name``
    (default :func:`default_name`). ``@register_router`` and ``@register_router("tiny")`` both work; a name or
    class name taken by another class is a ``ValueError`` unless ``replace=True``."""

    def decorate(cls: R) -> R:
        _register(default_name(cls) if name is None else name, cls, f"module {cls.__module__}", replace)
        return cls

    if isinstance(name, type):
        cls, name = name, None
        return decorate(cls)
    return decorate


def unregister_router(name: str) -> None:
    """Remove a name registered by your code (tests, notebooks); in-tree and entry-point names come back on
    the next :func:`load_entry_points` / import only."""
    _BY_NAME.pop(name, None)


def _load_tree() -> None:
    """Import every module of the routers package (their decorators register the in-tree routers)."""
    if _LOADED["tree"]:
        return
    _LOADED["tree"] = True
    package = importlib.import_module(_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{_PACKAGE}.{module.name}")


def load_entry_points(*, reload: bool = False) -> dict[str, str]:
    """Load the ``fusionbench.routers`` entry points of the installed distributions (once, or again with
    ``reload``); returns ``{entry point name: error}`` of those that failed, each also a
    :class:`RouterPluginWarning`. Only modules named by installed distributions' entry points are imported."""
    _load_tree()
    if _LOADED["entry_points"] and not reload:
        return dict(_FAILED)
    _LOADED["entry_points"] = True
    _FAILED.clear()
    for point in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(point.dist, "name", None) or "an installed distribution"
        origin = f"entry point {point.name} = {point.value} of {dist}"
        try:
            _register(point.name, point.load(), origin, replace=False)
        except Exception as error:  # one broken plugin must not break fusionbench: reported, the rest load
            _FAILED[point.name] = f"{origin}: {type(error).__name__}: {error}"
            warnings.warn(f"router plugin not loaded: {_FAILED[point.name]}", RouterPluginWarning, stacklevel=2)
    return dict(_FAILED)


def registered_routers() -> dict[str, RouterEntry]:
    """Every router: the tree's, your code's and the installed packages' (short name -> entry), sorted."""
    load_entry_points()
    return dict(sorted(_BY_NAME.items()))


def _lookup(key: str, by_class: bool) -> type | None:
    for entry in _BY_NAME.values():
        if (entry.cls.__name__ if by_class else entry.name) == key:
            return entry.cls
    return None


def router_class(name: str) -> type:
    """The class registered under short name ``name`` (``"knn"``) or class name (``"KNNRouter"``)."""
    _load_tree()
    found = _lookup(name, False) or _lookup(name, True)
    if found is None:
        load_entry_points()
        found = _lookup(name, False) or _lookup(name, True)
    if found is None:
        failed = f"; plugin {name!r} failed to load ({_FAILED[name]})" if name in _FAILED else ""
        raise ValueError(f"unknown router {name!r}; known: {sorted(_BY_NAME)}{failed}")
    return found


def router_classes() -> dict[str, type]:
    """Class name -> class of every registered router: what a router folder's ``config.json`` may build."""
    return {entry.cls.__name__: entry.cls for entry in registered_routers().values()}


def router_name(cls: type) -> str:
    """The short name a class is registered under; a ``ValueError`` for an unregistered class."""
    _load_tree()
    for attempt in range(2):
        found = next((entry.name for entry in _BY_NAME.values() if entry.cls is cls), None)
        if found is not None:
            return found
        if attempt == 0:
            load_entry_points()
    raise ValueError(f"{_path(cls)} is not a registered router: decorate it with @register_router")


def make_router(name: str, **params: Any) -> Any:
    """A router by short name (``"knn"``) or class name (``"KNNRouter"``), with constructor parameters."""
    return router_class(name)(**params)


class RegistryView(Mapping[str, type]):
    """A live read-only mapping over the registry, by short name or by class name."""

    def __init__(self, by_class: bool) -> None:
        self._by_class = by_class

    def _table(self) -> dict[str, type]:
        return router_classes() if self._by_class else {k: e.cls for k, e in registered_routers().items()}

    def __getitem__(self, key: str) -> type:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"RegistryView({sorted(self._table())})"
