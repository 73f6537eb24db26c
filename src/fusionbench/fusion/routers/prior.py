"""A task prior for the learned routers: a per-task baseline plus a per-query residual.

Most of the routable signal of multi-task routing data is *which task a query belongs to* (the best model per
task beats the best single model by several points); the rest is per query. :class:`TaskPriorRouter` estimates
each candidate's objective as the training mean of the query's task (the prior) plus a residual that a base
router (ridge, kNN, MLP, MF) learns from the features. The task is the one given at fit time; at prediction it
is, by default, **predicted** from the features by a linear task classifier fitted on train (so the true task
of a test query is never read), or the given one when the user says the task is known
(``test_tasks="given"`` and ``tasks=`` passed to ``predict``). ``task_source_`` records which.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags, fingerprint
from fusionbench.fusion.routers.linear import LinearRouter
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import Tradeoff

#: The task classifier's default inverse penalty (LinearSVC on TF-IDF: 86 % task accuracy on the embedded data,
#: under a second; a logistic regression of the same accuracy takes 30 s on 29k TF-IDF features).
TASK_CLASSIFIER_C = 0.5


_CACHE: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()  # a pure function's last results (CV refits)


def fit_task_classifier(X: Any, tasks: np.ndarray, C: float = TASK_CLASSIFIER_C) -> dict[str, np.ndarray]:
    """A linear task classifier as plain arrays (``coef`` ``[T or 1, d]``, ``intercept``, ``classes``).

    The last few results are remembered by a fingerprint of ``(X, tasks, C)``, so the task-aware candidates of
    one :class:`~fusionbench.fusion.routers.AutoRouter` fold share one fit (a deterministic solver: same input,
    same arrays)."""
    labels = np.asarray([str(t) for t in tasks], dtype=object)
    classes = np.unique(labels)
    if len(classes) < 2:
        return {"coef": np.zeros((1, X.shape[1])), "intercept": np.ones(1), "classes": np.repeat(classes, 2)}
    key = fingerprint(X, np.asarray(labels.tolist()), np.asarray([C], dtype=np.float64))
    if key not in _CACHE:
        model = LinearSVC(C=C, dual="auto", max_iter=2000, random_state=0).fit(X, labels)
        _CACHE[key] = {
            "coef": np.asarray(model.coef_, dtype=np.float64),
            "intercept": np.asarray(model.intercept_, dtype=np.float64).reshape(-1),
            "classes": np.asarray(model.classes_, dtype=object),
        }
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    return {name: value.copy() for name, value in _CACHE[key].items()}


def task_scores(X: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``[n, n_classes]`` decision scores (a binary classifier's one score ``s`` becomes ``[-s/2, s/2]``)."""
    scores = np.asarray(X @ coef.T) + intercept
    return np.hstack([-scores / 2, scores / 2]) if scores.shape[1] == 1 else scores


def classify_tasks(X: Any, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The task label of each row under a classifier from :func:`fit_task_classifier`."""
    return np.asarray(classes, dtype=object)[task_scores(X, coef, intercept).argmax(axis=1)]


@register_router("task_prior")
class TaskPriorRouter(BaseRouter):
    """Per-task training mean of each candidate plus ``base``'s per-query residual (see the module docstring).

    ``base``: the residual router (default a ridge :class:`LinearRouter`); it is fitted on ``Y`` minus the task
    means, so it only has to learn what the task does not explain. Fitted without ``tasks=``, the prior is the
    overall mean and the router is ``base`` itself (``task_source_ = "none"``). ``test_tasks="predicted"``
    (default) ignores any ``tasks=`` given to ``predict`` and classifies the queries (an evaluation that passes
    the true test tasks does not leak them); ``"given"`` uses given tasks and classifies only unknown ones.
    ``temperature``: ``None`` takes the predicted task's mean; a number mixes the task means by the softmax of
    ``temperature`` x the classifier's scores (a soft prior, kinder to misclassified queries). ``fallback``: a
    query that no task claims (every one-vs-rest score below 0: likely a task unseen in training) takes the
    overall training mean, the best single model's prior (soft: a column of score 0 beside the tasks').
    """

    router_tags = RouterTags()  # tasks are optional: without them the prior is the overall mean

    def __init__(
        self,
        base: Any = None,
        C: float = TASK_CLASSIFIER_C,
        temperature: float | None = None,
        fallback: bool = True,
        test_tasks: Literal["predicted", "given"] = "predicted",
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
    ) -> None:
        self.base = base
        self.C = C
        self.temperature = temperature
        self.fallback = fallback
        self.test_tasks = test_tasks
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if self.test_tasks not in ("predicted", "given"):
            raise ValueError(f"test_tasks must be 'predicted' or 'given', not {self.test_tasks!r}")
        if self.temperature is not None and not float(self.temperature) > 0:
            raise ValueError(f"temperature must be None or > 0, not {self.temperature!r}")
        target = data.target
        self.mean_ = target.mean(axis=0)
        if data.tasks is None:
            self.task_source_ = "none"
            self.tasks_ = np.asarray(["__all__"], dtype=object)
            self.task_means_ = target.mean(axis=0)[None, :]
            self.clf_coef_, self.clf_intercept_ = np.zeros((1, data.X.shape[1])), np.zeros(1)
            self.clf_classes_ = np.asarray(["__all__", "__all__"], dtype=object)
            prior = np.tile(self.task_means_[0], (target.shape[0], 1))
        else:
            self.task_source_ = "given" if self.test_tasks == "given" else "classifier"
            labels = np.asarray([str(t) for t in data.tasks], dtype=object)
            self.tasks_ = np.unique(labels)
            self.task_means_ = np.stack([target[labels == t].mean(axis=0) for t in self.tasks_])
            clf = fit_task_classifier(data.X, labels, self.C)
            self.clf_coef_, self.clf_intercept_, self.clf_classes_ = clf["coef"], clf["intercept"], clf["classes"]
            prior = self.task_means_[np.searchsorted(self.tasks_, labels)]
        base = LinearRouter(alpha=10.0) if self.base is None else clone(self.base)
        if "tradeoff" in base.get_params(deep=False):
            base.set_params(tradeoff="performance_first")  # it estimates a residual, never routes by itself
        self.base_ = base.fit(data.X, target - prior, candidates=list(self.candidates_))

    def _resolve_tasks(self, features: Any, tasks: Any) -> np.ndarray:
        n = features.shape[0]
        given = self._check_tasks(tasks, n) if self.test_tasks == "given" else None
        resolved = np.full(n, None, dtype=object) if given is None else np.asarray([str(t) for t in given], object)
        unknown = ~np.isin(resolved, self.tasks_)
        if unknown.any():
            rows = np.flatnonzero(unknown)
            resolved[rows] = classify_tasks(features[rows], self.clf_coef_, self.clf_intercept_, self.clf_classes_)
        return resolved

    def predict_tasks(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The task each query's prior comes from (the classifier's, or the given one under ``"given"``)."""
        return self._resolve_tasks(self._check_features(X), tasks)

    def task_weights(self, X: Any, tasks: Any = None) -> np.ndarray:
        """``[n, n_tasks + 1]`` weight of each training task (and, last, of the overall mean) in a query's prior:
        one-hot, or soft with ``temperature``; a given known task under ``test_tasks="given"`` is one-hot."""
        features = self._check_features(X)
        n = features.shape[0]
        weights = np.zeros((n, len(self.tasks_) + 1))
        given = self._check_tasks(tasks, n) if self.test_tasks == "given" else None
        known = np.zeros(n, dtype=bool)
        if given is not None:
            labels = np.asarray([str(t) for t in given], dtype=object)
            known = np.isin(labels, self.tasks_)
            weights[np.flatnonzero(known), np.searchsorted(self.tasks_, labels[known])] = 1.0
        rows = np.flatnonzero(~known)
        if len(rows):
            scores = task_scores(features[rows], self.clf_coef_, self.clf_intercept_)
            if self.fallback:  # the overall mean scores 0: it wins where no task claims the query
                scores = np.hstack([scores, np.zeros((len(rows), 1))])
            if self.temperature is None:
                probs = np.eye(scores.shape[1])[scores.argmax(axis=1)]
            else:
                z = float(self.temperature) * (scores - scores.max(axis=1, keepdims=True))
                probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            columns = [*np.searchsorted(self.tasks_, self.clf_classes_), len(self.tasks_)][: scores.shape[1]]
            block = np.zeros((len(rows), len(self.tasks_) + 1))
            for j, column in enumerate(columns):
                block[:, column] += probs[:, j]
            weights[rows] = block
        return weights

    def add_candidate(
        self, name: str, task_means: Any, *, overall: float | None = None, margin: float = 0.0
    ) -> TaskPriorRouter:
        """Append a new candidate without refitting: its prior is ``task_means`` ({task: estimated mean}, e.g. from
        :meth:`~fusionbench.fusion.tiny.cold_start.ColdStartRouter.task_accuracy`; a task it lacks takes
        ``overall``), its per-query residual the known candidates' mean (the base knows nothing of it; a query hard
        for them all is hard for it too, where a residual of 0 would favour it), so it wins where its task mean does.
        ``overall`` defaults to the mean over the given tasks; ``margin`` (>= 0) is taken off every mean, so the new
        candidate wins only by that much (e.g. the cold start's margin chosen on train, for noisy estimates).
        Performance-first only (no cost estimate)."""
        check_is_fitted(self, "candidates_")
        if name in [str(c) for c in self.candidates_]:
            raise ValueError(f"candidate {name!r} is already in the router")
        if self.cost_mean_ is not None:
            raise ValueError("the router was fitted with cost; a new candidate has no cost estimate")
        means = {str(t): float(v) for t, v in dict(task_means).items()}
        if not means or any(not np.isfinite(v) for v in means.values()):
            raise ValueError(f"task_means of {name!r} must be a non-empty mapping of finite numbers")
        if not (np.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be a finite number >= 0, not {margin!r}")
        overall = (float(np.mean(list(means.values()))) if overall is None else float(overall)) - margin
        column = [overall if self.task_source_ == "none" else means.get(str(t), overall + margin) - margin
                  for t in self.tasks_]  # fmt: skip
        self.task_means_ = np.hstack([self.task_means_, np.asarray(column)[:, None]])
        self.mean_ = np.append(self.mean_, overall)
        self.candidates_ = np.asarray([*self.candidates_.tolist(), name], dtype=object)
        return self

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        table = np.vstack([self.task_means_, self.mean_])
        residual = self.base_.predict_performance(X)
        added = table.shape[1] - residual.shape[1]  # candidates appended by add_candidate: the mean residual
        residual = np.hstack([residual, np.repeat(residual.mean(axis=1, keepdims=True), added, axis=1)])
        return self.task_weights(X, tasks) @ table + residual

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["tasks_"] = [str(t) for t in self.tasks_]
        state["clf_classes_"] = [str(t) for t in self.clf_classes_]
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        state["tasks_"] = np.asarray(state["tasks_"], dtype=object)
        state["clf_classes_"] = np.asarray(state["clf_classes_"], dtype=object)
        super()._load_state(state)
