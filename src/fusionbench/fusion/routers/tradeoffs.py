"""Trade-offs between performance and cost: the routing objective, and the labels derived from it.

A :class:`Tradeoff` turns per-candidate performance ``P`` and cost ``C`` (both ``[n, k]``) into a reward
``perf_weight · norm(P) - cost_weight · norm(C)``; a router picks the candidate with the highest reward. The
release's four settings (FusionFactory ``data_processing.py``) are presets:

==================  ===========  ===========  =====================================================
preset              perf_weight  cost_weight  objective
==================  ===========  ===========  =====================================================
performance_first   1            0            performance
balance             0.5          0.5          performance
cost_first          0.2          0.8          performance
llm_judge           1            0            the judge score, not normalised (``score = llm_judge``)
carrot(λ, scale)    1 - λ        λ · scale    performance, raw USD (CARROT: ``(1-λ)P - λ·scale·C``)
==================  ===========  ===========  =====================================================

Normalisation is min-max over all cells of a task (all candidates together), as the release does, with a
constant task giving 0 (the math is the routing metrics' own, :mod:`fusionbench.metrics.routing_tradeoffs`;
this class keeps the weights, the normalisation rule and the fitted statistics):

* ``normalize="train"`` (default): the min and max come from the training split (:meth:`Tradeoff.fit`),
  per task when tasks are known, else over all cells, and are applied unchanged to any split;
* ``normalize="split"``: each call normalises with the statistics of the arrays it is given: the
  release's protocol, which min-max normalises the test split with its own values
  (``protocol="fusionfactory"`` selects it, with first-in-row-order label ties);
* ``normalize="none"``: raw values (CARROT, the judge setting).

Labels (:func:`labels_from`) are the per-query argmax of the reward: ``argmax_cheapest`` breaks ties by the
cheapest candidate (default), ``argmax_first`` by row order (the release), ``multilabel`` keeps every
candidate within ``eps`` of the best.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from fusionbench.metrics.routing_tradeoffs import ALL as ALL  # the statistics key of every cell (re-exported)
from fusionbench.metrics.routing_tradeoffs import TIE_TOL, best_choices, minmax_stats, tradeoff_reward

Normalize = Literal["train", "split", "none"]
LabelMode = Literal["auto", "argmax_cheapest", "argmax_first", "multilabel"]
_PRESETS: dict[str, tuple[float, float]] = {
    "performance_first": (1.0, 0.0),
    "balance": (0.5, 0.5),
    "cost_first": (0.2, 0.8),
}


@dataclass(frozen=True)
class Tradeoff:
    """``perf_weight · norm(P) - cost_weight · norm(C)`` on the ``objective`` (see the module docstring).

    ``ties`` is how labels and routes break exact ties: ``"cheapest"`` or ``"first"`` (row order, the
    release). ``stats`` holds the fitted min-max statistics (``{task: (p_min, p_span, c_min, c_span)}``).
    """

    name: str = "performance_first"
    perf_weight: float = 1.0
    cost_weight: float = 0.0
    objective: Literal["performance", "judge"] = "performance"
    normalize: Normalize = "train"
    ties: Literal["cheapest", "first"] = "cheapest"
    stats: dict[str, tuple[float, float, float, float]] | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str, protocol: Literal["fusionbench", "fusionfactory"] = "fusionbench") -> Tradeoff:
        """One of the release's settings by name; ``protocol="fusionfactory"`` reproduces its normalisation."""
        if protocol not in ("fusionbench", "fusionfactory"):
            raise ValueError(f"protocol must be 'fusionbench' or 'fusionfactory', not {protocol!r}")
        replication = {"normalize": "split", "ties": "first"} if protocol == "fusionfactory" else {}
        if name == "llm_judge":
            return cls("llm_judge", 1.0, 0.0, "judge", "none", **({"ties": "first"} if replication else {}))
        if name not in _PRESETS:
            known = [*_PRESETS, "llm_judge", "carrot:<lam>"]
            raise ValueError(f"unknown trade-off {name!r}; known: {known}")
        a, b = _PRESETS[name]
        return cls(name, a, b, **replication)

    @classmethod
    def performance_first(cls, protocol: Literal["fusionbench", "fusionfactory"] = "fusionbench") -> Tradeoff:
        """The performance-first preset of the given protocol."""
        return cls.preset("performance_first", protocol)

    @classmethod
    def balance(cls, protocol: Literal["fusionbench", "fusionfactory"] = "fusionbench") -> Tradeoff:
        """The balanced preset of the given protocol."""
        return cls.preset("balance", protocol)

    @classmethod
    def cost_first(cls, protocol: Literal["fusionbench", "fusionfactory"] = "fusionbench") -> Tradeoff:
        """The cost-first preset of the given protocol."""
        return cls.preset("cost_first", protocol)

    @classmethod
    def llm_judge(cls, protocol: Literal["fusionbench", "fusionfactory"] = "fusionbench") -> Tradeoff:
        """The LLM-judge preset of the given protocol (judge score instead of performance)."""
        return cls.preset("llm_judge", protocol)

    @classmethod
    def carrot(cls, lam: float, scale: float = 1.0) -> Tradeoff:
        """CARROT's ``(1 - λ)·P - λ·scale·C`` on raw values; λ in [0, 1] (0 = performance only, 1 = cost only)."""
        if not 0.0 <= float(lam) <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], not {lam}")
        return cls(f"carrot:{float(lam):g}", 1.0 - float(lam), float(lam) * float(scale), "performance", "none")

    @classmethod
    def parse(cls, spec: Tradeoff | str | dict[str, Any]) -> Tradeoff:
        """A Tradeoff from itself, a preset name, ``"carrot:<lam>"``, ``"fusionfactory:<preset>"`` or a dict."""
        if isinstance(spec, Tradeoff):
            return spec
        if isinstance(spec, dict):
            values = dict(spec)
            stats = values.pop("stats", None)
            made = cls(**values)
            return made if stats is None else replace(made, stats={k: tuple(v) for k, v in stats.items()})
        if not isinstance(spec, str):
            raise TypeError(f"a trade-off is a Tradeoff, a name or a dict, not {type(spec).__name__}")
        if spec.startswith("carrot:"):
            return cls.carrot(float(spec.split(":", 1)[1]))
        if spec.startswith("fusionfactory:"):
            return cls.preset(spec.split(":", 1)[1], "fusionfactory")
        return cls.preset(spec)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the fitted statistics included)."""
        out = asdict(self)
        out["stats"] = None if self.stats is None else {k: list(v) for k, v in self.stats.items()}
        return out

    # ------------------------------------------------------------ use
    @property
    def uses_cost(self) -> bool:
        """Whether the reward has a cost term (a non-zero cost weight)."""
        return self.cost_weight != 0.0

    def fit(self, performance: np.ndarray, cost: np.ndarray | None, tasks: np.ndarray | None = None) -> Tradeoff:
        """A copy with training min-max statistics (over all cells, and per task when tasks are given)."""
        return replace(self, stats=minmax_stats(performance, cost, tasks))

    def reward(
        self, performance: np.ndarray, cost: np.ndarray | None = None, tasks: np.ndarray | None = None
    ) -> np.ndarray:
        """``[n, k]`` reward of every candidate; ``cost`` is required when the trade-off weighs it."""
        perf = np.asarray(performance, dtype=np.float64)
        if self.uses_cost:
            if cost is None:
                raise ValueError(f"trade-off {self.name!r} weighs cost, but no cost was given (cost=None)")
            cst = np.asarray(cost, dtype=np.float64)
            if np.isnan(cst).any():
                raise ValueError(f"cost has {int(np.isnan(cst).sum())} NaN cells; a missing cost is never 0")
        else:
            cst = np.zeros_like(perf)
        if self.normalize == "none":
            return self.perf_weight * perf - self.cost_weight * cst
        if self.normalize != "split" and self.stats is None:
            raise ValueError(f"trade-off {self.name!r} normalises with training statistics: fit it first")
        stats = None if self.normalize == "split" else self.stats  # None: these arrays' own statistics
        return tradeoff_reward(perf, cst, self.perf_weight, self.cost_weight, tasks=tasks, stats=stats)


def resolve_labels(labels: LabelMode, tradeoff: Tradeoff) -> str:
    """``"auto"`` is ``argmax_first`` under the release protocol (``ties="first"``), else ``argmax_cheapest``."""
    if labels not in ("auto", "argmax_cheapest", "argmax_first", "multilabel"):
        raise ValueError(f"labels must be auto, argmax_cheapest, argmax_first or multilabel, not {labels!r}")
    if labels == "auto":
        return "argmax_first" if tradeoff.ties == "first" else "argmax_cheapest"
    return labels


def argmax_cheapest(values: np.ndarray, cost: np.ndarray | None, tol: float = TIE_TOL) -> np.ndarray:
    """Row-wise argmax; ties (within ``tol``) go to the lowest ``cost``, then to the first (no cost: the first)."""
    return best_choices(values, cost, tol)


def labels_from(
    reward: np.ndarray, cost: np.ndarray | None, mode: str = "argmax_cheapest", eps: float = TIE_TOL
) -> np.ndarray:
    """``[n, k]`` 0/1 label matrix of the reward: one-hot argmax (by ``mode``) or every candidate near the best."""
    reward = np.asarray(reward, dtype=np.float64)
    if mode == "multilabel":
        return (reward >= reward.max(axis=1, keepdims=True) - eps).astype(np.float64)
    if mode == "argmax_first":
        picks = reward.argmax(axis=1)
    elif mode == "argmax_cheapest":
        picks = argmax_cheapest(reward, cost, eps)
    else:
        raise ValueError(f"label mode must be argmax_cheapest, argmax_first or multilabel, not {mode!r}")
    onehot = np.zeros_like(reward)
    onehot[np.arange(len(picks)), picks] = 1.0
    return onehot
