"""Per-task routing (Bench-CoE's subject-level router): the best candidate of each task on the training split."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import ALL, Tradeoff


def _task_strings(tasks: np.ndarray) -> np.ndarray:
    return np.asarray([str(t) for t in tasks], dtype=object)


@register_router("per_task")
class PerTaskRouter(BaseRouter):
    """Each query goes to its task's best candidate on train (mean reward under ``tradeoff``, cheapest on ties).

    ``task_source="given"``: ``predict(X, tasks=...)`` needs the tasks; an unseen task gets the best single
    candidate, with a warning that counts them. ``task_source="classifier"``: a task classifier (default a
    ``LogisticRegression`` on the features, fitted on the training tasks) labels queries without a task or
    with an unseen one, so a subject router trained on one benchmark routes another (Bench-CoE's OOD use).
    """

    router_tags = RouterTags(takes_tasks=True)  # features: the classifier's, for queries without a known task

    def __init__(
        self,
        task_source: Literal["given", "classifier"] = "given",
        classifier: Any = None,
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
    ) -> None:
        self.task_source = task_source
        self.classifier = classifier
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if data.tasks is None:
            raise ValueError("PerTaskRouter needs tasks= in fit (one task label per query)")
        if self.task_source not in ("given", "classifier"):
            raise ValueError(f"task_source must be 'given' or 'classifier', not {self.task_source!r}")
        tasks = _task_strings(data.tasks)
        self.tasks_ = np.unique(tasks)
        self.task_means_ = np.stack([data.target[tasks == t].mean(axis=0) for t in self.tasks_])
        self.mean_ = data.target.mean(axis=0)
        self.classifier_ = None
        if self.task_source == "classifier":
            if len(self.tasks_) < 2:
                raise ValueError("task_source='classifier' needs at least two training tasks")
            model = LogisticRegression(max_iter=1000) if self.classifier is None else clone(self.classifier)
            self.classifier_ = model.fit(data.X, tasks)

    def resolve_tasks(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The task each query is routed by: the given one when known, else the classifier's.

        Without a classifier an unseen task resolves to ``"__all__"`` (the best single candidate), counted
        in a warning.
        """
        return self._resolve_tasks(self._check_features(X), tasks)

    def _resolve_tasks(self, features: Any, tasks: Any) -> np.ndarray:
        n = features.shape[0]
        given = self._check_tasks(tasks, n)
        if given is None and self.task_source == "given":
            raise ValueError("PerTaskRouter(task_source='given') needs tasks= in predict (or task_source='classifier')")
        resolved = np.full(n, None, dtype=object) if given is None else _task_strings(given)
        unknown = ~np.isin(resolved, [*self.tasks_, ALL])
        if unknown.any() and self.classifier_ is not None:
            resolved[unknown] = self._classify(features[np.flatnonzero(unknown)])
        elif unknown.any():
            names = sorted({str(t) for t in resolved[unknown]})[:5]
            warnings.warn(
                f"PerTaskRouter: {int(unknown.sum())} queries have tasks unseen in training ({names}); "
                "they get the best single candidate",
                UserWarning,
                stacklevel=3,
            )
            resolved[unknown] = ALL
        return resolved

    def _classify(self, X: Any) -> np.ndarray:
        classifier = self.classifier_
        if isinstance(classifier, dict):  # a loaded linear classifier: arrays, no pickle
            scores = X @ classifier["coef"].T + classifier["intercept"]
            classes = np.asarray(classifier["classes"], dtype=object)
            if scores.shape[1] == 1:
                return classes[(np.asarray(scores)[:, 0] > 0).astype(int)]
            return classes[np.asarray(scores).argmax(axis=1)]
        return _task_strings(classifier.predict(X))

    def _rows(self, resolved: np.ndarray, table: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        out = np.tile(fallback, (len(resolved), 1))
        for i, task in enumerate(self.tasks_):
            out[resolved == task] = table[i]
        return out

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self._rows(self._resolve_tasks(X, tasks), self.task_means_, self.mean_)

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "tasks_": [str(t) for t in self.tasks_],
            "task_means_": self.task_means_,
            "mean_": self.mean_,
        }
        classifier = self.classifier_
        if classifier is not None and hasattr(classifier, "coef_") and isinstance(classifier, LogisticRegression):
            state["classifier_coef_"] = np.asarray(classifier.coef_)
            state["classifier_intercept_"] = np.asarray(classifier.intercept_)
            state["classifier_classes_"] = [str(c) for c in classifier.classes_]
        else:
            state["classifier_"] = classifier
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        state["tasks_"] = np.asarray(state["tasks_"], dtype=object)
        if "classifier_coef_" in state:
            state["classifier_"] = {
                "coef": state.pop("classifier_coef_"),
                "intercept": state.pop("classifier_intercept_"),
                "classes": state.pop("classifier_classes_"),
            }
        super()._load_state(state)
