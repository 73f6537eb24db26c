"""The router contract as checks, in the spirit of scikit-learn's ``check_estimator`` / ``parametrize_with_checks``.

``check_router(router)`` runs every check on (clones of) an unfitted router and raises one
:class:`RouterCheckError` listing each failure; ``router_checks(routers)`` gives ``(router, check)`` pairs for
``pytest.mark.parametrize``, so a test names the failing check::

    @pytest.mark.parametrize(("router", "check"), router_checks([TinyRouter()]), ids=check_id)
    def test_contract(router, check):
        check(router)

The checks, on a small seeded problem (120 queries, 6 features, 3 candidates with costs 1:3:9 and two tasks):

* ``check_declared``: registered (a saved folder names its class), built from defaults, ``router_tags`` a
  :class:`~fusionbench.fusion.routers.RouterTags`, ``__init__`` storing its parameters unchanged;
* ``check_clone``, ``check_get_set_params``: scikit-learn's clone and the get/set_params round trip;
* ``check_not_fitted``: prediction before ``fit`` is a ``NotFittedError``;
* ``check_fit_predict_shapes``: ``fit`` returns self; ``candidates_``, ``n_features_in_``; ``predict`` gives
  ``[n]`` indices, ``predict_labels`` their names, ``predict_utility`` and ``predict_cost`` ``[n, k]``; a width
  other than the training one is refused;
* ``check_deterministic``: the same data and ``random_state`` give the same routes and utilities;
* ``check_save_load``: ``save_pretrained`` / ``from_pretrained`` give the same class, parameters, fitted
  ``*_`` attributes and routes;
* ``check_refuses_nan``: a NaN cell is refused unless ``missing="drop"`` (counted) or ``"mask"`` where
  ``supports_missing_mask`` is declared (else ``NotSupported``); NaN features are refused;
* ``check_declared_needs``: ``needs_cost`` / ``takes_tasks`` routers refuse to fit without them, a router
  declaring ``requires_features=False`` routes the same whatever the feature values, and a cost trade-off
  without cost is refused;
* ``check_cost_routing``: weighing cost more never routes a query to a dearer predicted cost (the argmax of
  ``p - λc`` has a non-increasing cost in ``λ``), and cost routing picks the cheapest candidate more often.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from fusionbench.fusion.routers.base import BaseRouter, NotSupported, RouterTags, declared_params
from fusionbench.fusion.routers.registry import router_name

Check = Callable[[BaseRouter], None]


class RouterCheckError(AssertionError):
    """One or more contract checks failed; ``failures`` maps each check's name to its message."""

    def __init__(self, router: Any, failures: dict[str, str]) -> None:
        self.failures = failures
        listed = "\n".join(f"  {name}: {message}" for name, message in failures.items())
        super().__init__(f"{router!r} fails {len(failures)} router check(s):\n{listed}")


@dataclass(frozen=True)
class CheckData:
    """The seeded problem the checks fit on, and new queries to route."""

    X: np.ndarray
    Y: np.ndarray
    cost: np.ndarray
    tasks: np.ndarray
    X_new: np.ndarray
    tasks_new: np.ndarray
    candidates: tuple[str, ...] = ("c0", "c1", "c2")


def check_data(seed: int = 0, n: int = 120, d: int = 6) -> CheckData:
    """Features that carry each candidate's correctness, costs 1:3:9 (x 1e-3 USD) and two tasks."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + 40, d))
    Y = (X[:n, :3] + 0.5 * rng.normal(size=(n, 3)) > 0).astype(np.float64)
    cost = np.array([1.0, 3.0, 9.0]) * (1.0 + 0.2 * rng.random((n, 3))) * 1e-3
    tasks = np.where(X[:, 3] > 0, "t1", "t2").astype(object)
    return CheckData(X[:n], Y, cost, tasks[:n], X[n:], tasks[n:])


def _fit(router: BaseRouter, data: CheckData, **changes: Any) -> BaseRouter:
    fit = {"cost": data.cost, "tasks": data.tasks, "candidates": list(data.candidates)} | changes
    Y = fit.pop("Y", data.Y)
    X = fit.pop("X", data.X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of small fits; dropped queries are checked by count
        return router.fit(X, Y, **fit)


def _queries(router: BaseRouter, data: CheckData) -> tuple[np.ndarray, np.ndarray]:
    """The queries to route: new ones, or the fitted ones for a router that reads the truth (the oracle)."""
    return (data.X, data.tasks) if router.router_tags.reads_truth else (data.X_new, data.tasks_new)


def _raises(kind: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any], what: str) -> str:
    try:
        call()
    except kind as error:
        return str(error)
    raise AssertionError(f"{what} was not refused (expected {kind})")


# ---------------------------------------------------------------- the checks
def check_declared(router: BaseRouter) -> None:
    """Registered, constructible from defaults, tags declared, parameters stored unchanged by ``__init__``."""
    cls = type(router)
    router_name(cls)  # raises for an unregistered class
    assert isinstance(cls.router_tags, RouterTags), f"{cls.__name__}.router_tags is not a RouterTags"
    cls()  # every parameter has a default (a saved folder is checked against the defaults' get_params)
    params = router.get_params(deep=False)
    assert set(params) == declared_params(cls), f"get_params() keys {sorted(params)} are not __init__'s parameters"
    public = {k for k in vars(router) if not k.startswith("_") and not k.endswith("_")}
    extra = sorted(public - set(params))
    assert not extra, f"__init__ sets attributes that are not parameters: {extra} (work belongs in fit)"


def check_clone(router: BaseRouter) -> None:
    """``clone`` gives an unfitted router with the same parameters."""
    fitted = _fit(clone(router), check_data())
    copy = clone(fitted)
    assert repr(copy.get_params(deep=False)) == repr(router.get_params(deep=False)), "clone changed parameters"
    assert "candidates_" not in vars(copy), "a clone of a fitted router is fitted"


def check_get_set_params(router: BaseRouter) -> None:
    """``set_params(**get_params())`` returns the router unchanged; an unknown parameter is refused."""
    router = clone(router)
    before = repr(router.get_params(deep=False))
    assert router.set_params(**router.get_params(deep=False)) is router, "set_params does not return self"
    assert repr(router.get_params(deep=False)) == before, "the get/set_params round trip changed parameters"
    _raises(ValueError, lambda: router.set_params(no_such_parameter_=1), "set_params(no_such_parameter_=1)")


def check_not_fitted(router: BaseRouter) -> None:
    """Routing before ``fit`` is a ``NotFittedError``."""
    data = check_data()
    _raises(NotFittedError, lambda: clone(router).predict(data.X, tasks=data.tasks), "predict before fit")


def check_fit_predict_shapes(router: BaseRouter) -> None:
    """``fit`` returns self; prediction shapes, indices, labels and the feature width check."""
    data = check_data()
    router = clone(router)
    assert _fit(router, data) is router, "fit does not return self"
    k = len(data.candidates)
    assert list(router.candidates_) == list(data.candidates), f"candidates_ is {router.candidates_!r}"
    assert router.n_features_in_ == data.X.shape[1], "n_features_in_ is not the training width"
    X, tasks = _queries(router, data)
    choices = router.predict(X, tasks=tasks)
    assert choices.shape == (len(X),) and np.issubdtype(choices.dtype, np.integer), f"predict gave {choices!r}"
    assert ((choices >= 0) & (choices < k)).all(), "predict gave indices outside candidates_"
    labels = router.predict_labels(X, tasks=tasks)
    assert list(labels) == [data.candidates[i] for i in choices], "predict_labels is not candidates_[predict]"
    utility = router.predict_utility(X, tasks=tasks)
    assert utility.shape == (len(X), k) and not np.isnan(utility).any(), "predict_utility is not [n, k] numbers"
    cost = router.predict_cost(X, tasks=tasks)
    assert cost.shape == (len(X), k) and (cost >= 0).all(), "predict_cost is not [n, k] non-negative USD"
    narrow = np.zeros((2, data.X.shape[1] - 1))
    _raises(ValueError, lambda: router.predict(narrow, tasks=tasks[:2]), "features of another width")


def check_deterministic(router: BaseRouter) -> None:
    """Two fits on the same data (and ``random_state``) route the same and give the same utilities."""
    if not router.router_tags.deterministic:
        return
    data = check_data()
    first, second = _fit(clone(router), data), _fit(clone(router), data)
    X, tasks = _queries(first, data)
    assert np.array_equal(first.predict(X, tasks=tasks), second.predict(X, tasks=tasks)), "routes differ"
    same = np.array_equal(first.predict_utility(X, tasks=tasks), second.predict_utility(X, tasks=tasks))
    assert same, "utilities differ between two fits"


def _fitted_names(router: BaseRouter) -> set[str]:
    return {k for k in vars(router) if k.endswith("_") and not k.startswith("_")}


def check_save_load(router: BaseRouter) -> None:
    """``save_pretrained`` then ``from_pretrained``: same class, parameters, fitted attributes and routes."""
    data = check_data()
    fitted = _fit(clone(router), data)
    X, tasks = _queries(fitted, data)
    with tempfile.TemporaryDirectory() as folder:
        loaded = BaseRouter.from_pretrained(fitted.save_pretrained(Path(folder) / "router"))
    assert type(loaded) is type(fitted), f"loaded a {type(loaded).__name__}"
    assert repr(loaded.get_params(deep=False)) == repr(fitted.get_params(deep=False)), "parameters changed"
    lost = sorted(_fitted_names(fitted) - _fitted_names(loaded))
    assert not lost, f"fitted attributes lost by save/load: {lost}"
    assert np.array_equal(loaded.predict(X, tasks=tasks), fitted.predict(X, tasks=tasks)), "routes changed"
    before, after = fitted.predict_utility(X, tasks=tasks), loaded.predict_utility(X, tasks=tasks)
    assert np.allclose(before, after, rtol=1e-12, atol=0, equal_nan=True), "utilities changed by save/load"


def check_refuses_nan(router: BaseRouter) -> None:
    """A NaN performance cell is refused unless ``missing`` says otherwise; NaN features always are."""
    data = check_data()
    Y = data.Y.copy()
    Y[3, 1] = np.nan
    message = _raises(ValueError, lambda: _fit(clone(router), data, Y=Y), "a NaN performance cell")
    assert "NaN" in message, f"the refusal does not say NaN: {message}"
    X = data.X.copy()
    X[0, 0] = np.nan
    _raises(ValueError, lambda: _fit(clone(router), data, X=X), "a NaN feature")
    if "missing" not in declared_params(type(router)):
        return
    dropped = _fit(clone(router).set_params(missing="drop"), data, Y=Y)
    assert dropped.n_dropped_queries_ == 1, f"missing='drop' counted {dropped.n_dropped_queries_} dropped queries"
    masked = clone(router).set_params(missing="mask")
    if router.router_tags.supports_missing_mask:
        assert _fit(masked, data, Y=Y).n_dropped_queries_ == 0, "missing='mask' dropped a partly observed query"
    else:
        _raises(NotSupported, lambda: _fit(masked, data, Y=Y), "missing='mask' without supports_missing_mask")


def check_declared_needs(router: BaseRouter) -> None:
    """What ``router_tags`` says a router needs, it refuses to fit without; a cost trade-off needs cost."""
    data, tags = check_data(), router.router_tags
    if tags.needs_cost:
        message = _raises(ValueError, lambda: _fit(clone(router), data, cost=None), "fit without cost (needs_cost)")
        assert "cost" in message, f"the refusal does not name cost: {message}"
    if tags.takes_tasks:
        _raises(ValueError, lambda: _fit(clone(router), data, tasks=None), "fit without tasks (takes_tasks)")
    if not tags.requires_features and not tags.reads_truth:
        fitted = _fit(clone(router), data)
        other = np.ones_like(data.X_new)
        same = np.array_equal(
            fitted.predict(data.X_new, tasks=data.tasks_new), fitted.predict(other, tasks=data.tasks_new)
        )
        assert same, "routes depend on the feature values, but requires_features=False is declared"
    if "tradeoff" in declared_params(type(router)):
        costly = clone(router).set_params(tradeoff="balance")
        message = _raises(ValueError, lambda: _fit(costly, data, cost=None), "a cost trade-off without cost")
        assert "cost" in message, f"the refusal does not name cost: {message}"


def check_cost_routing(router: BaseRouter) -> None:
    """Under the fitted trade-off family, weighing cost more never routes a query to a dearer predicted cost,
    and routes at least as many queries to the cheapest candidate."""
    if not router.router_tags.applies_tradeoff or router._label_target:
        return
    data = check_data()
    fitted = _fit(clone(router), data)
    X, tasks = _queries(fitted, data)
    cost = fitted.predict_cost(X, tasks=tasks)
    scale = 1.0 if fitted.tradeoff_.normalize != "none" else 1.0 / float(cost.max())  # raw USD: one unit = the max
    light = replace(fitted.tradeoff_, perf_weight=1.0, cost_weight=0.0)
    heavy = replace(fitted.tradeoff_, perf_weight=0.2, cost_weight=0.8 * scale)
    rows = np.arange(len(X))
    plain, costly = fitted.route(X, tradeoff=light, tasks=tasks), fitted.route(X, tradeoff=heavy, tasks=tasks)
    dearer = cost[rows, costly] > cost[rows, plain] * (1 + 1e-9)
    assert not dearer.any(), f"weighing cost more routed {int(dearer.sum())} queries to a dearer candidate"
    cheapest = cost.argmin(axis=1)
    assert (costly == cheapest).sum() >= (plain == cheapest).sum(), "cost routing picked the cheapest less often"


CHECKS: tuple[Check, ...] = (
    check_declared,
    check_clone,
    check_get_set_params,
    check_not_fitted,
    check_fit_predict_shapes,
    check_deterministic,
    check_save_load,
    check_refuses_nan,
    check_declared_needs,
    check_cost_routing,
)


def router_checks(routers: BaseRouter | Iterable[BaseRouter]) -> list[tuple[BaseRouter, Check]]:
    """``(router, check)`` pairs for ``pytest.mark.parametrize`` (see the module docstring)."""
    items = [routers] if isinstance(routers, BaseRouter) else list(routers)
    return [(router, check) for router in items for check in CHECKS]


def check_id(value: Any) -> str:
    """A readable pytest id for a router or a check."""
    if isinstance(value, BaseRouter):
        defaults = type(value)().get_params(deep=False)
        changed = {k: v for k, v in value.get_params(deep=False).items() if repr(v) != repr(defaults.get(k))}
        return type(value).__name__ + "".join(f"-{k}={v}" for k, v in changed.items())
    return getattr(value, "__name__", repr(value))


def check_router(router: BaseRouter) -> list[str]:
    """Run every check on ``router`` (unfitted; clones are fitted); returns the names of the checks passed,
    or raises one :class:`RouterCheckError` listing every failure."""
    failures: dict[str, str] = {}
    for check in CHECKS:
        try:
            check(router)
        except Exception as error:  # every failure is listed, not only the first
            failures[check.__name__] = f"{type(error).__name__}: {error}"
    if failures:
        raise RouterCheckError(router, failures)
    return [check.__name__ for check in CHECKS]
