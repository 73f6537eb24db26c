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

**Margin, chosen on train only** (``margin="auto"``), **cross-fitted**: the training queries are split (per task,
seeded) into ``folds`` parts. Each part in turn is the validation part: on the others, a clone of ``base`` and,
for each known candidate ``m``, an item model and a clone of the task prior (``task_prior``) without ``m`` are
fitted (the base's clone is fitted once, with every known candidate; its choice among the others stands for the
choice of a router fitted without ``m``). At :meth:`~ColdStartRouter.add_candidate`, every known ``m`` plays the
new candidate in every fold: its ability from its own answers on the same anchors (those in the fit part), and its
true gain ``y_m - y_chosen`` on the validation queries where the rule routes to it. Every training query is
validated once; :func:`pooled_gains` pools the folds (their gain curves averaged, weighted by size), which steadies
the margin that one split left noisy. Both standard errors below (of the mean gain, and of each ``m``'s own gain in
the guard) are **clustered by task** (cluster-robust, CR1, over the training tasks of the validation queries,
:mod:`.cold_gains`): gains within a task move together (the task rule routes whole tasks), so an error over queries
would understate the uncertainty; with a single training task they are per query (``se_kind_`` says which).
The margin is the value of :data:`MARGINS` whose simulated mean gain over the ``m`` is highest after taking off
``caution`` standard errors (ties: the larger margin), among the margins at which no known ``m`` loses
significantly (the **guard**: its own gain's 95 % CI below 0; the mean over the ``m`` can be carried by one strong
model while most others lose); where no margin gains by that much, none is taken (``inf``: never routed). With
no anchor answers (``k = 0``) nothing is known of the candidate (its prediction would be the average known one's,
and routing to it a bet on the base's mistakes): it is never routed. The same simulation
chooses ``task_margin`` for the task prior's rule, simulated with the task prior itself: the clone without ``m``
takes ``m`` as a column through :meth:`TaskPriorRouter.add_candidate
<fusionbench.fusion.routers.prior.TaskPriorRouter.add_candidate>` (its per-task estimate,
:meth:`~ColdStartRouter.task_accuracy`, from the item model without ``m``), and the gain is counted where that
column's estimate beats the clone's best by the margin, against the clone's own choice.

Scope: the ``performance_first`` trade-off (no cost estimate for the new candidate); an in-memory wrapper (not
saved: refit it from the base's training data and add the candidates again). The per-task accuracy estimate
(:meth:`~ColdStartRouter.task_accuracy`) feeds :meth:`TaskPriorRouter.add_candidate
<fusionbench.fusion.routers.prior.TaskPriorRouter.add_candidate>`, the task prior's way to take a new candidate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from fusionbench.fusion.irt.model import Ability
from fusionbench.fusion.routers.prior import TaskPriorRouter, classify_tasks, fit_task_classifier
from fusionbench.fusion.tiny.cold_gains import GUARD_Z, MARGINS, choose_margin, pooled_gains
from fusionbench.fusion.tiny.cold_items import ItemSide, task_shifts

__all__ = [
    "GUARD_Z",
    "IRT_OPTIONS",
    "MARGINS",
    "ColdStartRouter",
    "NewCandidate",
    "choose_margin",
    "pooled_gains",
    "task_shifts",
]

#: The item model the cold start fits (2PL, one dimension, per-task offsets: a candidate's skill profile).
IRT_OPTIONS: dict[str, Any] = {"kind": "2pl", "dims": 1, "task_effects": True}
#: The widest feature matrix the item model's feature map takes (a ridge on dense standardised features).
MAX_FEATURES = 4096


def _dense(X: Any) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)


@dataclass
class NewCandidate:
    """A candidate added by :meth:`ColdStartRouter.add_candidate`: its ability, the answers it was fitted on, its
    routing ``margin`` and, under ``margin="auto"``, the simulated gain per margin (``margin_gains``: margin ->
    (mean over the known candidates of their gain on the validation queries of every fold, its standard error:
    :func:`pooled_gains`)); ``task_margin`` and ``task_margin_gains``: the same for the task prior's rule (its
    column, :meth:`TaskPriorRouter.add_candidate <fusionbench.fusion.routers.prior.TaskPriorRouter.add_candidate>`
    with the per-task estimate less the margin, wins a query where it beats the known columns)."""

    name: str
    answers: dict[str, float]
    ability: tuple[Ability, np.ndarray] | None  # (fitted ability, per-task shift); None: nothing known
    margin: float
    margin_gains: dict[float, tuple[float, ...]] = field(default_factory=dict)
    task_margin: float = float("inf")
    task_margin_gains: dict[float, tuple[float, ...]] = field(default_factory=dict)


class ColdStartRouter:
    """A fitted router plus new candidates profiled on anchor answers, routed on the same-scale rule of the module
    docstring; nothing of ``base`` is refitted.

    ``base``: a fitted router (``candidates_``, ``predict_performance(X, tasks=)``; for ``margin="auto"`` it
    must also be cloneable and fit like the routers). ``margin``: ``"auto"`` (chosen on train, see the module
    docstring) or a number. ``folds``: the cross-fitting folds of the margin's simulation (each fits on the
    others: ``folds`` times the base's fit and ``folds`` x (k + 1) item models); ``task_prior``: the task prior whose
    rule ``task_margin`` is chosen for (a :class:`TaskPriorRouter`, fitted or not: its clones are fitted; default
    ``TaskPriorRouter()``); ``caution``: how many standard errors the simulated gain must clear;
    ``guard``: never take a margin at which a known candidate loses significantly (:func:`choose_margin`).
    ``test_tasks``: ``"predicted"`` (default: the query's task, which selects the item model's per-task offsets, is
    classified from the features, never read) or ``"given"``. ``irt_options``: :class:`IRTConfig` fields.
    Fitted: ``se_kind_``, the simulation's standard error (``"task-clustered"``, or ``"per-query"`` with a single
    training task; None without the simulation).
    """

    def __init__(
        self,
        base: Any,
        *,
        margin: float | str = "auto",
        folds: int = 4,
        task_prior: Any = None,
        caution: float = 1.0,
        test_tasks: str = "predicted",
        irt_options: Mapping[str, Any] | None = None,
        guard: bool = True,
        random_state: int = 0,
    ) -> None:
        if margin != "auto" and not (isinstance(margin, (int, float)) and margin >= 0):
            raise ValueError(f"margin must be 'auto' or a number >= 0, not {margin!r}")
        if test_tasks not in ("predicted", "given"):
            raise ValueError(f"test_tasks must be 'predicted' or 'given', not {test_tasks!r}")
        if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
            raise ValueError(f"folds must be an integer >= 2, not {folds!r}")
        if not caution >= 0:
            raise ValueError(f"caution must be a number >= 0, not {caution!r}")
        self.base = base
        self.margin = margin
        self.folds = int(folds)
        self.task_prior = task_prior
        self.caution = caution
        self.test_tasks = test_tasks
        self.irt_options = dict(IRT_OPTIONS if irt_options is None else irt_options)
        self.guard = guard
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
        self.items_ = ItemSide.fit(perf, self.known_, key_array, task_array, features, self.irt_options)
        self.new_ = {}
        self.simulation_ = None
        clustered = len(set(task_array)) > 1  # gains cluster by task; one task: nothing to cluster by
        self.se_kind_ = None if self.margin != "auto" else "task-clustered" if clustered else "per-query"
        if self.margin == "auto":
            self.simulation_ = self._simulation(X, features, perf, task_array, key_array)
        return self

    def _simulation(self, X: Any, features: np.ndarray, perf: np.ndarray, tasks: np.ndarray,
                    keys: list[str]) -> dict[str, Any]:  # fmt: skip
        rng = np.random.default_rng(self.random_state)
        fold, start = np.zeros(len(tasks), dtype=np.int64), 0
        for task in np.unique(tasks):  # per task, dealt round the folds in a seeded order
            rows = rng.permutation(np.flatnonzero(tasks == task))
            fold[rows] = (start + np.arange(len(rows))) % self.folds
            start += len(rows)
        if len(tasks) < 2 * self.folds or len(self.known_) < 2:
            raise ValueError(f"too few training queries ({2 * self.folds}) or known candidates (2) to choose the "
                             "margin; pass margin=")  # fmt: skip
        parts = [self._fold(X, features, perf, tasks, keys, np.flatnonzero(fold != f), np.flatnonzero(fold == f))
                 for f in range(self.folds)]  # fmt: skip
        clustered = self.se_kind_ == "task-clustered"
        clusters = tasks[np.concatenate([p["val_rows"] for p in parts])] if clustered else None  # the tables' order
        return {"keys": keys, "key_row": {k: i for i, k in enumerate(keys)}, "perf": perf, "folds": parts,
                "clusters": clusters}  # fmt: skip

    def _fold(self, X: Any, features: np.ndarray, perf: np.ndarray, tasks: np.ndarray, keys: list[str],
              fit_rows: np.ndarray, val_rows: np.ndarray) -> dict[str, Any]:  # fmt: skip
        """One fold: the base's clone fitted on ``fit_rows``; per known ``m``, the item model and the task prior
        without ``m``, and their choices among the others on ``val_rows``."""
        known, X_fit, X_val, Y_fit = self.known_, X[fit_rows], X[val_rows], perf[fit_rows]
        base = clone(self.base).fit(X_fit, Y_fit, tasks=tasks[fit_rows], candidates=known)
        estimate = np.asarray(base.predict_performance(X_val, tasks=tasks[val_rows]), dtype=np.float64)
        val_tasks = self._tasks(features[val_rows], tasks[val_rows])
        fit_keys = [keys[i] for i in fit_rows]
        template = TaskPriorRouter() if self.task_prior is None else self.task_prior
        per_known = []
        for m in range(len(known)):
            others = np.array([j for j in range(len(known)) if j != m])
            names = [known[j] for j in others]
            items = ItemSide.fit(Y_fit[:, others], names, fit_keys, tasks[fit_rows], features[fit_rows],
                                 self.irt_options)  # fmt: skip
            model = items.model
            p_others = items.probabilities(features[val_rows], val_tasks, model.theta, model.delta, items.shift)
            prior = clone(template).fit(X_fit, Y_fit[:, others], tasks=tasks[fit_rows], candidates=names)
            prior_estimate = np.asarray(prior.predict_performance(X_val, tasks=tasks[val_rows]), dtype=np.float64)
            per_known.append({"items": items, "others": others, "p_others": p_others,
                              "pick": estimate[:, others].argmax(axis=1), "prior": prior,
                              "prior_pick": others[prior_estimate.argmax(axis=1)],
                              "prior_best": prior_estimate.max(axis=1)})  # fmt: skip
        return {"fit_keys": set(fit_keys), "val_rows": val_rows, "X_val": X_val, "val_given": tasks[val_rows],
                "val_features": features[val_rows], "val_tasks": val_tasks, "per_known": per_known}  # fmt: skip

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
        gains: dict[str, dict[float, tuple[float, ...]]] = {"query": {}, "task": {}}
        if self.margin == "auto" and given:
            gains = self._simulated_gains(list(given))
            margin, task_margin = (
                choose_margin(gains[rule], self.caution, guard=self.guard) for rule in ("query", "task")
            )
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

    def _simulated_gains(self, anchors: list[str]) -> dict[str, dict[float, tuple[float, ...]]]:
        """Per rule (``"query"``: the router's, ``"task"``: the task prior's), margin -> the pooled gain
        (:func:`pooled_gains`) of the known candidates, each playing the new one in every fold with its own answers
        on the anchors of the fit part."""
        sim = self.simulation_
        perf, tables = sim["perf"], {"query": [], "task": []}
        for part in sim["folds"]:
            rows = [sim["key_row"][k] for k in anchors if k in part["fit_keys"]]
            val_perf = perf[part["val_rows"]]
            at = np.arange(len(val_perf))
            query = np.zeros((len(self.known_), len(MARGINS), len(at)))
            task = np.zeros_like(query)
            for m, entry in enumerate(part["per_known"]):
                items, others, pick = entry["items"], entry["others"], entry["pick"]
                answers = {sim["keys"][r]: float(perf[r, m]) for r in rows}
                ability = items.ability(answers)
                p_m = items.subject(part["val_features"], part["val_tasks"], ability)
                diff = p_m - entry["p_others"][pick, at]
                gain = val_perf[:, m] - val_perf[at, others[pick]]  # against the base clone's choice
                query[m] = [gain * (diff > g) for g in MARGINS]
                accuracy = dict(zip(items.model.tasks, items.task_accuracy(ability, answers), strict=True))
                prior = copy.deepcopy(entry["prior"]).add_candidate("\x00new", accuracy)  # a name no one has
                lead = prior.predict_performance(part["X_val"], tasks=part["val_given"])[:, -1] - entry["prior_best"]
                gain = val_perf[:, m] - val_perf[at, entry["prior_pick"]]  # against the task prior's choice
                task[m] = [gain * (lead > g) for g in MARGINS]  # the margin comes off every task mean alike
            tables["query"].append(query)
            tables["task"].append(task)
        return {rule: pooled_gains(table, MARGINS, sim["clusters"]) for rule, table in tables.items()}

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
