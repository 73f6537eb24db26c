"""What a router folder may hold before anything in it is built: an allow-list of classes, checked parameters,
and bounded, pickle-free reads of its JSON and arrays.

A saved router folder is data, never code. Without ``trust=True`` (``--trust``):

* a router class (``class`` of ``config.json``, a ``__router__`` parameter) must be in the router registry
  (:func:`fusionbench.fusion.routers.registry.router_classes`: the tree's routers, those your code registered
  and the ``fusionbench.routers`` entry points of installed distributions); nothing is imported by a name the
  file chooses;
* a scikit-learn estimator (``__sklearn__``) must be one of :data:`ALLOWED_ESTIMATORS`, looked up by name in a
  table this module builds, and its parameters must be keys of the class's ``get_params()``;
* every parameter value is plain JSON or one of the tags the writer emits (``__tuple__``, ``__dict__``,
  ``__tradeoff__``, ``__router__``, ``__sklearn__``), checked before any class is constructed or called;
* a featuriser (``featurizer/config.json``) is one of fusionbench's three kinds with known parameters; a
  sentence-transformers featuriser naming a model folder (or a cache folder) needs trust, because loading a
  sentence-transformers model imports the classes its ``modules.json`` names;
* a pickle (``pickled.joblib``) needs trust.

Everything refused is listed at once (:func:`get_untrusted_types`, like ``skops.io.get_untrusted_types``) in an
:class:`UntrustedRouterError` naming the folder, the file, the JSON key path and the offending type.

A damaged folder (cut or invalid JSON, a cut or bogus ``state.npz``, a missing array or sub-folder) is a
:class:`DamagedRouterError` naming the folder and the file. Arrays are read without pickle, and an ``.npz``
whose entries declare more than :func:`max_state_bytes` (4 GiB, or ``$FUSIONBENCH_ROUTER_MAX_BYTES``) is
refused from its zip directory and ``.npy`` headers, before any array is read.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, check_manifest
from fusionbench.errors import BadInputError

#: scikit-learn estimator classes a config may construct without trust: what the routers and featurisers use
#: (Ridge, LinearSVR, LogisticRegression, MLPRegressor, NearestNeighbors, TfidfVectorizer) and the usual task
#: classifiers of :class:`~fusionbench.fusion.routers.PerTaskRouter` (its default is LogisticRegression).
ALLOWED_ESTIMATORS: frozenset[str] = frozenset(
    {
        "sklearn.linear_model.LogisticRegression",
        "sklearn.linear_model.Ridge",
        "sklearn.linear_model.RidgeClassifier",
        "sklearn.svm.LinearSVR",
        "sklearn.svm.LinearSVC",
        "sklearn.neural_network.MLPRegressor",
        "sklearn.neural_network.MLPClassifier",
        "sklearn.neighbors.NearestNeighbors",
        "sklearn.neighbors.KNeighborsClassifier",
        "sklearn.feature_extraction.text.TfidfVectorizer",
    }
)
#: Default cap on the uncompressed bytes of one ``state.npz`` (override: ``$FUSIONBENCH_ROUTER_MAX_BYTES``).
MAX_STATE_BYTES = 4 * 1024**3
#: Cap on one ``config.json`` (a TF-IDF vocabulary of a million terms is ~20 MB).
MAX_CONFIG_BYTES = 256 * 1024**2
#: Nesting allowed in a parameter value (routers inside routers are a few levels).
MAX_DEPTH = 32
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
FORMAT = "fusionbench-router"
FORMAT_VERSION = 1
#: the router folder's manifest is its ``config.json`` (:mod:`fusionbench.artifacts`): ``"fusionbench-router/1"``;
#: a folder written before (``"format": "fusionbench-router"`` with ``"format_version": 1``) reads as version 1
ROUTER_ARTIFACT = ArtifactFormat(FORMAT, FORMAT_VERSION, manifest="config.json", what="a saved router folder")
#: Fitted attributes every router folder keeps in ``config.json``'s ``fitted``.
COMMON_FITTED = ("n_dropped_queries_", "training_fingerprint_")
_LAYOUT = {"arrays": list, "sparse": list, "lists": dict, "routers": list, "json": dict, "pickled": list}
_TAGS = {"__tuple__": set(), "__dict__": set(), "__tradeoff__": set(), "__router__": {"params"}}
_TAGS["__sklearn__"] = {"params"}
_TRUST = "load only a folder you trust, with from_pretrained(..., trust=True) or `--trust`"


class DamagedRouterError(ArtifactFormatError):
    """A router folder whose files are cut, invalid or incomplete, or whose ``config.json`` is of another format
    or a newer version (an ``ArtifactFormatError``, so a ``BadInputError``)."""


class UntrustedRouterError(BadInputError):
    """A router folder that would construct something outside the allow-list; ``findings`` lists each."""

    def __init__(self, folder: Path, findings: list[Finding], trusted: bool = False) -> None:
        self.folder, self.findings = folder, findings
        listed = "; ".join(f.describe(folder) for f in findings)
        types = ", ".join(sorted({f.type for f in findings}))
        door = (
            "refused even with trust: a router folder builds only routers and scikit-learn estimators"
            if trusted
            else _TRUST
        )
        super().__init__(
            str(folder / "config.json"),
            f"refused {len(findings)} untrusted item(s) in router folder {folder} (building them could run code): "
            f"{listed}. Untrusted types: {types}; {door}",
        )


@dataclass(frozen=True)
class Finding:
    """One refused item: the file, the JSON key path in it, the offending type and why."""

    file: Path
    key: str
    type: str
    reason: str

    def describe(self, folder: Path) -> str:
        try:
            name = self.file.relative_to(folder)
        except ValueError:
            name = self.file
        return f"{name} at {self.key or '<top>'}: {self.type!r} ({self.reason})"


def max_state_bytes() -> int:
    """The cap on a state file's uncompressed bytes: ``$FUSIONBENCH_ROUTER_MAX_BYTES`` or 4 GiB."""
    value = os.environ.get("FUSIONBENCH_ROUTER_MAX_BYTES")
    if not value:
        return MAX_STATE_BYTES
    try:
        return int(float(value))
    except ValueError as err:
        raise ValueError(f"FUSIONBENCH_ROUTER_MAX_BYTES={value!r} is not a number of bytes") from err


# ---------------------------------------------------------------- classes
def router_classes() -> dict[str, type]:
    """Class name -> class of every registered router (what a folder may build)."""
    from fusionbench.fusion.routers.registry import router_classes as registered

    return registered()


@functools.cache
def allowed_estimators() -> dict[str, type]:
    """Allow-listed name -> class, under both the public name and the defining module's name (what is saved)."""
    table: dict[str, type] = {}
    for public in sorted(ALLOWED_ESTIMATORS):
        module, _, name = public.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        table[public] = table[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return table


@functools.cache
def param_names(cls: type) -> frozenset[str]:
    """The constructor parameters of an allow-listed or registered class (built with its defaults)."""
    return frozenset(cls().get_params(deep=False))


def resolve_estimator(name: Any, trust: bool) -> type:
    """The scikit-learn class ``name``: from the allow-list, or with trust any scikit-learn estimator class."""
    from sklearn.base import BaseEstimator

    if isinstance(name, str) and name in allowed_estimators():
        return allowed_estimators()[name]
    if not trust:
        raise ValueError("not in the allow-list of estimator classes (persistence_checks.ALLOWED_ESTIMATORS)")
    if not isinstance(name, str) or not name.startswith("sklearn."):
        raise ValueError("not a scikit-learn estimator class: refused even with trust")
    module, _, attr = name.rpartition(".")
    found = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(found, type) and issubclass(found, BaseEstimator)):
        raise ValueError("not a scikit-learn estimator class")
    return found


# ---------------------------------------------------------------- scanning parameter values
def scan_value(value: Any, key: str, file: Path, out: list[Finding], trust: bool, depth: int = 0) -> None:
    """Append to ``out`` what in ``value`` (a JSON parameter value) is not plain JSON or an allowed class."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if depth > MAX_DEPTH:
        out.append(Finding(file, key, "nesting", f"deeper than {MAX_DEPTH} levels"))
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            scan_value(item, f"{key}[{i}]", file, out, trust, depth + 1)
        return
    if not isinstance(value, dict):
        out.append(Finding(file, key, type(value).__name__, "not a JSON value"))
        return
    tags = [t for t in _TAGS if t in value]
    if len(tags) != 1 or set(value) - {tags[0]} - _TAGS[tags[0]]:
        out.append(Finding(file, key, f"object with keys {sorted(value)}", "not a value fusionbench writes"))
        return
    tag, inner, where = tags[0], value[tags[0]], _join(key, tags[0])
    if tag == "__tuple__" and isinstance(inner, list):
        scan_value(inner, where, file, out, trust, depth + 1)
    elif tag == "__dict__" and isinstance(inner, dict):
        for name, item in inner.items():
            scan_value(item, _join(where, name), file, out, trust, depth + 1)
    elif tag == "__tradeoff__":
        _scan_tradeoff(inner, where, file, out)
    elif tag in ("__router__", "__sklearn__"):
        _scan_class(tag, value, key, file, out, trust, depth)
    else:
        out.append(Finding(file, where, type(inner).__name__, f"a {tag} value must not be a {type(inner).__name__}"))


def _scan_tradeoff(inner: Any, where: str, file: Path, out: list[Finding]) -> None:
    from fusionbench.fusion.routers.tradeoffs import Tradeoff

    try:
        Tradeoff.parse(inner if isinstance(inner, (str, dict)) else None)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        out.append(Finding(file, where, type(inner).__name__, f"not a trade-off: {err}"))


def _scan_class(tag: str, value: dict, key: str, file: Path, out: list[Finding], trust: bool, depth: int) -> None:
    where, name, params, prefix = _join(key, tag), value[tag], value.get("params", {}), _join(key, "params")
    if not isinstance(params, dict):
        out.append(Finding(file, prefix, type(params).__name__, "parameters must be a JSON object"))
        return
    try:
        if tag == "__router__":
            cls = router_classes()[name] if isinstance(name, str) and name in router_classes() else None
            if cls is None:
                known = f"not a fusionbench router; known: {sorted(router_classes())}"
                out.append(Finding(file, where, str(name), known))
                return
        else:
            cls = resolve_estimator(name, trust)
    except (ValueError, ImportError) as err:
        out.append(Finding(file, where, str(name), str(err)))
        return
    unknown = sorted(set(params) - param_names(cls))
    for param in unknown:
        out.append(Finding(file, _join(prefix, param), str(name), f"{cls.__name__} has no parameter {param!r}"))
    for param, item in params.items():
        if param not in unknown:
            scan_value(item, _join(prefix, param), file, out, trust, depth + 1)


def _join(key: str, part: str) -> str:
    return f"{key}.{part}" if key else part


# ---------------------------------------------------------------- whole folders
def find_untrusted(folder: str | Path, *, trust: bool = False, _depth: int = 0) -> list[Finding]:
    """Every item of a router folder (its config, sub-routers and featuriser) refused without trust; the
    folder's structure is checked on the way (a damaged folder raises :class:`DamagedRouterError`)."""
    folder = Path(folder)
    if _depth > 8:
        raise DamagedRouterError(str(folder / "config.json"), "sub-routers nested more than 8 deep (a link loop?)")
    config = read_json(folder)
    check_router_config(config, folder)
    file, out = folder / "config.json", []
    name = config["class"]
    if not isinstance(name, str) or name not in router_classes():
        out.append(Finding(file, "class", str(name), f"not a fusionbench router; known: {sorted(router_classes())}"))
        for param, value in config["params"].items():  # listed too, so one error names everything
            scan_value(value, f"params.{param}", file, out, trust)
    else:
        fake = {"__router__": name, "params": config["params"]}
        _scan_class("__router__", fake, "", file, out, trust, 0)
    layout = config["state"]
    for sub in layout["routers"]:
        out += find_untrusted(folder / sub, trust=trust, _depth=_depth + 1)
    if layout["pickled"] and not trust:
        why = f"unpickling runs code; it holds {layout['pickled']}"
        out.append(Finding(folder / "pickled.joblib", "state.pickled", "pickle", why))
    if (folder / "featurizer").is_dir():
        out += scan_featurizer(folder / "featurizer", trust=trust)[1]
    return out


def get_untrusted_types(folder: str | Path) -> list[str]:
    """The types a router folder would need ``trust=True`` for (empty: it loads without trust), sorted."""
    return sorted({finding.type for finding in find_untrusted(folder)})


def check_router_config(config: dict[str, Any], folder: Path) -> None:
    """Raise DamagedRouterError when ``config.json`` lacks a key or has one of the wrong shape."""
    file = str(folder / "config.json")
    check_manifest(config, ROUTER_ARTIFACT, file, error=DamagedRouterError)
    for key in ("tradeoff", "cost_mean", "cost_by_task"):
        if key not in config:
            raise DamagedRouterError(file, f"key {key!r} is missing")
    shapes = {"params": dict, "candidates": list, "n_features_in": int, "fitted": dict, "state": dict}
    for key, kind in {**shapes, "class": str}.items():
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            raise DamagedRouterError(file, f"key {key!r} is missing or not a JSON {kind.__name__}")
    candidates = config["candidates"]
    if not candidates or not (all(isinstance(c, str) for c in candidates) or all(type(c) is int for c in candidates)):
        raise DamagedRouterError(file, "key 'candidates' must be a non-empty list of names (or of integers)")
    if set(config["fitted"]) - set(COMMON_FITTED):
        raise DamagedRouterError(file, f"key 'fitted' may hold only {list(COMMON_FITTED)}")
    layout = config["state"]
    for key, kind in _LAYOUT.items():
        if not isinstance(layout.get(key), kind):
            raise DamagedRouterError(file, f"key 'state.{key}' is missing or not a JSON {kind.__name__}")
        bad = [n for n in layout[key] if not isinstance(n, str) or not _NAME.match(n)]
        if bad:
            raise DamagedRouterError(file, f"key 'state.{key}' has names that are not attribute names: {bad}")
    if any(type(n) is not int or not 0 <= n <= 10_000 for n in layout["lists"].values()):
        raise DamagedRouterError(file, "key 'state.lists' must map names to counts (0 to 10000)")
    for sub in layout["routers"]:
        if not (folder / sub / "config.json").is_file():
            raise DamagedRouterError(str(folder / sub / "config.json"), f"sub-router {sub!r} is missing")


def scan_featurizer(folder: Path, *, trust: bool = False) -> tuple[dict[str, Any], list[Finding]]:
    """(config, findings) of a saved featuriser folder: a known kind, known plain parameters and, without
    trust, no sentence-transformers model or cache folder named by the file."""
    from fusionbench.fusion import feature_checks, features

    file, out = folder / "config.json", []
    config = feature_checks.featurizer_manifest(read_json(folder), file, error=DamagedRouterError)
    kind, params = config.get("kind"), config.get("params")
    cls = features._FEATURIZERS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = f"not a fusionbench featuriser; known: {sorted(features._FEATURIZERS)}"
        out.append(Finding(file, "kind", str(kind), known))
        return config, out
    if not isinstance(params, dict):
        raise DamagedRouterError(str(file), "key 'params' is missing or not a JSON object")
    for name, value in params.items():
        if name not in param_names(cls):
            out.append(Finding(file, f"params.{name}", cls.__name__, f"{cls.__name__} has no parameter {name!r}"))
        elif not (value is None or isinstance(value, (bool, int, float, str))) and not (
            isinstance(value, list) and all(isinstance(v, (int, float)) for v in value)
        ):
            out.append(Finding(file, f"params.{name}", type(value).__name__, "not a plain JSON value"))
    if cls is features.SentenceTransformerFeaturizer and not trust:
        for name in ("model", "cache_dir"):
            if params.get(name) not in (None, False):
                why = "loading a sentence-transformers model imports the classes its modules.json names"
                out.append(Finding(file, f"params.{name}", f"sentence-transformers {name} folder", why))
    if cls is features.TfidfFeaturizer:
        vocabulary = config.get("vocabulary")
        if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
            raise DamagedRouterError(str(file), "key 'vocabulary' is missing or not a list of terms")
    if cls is features.StoredEmbeddings and type(config.get("dim")) is not int:
        raise DamagedRouterError(str(file), "key 'dim' is missing or not an integer")
    return config, out


# ---------------------------------------------------------------- reading files
def read_json(folder: Path, name: str = "config.json") -> dict[str, Any]:
    """A folder's JSON object file; a missing, oversized, cut or non-object file is a DamagedRouterError."""
    path = folder / name
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise DamagedRouterError(str(path), f"{size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a config may have")
        text = path.read_bytes().decode("utf-8")
        value = json.loads(text)
    except FileNotFoundError as err:
        raise DamagedRouterError(str(path), f"missing from router folder {folder}") from err
    except json.JSONDecodeError as err:
        message = f"not valid JSON ({err.msg}; cut or edited?) in router folder {folder}"
        raise DamagedRouterError(str(path), message, line=err.lineno) from err
    except (UnicodeDecodeError, RecursionError, ValueError, IsADirectoryError) as err:
        if isinstance(err, DamagedRouterError):
            raise
        raise DamagedRouterError(str(path), f"unreadable in router folder {folder}: {err}") from err
    if not isinstance(value, dict):
        raise DamagedRouterError(str(path), f"a JSON {type(value).__name__}, not an object, in router folder {folder}")
    return value


def read_npz(path: Path, names: list[str], max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz``, read without pickle after checking the zip directory and each ``.npy``
    header against ``max_bytes`` (default :func:`max_state_bytes`); any defect is a DamagedRouterError."""
    cap = max_state_bytes() if max_bytes is None else max_bytes
    where = f"in router folder {path.parent}"
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            missing = [n for n in names if f"{n}.npy" not in infos]
            if missing:
                raise DamagedRouterError(str(path), f"arrays {missing} are missing {where}")
            declared = sum(infos[f"{n}.npy"].file_size for n in set(names))
            if declared > cap:
                raise DamagedRouterError(
                    str(path), f"its arrays declare {declared:,} bytes, over the {cap:,}-byte cap {where} "
                    "(a zip bomb, or set FUSIONBENCH_ROUTER_MAX_BYTES)",
                )  # fmt: skip
            return {name: _read_npy(archive, infos[f"{name}.npy"], path, where) for name in names}
    except FileNotFoundError as err:
        raise DamagedRouterError(str(path), f"missing {where}") from err
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as err:
        raise DamagedRouterError(str(path), f"not a readable .npz (cut or corrupted?) {where}: {err}") from err


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, where: str) -> np.ndarray:
    name = info.filename[: -len(".npy")]
    with archive.open(info) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f".npy format version {version} is not read")
        except ValueError as err:
            raise DamagedRouterError(str(path), f"array {name!r} has a bad .npy header ({err}) {where}") from err
        if dtype.hasobject or dtype.kind not in "biufcUS" or dtype.fields is not None or not dtype.itemsize:
            raise DamagedRouterError(str(path), f"array {name!r} has dtype {dtype}: only plain arrays load {where}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size:
            raise DamagedRouterError(
                str(path), f"array {name!r} claims shape {shape} ({nbytes:,} bytes) in a {info.file_size:,}-byte entry "
                f"{where}",
            )  # fmt: skip
        data = handle.read(nbytes)
        if len(data) < nbytes or handle.read(1):  # reading to the end also checks the entry's CRC
            raise DamagedRouterError(str(path), f"array {name!r} is cut or has trailing bytes {where}")
    array = np.frombuffer(data, dtype=dtype).copy()
    return array.reshape(shape, order="F" if fortran else "C")
