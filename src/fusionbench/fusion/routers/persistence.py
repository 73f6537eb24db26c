"""save_pretrained / from_pretrained for routers: a JSON config plus numpy arrays, no pickle by default.

A router folder holds:

* ``config.json``: the folder's artifact manifest (:mod:`fusionbench.artifacts`: format
  ``fusionbench-router/1``, the fusionbench version, when it was written), class, constructor parameters,
  candidates, ``n_features_in``, the featuriser spec, the training fingerprint and the small fitted values (JSON),
  written last; a folder written before the manifest (``format`` with a separate ``format_version``) still loads;
* ``state.npz``: the fitted arrays (loaded with ``allow_pickle=False``);
* one sub-folder per fitted sub-router (CARROT's estimators, a pair router's base router);
* ``featurizer/`` when a fitted fusionbench featuriser was saved with the router (TF-IDF vocabulary and idf);
* ``pickled.joblib`` only when the router holds an estimator that arrays cannot describe (a custom task
  classifier) *and* ``save_pretrained(..., allow_pickle=True)`` was asked for; loading it needs ``trust=True``,
  because unpickling runs code.

Loading builds only registered router classes (:mod:`fusionbench.fusion.routers.registry`) and allow-listed
scikit-learn estimators, after every parameter was checked (:mod:`fusionbench.fusion.routers.persistence_checks`);
anything else, a pickle included, needs ``trust=True``. A router of an installed package (an entry point of
the ``fusionbench.routers`` group) loads without ``trust``: it is installed code, imported as any installed
package is, and ``config.json`` only names a registered class, never a module to import. A damaged folder is
one :class:`DamagedRouterError` naming the file.

The fitted state saved is every public attribute ending in ``_`` (scikit-learn's fitted-attribute rule) beyond
the common ones ``config.json`` holds, less the class's ``_rebuilt_on_load``; a router overrides ``_state``
/ ``_load_state`` only for values that arrays, sparse matrices, lists of arrays, sub-routers and JSON cannot
hold as they are.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from fusionbench.artifacts import new_manifest, write_manifest
from fusionbench.files import atomic_write_bytes
from fusionbench.fusion.routers.persistence_checks import (
    COMMON_FITTED,
    FORMAT,
    FORMAT_VERSION,
    ROUTER_ARTIFACT,
    DamagedRouterError,
    UntrustedRouterError,
    find_untrusted,
    get_untrusted_types,
    read_json,
    read_npz,
    resolve_estimator,
    router_classes,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ROUTER_ARTIFACT",
    "DamagedRouterError",
    "PretrainedMixin",
    "UntrustedRouterError",
    "get_untrusted_types",
    "load_router_folder",
]
_COMMON_FITTED = COMMON_FITTED
#: Fitted attributes config.json holds under their own keys (not in the state).
_COMMON_STATE = frozenset(
    {"candidates_", "n_features_in_", "tradeoff_", "cost_mean_", "cost_by_task_", "featurizer_spec_", *COMMON_FITTED}
)


# ---------------------------------------------------------------- parameters <-> JSON
def encode_param(value: Any) -> Any:
    """A constructor parameter as JSON (tuples, trade-offs, routers and sklearn estimators are tagged)."""
    from sklearn.base import BaseEstimator

    from fusionbench.fusion.routers.base import BaseRouter
    from fusionbench.fusion.routers.tradeoffs import Tradeoff

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, tuple):
        return {"__tuple__": [encode_param(v) for v in value]}
    if isinstance(value, list):
        return [encode_param(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {str(k): encode_param(v) for k, v in value.items()}}
    if isinstance(value, Tradeoff):
        return {"__tradeoff__": value.to_dict()}
    if isinstance(value, BaseRouter):
        return {"__router__": type(value).__name__, "params": _encode_params(value)}
    if isinstance(value, BaseEstimator) and type(value).__module__.startswith("sklearn."):
        cls = type(value)
        return {"__sklearn__": f"{cls.__module__}.{cls.__qualname__}", "params": _encode_params(value)}
    raise TypeError(f"a parameter of type {type(value).__name__} cannot be written to config.json")


def _encode_params(estimator: Any) -> dict[str, Any]:
    return {name: encode_param(value) for name, value in estimator.get_params(deep=False).items()}


def decode_param(value: Any, trust: bool = False) -> Any:
    """The inverse of :func:`encode_param`, for a value :func:`~.persistence_checks.scan_value` passed: routers
    come from the registry, scikit-learn classes from the allow-list (with ``trust``, any estimator class)."""
    from fusionbench.fusion.routers.tradeoffs import Tradeoff

    if isinstance(value, list):
        return [decode_param(v, trust) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode_param(v, trust) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode_param(v, trust) for k, v in value["__dict__"].items()}
    if "__tradeoff__" in value:
        return Tradeoff.parse(value["__tradeoff__"])
    if "__router__" in value:
        classes = router_classes()
        if value["__router__"] not in classes:
            raise ValueError(f"unknown router class {value['__router__']!r}; known: {sorted(classes)}")
        cls = classes[value["__router__"]]
    elif "__sklearn__" in value:
        cls = resolve_estimator(value["__sklearn__"], trust)
    else:
        raise ValueError(f"a JSON object with keys {sorted(value)} is not a value fusionbench writes")
    return cls(**{k: decode_param(v, trust) for k, v in value.get("params", {}).items()})


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(_json_value(value))
    except TypeError:
        return False
    return True


# ---------------------------------------------------------------- the mixin
class PretrainedMixin:
    """``save_pretrained(path)`` and ``from_pretrained(path)`` for fitted routers."""

    #: Fitted attributes ``_load_state`` rebuilds from the saved ones (not saved; e.g. a search index).
    _rebuilt_on_load: tuple[str, ...] = ()

    def _state(self) -> dict[str, Any]:
        """Fitted values beyond the common ones: every public ``*_`` attribute but ``_rebuilt_on_load`` (arrays,
        sparse matrices, lists of arrays, sub-routers, JSON; anything else needs an override or pickle)."""
        skip = _COMMON_STATE | set(self._rebuilt_on_load)
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_") and k not in skip}

    def _load_state(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def save_pretrained(self, path: str | Path, *, featurizer: Any = None, allow_pickle: bool = False) -> Path:
        """Write the fitted router to folder ``path`` (config.json + state.npz); returns the folder.

        ``featurizer``: the featuriser spec (dict) or a fusionbench featuriser; a fitted TF-IDF featuriser
        is saved too, so the folder routes texts (:func:`fusionbench.fusion.routers.load_pipeline`).
        """
        from sklearn.utils.validation import check_is_fitted

        from fusionbench.fusion.routers.base import BaseRouter
        from fusionbench.fusion.routers.registry import router_name

        check_is_fitted(self, "candidates_")
        router_name(type(self))  # an unregistered class could be saved but never loaded: refused here
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        spec = self._featurizer_spec(featurizer)
        arrays: dict[str, np.ndarray] = {}
        layout: dict[str, Any] = {"arrays": [], "sparse": [], "lists": {}, "routers": [], "json": {}, "pickled": []}
        pickled: dict[str, Any] = {}
        for name, value in self._state().items():
            if isinstance(value, np.ndarray) and value.dtype != object:
                arrays[name] = value
                layout["arrays"].append(name)
            elif sp.issparse(value):
                csr = sp.csr_matrix(value)
                arrays.update({f"{name}::data": csr.data, f"{name}::indices": csr.indices})
                arrays.update({f"{name}::indptr": csr.indptr, f"{name}::shape": np.asarray(csr.shape)})
                layout["sparse"].append(name)
            elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                arrays.update({f"{name}::{i}": v for i, v in enumerate(value)})
                layout["lists"][name] = len(value)
            elif isinstance(value, BaseRouter):
                value.save_pretrained(folder / name, allow_pickle=allow_pickle)
                layout["routers"].append(name)
            elif _jsonable(value):
                layout["json"][name] = _json_value(value)
            elif allow_pickle:
                pickled[name] = value
                layout["pickled"].append(name)
            else:
                raise ValueError(
                    f"{type(self).__name__}.{name} is a {type(value).__name__}, which only pickle can save: "
                    "pass allow_pickle=True (loading it will then need trust=True)"
                )
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(folder / "state.npz", buffer.getvalue())
        if pickled:
            import joblib

            buffer = io.BytesIO()
            joblib.dump(pickled, buffer)
            atomic_write_bytes(folder / "pickled.joblib", buffer.getvalue())
        config = {
            "class": type(self).__name__,
            "params": _encode_params(self),
            "candidates": _json_value(self.candidates_),
            "n_features_in": int(self.n_features_in_),
            "featurizer": spec,
            "tradeoff": self.tradeoff_.to_dict(),
            "cost_mean": None if self.cost_mean_ is None else self.cost_mean_.tolist(),
            "cost_by_task": None if self.cost_by_task_ is None else _json_value(self.cost_by_task_),
            "fitted": {name: _json_value(getattr(self, name, None)) for name in _COMMON_FITTED},
            "state": layout,
        }
        if featurizer is not None and hasattr(featurizer, "get_state"):
            from fusionbench.fusion.features import save_featurizer

            save_featurizer(featurizer, folder / "featurizer")
        write_manifest(folder, ROUTER_ARTIFACT, new_manifest(ROUTER_ARTIFACT, **config))  # last: the folder is whole
        return folder

    def _featurizer_spec(self, featurizer: Any) -> dict[str, Any] | None:
        if featurizer is None:
            return getattr(self, "featurizer_spec_", None)
        spec = featurizer if isinstance(featurizer, dict) else featurizer.spec()
        dim = spec.get("dim")
        if dim is not None and int(dim) != self.n_features_in_:
            raise ValueError(
                f"featuriser {spec} gives {dim} features, but the router was trained on {self.n_features_in_}"
            )
        return dict(spec)

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, featurizer: Any = None, trust: bool = False, max_bytes: int | None = None
    ) -> Any:
        """Load a router saved with :meth:`save_pretrained`; refuses a featuriser that does not match.

        ``featurizer`` (a spec dict or featuriser) is checked against the saved spec (kind, model, dimension).
        Without ``trust`` the whole folder (sub-routers and featuriser included) is checked first and anything
        outside the allow-list is an :class:`UntrustedRouterError` listing every refused item; ``trust=True``
        also loads other scikit-learn estimators and pickled ones. ``max_bytes`` caps each ``state.npz``
        (default 4 GiB or ``$FUSIONBENCH_ROUTER_MAX_BYTES``). A damaged folder is a :class:`DamagedRouterError`.
        """
        folder = Path(path)
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"{config_path} does not exist: not a saved router folder")
        findings = find_untrusted(folder, trust=trust)  # also checks the folder's structure
        if findings:
            raise UntrustedRouterError(folder, findings, trusted=trust)
        config = read_json(folder)
        name = config["class"]
        router_cls = router_classes()[name]
        if not issubclass(router_cls, cls):
            raise ValueError(f"{config_path} holds a {name}, not a {cls.__name__}")
        try:
            router = router_cls(**{k: decode_param(v, trust) for k, v in config["params"].items()})
        except (TypeError, ValueError, ImportError) as err:
            raise DamagedRouterError(str(config_path), f"its parameters do not build a {name}: {err}") from err
        state = _read_state(folder, config["state"], trust, max_bytes)
        try:
            _set_common(router, config)
            router._load_state(state)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            raise DamagedRouterError(str(config_path), f"its fitted values do not fit a {name}: {err!r}") from err
        if featurizer is not None:
            check_featurizer(router, featurizer, where=str(folder))
        return router


def _set_common(router: Any, config: dict[str, Any]) -> None:
    """The fitted values every router has, from ``config.json``."""
    from fusionbench.fusion.routers.tradeoffs import Tradeoff

    candidates = config["candidates"]
    router.candidates_ = np.asarray(candidates, dtype=object if isinstance(candidates[0], str) else np.int64)
    router.n_features_in_ = int(config["n_features_in"])
    router.tradeoff_ = Tradeoff.parse(config["tradeoff"])
    cost_mean, by_task = config["cost_mean"], config["cost_by_task"]
    router.cost_mean_ = None if cost_mean is None else np.asarray(cost_mean, dtype=np.float64)
    router.cost_by_task_ = None if by_task is None else {k: np.asarray(v, np.float64) for k, v in by_task.items()}
    for key, value in config["fitted"].items():
        setattr(router, key, value)
    router.featurizer_spec_ = config.get("featurizer")


def _read_state(folder: Path, layout: dict[str, Any], trust: bool, max_bytes: int | None) -> dict[str, Any]:
    from fusionbench.fusion.routers.base import BaseRouter

    names = list(layout["arrays"])
    names += [f"{name}::{part}" for name in layout["sparse"] for part in ("data", "indices", "indptr", "shape")]
    names += [f"{name}::{i}" for name, count in layout["lists"].items() for i in range(count)]
    npz = read_npz(folder / "state.npz", names, max_bytes)
    state: dict[str, Any] = {name: npz[name] for name in layout["arrays"]}
    for name in layout["sparse"]:
        parts = tuple(npz[f"{name}::{part}"] for part in ("data", "indices", "indptr"))
        try:
            state[name] = sp.csr_matrix(parts, shape=tuple(int(n) for n in npz[f"{name}::shape"]))
        except (ValueError, TypeError) as err:
            message = f"sparse matrix {name!r} is inconsistent: {err}"
            raise DamagedRouterError(str(folder / "state.npz"), message) from err
    for name, count in layout["lists"].items():
        state[name] = [npz[f"{name}::{i}"] for i in range(count)]
    state.update(layout["json"])
    for name in layout["routers"]:
        state[name] = BaseRouter.from_pretrained(folder / name, trust=trust, max_bytes=max_bytes)
    if layout["pickled"]:
        if not trust:  # find_untrusted already refused it; kept as a second lock
            raise ValueError(
                f"{folder / 'pickled.joblib'} holds pickled estimators {layout['pickled']}; unpickling runs code, "
                "so it loads only with from_pretrained(..., trust=True), for files you trust"
            )
        import joblib

        state.update(joblib.load(folder / "pickled.joblib"))
    return state


def check_featurizer(router: Any, featurizer: Any, where: str = "the router") -> None:
    """Raise when ``featurizer`` (spec or featuriser) is not the one the router was trained with."""
    given = featurizer if isinstance(featurizer, dict) else featurizer.spec()
    saved = getattr(router, "featurizer_spec_", None)
    if given.get("dim") is not None and int(given["dim"]) != router.n_features_in_:
        raise ValueError(
            f"featuriser {given} gives {given['dim']} features, but {where} was trained on {router.n_features_in_}"
        )
    if saved:
        for key in ("kind", "model", "pooling", "column"):
            if key in saved and key in given and saved[key] != given[key]:
                raise ValueError(f"{where} was trained on features {saved}; featuriser {given} differs in {key!r}")
        if saved.get("vocabulary_sha256") and given.get("vocabulary_sha256") not in (None, saved["vocabulary_sha256"]):
            raise ValueError(f"{where} was trained with another TF-IDF vocabulary ({saved['vocabulary_sha256'][:12]})")


def load_router_folder(path: str | Path, *, trust: bool = False) -> tuple[Any, Any]:
    """(router, featuriser or None) of a folder saved with :meth:`~PretrainedMixin.save_pretrained`; the whole
    folder is checked before anything in it is built (see :meth:`~PretrainedMixin.from_pretrained`)."""
    from fusionbench.fusion.features import load_featurizer
    from fusionbench.fusion.routers.base import BaseRouter

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a router folder (no config.json); train one with `route train`")
    findings = [] if trust else find_untrusted(folder)
    if findings:
        raise UntrustedRouterError(folder, findings)
    saved = folder / "featurizer" / "config.json"
    featurizer = load_featurizer(folder / "featurizer", trust=trust) if saved.is_file() else None
    return BaseRouter.from_pretrained(folder, featurizer=featurizer, trust=trust), featurizer


def load_pipeline(path: str | Path, *, trust: bool = False) -> Any:
    """A text-in ``Pipeline([("features", featuriser), ("router", router)])`` from a folder saved with one."""
    from sklearn.pipeline import Pipeline

    folder = Path(path)
    if not (folder / "featurizer" / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no saved featuriser: save_pretrained(path, featurizer=<fitted>)")
    router, featurizer = load_router_folder(folder, trust=trust)
    return Pipeline([("features", featurizer), ("router", router)])
