"""The item-model side of the cold start (:mod:`.cold_start`): an item model with a feature map from the query
features to the item parameters, corrected per subject and task (:func:`task_shifts`) so that on the training
queries the mapped items give the item model's own per-task mean, and the probabilities of known and new subjects
on any query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from fusionbench.fusion.irt.model import (
    Ability,
    ItemModel,
    fit_ability,
    fit_feature_map,
    fit_matrix,
    items_from_features,
    predict_items,
)


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


@dataclass
class ItemSide:
    """An item model with its feature map, the mapped parameters of its training items and the known subjects'
    per-task shifts."""

    model: ItemModel
    mapped: tuple[np.ndarray, np.ndarray]
    shift: np.ndarray  # [S, T]
    task_at: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(cls, Y: np.ndarray, subjects: Sequence[str], keys: Sequence[str], tasks: np.ndarray,
            features: np.ndarray, options: Mapping[str, Any]) -> ItemSide:  # fmt: skip
        model = fit_matrix(Y.T, subjects=subjects, items=keys, item_tasks=tasks, **options)
        model = fit_feature_map(model, features)
        mapped = items_from_features(model, features)
        shift = task_shifts(model, mapped, model.theta, model.delta)
        return cls(model, mapped, shift, {t: i for i, t in enumerate(model.tasks)})

    def ability(self, answers: Mapping[str, float]) -> tuple[Ability, np.ndarray] | None:
        """(its fitted ability, its per-task shift) of a subject from its answers {item id: score}; None without
        answers."""
        model = self.model
        if not answers:
            return None
        fitted = fit_ability(model, model.item_positions(list(answers)), np.array(list(answers.values())))
        shift = task_shifts(model, self.mapped, fitted.theta[None, :], fitted.delta[None, :])[0]
        return fitted, shift

    def subject(self, features: np.ndarray, tasks: np.ndarray, ability: Any) -> np.ndarray:
        """``[n]`` P(correct) of one subject of ``ability`` (:meth:`ability`); None (nothing known): the mean of the
        known subjects' probabilities, the average known candidate (not the prediction of the mean ability, which
        the link's curvature lifts above the average on easy items)."""
        if ability is None:
            return self.probabilities(features, tasks, self.model.theta, self.model.delta, self.shift).mean(axis=0)
        fitted, shift = ability
        return self.probabilities(features, tasks, fitted.theta[None], fitted.delta[None], shift[None])[0]

    def task_accuracy(self, ability: Any, answers: Mapping[str, float]) -> np.ndarray:
        """``[T]`` (in ``model.tasks`` order) a subject's mean probability over the training items of each task, its
        own answer where it answered (tinyBenchmarks' p-IRT); None: the known subjects' mean."""
        model = self.model
        if ability is None:
            p = model.probabilities().mean(axis=0)
        else:
            p = predict_items(model, ability[0])
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
