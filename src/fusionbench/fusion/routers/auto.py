"""AutoRouter: choose the router and its hyper-parameters by K-fold cross-validation of the routed reward on the
training queries only (like scikit-learn's ``GridSearchCV``), then refit the winner on all of train.

The default search covers what holds up on real routing data (the best single model, the best model per
*predicted* task, a task prior plus a ridge or kNN residual, Avengers-Pro clustering, tuned kNN and ridge);
every candidate's fold scores are kept in ``cv_results_`` for the report. Tasks given to ``fit`` let the
task-aware candidates learn a task classifier; at prediction the task is predicted from ``X`` unless
``test_tasks="given"`` and ``tasks=`` is passed (``task_source_`` says which).

``robust_to_new_tasks=True`` (opt-in) adds a leave-task-out CV (``GroupKFold`` by the training task) and
chooses the candidate that maximises the *worse* of its random-fold and task-fold rewards: for deployments that
may see tasks absent from train, where a task prior can transfer a training task's choice to a new task whose
models rank otherwise. It is not the default: it doubles the search and gives up in-distribution gain
(``docs/results/routing.md`` has both measured).

``novelty_guard=True`` (the default) routes the queries of a batch that form a region train never covered (a
new task: :func:`~fusionbench.fusion.routers.novelty.batch_novelty`, a nearest-neighbour two-sample test) to the
best single candidate on train instead of the winner's choice; an in-distribution batch, or a single query, is
routed by the winner alone. The routes of such a query then depend on the batch it comes in (``novelty(X)``
says which rows were guarded).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Literal

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold

from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags, fingerprint
from fusionbench.fusion.routers.baselines import BestSingleRouter
from fusionbench.fusion.routers.cluster import ClusterRouter
from fusionbench.fusion.routers.knn import KNNRouter
from fusionbench.fusion.routers.linear import LinearRouter
from fusionbench.fusion.routers.novelty import (
    NOVELTY_ALPHA,
    NOVELTY_K,
    NOVELTY_MEMBER_ALPHA,
    NoveltyResult,
    batch_novelty,
)
from fusionbench.fusion.routers.prior import TaskPriorRouter
from fusionbench.fusion.routers.registry import register_router, router_name
from fusionbench.fusion.routers.tradeoffs import Tradeoff


def default_candidates(with_tasks: bool = True) -> list[tuple[str, BaseRouter]]:
    """The default search: ``(label, router)`` pairs; the task-aware ones only ``with_tasks``. Sized to search
    5 folds of the embedded data (4.9k training queries, 29k TF-IDF features) in about a minute on 2 cores."""
    grid: list[tuple[str, BaseRouter]] = [("best_single", BestSingleRouter())]
    if with_tasks:
        grid += [
            ("per_task[classifier]", TaskPriorRouter(base=BestSingleRouter())),
            ("per_task[soft,T=4]", TaskPriorRouter(base=BestSingleRouter(), temperature=4.0)),
            ("per_task[soft,T=8]", TaskPriorRouter(base=BestSingleRouter(), temperature=8.0)),
            ("task_prior[T=4]+ridge(alpha=10)", TaskPriorRouter(base=LinearRouter(alpha=10.0), temperature=4.0)),
            (
                "task_prior[T=4]+knn(k=100,distance)",
                TaskPriorRouter(base=KNNRouter(n_neighbors=100, weights="distance"), temperature=4.0),
            ),
        ]
    grid += [
        ("cluster(k=8)", ClusterRouter(n_clusters=8)),
        ("cluster(k=16)", ClusterRouter(n_clusters=16)),
        ("knn(k=100,distance)", KNNRouter(n_neighbors=100, weights="distance")),
    ]
    return grid


def _for_subrouters(tradeoff: Tradeoff) -> Tradeoff:
    """The trade-off the searched routers fit and route under: the same, except that they see the judge score
    as their performance (``llm_judge``: the judge objective, unweighted by cost)."""
    if tradeoff.objective != "judge":
        return tradeoff
    return Tradeoff("judge", 1.0, 0.0, "performance", "none", tradeoff.ties)


def _jsonable_params(router: BaseRouter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in router.get_params(deep=False).items():
        if isinstance(value, BaseRouter):
            out[key] = {"router": router_name(type(value)), **_jsonable_params(value)}
        elif value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        else:
            out[key] = str(value)
    return out


@register_router("auto")
class AutoRouter(BaseRouter):
    """The router (and hyper-parameters) with the best ``cv``-fold routed reward on train, refitted on all of it.

    ``candidates``: ``(label, router)`` pairs (default :func:`default_candidates`; the task-aware ones need
    ``tasks=`` in ``fit``); each is fitted under this router's ``tradeoff``. Fitted: ``best_`` (the refitted
    winner), ``best_label_``, ``best_index_``, ``cv_results_`` (per candidate: label, router, params, mean and
    std of the fold rewards, the fold rewards, fit seconds; with ``robust_to_new_tasks`` also the task-fold
    rewards, their mean and ``selection_score``, the worse of the two means), ``task_source_`` (``"given"``,
    ``"classifier"`` or ``"none"``: where the test tasks come from). Ties go to the earlier candidate (best
    single first). With ``novelty_guard``: ``reference_`` (the training features) and ``fallback_`` (the best
    single candidate under the trade-off) for the rows :meth:`novelty` flags.
    """

    router_tags = RouterTags()

    def __init__(
        self,
        candidates: Any = None,
        cv: int = 5,
        test_tasks: Literal["predicted", "given"] = "predicted",
        random_state: int | None = 0,
        robust_to_new_tasks: bool = False,
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
        novelty_guard: bool = True,
        novelty_k: int = NOVELTY_K,
        novelty_alpha: float = NOVELTY_ALPHA,
        novelty_member_alpha: float = NOVELTY_MEMBER_ALPHA,
    ) -> None:
        self.candidates = candidates
        self.cv = cv
        self.robust_to_new_tasks = robust_to_new_tasks
        self.test_tasks = test_tasks
        self.random_state = random_state
        self.tradeoff = tradeoff
        self.missing = missing
        self.novelty_guard = novelty_guard
        self.novelty_k = novelty_k
        self.novelty_alpha = novelty_alpha
        self.novelty_member_alpha = novelty_member_alpha

    # ------------------------------------------------------------ search
    def _grid(self, with_tasks: bool) -> list[tuple[str, BaseRouter]]:
        if self.candidates is None:
            return default_candidates(with_tasks)
        grid = []
        for i, item in enumerate(self.candidates):
            label, router = item if isinstance(item, (tuple, list)) else (f"{i}:{type(item).__name__}", item)
            if not isinstance(router, BaseRouter):
                raise TypeError(f"candidate {label!r} is a {type(router).__name__}, not a fusionbench router")
            if router.router_tags.takes_tasks and not with_tasks:
                continue
            grid.append((str(label), router))
        if not grid:
            raise ValueError("AutoRouter has no candidate to search (task routers need tasks= in fit)")
        return grid

    def _prepared(self, router: BaseRouter) -> BaseRouter:
        made = clone(router)
        params = made.get_params(deep=False)
        fitting = _for_subrouters(Tradeoff.parse(self.tradeoff))
        updates = {"tradeoff": fitting, "test_tasks": self.test_tasks, "random_state": self.random_state}
        made.set_params(**{k: v for k, v in updates.items() if k in params})
        return made

    def _fit_one(self, router: BaseRouter, data: FitData, rows: np.ndarray) -> BaseRouter:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return router.fit(
                data.X[rows],
                data.target[rows],
                cost=None if data.cost is None else data.cost[rows],
                tasks=None if data.tasks is None else data.tasks[rows],
                candidates=list(self.candidates_),
            )

    def _fold_reward(self, router: BaseRouter, data: FitData, rows: np.ndarray) -> float:
        tasks = data.tasks[rows] if (data.tasks is not None and self.test_tasks == "given") else None
        picks = router.predict(data.X[rows], tasks=tasks)
        cost = None if data.cost is None else data.cost[rows]
        reward = self.tradeoff_.reward(data.target[rows], cost, None if data.tasks is None else data.tasks[rows])
        return float(reward[np.arange(len(rows)), picks].mean())

    def _fit(self, data: FitData) -> None:
        if self.test_tasks not in ("predicted", "given"):
            raise ValueError(f"test_tasks must be 'predicted' or 'given', not {self.test_tasks!r}")
        if not isinstance(self.cv, (int, np.integer)) or self.cv < 2:
            raise ValueError(f"cv must be an int >= 2, not {self.cv!r}")
        n = data.X.shape[0]
        grid = self._grid(data.tasks is not None)
        folds = list(KFold(min(int(self.cv), n), shuffle=True, random_state=self.random_state).split(np.arange(n)))
        scores, seconds = self._scores(grid, data, folds)
        means = scores.mean(axis=1)
        selection = means
        groups = None if data.tasks is None else np.asarray([str(t) for t in data.tasks], dtype=object)
        robust = bool(self.robust_to_new_tasks) and groups is not None and len(np.unique(groups)) >= 2
        if robust:
            k = min(int(self.cv), len(np.unique(groups)))
            task_folds = list(GroupKFold(k).split(np.arange(n), groups=groups))
            task_scores, task_seconds = self._scores(grid, data, task_folds)
            seconds = seconds + task_seconds
            selection = np.minimum(means, task_scores.mean(axis=1))
        best = int(np.argmax(selection))  # the first of equal scores: the simpler candidate listed earlier
        self.cv_results_ = [
            {
                "label": label,
                "router": router_name(type(router)),
                "params": _jsonable_params(router),
                "mean_reward": float(means[c]),
                "std_reward": float(scores[c].std()),
                "fold_rewards": [float(s) for s in scores[c]],
                "fit_seconds": float(seconds[c]),
                **(
                    {
                        "task_fold_mean_reward": float(task_scores[c].mean()),
                        "task_fold_rewards": [float(s) for s in task_scores[c]],
                        "selection_score": float(selection[c]),
                    }
                    if robust
                    else {}
                ),
            }
            for c, (label, router) in enumerate(grid)
        ]
        self.best_index_ = best
        self.best_label_ = grid[best][0]
        self.task_source_ = "none" if data.tasks is None else self.test_tasks.replace("predicted", "classifier")
        self.best_ = self._fit_one(self._prepared(grid[best][1]), data, np.arange(n))
        self._novelty_memo = None  # a refit forgets the last batch's neighbour search
        if self.novelty_guard:
            self.reference_ = data.X
            self.fallback_ = self._fit_one(self._prepared(BestSingleRouter()), data, np.arange(n))
            self.training_tasks_ = [] if groups is None else sorted({str(t) for t in groups})

    def _scores(
        self, grid: list[tuple[str, BaseRouter]], data: FitData, folds: list[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``[candidates, folds]`` routed rewards on each held-out fold and each candidate's fit seconds."""
        scores = np.full((len(grid), len(folds)), np.nan)
        seconds = np.zeros(len(grid))
        for f, (train, test) in enumerate(folds):
            for c, (_, router) in enumerate(grid):
                start = time.perf_counter()
                fitted = self._fit_one(self._prepared(router), data, train)
                scores[c, f] = self._fold_reward(fitted, data, test)
                seconds[c] += time.perf_counter() - start
        return scores, seconds

    # ------------------------------------------------------------ prediction: the refitted winner's
    def _tasks(self, tasks: Any) -> Any:
        return tasks if self.test_tasks == "given" else None

    @property
    def _applies_tradeoff(self) -> bool:
        best = getattr(self, "best_", None)
        return self.router_tags.applies_tradeoff if best is None else best._applies_tradeoff

    def novelty(self, X: Any, tasks: Any = None) -> NoveltyResult:
        """Which rows of the batch ``X`` the novelty guard routes to the best single candidate (none without
        the guard, or for a router saved before it existed). Under ``test_tasks="given"``, a row whose given
        task is a training task is never guarded: the user says its task is known."""
        features = self._check_features(X)
        reference = getattr(self, "reference_", None)
        if not self.novelty_guard or reference is None:
            nothing = np.zeros(features.shape[0], dtype=bool)
            return NoveltyResult(nothing, nothing.copy(), False)
        result = self._batch_novelty(reference, features)
        given = self._tasks(tasks)
        if given is None or not result.significant:
            return result
        labels = np.asarray([str(t) for t in self._check_tasks(given, features.shape[0])], dtype=object)
        known = np.isin(labels, np.asarray(getattr(self, "training_tasks_", []), dtype=object))
        return NoveltyResult(result.novel & ~known, result.flagged & ~known, result.significant)

    def _batch_novelty(self, reference: Any, features: Any) -> NoveltyResult:
        """:func:`batch_novelty` of ``features`` against ``reference``, remembered for the last batch (by its
        fingerprint, the settings and the reference object), so ``predict`` and a report's ``novelty`` on the
        same batch search the neighbours once."""
        settings = (int(self.novelty_k), float(self.novelty_alpha), float(self.novelty_member_alpha))
        key = (fingerprint(features), settings)
        memo = getattr(self, "_novelty_memo", None)
        if memo is not None and memo[0] is reference and memo[1] == key:
            return memo[2]
        k, alpha, member_alpha = settings
        result = batch_novelty(reference, features, k=k, alpha=alpha, member_alpha=member_alpha)
        self._novelty_memo = (reference, key, result)
        return result

    def _guarded(self, X: Any, method: str, **kwargs: Any) -> np.ndarray:
        """``best_.<method>`` per row, the fallback's on the rows :meth:`novelty` flags."""
        given = kwargs.get("tradeoff")
        if given is not None and Tradeoff.parse(given).objective == self.tradeoff_.objective == "judge":
            kwargs["tradeoff"] = _for_subrouters(Tradeoff.parse(given))  # as the sub-routers were fitted
        out = np.asarray(getattr(self.best_, method)(X, **kwargs))
        novel = self.novelty(X, kwargs.get("tasks")).novel
        if novel.any():
            out = out.copy()
            rows = np.flatnonzero(novel)
            if kwargs.get("tasks") is not None:
                kwargs["tasks"] = np.asarray(list(kwargs["tasks"]), dtype=object)[rows]
            out[novel] = np.asarray(getattr(self.fallback_, method)(X[rows], **kwargs))
        return out

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return self._guarded(X, "predict_performance", tasks=self._tasks(tasks))

    def predict_cost(self, X: Any, tasks: Any = None) -> np.ndarray:
        """The winner's cost estimate (the fallback's on guarded rows)."""
        features = self._check_features(X)
        return self._guarded(features, "predict_cost", tasks=self._tasks(tasks))

    def predict_utility(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """The winner's utility under ``tradeoff`` (default: the fitted one; the fallback's on guarded rows)."""
        features = self._check_features(X)
        return self._guarded(features, "predict_utility", tradeoff=tradeoff, tasks=self._tasks(tasks))

    def route(self, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        """The winner's routes (indices into ``candidates_``); the best single candidate on guarded rows."""
        features = self._check_features(X)
        return self._guarded(features, "route", tradeoff=tradeoff, tasks=self._tasks(tasks))

    def search_table(self) -> str:
        """The search as a Markdown table (label, mean ± std of the fold rewards, fit seconds), winner marked."""
        lines = ["| candidate | CV reward (mean ± std) | fit s |", "|---|---|---|"]
        for i, row in enumerate(self.cv_results_):
            mark = " **(chosen)**" if i == self.best_index_ else ""
            lines.append(
                f"| {row['label']}{mark} | {row['mean_reward']:.4f} ± {row['std_reward']:.4f} | "
                f"{row['fit_seconds']:.1f} |"
            )
        return "\n".join(lines)
