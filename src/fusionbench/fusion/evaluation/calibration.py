"""``calibrate``: pick a router's trade-off knob on a validation split for a target, and record what it gives.

The knob is λ for routers that estimate performance (CARROT's ``(1 - λ)·P̂ - λ·scale·Ĉ``; any score router
fitted with cost routes this way, ``scale`` making one unit the dearest candidate's mean training cost), and
the threshold of a :class:`~fusionbench.fusion.routers.PairRouter` (RouteLLM). Targets (exactly one):

* ``target_cost`` (USD per query): the most accurate knob whose validation mean cost is at most the target;
* ``target_accuracy``: the cheapest knob whose validation accuracy is at least the target; ``"best_single"``
  answers "the best single model's accuracy at what cost?": the target is the validation accuracy of the best
  single candidate on validation (ties to the cheapest) minus ``tolerance``, and ``reference`` records that
  candidate's accuracy and cost on validation and test beside the router's, with the realised test cost as a share
  of the best single's (``cost_ratio``) and the accuracy gap;
* ``strong_share``: the knob whose share of calls to the strong candidate is closest to the target (a pair
  router: RouteLLM's ``1 - share`` quantile of the validation win rates; otherwise the strong candidate is
  ``strong=``, default the dearest by mean training cost).

When no knob meets the target the nearest one is taken and ``feasible`` is False. With ``test`` the chosen knob
is applied there and the realised cost, accuracy and strong share are recorded: a calibration holds on the
distribution it was made on (RouteLLM issue #36), and the test value says how far it carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, new_manifest, read_manifest, write_manifest
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.evaluation.core import map_choices
from fusionbench.fusion.evaluation.protocols import NO_COST, has_cost
from fusionbench.fusion.routers.tradeoffs import Tradeoff, argmax_cheapest

LAMBDA_GRID = np.linspace(0.0, 1.0, 201)
#: ``calibration.json`` of a router folder (one JSON file, its own manifest)
CALIBRATION_FORMAT = ArtifactFormat("fusionbench-calibration", 1, manifest="", what="a router calibration file")
_METRICS = ("accuracy", "cost", "strong_share")


@dataclass
class Calibration:
    """The chosen knob, what it gives on validation, what it realises on test, and the validation curve."""

    knob: str  # "lam" or "threshold"
    value: float
    target: dict[str, float]
    feasible: bool
    validation: dict[str, float | None]
    test: dict[str, float | None] | None
    curve: dict[str, list[float | None]]
    router: str
    strong: str
    scale: float | None = None
    notes: list[str] = field(default_factory=list)
    reference: dict[str, Any] | None = None

    @property
    def tradeoff(self) -> Tradeoff | None:
        """The CARROT trade-off at the chosen λ (None for a threshold)."""
        return Tradeoff.carrot(self.value, self.scale or 1.0) if self.knob == "lam" else None

    def route(self, router: Any, X: Any, tasks: Any = None) -> np.ndarray:
        """Indices into ``router.candidates_`` of the calibrated choices."""
        return _route(router, X, tasks, self.knob, self.value, self.scale)

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON-ready data (calibration.json)."""
        return {
            "knob": self.knob,
            "value": self.value,
            "scale": self.scale,
            "target": self.target,
            "feasible": self.feasible,
            "validation": self.validation,
            "test": self.test,
            "router": self.router,
            "strong": self.strong,
            "curve": self.curve,
            "notes": self.notes,
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibration:
        """Read a calibration back from :meth:`to_dict`'s data."""
        fields = ("knob", "value", "target", "feasible", "validation", "test", "curve", "router", "strong")
        extra = {
            "scale": payload.get("scale"),
            "notes": payload.get("notes", []),
            "reference": payload.get("reference"),
        }
        return cls(**{k: payload[k] for k in fields}, **extra)

    def save(self, path: str | Path) -> Path:
        """Write it as ``calibration.json`` (:data:`CALIBRATION_FORMAT`, atomically, never through a link)."""
        return write_manifest(path, CALIBRATION_FORMAT, new_manifest(CALIBRATION_FORMAT, **self.to_dict()))

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """The calibration saved at ``path``; a file written before it had a format reads as version 1."""

        def legacy(found: dict[str, Any] | None) -> dict[str, Any] | None:
            return {"format": CALIBRATION_FORMAT.tag, **found} if found is not None and "knob" in found else None

        return cls.from_dict(read_manifest(path, CALIBRATION_FORMAT, legacy=legacy))


def _is_pair(router: Any) -> bool:
    return hasattr(router, "strong_win_rate")


def _scale(router: Any) -> float:
    if hasattr(router, "scale_"):
        return float(router.scale_)
    if router.cost_mean_ is None:
        raise ValueError(
            f"{type(router).__name__} was fitted without cost: it has no cost estimate to trade against; refit it "
            f"with cost= (the data's {NO_COST.split('(')[1].rstrip(')')})"
        )
    top = float(np.max(router.cost_mean_))
    if top <= 0:
        raise ValueError("every candidate's mean training cost is 0: nothing to trade off")
    return 1.0 / top


def _route(router: Any, X: Any, tasks: Any, knob: str, value: float, scale: float | None) -> np.ndarray:
    if knob == "threshold":
        return router.route(X, tasks=tasks, threshold=value)
    return _lam_choices(router, X, tasks, np.array([value]), scale)[0]


def _lam_choices(router: Any, X: Any, tasks: Any, lams: np.ndarray, scale: float | None) -> np.ndarray:
    """``[len(lams), n]`` choices (indices into ``candidates_``) at each λ, estimates computed once."""
    if hasattr(router, "route_sweep"):
        return router.route_sweep(X, lams, tasks=tasks)[1]
    perf = router.predict_performance(X, tasks=tasks)
    cost = router.predict_cost(X, tasks=tasks)
    s = _scale(router) if scale is None else scale
    return np.stack([argmax_cheapest((1.0 - lam) * perf - lam * s * cost, cost) for lam in lams])


def _strong_name(router: Any, strong: str | None) -> str:
    names = [str(c) for c in router.candidates_]
    if _is_pair(router):
        return names[router.strong_index_]
    if strong is not None:
        if strong not in names:
            raise ValueError(f"strong={strong!r} is not a candidate of the router; candidates are {names}")
        return strong
    means = getattr(router, "cost_shift_", None)
    means = router.cost_mean_ if means is None else means
    return names[int(np.argmax(means))]


def _measure(choices: np.ndarray, data: RoutingData, strong: str) -> dict[str, float | None]:
    rows = np.arange(len(choices))
    out: dict[str, float | None] = {"accuracy": float(data.performance[rows, choices].mean())}
    out["cost"] = float(data.cost[rows, choices].mean()) if has_cost(data) else None
    known = strong in data.candidates
    out["strong_share"] = float((choices == data.candidates.index(strong)).mean()) if known else None
    return out


def _pick(curve: list[dict[str, float | None]], kind: str, target: float, knobs: np.ndarray) -> tuple[int, bool]:
    """Index of the chosen knob on the validation curve and whether it meets the target."""
    acc = np.array([p["accuracy"] for p in curve])
    cost = np.array([np.nan if p["cost"] is None else p["cost"] for p in curve])
    share = np.array([np.nan if p["strong_share"] is None else p["strong_share"] for p in curve])
    if kind == "cost":
        ok = cost <= target + 1e-15
        if not ok.any():
            return int(np.nanargmin(cost)), False
        best = np.flatnonzero(ok)
        return int(best[np.lexsort((cost[best], -acc[best]))[0]]), True
    if kind == "accuracy":
        ok = acc >= target - 1e-12
        if not ok.any():
            return int(np.argmax(acc)), False
        best = np.flatnonzero(ok)
        order = cost[best] if not np.isnan(cost).all() else share[best]
        return int(best[np.lexsort((-acc[best], order))[0]]), True
    gap = np.abs(share - target)
    return int(np.nanargmin(gap)), bool(np.nanmin(gap) <= 0.05)


def calibrate(
    router: Any,
    val: RoutingData,
    *,
    X_val: Any,
    target_cost: float | None = None,
    strong_share: float | None = None,
    target_accuracy: float | str | None = None,
    test: RoutingData | None = None,
    X_test: Any = None,
    lams: Any = None,
    strong: str | None = None,
    tolerance: float = 0.0,
) -> Calibration:
    """Pick λ (or a pair router's threshold) on ``val`` for one target; record the realised value on ``test``."""
    reference = None
    if isinstance(target_accuracy, str):
        if target_accuracy != "best_single":
            raise ValueError(f"target_accuracy is a number or 'best_single', not {target_accuracy!r}")
        reference = best_single_reference(val, test)
        target_accuracy = reference["validation"]["accuracy"] - tolerance
        reference["tolerance"] = tolerance
    targets = {"cost": target_cost, "strong_share": strong_share, "accuracy": target_accuracy}
    given = {k: v for k, v in targets.items() if v is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of target_cost, strong_share, target_accuracy")
    ((kind, target),) = given.items()
    if kind == "strong_share" and not 0.0 <= target <= 1.0:
        raise ValueError(f"strong_share must lie in [0, 1], not {target}")
    if kind == "cost" and not has_cost(val):
        raise ValueError(f"target_cost needs the validation split's costs: {val.source} has {NO_COST}")
    if getattr(router, "_label_target", False) or not (_is_pair(router) or getattr(router, "_applies_tradeoff", False)):
        raise ValueError(
            f"{type(router).__name__} has no trade-off knob to calibrate (a label router, a baseline or random): "
            "use a score router (target='scores'), CarrotRouter or PairRouter"
        )
    if val.n_queries == 0:
        raise ValueError("the validation split is empty: make a split with val_size > 0")
    tasks = val.tasks
    strong_name = _strong_name(router, strong)
    notes: list[str] = []
    if _is_pair(router):
        knob, scale = "threshold", None
        rates = router.strong_win_rate(X_val, tasks=tasks)
        knobs = np.unique(np.append(rates, np.nextafter(rates.max(), np.inf)))  # the last: no strong call
        if kind == "strong_share":
            knobs = np.unique(np.append(knobs, router.threshold_for_strong_share(X_val, target, tasks=tasks)))
        grid = np.stack([router.route(X_val, tasks=tasks, threshold=t) for t in knobs])
    else:
        knob = "lam"
        scale = _scale(router)
        knobs = LAMBDA_GRID if lams is None else np.asarray(lams, dtype=np.float64)
        grid = _lam_choices(router, X_val, tasks, knobs, scale)
    names = router.candidates_
    curve = [_measure(map_choices(names[row], val), val, strong_name) for row in grid]
    if kind == "strong_share" and _is_pair(router):
        chosen_value = router.threshold_for_strong_share(X_val, target, tasks=tasks)
        index = int(np.flatnonzero(knobs == chosen_value)[0])
        feasible = True
    else:
        index, feasible = _pick(curve, kind, float(target), knobs)
    if not feasible:
        notes.append(f"no {knob} meets {kind} {target} on validation; the nearest was taken")
    value = float(knobs[index])
    realised = None
    if test is not None:
        if X_test is None:
            raise ValueError("pass X_test= (the test features) with test=")
        picks = _route(router, X_test, test.tasks, knob, value, scale)
        realised = _measure(map_choices(names[picks], test), test, strong_name)
    if reference is not None and realised is not None and reference.get("test"):
        ref = reference["test"]
        reference["accuracy_gap"] = realised["accuracy"] - ref["accuracy"]
        if realised["cost"] is not None and ref["cost"]:
            reference["cost_ratio"] = realised["cost"] / ref["cost"]
    return Calibration(
        knob=knob,
        value=value,
        target={kind: float(target)},
        feasible=feasible,
        validation=curve[index],
        test=realised,
        curve={knob: [float(k) for k in knobs], **{m: [p[m] for p in curve] for m in _METRICS}},
        router=type(router).__name__,
        strong=strong_name,
        scale=scale,
        notes=notes,
        reference=reference,
    )


def best_single_reference(val: RoutingData, test: RoutingData | None = None) -> dict[str, Any]:
    """The best single candidate on ``val`` (highest mean performance, ties to the cheapest) and its accuracy and
    mean cost on ``val`` and ``test``."""
    acc = val.performance.mean(axis=0)
    cost = val.cost.mean(axis=0) if has_cost(val) else np.zeros(val.n_candidates)
    best = int(np.lexsort((cost, -acc))[0])
    name = val.candidates[best]

    def values(data: RoutingData) -> dict[str, float | None]:
        j = data.candidates.index(name)
        mean_cost = float(data.cost[:, j].mean()) if has_cost(data) else None
        return {"accuracy": float(data.performance[:, j].mean()), "cost": mean_cost}

    out: dict[str, Any] = {"candidate": name, "validation": values(val)}
    out["test"] = values(test) if test is not None and name in test.candidates else None
    return out
