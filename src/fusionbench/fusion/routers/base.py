"""The router estimator interface: scikit-learn conventions over a query x candidate performance matrix.

Every router is a :class:`sklearn.base.BaseEstimator`: parameters in ``__init__`` (no work there), ``fit``
returns ``self``, fitted attributes end in ``_``, so ``get_params``/``set_params``/``clone``, ``Pipeline`` (texts
through a featuriser) and ``cross_val_score`` work. The data:

* ``X``: ``[n, d]`` features, dense or scipy sparse;
* ``Y``: ``[n, k]`` performance of each candidate on each query (a DataFrame's columns name the candidates);
* ``cost``: ``[n, k]`` USD (optional; every cost-aware path refuses to run without it, or with NaN in it);
* ``tasks``: ``[n]`` task labels (optional; per-task cost estimates and normalisation, :class:`PerTaskRouter`);
* ``judge``: ``[n, k]`` judge scores, the objective of the ``llm_judge`` trade-off.

A NaN performance cell is refused with a count unless ``missing="drop"``, which drops (and counts, in
``n_dropped_queries_``, with a warning) every query with a NaN in performance, cost or judge, or
``missing="mask"``, which keeps NaN cells as unobserved (``FitData.observed``) for the routers that can learn
from a partly observed matrix (:class:`~fusionbench.fusion.routers.MFRouter`: leave-one-model-out with k
labelled queries of a new candidate, or none); the others raise :class:`NotSupported`. Under ``"mask"`` only
queries without any observed cell are dropped (counted), and cost means are over the observed cells.

After ``fit``: ``candidates_`` (names, else ``0..k-1``), ``n_features_in_``, ``tradeoff_`` (the trade-off with
training normalisation), ``cost_mean_`` (per candidate) and ``cost_by_task_``. Prediction:

* ``predict_performance(X)`` ``[n, k]``: the router's estimate of the objective (not for label routers);
* ``predict_cost(X)`` ``[n, k]``: USD, the training mean per candidate (per task and candidate with tasks);
* ``predict_utility(X, tradeoff=None)`` ``[n, k]``: what the router maximises: the trade-off's reward of the
  estimates, or a label router's label score;
* ``route(X, tradeoff=None)`` / ``predict(X)``: the argmax of the utility, ties to the lowest predicted cost,
  as an index into ``candidates_`` (what indexes ``Y``'s columns); ``predict_labels(X)``: the candidate names
  (``candidates_[predict(X)]``, as scikit-learn's classifiers return labels from ``classes_``).

The contract a router declares (checked by :func:`fusionbench.fusion.routers.check_router`):

* its parameters in ``__init__`` (scikit-learn's rule); of the shared ones (:data:`SHARED_PARAMS`:
  ``tradeoff``, ``missing``, ``target``, ``labels``) the base class reads those it declares, and the
  documented value stands for those it does not (a router without ``tradeoff`` fits under
  ``performance_first``);
* its capabilities in the class attribute ``router_tags`` (a :class:`RouterTags`);
* its fitted state: every public attribute ending in ``_`` that ``fit`` sets, saved by ``save_pretrained``
  (``_state`` / ``_load_state`` convert what arrays and JSON cannot hold; ``_rebuilt_on_load`` names what
  ``_load_state`` rebuilds instead of saving).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import warnings
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_array, check_is_fitted

from fusionbench.fusion.routers.persistence import PretrainedMixin
from fusionbench.fusion.routers.tradeoffs import Tradeoff, argmax_cheapest, labels_from, resolve_labels

# scikit-learn 1.6 renamed force_all_finite to ensure_all_finite
_FINITE = next(n for n in ("ensure_all_finite", "force_all_finite") if n in inspect.signature(check_array).parameters)


#: Shared parameters: read by :class:`BaseRouter` when a router's ``__init__`` declares them; the value here
#: stands for those it does not declare.
SHARED_PARAMS: dict[str, Any] = {
    "tradeoff": "performance_first",  # the fitting trade-off (a Tradeoff or its name)
    "missing": "raise",  # NaN cells: "raise", "drop" (the queries) or "mask" (needs supports_missing_mask)
    "target": "scores",  # "labels": the router learns the per-query best candidate, not estimates
    "labels": "auto",  # how labels break ties (tradeoffs.LabelMode)
}


@dataclass(frozen=True)
class RouterTags:
    """What a router class declares about itself (``router_tags``), read by the base class, the CLI, the
    benchmark and :func:`~fusionbench.fusion.routers.check_router`, in the spirit of ``__sklearn_tags__``."""

    #: ``fit`` refuses to run without ``cost=`` (CARROT's cost model)
    needs_cost: bool = False
    #: learns from a partly observed matrix: ``missing="mask"`` (else :class:`NotSupported`)
    supports_missing_mask: bool = False
    #: routes by task labels: ``fit`` needs ``tasks=`` (predict may resolve them itself)
    takes_tasks: bool = False
    #: the routes may depend on the query features ``X`` (False: never, whatever the parameters: best single)
    requires_features: bool = True
    #: the utility is a trade-off's reward of estimates, so any trade-off applies at route time (False: the
    #: router's own score, e.g. a random draw or a win rate)
    applies_tradeoff: bool = True
    #: reads the true performance of the queries it is fitted on (an evaluation bound such as the oracle):
    #: it answers only for those queries
    reads_truth: bool = False
    #: the same data and ``random_state`` give the same routes
    deterministic: bool = True


@functools.cache
def declared_params(cls: type) -> frozenset[str]:
    """The constructor parameters a router class declares (scikit-learn's ``_get_param_names``)."""
    return frozenset(cls._get_param_names())  # type: ignore[attr-defined]


class NotSupported(ValueError):
    """The router cannot do what was asked (learn from unobserved cells, estimate an unseen candidate)."""


@dataclass
class FitData:
    """Validated training arrays (after dropping queries under ``missing="drop"``)."""

    X: Any
    target: np.ndarray  # the objective: performance, or judge under llm_judge (NaN where unobserved)
    performance: np.ndarray
    cost: np.ndarray | None
    tasks: np.ndarray | None
    observed: np.ndarray | None = None  # [n, k] bool under missing="mask" when some cells are NaN, else None


def _matrix(name: str, values: Any, n: int | None, k: int | None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be an [n_queries, n_candidates] matrix, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} has {array.shape[0]} rows for {n} queries in X")
    if k is not None and array.shape[1] != k:
        raise ValueError(f"{name} has {array.shape[1]} columns for {k} candidates")
    if np.isinf(array).any():
        row, col = np.argwhere(np.isinf(array))[0]
        raise ValueError(f"{name} has infinite values (first at row {row}, column {col})")
    return array


def _nan_report(name: str, array: np.ndarray, candidates: np.ndarray) -> str:
    cells = np.argwhere(np.isnan(array))
    rows = np.unique(cells[:, 0])
    row, col = cells[0]
    return (
        f"{name} has {len(cells)} NaN cells in {len(rows)} queries (first: row {row}, candidate "
        f"{candidates[col]!r}); a missing value is never 0"
    )


def _observed_mean(values: np.ndarray) -> np.ndarray:
    """Column means over the observed (non-NaN) cells; NaN for a column without any (never 0)."""
    counts = (~np.isnan(values)).sum(axis=0)
    sums = np.where(np.isnan(values), 0.0, values).sum(axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def fingerprint(*arrays: Any) -> str:
    """sha256 over the shapes and bytes of the training arrays (sparse: its CSR parts)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        if sp.issparse(array):
            csr = sp.csr_matrix(array)
            parts = [csr.data, csr.indices, csr.indptr]
            digest.update(repr(csr.shape).encode())
        else:
            parts = [np.ascontiguousarray(np.asarray(array))]
        for part in parts:
            digest.update(repr((part.shape, str(part.dtype))).encode())
            digest.update(part.tobytes() if part.dtype != object else repr(part.tolist()).encode())
    return digest.hexdigest()


class BaseRouter(PretrainedMixin, BaseEstimator):
    """Shared fit validation, cost estimates, trade-off routing and scoring (see the module docstring)."""

    #: What the router declares about itself (see :class:`RouterTags`); subclasses set their own.
    router_tags: ClassVar[RouterTags] = RouterTags()
    #: Fitted attributes ``_load_state`` rebuilds from the saved ones (not saved; e.g. a search index).
    _rebuilt_on_load: ClassVar[tuple[str, ...]] = ()

    def _shared_param(self, name: str) -> Any:
        """A shared parameter (:data:`SHARED_PARAMS`): the declared value, else the documented one."""
        return getattr(self, name) if name in declared_params(type(self)) else SHARED_PARAMS[name]

    @property
    def _applies_tradeoff(self) -> bool:  # read by the evaluation and the curves
        return self.router_tags.applies_tradeoff

    # ------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        Y: Any,
        *,
        cost: Any = None,
        tasks: Any = None,
        judge: Any = None,
        candidates: Any = None,
    ) -> BaseRouter:
        """Fit on features ``X`` and performance ``Y`` (see the module docstring); returns ``self``."""
        data = self._validate_fit(X, Y, cost, tasks, judge, candidates)
        self._fit(data)
        return self

    def _fit(self, data: FitData) -> None:  # pragma: no cover - every router overrides it
        raise NotImplementedError

    def _tradeoff_param(self) -> Tradeoff:
        return Tradeoff.parse(self._shared_param("tradeoff"))

    def _validate_fit(self, X: Any, Y: Any, cost: Any, tasks: Any, judge: Any, candidates: Any) -> FitData:
        features = self._check_features(X, fitting=True)
        n = features.shape[0]
        if candidates is None and hasattr(Y, "columns"):
            candidates = list(Y.columns)
        perf = _matrix("performance (Y)", Y, n, None)
        k = perf.shape[1]
        if k < 1:
            raise ValueError("Y has no candidates (0 columns)")
        names = np.arange(k) if candidates is None else np.asarray(list(candidates), dtype=object)
        if len(names) != k:
            raise ValueError(f"{len(names)} candidate names for {k} columns of Y")
        if len(set(names.tolist())) != k:
            raise ValueError("candidate names repeat")
        tradeoff = self._tradeoff_param()
        cst = None if cost is None else _matrix("cost", cost, n, k)
        jdg = None if judge is None else _matrix("judge", judge, n, k)
        if tradeoff.objective == "judge" and jdg is None:
            raise ValueError(f"trade-off {tradeoff.name!r} routes on the judge score: pass judge= to fit")
        if (tradeoff.uses_cost or self.router_tags.needs_cost) and cst is None:
            raise ValueError(f"{type(self).__name__} with trade-off {tradeoff.name!r} needs cost= in fit")
        task_array = None if tasks is None else np.asarray(list(tasks), dtype=object)
        if task_array is not None and len(task_array) != n:
            raise ValueError(f"{len(task_array)} tasks for {n} queries")
        checked = {"performance (Y)": perf, "cost": cst, "judge": jdg if tradeoff.objective == "judge" else None}
        missing = self._shared_param("missing")
        if missing not in ("raise", "drop", "mask"):
            raise ValueError(f"missing must be 'raise', 'drop' or 'mask', not {missing!r}")
        supports_mask = self.router_tags.supports_missing_mask
        if missing == "mask" and not supports_mask:
            raise NotSupported(
                f"{type(self).__name__} cannot learn from unobserved cells (missing='mask'); MFRouter can. Drop the "
                "queries with NaN cells (missing='drop') or the candidates (RoutingData.without_candidates)"
            )
        bad = np.zeros(n, dtype=bool)
        for array in checked.values():
            if array is not None:
                bad |= np.isnan(array).all(axis=1) if missing == "mask" else np.isnan(array).any(axis=1)
        if bad.any() and missing == "raise":
            name, array = next((k_, a) for k_, a in checked.items() if a is not None and np.isnan(a).any())
            raise ValueError(
                f"{_nan_report(name, array, names)}: drop those queries, or fit with missing='drop'"
                + (" (or 'mask': unobserved cells)" if supports_mask else "")
            )
        self.n_dropped_queries_ = int(bad.sum())
        if bad.any():
            what = "without any observed cell" if missing == "mask" else "with NaN performance, cost or judge"
            warnings.warn(
                f"{type(self).__name__}: dropped {int(bad.sum())} of {n} queries {what}", UserWarning, stacklevel=3
            )
            keep = ~bad
            if keep.sum() == 0:
                raise ValueError("every query has a NaN cell; nothing to fit")
            features = features[np.flatnonzero(keep)]
            perf, cst, jdg = perf[keep], None if cst is None else cst[keep], None if jdg is None else jdg[keep]
            task_array = None if task_array is None else task_array[keep]
        target = jdg if tradeoff.objective == "judge" else perf
        observed = ~np.isnan(target)
        if cst is not None:
            observed &= ~np.isnan(cst)
        self.candidates_ = names
        self.n_features_in_ = int(features.shape[1])
        self.tradeoff_ = tradeoff.fit(target, cst, task_array)
        self.cost_mean_ = None if cst is None else _observed_mean(cst)
        self.cost_by_task_ = None
        if cst is not None and task_array is not None:
            self.cost_by_task_ = {str(t): _observed_mean(cst[task_array == t]) for t in np.unique(task_array)}
        self.training_fingerprint_ = fingerprint(features, perf, cst)
        self.featurizer_spec_ = None  # set by from_pretrained / save_pretrained(featurizer=...)
        return FitData(features, target, perf, cst, task_array, None if observed.all() else observed)

    # ------------------------------------------------------------ features
    def _check_features(self, X: Any, fitting: bool = False) -> Any:
        """X as CSR or a 2-D float array; after fit, its width must match the training features'."""
        if isinstance(X, (list, tuple)) and X and isinstance(X[0], str):
            raise TypeError(
                "X holds texts: put a featuriser first, e.g. make_pipeline(TfidfFeaturizer(), "
                f"{type(self).__name__}()), or pass a feature matrix"
            )
        features = check_array(X, accept_sparse="csr", dtype=(np.float64, np.float32), **{_FINITE: True})
        if not fitting:
            check_is_fitted(self, "candidates_")
            if features.shape[1] != self.n_features_in_:
                spec = self.featurizer_spec_
                origin = f" from featuriser {spec}" if spec else ""
                raise ValueError(
                    f"X has {features.shape[1]} features, but {type(self).__name__} was trained on "
                    f"{self.n_features_in_}{origin}: use the featuriser it was trained with"
                )
        return features

    def _resolve_tasks(self, features: Any, tasks: Any) -> np.ndarray | None:
        """The tasks prediction uses (validated; :class:`PerTaskRouter` fills in unknown ones). Idempotent."""
        return self._check_tasks(tasks, features.shape[0])

    def _check_tasks(self, tasks: Any, n: int) -> np.ndarray | None:
        if tasks is None:
            return None
        task_array = np.asarray(list(tasks), dtype=object)
        if len(task_array) != n:
            raise ValueError(f"{len(task_array)} tasks for {n} queries")
        return task_array

    # ------------------------------------------------------------ estimates
    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def _label_target(self) -> bool:
        return self._shared_param("target") == "labels"

    def _labels(self, data: FitData) -> np.ndarray:
        """The training label matrix under the router's trade-off and label mode."""
        mode = resolve_labels(self._shared_param("labels"), self.tradeoff_)
        reward = self.tradeoff_.reward(data.target, data.cost, data.tasks)
        return labels_from(reward, data.cost, mode)

    def predict_performance(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, k]`` estimated objective (performance, or judge under ``llm_judge``) of every candidate."""
        if self._label_target:
            raise ValueError(
                f"{type(self).__name__}(target='labels') estimates label shares, not performance: "
                "use predict_utility, or target='scores'"
            )
        features = self._check_features(X)
        return self._estimate(features, self._resolve_tasks(features, tasks))

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, k]`` estimated USD cost: the training mean per candidate, per (task, candidate) with tasks."""
        features = self._check_features(X)
        if self.cost_mean_ is None:
            raise ValueError(f"{type(self).__name__} was fitted without cost: pass cost= to fit")
        out = np.tile(self.cost_mean_, (features.shape[0], 1))
        task_array = self._resolve_tasks(features, tasks)
        if task_array is not None and self.cost_by_task_:
            for task in np.unique(task_array):
                if str(task) in self.cost_by_task_:
                    out[task_array == task] = self.cost_by_task_[str(task)]
        return out

    def predict_utility(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """``[n, k]`` what the router maximises under ``tradeoff`` (default: the fitted one)."""
        features = self._check_features(X)
        task_array = self._resolve_tasks(features, tasks)
        if not self._applies_tradeoff or self._label_target:
            if tradeoff is not None and Tradeoff.parse(tradeoff) != Tradeoff.parse(self.tradeoff_):
                raise ValueError(
                    f"{type(self).__name__} learned its utility under trade-off {self.tradeoff_.name!r}; "
                    "to route under another, refit with tradeoff=... (or use target='scores')"
                )
            return self._estimate(features, task_array)
        chosen = self.tradeoff_ if tradeoff is None else self._fitted_tradeoff(tradeoff)
        estimate = self._estimate(features, task_array)
        cost = self.predict_cost(features, task_array) if chosen.uses_cost else None
        return chosen.reward(estimate, cost, task_array)

    def _fitted_tradeoff(self, tradeoff: Any) -> Tradeoff:
        """A trade-off given at route time takes the training statistics when it has none of its own."""
        parsed = Tradeoff.parse(tradeoff)
        if parsed.normalize == "train" and parsed.stats is None:
            parsed = replace(parsed, stats=self.tradeoff_.stats)
        if parsed.objective != self.tradeoff_.objective:
            raise ValueError(
                f"{type(self).__name__} estimates the {self.tradeoff_.objective} objective; trade-off "
                f"{parsed.name!r} needs {parsed.objective}: refit with it"
            )
        return parsed

    def route(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """Candidate index per query: argmax utility, ties to the lowest predicted cost (or the first)."""
        features = self._check_features(X)
        task_array = self._resolve_tasks(features, tasks)
        utility = self.predict_utility(features, tradeoff=tradeoff, tasks=task_array)
        cost = self.predict_cost(features, task_array) if self.cost_mean_ is not None else None
        ties = (self.tradeoff_ if tradeoff is None else Tradeoff.parse(tradeoff)).ties
        if ties == "first":
            return utility.argmax(axis=1)
        return argmax_cheapest(utility, None if cost is None else np.where(np.isnan(cost), np.inf, cost))

    def predict(self, X: Any, tasks: Any = None) -> np.ndarray:
        """Index into ``candidates_`` per query under the fitted trade-off (:meth:`predict_labels`: names)."""
        return self.route(X, tasks=tasks)

    def predict_labels(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The routed candidate's name per query: ``candidates_[predict(X)]`` (scikit-learn returns labels
        from ``classes_``; ``predict`` returns positions, which index the performance matrix)."""
        return self.candidates_[self.predict(X, tasks=tasks)]

    predict_names = predict_labels  # the earlier name

    def score(self, X: Any, Y: Any, sample_weight: Any = None, tasks: Any = None) -> float:
        """Mean performance of the routed candidates (what ``cross_val_score`` reports by default)."""
        choices = self.predict(X, tasks=tasks)
        perf = _matrix("performance (Y)", Y, len(choices), len(self.candidates_))
        picked = perf[np.arange(len(choices)), choices]
        if np.isnan(picked).any():
            raise ValueError(f"the routed cells hold {int(np.isnan(picked).sum())} NaN performances")
        return float(np.average(picked, weights=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.non_deterministic = False
        return tags
