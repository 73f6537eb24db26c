"""Cold start: a new candidate enters an already-fitted router at once, from its answers on a few anchor queries,
without refitting the router.

:class:`ColdStartRouter` wraps a fitted router (``base``, e.g. :class:`~fusionbench.fusion.routers.MFRouter`). Its
:meth:`~ColdStartRouter.fit` reads the base's training data (features ``X``, the known candidates' performance
``Y``, the tasks) and fits an item model on it (:mod:`fusionbench.fusion.irt`: 2PL with per-task offsets) with a
feature map from ``X`` to the item parameters, so that a query no model answered gets a difficulty. Then
:meth:`~ColdStartRouter.add_candidate` fits a new candidate's ability on its anchor answers (item parameters
fixed; no answers: the average of the known candidates' probabilities), and the new candidate's predicted
correctness on any query is the item model's probability.

**Same scale.** The item model's probability and the base's estimate are not on one scale (a router's estimates
are shrunk, biased or only a ranking), so they are never compared. Per query, the base chooses among the known
candidates; the new candidate is compared with that choice *inside the item model*: it is routed to only when
``p_new(x) - p_chosen(x) > margin``, both probabilities from the same item model (the feature map's shrinkage of
the item parameters is corrected per subject and task, so that on the training queries the mapped items give the
item model's own per-task mean). :meth:`~ColdStartRouter.predict_performance` reports the new candidate's estimate
on the base's scale: the chosen candidate's estimate plus that difference.

**Margin, chosen on train only** (``margin="auto"``): the training queries are split (per task, seeded) into a
fit part and a validation part; a clone of ``base`` and, for each known candidate ``m``, an item model without
``m`` are fitted on the fit part (the clone is fitted once, with every known candidate; its choice among the
others stands for the choice of a router fitted without ``m``). At :meth:`~ColdStartRouter.add_candidate`, every
known ``m`` plays the new candidate in turn: its ability from its own answers on the same anchors (those in the fit
part), the choice of the clone among the others, and its true gain ``y_m - y_chosen`` on the validation queries
where the rule routes to it.
The margin is the value of :data:`MARGINS` whose simulated mean gain over the ``m`` is highest after taking off
``caution`` standard errors (ties: the larger margin); where no margin gains by that much, none is taken (``inf``:
never routed). With no anchor answers (``k = 0``) nothing is known of the candidate (its prediction would be the
average known one's, and routing to it a bet on the base's mistakes): it is never routed. The same simulation
chooses ``task_margin`` for a task prior's rule (a task goes to the new candidate where its per-task estimate,
:meth:`~ColdStartRouter.task_accuracy`, beats the best known task mean of the fit part by the margin), its gain
measured against the clone's per-query choice (a task prior's residual routes per query too, so the best task
mean alone would overstate the gain).

Scope: the ``performance_first`` trade-off (no cost estimate for the new candidate); an in-memory wrapper (not
saved: refit it from the base's training data and add the candidates again). The per-task accuracy estimate
(:meth:`~ColdStartRouter.task_accuracy`) feeds :meth:`TaskPriorRouter.add_candidate
<fusionbench.fusion.routers.prior.TaskPriorRouter.add_candidate>`, the task prior's way to take a new candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import clone

from fusionbench.fusion.irt.model import ItemModel, fit_ability, fit_feature_map, fit_matrix, items_from_features
from fusionbench.fusion.routers.prior import classify_tasks, fit_task_classifier

#: The item model the cold start fits (2PL, one dimension, per-task offsets: a candidate's skill profile).
IRT_OPTIONS: dict[str, Any] = {"kind": "2pl", "dims": 1, "task_effects": True}
#: The margins ``margin="auto"`` chooses from (in probability of a correct answer).
MARGINS: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
#: The widest feature matrix the item model's feature map takes (a ridge on dense standardised features).
MAX_FEATURES = 4096


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


def task_shifts(model: ItemModel, mapped: np.ndarray, theta: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``[S, T]`` logit shift per subject and task that makes the mean probability over the training items of each
    task under the feature-mapped item parameters (``mapped`` = ``(a, b)`` of the training items from their
    features) equal the item model's own, for subjects of ``theta`` ``[S, dims]`` and ``delta`` ``[S, T]``."""
    a_map, b_map = mapped
    task = model.task_index()
    onehot = np.zeros((len(task), len(model.tasks)))
    onehot[np.arange(len(task)), task] = 1.0
    counts = np.maximum(onehot.sum(axis=0), 1.0)
    goal = expit(theta @ model.a.T + model.b + delta[:, task]) @ onehot / counts
    z = theta @ a_map.T + b_map + delta[:, task]
    low, high = np.full(goal.shape, -10.0), np.full(goal.shape, 10.0)
    for _ in range(50):  # bisection, every (subject, task) at once: the mean of expit(z + s) rises with s
        mid = (low + high) / 2
        below = expit(z + mid[:, task]) @ onehot / counts < goal
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    return (low + high) / 2


def choose_margin(gains: Mapping[float, tuple[float, float]], caution: float = 1.0) -> float:
    """The margin of the highest lower bound ``mean - caution * se`` of the simulated gain (``gains``: margin ->
    (mean gain, its standard error)); ties: the larger margin; ``inf`` (never route) when no bound is above 0."""
    bound = {g: mean - caution * se for g, (mean, se) in gains.items()}
    best = max(bound.values())
    return max(g for g, v in bound.items() if v == best) if best > 0 else float("inf")


@dataclass
class _Items:
    """An item model with its feature map, the mapped parameters of its training items and the known subjects'
    per-task shifts."""

    model: ItemModel
    mapped: tuple[np.ndarray, np.ndarray]
    shift: np.ndarray  # [S, T]
    task_at: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, Y: np.ndarray, subjects: Sequence[str], keys: Sequence[str], tasks: np.ndarray,
            features: np.ndarray, options: Mapping[str, Any]) -> _Items:  # fmt: skip
        model = fit_matrix(Y.T, subjects=subjects, items=keys, item_tasks=tasks, **options)
        model = fit_feature_map(model, features)
        mapped = items_from_features(model, features)
        shift = task_shifts(model, mapped, model.theta, model.delta)
        return cls(model, mapped, shift, {t: i for i, t in enumerate(model.tasks)})

    def ability(self, answers: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(theta, delta, shift) of a subject from its answers {item id: score}; None without answers."""
        model = self.model
        if not answers:
            return None
        fitted = fit_ability(model, model.item_positions(list(answers)), np.array(list(answers.values())))
        shift = task_shifts(model, self.mapped, fitted.theta[None, :], fitted.delta[None, :])[0]
        return fitted.theta, fitted.delta, shift

    def subject(self, features: np.ndarray, tasks: np.ndarray, ability: Any) -> np.ndarray:
        """``[n]`` P(correct) of one subject of ``ability`` (:meth:`ability`); None (nothing known): the mean of the
        known subjects' probabilities, the average known candidate (not the prediction of the mean ability, which
        the link's curvature lifts above the average on easy items)."""
        if ability is None:
            return self.probabilities(features, tasks, self.model.theta, self.model.delta, self.shift).mean(axis=0)
        theta, delta, shift = ability
        return self.probabilities(features, tasks, theta[None], delta[None], shift[None])[0]

    def task_accuracy(self, ability: Any, answers: Mapping[str, float]) -> np.ndarray:
        """``[T]`` (in ``model.tasks`` order) a subject's mean probability over the training items of each task, its
        own answer where it answered (tinyBenchmarks' p-IRT); None: the known subjects' mean."""
        model = self.model
        if ability is None:
            p = model.probabilities().mean(axis=0)
        else:
            theta, delta, _ = ability
            p = expit(model.a @ theta + model.b + delta[model.task_index()])
            p[model.item_positions(list(answers))] = list(answers.values())
        task = model.task_index()
        return np.bincount(task, weights=p, minlength=len(model.tasks)) / np.bincount(task, minlength=len(model.tasks))

    def probabilities(self, features: np.ndarray, tasks: np.ndarray, theta: np.ndarray, delta: np.ndarray,
                      shift: np.ndarray) -> np.ndarray:  # fmt: skip
        """``[S, n]`` P(correct) of subjects (``theta`` ``[S, dims]``, ``delta``, ``shift`` ``[S, T]``) on queries
        of ``features``; a task the item model does not know takes no offset."""
        a, b = items_from_features(self.model, features)
        at = np.array([self.task_at.get(str(t), -1) for t in tasks], dtype=np.int64)
        offset = np.hstack([delta + shift, np.zeros((len(theta), 1))])[:, at]
        return expit(theta @ a.T + b + offset)


@dataclass
class NewCandidate:
    """A candidate added by :meth:`ColdStartRouter.add_candidate`: its ability, the answers it was fitted on, its
    routing ``margin`` and, under ``margin="auto"``, the simulated gain per margin (``margin_gains``: margin ->
    (mean over the known candidates of their gain on the validation queries, its standard error)); ``task_margin``
    and ``task_margin_gains``: the same for the task-level rule of a task prior (route a task to it where its
    per-task estimate beats the best known task mean by the margin)."""

    name: str
    answers: dict[str, float]
    ability: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (theta, delta, shift); None: nothing known
    margin: float
    margin_gains: dict[float, tuple[float, float]] = field(default_factory=dict)
    task_margin: float = float("inf")
    task_margin_gains: dict[float, tuple[float, float]] = field(default_factory=dict)


class ColdStartRouter:
    """A fitted router plus new candidates profiled on anchor answers, routed on the same-scale rule of the module
    docstring; nothing of ``base`` is refitted.

    ``base``: a fitted router (``candidates_``, ``predict_performance(X, tasks=)``; for ``margin="auto"`` it
    must also be cloneable and fit like the routers). ``margin``: ``"auto"`` (chosen on train, see the module
    docstring) or a number. ``validation_size``: the share of training queries of the margin's simulation;
    ``caution``: how many standard errors the simulated gain must clear (:func:`choose_margin`).
    ``test_tasks``: ``"predicted"`` (default: the query's task, which selects the item model's per-task offsets, is
    classified from the features, never read) or ``"given"``. ``irt_options``: :class:`IRTConfig` fields.
    """

    def __init__(
        self,
        base: Any,
        *,
        margin: float | str = "auto",
        validation_size: float = 0.25,
        caution: float = 1.0,
        test_tasks: str = "predicted",
        irt_options: Mapping[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        if margin != "auto" and not (isinstance(margin, (int, float)) and margin >= 0):
            raise ValueError(f"margin must be 'auto' or a number >= 0, not {margin!r}")
        if test_tasks not in ("predicted", "given"):
            raise ValueError(f"test_tasks must be 'predicted' or 'given', not {test_tasks!r}")
        if not 0 < validation_size < 1:
            raise ValueError(f"validation_size must lie in (0, 1), not {validation_size!r}")
        if not caution >= 0:
            raise ValueError(f"caution must be a number >= 0, not {caution!r}")
        self.base = base
        self.margin = margin
        self.validation_size = validation_size
        self.caution = caution
        self.test_tasks = test_tasks
        self.irt_options = dict(IRT_OPTIONS if irt_options is None else irt_options)
        self.random_state = random_state
        self.new_: dict[str, NewCandidate] = {}

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, Y: Any, *, tasks: Sequence[str], keys: Sequence[str] | None = None) -> ColdStartRouter:
        """Fit the item model (and, under ``margin="auto"``, the margin's simulation) on ``base``'s training data:
        features ``X`` ``[n, d]``, performance ``Y`` ``[n, k]`` of ``base.candidates_`` (in that order, in [0, 1],
        no NaN), ``tasks`` ``[n]``; ``keys``: the query ids that anchor answers name (default ``"0"..``)."""
        self.known_ = [str(c) for c in self.base.candidates_]
        features, perf = _dense(X), np.asarray(Y, dtype=np.float64)
        n = features.shape[0]
        if features.shape[1] > MAX_FEATURES:
            raise ValueError(f"X has {features.shape[1]} features; the item model's feature map takes at most "
                             f"{MAX_FEATURES} (e.g. tfidf:256)")  # fmt: skip
        if perf.shape != (n, len(self.known_)):
            raise ValueError(f"Y has shape {perf.shape}; expected ({n}, {len(self.known_)}): the base's candidates")
        if np.isnan(perf).any():
            row, col = np.argwhere(np.isnan(perf))[0]
            raise ValueError(f"Y has NaN cells (first: row {row}, candidate {self.known_[col]!r})")
        task_array = np.asarray([str(t) for t in tasks], dtype=object)
        key_array = [str(k) for k in (range(n) if keys is None else keys)]
        if len(task_array) != n or len(key_array) != n:
            raise ValueError(f"{len(task_array)} tasks and {len(key_array)} keys for {n} queries")
        if len(set(key_array)) != n:
            raise ValueError("keys repeat: each training query needs its own id")
        self.classifier_ = fit_task_classifier(features, task_array)
        self.items_ = _Items.fit(perf, self.known_, key_array, task_array, features, self.irt_options)
        self.new_ = {}
        self.simulation_ = None
        if self.margin == "auto":
            self.simulation_ = self._simulation(X, features, perf, task_array, key_array)
        return self

    def _simulation(self, X: Any, features: np.ndarray, perf: np.ndarray, tasks: np.ndarray,
                    keys: list[str]) -> dict[str, Any]:  # fmt: skip
        rng = np.random.default_rng(self.random_state)
        val = np.zeros(len(tasks), dtype=bool)
        for task in np.unique(tasks):
            rows = rng.permutation(np.flatnonzero(tasks == task))
            val[rows[: round(self.validation_size * len(rows))]] = True
        fit_rows, val_rows = np.flatnonzero(~val), np.flatnonzero(val)
        if len(val_rows) < 2 or len(fit_rows) == 0 or len(self.known_) < 2:
            raise ValueError("too few training queries or known candidates (2) to choose the margin; pass margin=")
        base = clone(self.base).fit(X[fit_rows], perf[fit_rows], tasks=tasks[fit_rows], candidates=self.known_)
        estimate = np.asarray(base.predict_performance(X[val_rows], tasks=tasks[val_rows]), dtype=np.float64)
        val_tasks = self._tasks(features[val_rows], tasks[val_rows])
        fit_keys = [keys[i] for i in fit_rows]
        per_known = []
        for m in range(len(self.known_)):
            others = [j for j in range(len(self.known_)) if j != m]
            items = _Items.fit(perf[fit_rows][:, others], [self.known_[j] for j in others], fit_keys, tasks[fit_rows],
                               features[fit_rows], self.irt_options)  # fmt: skip
            model = items.model
            p_others = items.probabilities(features[val_rows], val_tasks, model.theta, model.delta, items.shift)
            per_known.append({"items": items, "others": others, "p_others": p_others})
        names = per_known[0]["items"].model.tasks  # every item model of the fit part orders the tasks alike
        fit_tasks = tasks[fit_rows]
        task_means = np.stack([perf[fit_rows][fit_tasks == t].mean(axis=0) for t in names])
        val_task_at = np.array([names.index(t) if t in names else len(names) for t in val_tasks])
        return {"keys": keys, "fit_keys": set(fit_keys), "key_row": {k: i for i, k in enumerate(keys)}, "perf": perf,
                "val_rows": val_rows, "val_features": features[val_rows], "val_tasks": val_tasks,
                "estimate": estimate, "per_known": per_known, "task_means": task_means,
                "val_task_at": val_task_at}  # fmt: skip

    def _tasks(self, features: np.ndarray, tasks: Any) -> np.ndarray:
        if self.test_tasks == "given" and tasks is not None:
            return np.asarray([str(t) for t in tasks], dtype=object)
        c = self.classifier_
        return classify_tasks(features, c["coef"], c["intercept"], c["classes"])

    # ------------------------------------------------------------------ new candidates
    def add_candidate(self, name: str, answers: Mapping[str, float]) -> NewCandidate:
        """Add a new candidate from its ``answers`` ({training query key: score in [0, 1]}; empty: nothing known,
        the average known candidate, essentially never routed); returns it (also in ``new_``)."""
        if not hasattr(self, "items_"):
            raise ValueError("ColdStartRouter is not fitted: call fit(X, Y, tasks=...) first")
        if name in self.known_ or name in self.new_:
            raise ValueError(f"candidate {name!r} is already in the router")
        given = {str(k): float(v) for k, v in answers.items()}
        bad = [k for k, v in given.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"{len(bad)} answers of {name!r} lie outside [0, 1] (or are NaN), e.g. {bad[:3]}")
        unknown = [k for k in given if k not in set(self.items_.model.items)]
        if unknown:
            raise KeyError(f"{len(unknown)} answers of {name!r} are for queries the router was not fitted on, "
                           f"e.g. {unknown[:3]}")  # fmt: skip
        ability = self.items_.ability(given)
        gains: dict[str, dict[float, tuple[float, float]]] = {"query": {}, "task": {}}
        if self.margin == "auto" and given:
            gains = self._simulated_gains(list(given))
            margin, task_margin = (choose_margin(gains[rule], self.caution) for rule in ("query", "task"))
        elif self.margin == "auto":  # nothing known: a bet on the base's mistakes, not on the candidate
            margin = task_margin = float("inf")
        else:
            margin = task_margin = float(self.margin)
        self.new_[name] = NewCandidate(name, given, ability, margin, gains["query"], task_margin, gains["task"])
        return self.new_[name]

    def remove_candidate(self, name: str) -> None:
        """Take a new candidate out again (a known one cannot be: refit the base without it)."""
        if name not in self.new_:
            raise KeyError(f"{name!r} is not a new candidate of this router; new: {list(self.new_)}")
        del self.new_[name]

    def _simulated_gains(self, anchors: list[str]) -> dict[str, dict[float, tuple[float, float]]]:
        """Per rule (``"query"``: the router's, ``"task"``: a task prior's), margin -> (mean over the known
        candidates, each playing the new one with its own answers on the anchors of the fit part, of its mean gain
        over the validation queries; its standard error over the queries)."""
        sim = self.simulation_
        rows = [sim["key_row"][k] for k in anchors if k in sim["fit_keys"]]
        perf, val_perf = sim["perf"], sim["perf"][sim["val_rows"]]
        n_val = len(sim["val_rows"])
        query = np.zeros((len(self.known_), len(MARGINS), n_val))
        task = np.zeros_like(query)
        for m, entry in enumerate(sim["per_known"]):
            items, others = entry["items"], np.asarray(entry["others"])
            answers = {sim["keys"][r]: float(perf[r, m]) for r in rows}
            ability = items.ability(answers)
            p_m = items.subject(sim["val_features"], sim["val_tasks"], ability)
            pick = np.argmax(sim["estimate"][:, others], axis=1)  # the clone's choice among the others
            gain = val_perf[:, m] - val_perf[np.arange(n_val), others[pick]]
            diff = p_m - entry["p_others"][pick, np.arange(n_val)]
            query[m] = [gain * (diff > g) for g in MARGINS]
            best = sim["task_means"][:, others].max(axis=1)  # the best known task mean on the fit part
            lead = np.append(items.task_accuracy(ability, answers) - best, -np.inf)[sim["val_task_at"]]
            task[m] = [gain * (lead > g) for g in MARGINS]  # an unknown task: not routed
        out = {}
        for rule, table in (("query", query), ("task", task)):
            per_query = table.mean(axis=0)  # [margins, n_val]: each validation query's gain, mean over the m
            se = per_query.std(axis=1, ddof=1) / np.sqrt(n_val)
            out[rule] = {g: (float(v), float(e)) for g, v, e in zip(MARGINS, per_query.mean(axis=1), se, strict=True)}
        return out

    # ------------------------------------------------------------------ prediction
    @property
    def candidates_(self) -> np.ndarray:
        """The known candidates (the base's, in its order) then the new ones, in the order added."""
        return np.asarray([*self.known_, *self.new_], dtype=object)

    def predict_correctness(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, n_new]`` the item model's P(correct) of each new candidate on the queries of ``X``."""
        features = _dense(X)
        found = self._tasks(features, tasks)
        columns = [self.items_.subject(features, found, c.ability) for c in self.new_.values()]
        return np.column_stack(columns) if columns else np.zeros((features.shape[0], 0))

    def _parts(self, X: Any, tasks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        estimate = np.asarray(self.base.predict_performance(X, tasks=tasks), dtype=np.float64)
        chosen = np.argmax(estimate, axis=1)
        features = _dense(X)
        found = self._tasks(features, tasks)
        model = self.items_.model
        p_known = self.items_.probabilities(features, found, model.theta, model.delta, self.items_.shift)
        p_chosen = p_known[chosen, np.arange(len(chosen))]
        diff = self.predict_correctness(X, tasks) - p_chosen[:, None]
        return estimate, estimate[np.arange(len(chosen)), chosen], diff

    def predict_performance(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, k + n_new]``: the base's estimates, then each new candidate's on the base's scale (the chosen known
        candidate's estimate plus the item model's ``p_new - p_chosen``)."""
        estimate, best, diff = self._parts(X, tasks)
        return np.hstack([estimate, best[:, None] + diff])

    def predict_utility(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, k + n_new]`` what the router maximises: :meth:`predict_performance` less each new candidate's
        margin (``-inf`` for a candidate never routed)."""
        estimate, best, diff = self._parts(X, tasks)
        margins = np.array([c.margin for c in self.new_.values()])
        return np.hstack([estimate, best[:, None] + diff - margins[None, :]])

    def predict(self, X: Any, tasks: Any = None) -> np.ndarray:
        """Index into :attr:`candidates_` per query (ties to the known candidate)."""
        return np.argmax(self.predict_utility(X, tasks), axis=1)

    route = predict

    def predict_labels(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The routed candidate's name per query."""
        return self.candidates_[self.predict(X, tasks)]

    def task_accuracy(self, name: str) -> dict[str, float]:
        """A new candidate's estimated accuracy per task: the mean over the training queries of each task of its
        item-model probability, its own answer where it answered (tinyBenchmarks' p-IRT); nothing answered: the
        known candidates' mean. With :attr:`NewCandidate.task_margin` it feeds
        :meth:`~fusionbench.fusion.routers.prior.TaskPriorRouter.add_candidate`."""
        new = self.new_[name]
        values = self.items_.task_accuracy(new.ability, new.answers)
        return {t: float(v) for t, v in zip(self.items_.model.tasks, values, strict=True)}
