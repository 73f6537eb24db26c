"""Tiny FusionBench: a few anchor queries that stand for a whole benchmark, and the estimate of a new model's
per-task and overall accuracy from its answers on them.

``build_tiny(data, total=100)`` fits the item model (:mod:`fusionbench.fusion.irt`) on the source candidates, picks
the anchors (:mod:`.select`) from one split (never the one being estimated), and returns a :class:`TinySet`.
``TinySet.estimate({query_id: score})`` gives a :class:`TinyEstimate`. Estimators:

* ``mean``: the anchors' weighted mean per task (stratified sampling; k-means anchors weigh by cluster size);
* ``irt``: the new model's ability fitted on its anchor answers (item parameters fixed), every query predicted;
* ``pirt``: the anchors' own scores where answered, the IRT prediction elsewhere (tinyBenchmarks' p-IRT);
* ``gpirt``: per task ``lam * mean + (1 - lam) * pirt`` with ``lam = mse(pirt) / (mse(pirt) + mse(mean))``, both
  squared errors measured at build time by leaving source models out in turn and drawing anchors as the tiny set
  does (train data only; tinyBenchmarks' gp-IRT).

Answers that no finite ability fits (every answered anchor wrong, or every one right) whose ability, shrunk by the
prior, still lies below (above) every source model's are estimated at their own level, 0 (1) on every task, the
limit of the item model's estimate as the ability falls (rises) without bound, and flagged an extrapolation: how far
outside the population the model lies, only the answers can say (an all-wrong model was once put at 89 % on a task
without anchors, whose one item every source model answered right). Inside the sources' range the item model's
estimate stands: leave one model out at 10 anchors, weak models that miss every anchor are estimated better by it.

The interval is a percentile bootstrap over the anchors (resampled within tasks, the ability refitted each time).
``interpolation`` says whether the new model's ability lies inside the source models' range and its answers fit the
item model (a standardised person-fit statistic ``l_z`` above -2.5); otherwise the estimate is an extrapolation
(None for the plain-mean methods, which keep no item model to judge by).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fusionbench.fusion.irt.model import ItemModel, ability_prior, fit_ability, fit_irt, predict_items
from fusionbench.fusion.tiny import DEFAULT_METHOD
from fusionbench.fusion.tiny.select import (
    METHODS,
    NEEDS_ITEM_MODEL,
    allocate,
    integrated_information,
    item_embedding,
    most_informative,
    select,
)

#: the item model tiny sets fit unless told otherwise
IRT_OPTIONS: dict[str, Any] = {"kind": "2pl", "dims": 1, "task_effects": True}
_TEST_SPLITS = ("test", "partial_test")


@dataclass(frozen=True)
class TinyEstimate:
    """``overall`` (mean over tasks), ``per_task``, ``interval`` (95 % for overall), per-task intervals, and
    whether the estimate is an ``interpolation`` (``flags`` say why not)."""

    overall: float
    per_task: dict[str, float]
    interval: tuple[float, float]
    per_task_interval: dict[str, tuple[float, float]]
    method: str
    n_answered: int
    n_anchors: int
    interpolation: bool | None
    flags: tuple[str, ...] = ()
    ability: float | None = None
    person_fit: float | None = None
    ignored: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready data."""
        return {
            "overall": self.overall,
            "interval": list(self.interval),
            "per_task": self.per_task,
            "per_task_interval": {t: list(v) for t, v in self.per_task_interval.items()},
            "method": self.method,
            "n_answered": self.n_answered,
            "n_anchors": self.n_anchors,
            "interpolation": self.interpolation,
            "flags": list(self.flags),
            "ability": self.ability,
            "person_fit": self.person_fit,
            "ignored_scores": self.ignored,
        }


@dataclass(frozen=True, eq=False)
class TinySet:
    """Anchors (``query_ids``, their ``tasks`` and ``weights``: the share of its task each stands for), the
    population they stand for (``population_ids``, ``population_tasks``), the ``item_model`` fitted on it (None for
    the plain-mean methods), the per-task weight of the anchors' mean in ``gpirt`` (``task_lambda``) and ``info``
    (how it was built)."""

    query_ids: tuple[str, ...]
    tasks: tuple[str, ...]
    weights: np.ndarray
    method: str
    population_ids: tuple[str, ...]
    population_tasks: np.ndarray
    item_model: ItemModel | None = None
    task_lambda: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def estimator(self) -> str:
        """The estimator of this set's method (mean, IRT, p-IRT or gp-IRT)."""
        return METHODS[self.method][1]

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks of the anchor population, in first-seen order."""
        return tuple(dict.fromkeys(str(t) for t in self.population_tasks))

    def __len__(self) -> int:
        return len(self.query_ids)

    def save(self, folder: Any) -> Any:
        """Write the set into ``folder`` (see :mod:`fusionbench.fusion.tiny.persist`); returns the folder."""
        from fusionbench.fusion.tiny.persist import save_tiny

        return save_tiny(self, folder)

    def predicted_correctness(self, scores: Mapping[str, float]) -> dict[str, float]:
        """Predicted per-query correctness of a new model over the whole population from its anchor ``scores``
        (the item model's prediction; the routers' cold start reads this)."""
        if self.item_model is None:
            raise ValueError(f"method {self.method!r} keeps no item model; build with an IRT method")
        from fusionbench.fusion.irt.model import predict_new_subject

        return predict_new_subject(self.item_model, {k: v for k, v in scores.items() if k in set(self.query_ids)})

    def next_item(self, answers: Mapping[str, float]) -> str | None:
        """Sequential (Fluid-Benchmarking-style) adaptive testing over the anchors: the unanswered anchor of most
        Fisher information ``|a|^2 p (1 - p)`` at the ability fitted on ``answers`` ({query_id: score}; the source
        models' mean ability before any answer); None when every anchor is answered."""
        if self.item_model is None:
            raise ValueError(f"method {self.method!r} keeps no item model; build with an IRT method")
        model, positions = self.item_model, self._anchor_positions()
        answered = [i for i, q in enumerate(self.query_ids) if answers.get(q) is not None]
        y = np.array([float(answers[self.query_ids[i]]) for i in answered])
        ability = fit_ability(model, positions[answered], y, prior=self._prior())  # no answers: the prior mean
        p = predict_items(model, ability, positions)
        information = np.sum(model.a[positions] ** 2, axis=1) * p * (1 - p)
        left = np.setdiff1d(np.arange(len(positions)), answered)
        pick = most_informative(information, left)
        return None if pick is None else self.query_ids[pick]

    def estimate(
        self, scores: Mapping[str, float], *, n_boot: int = 200, seed: int = 0, confidence: float = 0.95
    ) -> TinyEstimate:
        """Per-task and overall accuracy of a new model from its ``scores`` ({query_id: score in [0, 1]}) on the
        anchors; scores of other queries are ignored (counted)."""
        anchor_at = {q: i for i, q in enumerate(self.query_ids)}
        answered, values = [], []
        for key, value in scores.items():
            i = anchor_at.get(str(key))
            if i is not None and value is not None and not np.isnan(float(value)):
                if not 0.0 <= float(value) <= 1.0:
                    raise ValueError(f"score of {key!r} is {value}, outside [0, 1]")
                answered.append(i)
                values.append(float(value))
        if not answered:
            raise ValueError(f"none of the {len(scores)} scores is for an anchor of this tiny set "
                             f"(anchors e.g. {list(self.query_ids[:3])})")  # fmt: skip
        idx, y = np.array(answered), np.array(values)
        ignored = len(scores) - len(answered)
        point, ability = self._point(idx, y)
        boots = self._bootstrap(idx, y, n_boot, seed)
        alpha = (1 - confidence) / 2
        overall = float(np.mean(list(point.values())))

        def ci(values: np.ndarray) -> tuple[float, float]:
            if len(values) == 0:
                return (float("nan"), float("nan"))
            return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))

        per_task_ci = {t: ci(boots[:, k]) for k, t in enumerate(point)} if len(boots) else {}
        overall_ci = ci(boots.mean(axis=1)) if len(boots) else (float("nan"), float("nan"))
        flags, theta, fit = self._plausibility(idx, y, ability)
        judged = None if self.item_model is None else not flags  # the plain means have no model to judge by
        return TinyEstimate(overall, point, overall_ci, per_task_ci, self.method, len(idx), len(self.query_ids),
                            judged, tuple(flags), theta, fit, ignored)  # fmt: skip

    # ---- estimators ---------------------------------------------------------------------------------
    def _point(self, idx: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], Any]:
        """{task: estimate} from the answered anchors ``idx`` (indices into the anchors) and their scores."""
        codes, sizes, anchor_codes = self._codes()
        n_tasks = len(sizes)
        a_codes, w = anchor_codes[idx], self.weights[idx]
        wsum = np.bincount(a_codes, weights=w, minlength=n_tasks)
        overall_mean = float(np.average(y, weights=w)) if w.sum() > 0 else float(y.mean())
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.bincount(a_codes, weights=w * y, minlength=n_tasks) / wsum
        means = np.where(wsum > 0, means, np.nan)
        names = self.task_names
        if self.estimator == "mean" or self.item_model is None:
            return {t: float(overall_mean if np.isnan(v) else v) for t, v in zip(names, means, strict=True)}, None
        anchor_pos = self._anchor_positions()[idx]
        ability = fit_ability(self.item_model, anchor_pos, y, prior=self._prior())
        if self._beyond_sources(y, ability):  # outside the population the item model knows: the answers' level
            return dict.fromkeys(names, float(y[0])), ability
        p = predict_items(self.item_model, ability)
        irt = np.bincount(codes, weights=p, minlength=n_tasks) / sizes
        filled = p.copy()
        filled[anchor_pos] = y
        pirt = np.bincount(codes, weights=filled, minlength=n_tasks) / sizes
        if self.estimator == "irt":
            return dict(zip(names, irt.tolist(), strict=True)), ability
        if self.estimator == "pirt":
            return dict(zip(names, pirt.tolist(), strict=True)), ability
        lam = np.array([self.task_lambda.get(t, self.task_lambda.get("*", 0.5)) for t in names])
        mixed = np.where(np.isnan(means), pirt, lam * np.nan_to_num(means) + (1 - lam) * pirt)
        return dict(zip(names, mixed.tolist(), strict=True)), ability

    def _beyond_sources(self, y: np.ndarray, ability: Any) -> bool:
        """True when no finite ability fits the answers (all 0, or all 1) and even the prior-shrunk ability lies
        below (above) every source model's: how far outside, only the answers can say."""
        source = self.item_model.theta[:, 0]
        theta = float(ability.theta[0])
        return bool((np.all(y <= 0.0) and theta < source.min()) or (np.all(y >= 1.0) and theta > source.max()))

    def _codes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(task code per population item, items per task, task code per anchor), computed once."""
        cached = self.info.get("_codes")
        if cached is None:
            lookup = {t: k for k, t in enumerate(self.task_names)}
            codes = np.array([lookup[str(t)] for t in self.population_tasks], dtype=np.int64)
            anchors = np.array([lookup[str(t)] for t in self.tasks], dtype=np.int64)
            cached = (codes, np.bincount(codes, minlength=len(lookup)).astype(float), anchors)
            self.info["_codes"] = cached
        return cached

    def _anchor_positions(self) -> np.ndarray:
        cached = self.info.get("_anchor_positions")
        if cached is None:
            lookup = {q: j for j, q in enumerate(self.population_ids)}
            cached = np.array([lookup[q] for q in self.query_ids], dtype=np.int64)
            self.info["_anchor_positions"] = cached
        return cached

    def _prior(self) -> Any:
        cached = self.info.get("_prior")
        if cached is None and self.item_model is not None:
            mean, cov, tau = ability_prior(self.item_model)
            cached = (mean, cov + np.eye(len(mean)) * 0.5, tau)  # widened: a new model may lie outside the sources
            self.info["_prior"] = cached
        return cached

    def _bootstrap(self, idx: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
        """[n_boot, n_tasks] estimates with the answered anchors resampled within their tasks."""
        if n_boot <= 0:
            return np.empty((0, len(self.task_names)))
        rng = np.random.default_rng(seed)
        tasks = np.asarray(self.tasks)[idx]
        groups = [np.flatnonzero(tasks == t) for t in dict.fromkeys(tasks.tolist())]
        out = np.empty((n_boot, len(self.task_names)))
        for r in range(n_boot):
            pick = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
            point, _ = self._point(idx[pick], y[pick])
            out[r] = list(point.values())
        return out

    def _plausibility(self, idx: np.ndarray, y: np.ndarray, ability: Any) -> tuple[list[str], Any, Any]:
        """Flags (empty: an interpolation), the ability and the person-fit statistic l_z."""
        model = self.item_model
        if model is None:
            return [], None, None
        if ability is None:
            ability = fit_ability(model, self._anchor_positions()[idx], y, prior=self._prior())
        p = np.clip(predict_items(model, ability, self._anchor_positions()[idx]), 1e-6, 1 - 1e-6)
        l0 = np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
        expected = np.sum(p * np.log(p) + (1 - p) * np.log(1 - p))
        variance = np.sum(p * (1 - p) * np.log(p / (1 - p)) ** 2)
        lz = float((l0 - expected) / np.sqrt(variance)) if variance > 0 else 0.0
        theta = float(ability.theta[0])
        low, high = float(model.theta[:, 0].min()), float(model.theta[:, 0].max())
        margin = 0.25 * (high - low) if high > low else 0.5
        flags = []
        if not low - margin <= theta <= high + margin:
            flags.append(
                f"ability {theta:.2f} outside the source models' range [{low:.2f}, {high:.2f}] (extrapolation)"
            )
        if lz < -2.5:
            flags.append(f"answers fit the item model poorly (person fit l_z = {lz:.2f} < -2.5)")
        if self._beyond_sources(y, ability):
            flags.append(f"every answered anchor scored {y[0]:g} and the ability lies beyond every source model's: "
                         "estimated at the answers' own level (extrapolation)")  # fmt: skip
        return flags, theta, lz


# ---------------------------------------------------------------------------------------------- building
def population(data: Any, split: str | None) -> Any:
    """The rows anchors may come from: ``split`` of the data (default train when the data has splits). The split
    being estimated (test) is refused."""
    if split is not None and split.lower() in _TEST_SPLITS:
        raise ValueError(f"anchors are never chosen from the split being estimated ({split!r}); use the train split")
    if data.splits is None:
        return data
    chosen = split or "train"
    part = data.split(chosen)
    if part.n_queries == 0:
        raise ValueError(f"{data.source}: no queries in split {chosen!r}")
    return part


def task_lambda(
    data: Any,
    model_names: list[str],
    options: dict[str, Any],
    how: str,
    counts: dict[str, int],
    *,
    draws: int = 5,
    seed: int = 0,
    total: int | None = None,
) -> dict[str, float]:
    """Per task, the weight of the anchors' mean against p-IRT: each of ``model_names`` is left out of the item model
    in turn, anchors are drawn ``draws`` times as the tiny set draws them (``how``, ``counts``), and both estimators'
    squared errors against the left-out model's true per-task accuracy are averaged;
    ``lam = mse(pirt) / (mse(pirt) + mse(mean))``."""
    sq: dict[str, list[tuple[float, float]]] = {}
    ids = tuple(str(q) for q in data.query_ids)
    tasks = np.asarray(data.tasks).astype(str)
    names = tuple(dict.fromkeys(tasks.tolist()))
    for name in model_names:
        model = fit_irt(data.without_candidates([name]), **options)
        emb = item_embedding(model) if how == "kmeans" else None
        for draw in range(draws):
            positions, weights = select(how, tasks, counts, seed=seed + 7919 * (draw + 1), item_embedding=emb,
                                        total=total)  # fmt: skip
            anchor_ids = tuple(ids[p] for p in positions)
            mean_set = TinySet(anchor_ids, tuple(tasks[positions].tolist()), weights, "stratified", ids,
                               tasks.astype(object), model)  # fmt: skip
            pirt_set = dataclasses.replace(mean_set, method="pirt", info={})
            for j in data._candidate_indices([name]):
                y = data.performance[:, j]
                scores = dict(zip(anchor_ids, y[positions].tolist(), strict=True))
                if not np.isfinite(y[positions]).any():
                    continue
                m = mean_set.estimate(scores, n_boot=0).per_task
                q = pirt_set.estimate(scores, n_boot=0).per_task
                for t in names:
                    seen = (tasks == t) & ~np.isnan(y)
                    if seen.any():
                        v = float(y[seen].mean())
                        sq.setdefault(t, []).append(((m[t] - v) ** 2, (q[t] - v) ** 2))
    out = {}
    for t, pairs in sq.items():
        mse_mean, mse_pirt = np.mean(pairs, axis=0)
        out[t] = float(mse_pirt / (mse_pirt + mse_mean)) if mse_pirt + mse_mean > 0 else 0.5
    out["*"] = float(np.mean(list(out.values()))) if out else 0.5
    return out


def build_tiny(
    data: Any,
    *,
    total: int | None = None,
    per_task: int | None = None,
    method: str = DEFAULT_METHOD,
    seed: int = 0,
    split: str | None = None,
    item_model: ItemModel | None = None,
    irt_options: dict[str, Any] | None = None,
    calibration_models: int = 4,
    lambdas: dict[str, float] | None = None,
) -> TinySet:
    """A :class:`TinySet` of at most ``total`` anchors (or ``per_task`` per task; default 100 in all) chosen by
    ``method`` (:data:`~fusionbench.fusion.tiny.select.METHODS`) from ``split`` of ``data`` (a RoutingData; tasks
    and texts optional). ``item_model``: one already fitted on exactly these rows; ``calibration_models``: how
    many source models ``gpirt`` leaves out in turn to weigh its two estimators (or give ``lambdas``)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; methods: {sorted(METHODS)}")
    if total is None and per_task is None:
        total = 100
    pop = population(data, split)
    ids = tuple(str(q) for q in pop.query_ids)
    if len(set(ids)) != len(ids):
        raise ValueError(f"{data.source}: query ids repeat within the split; choose one split")
    tasks = np.asarray(pop.tasks).astype(str)
    sizes = {t: int((tasks == t).sum()) for t in dict.fromkeys(tasks.tolist())}
    counts = allocate(sizes, total=total, per_task=per_task)
    options = {**IRT_OPTIONS, "seed": seed, **(irt_options or {})}
    model = item_model
    if model is None and method in NEEDS_ITEM_MODEL:
        model = fit_irt(pop, **options)
    if model is not None and len(model.items) != len(ids):
        raise ValueError("the item model was fitted on other rows than the tiny set's population")
    if model is not None:
        model = dataclasses.replace(model, items=ids)  # items named by query id (the keys may carry the split)
    how, estimator = METHODS[method]
    emb = item_embedding(model) if how == "kmeans" else None
    information = integrated_information(model) if how == "fisher" else None
    positions, weights = select(how, tasks, counts, seed=seed, item_embedding=emb, total=total,
                                information=information)  # fmt: skip
    if estimator == "gpirt" and lambdas is None:
        chosen = calibration_set(pop, calibration_models, seed)
        lambdas = task_lambda(pop, chosen, options, how, counts, seed=seed, total=total) if chosen else {"*": 0.5}
    info = {"seed": seed, "split": split or ("train" if data.splits is not None else None), "total": total,
            "per_task": per_task, "source": str(data.source), "candidates": list(pop.candidates),
            "irt_options": options if model is not None else None, "synthetic": bool(data.synthetic)}  # fmt: skip
    anchor_ids = tuple(ids[p] for p in positions)
    return TinySet(anchor_ids, tuple(tasks[positions].tolist()), np.asarray(weights, dtype=np.float64), method, ids,
                   tasks.astype(object), model if estimator != "mean" or how == "kmeans" else None,
                   dict(lambdas or {}), info)  # fmt: skip


def calibration_set(data: Any, count: int, seed: int) -> list[str]:
    """``count`` source models (seeded) that ``gpirt`` leaves out in turn (never all of them)."""
    models = list(dict.fromkeys(data.models))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(models, size=min(count, len(models) - 1), replace=False).tolist())
