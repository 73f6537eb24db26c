"""Choosing anchor queries: how many per task, and which (random, stratified, k-means anchors on the items' IRT
embedding as tinyBenchmarks does, or the items of most Fisher information integrated over the source models'
abilities: the static form of adaptive testing). Every choice is a function of the seed and the item model alone."""

from __future__ import annotations

from typing import Any

import numpy as np

#: selection methods: (how anchors are chosen, which estimator turns their scores into accuracies)
METHODS: dict[str, tuple[str, str]] = {
    "random": ("random", "mean"),
    "stratified": ("stratified", "mean"),
    "anchors": ("kmeans", "mean"),
    "irt": ("stratified", "irt"),
    "pirt": ("stratified", "pirt"),
    "gpirt": ("stratified", "gpirt"),
    "anchors-gpirt": ("kmeans", "gpirt"),
    "adaptive": ("fisher", "irt"),
}
NEEDS_ITEM_MODEL = frozenset(
    name for name, (how, est) in METHODS.items() if how in ("kmeans", "fisher") or est != "mean"
)


def allocate(task_sizes: dict[str, int], *, total: int | None, per_task: int | None) -> dict[str, int]:
    """Anchors per task: ``per_task`` each, or ``total`` spread evenly over the tasks (the benchmark's overall
    score is the mean over tasks), remainders to the largest tasks; never more than a task has."""
    if (total is None) == (per_task is None):
        raise ValueError("give exactly one of total and per_task")
    if (total if total is not None else per_task) < 1:  # type: ignore[operator]
        raise ValueError("total and per_task must be >= 1")
    if per_task is not None:
        return {t: min(per_task, n) for t, n in task_sizes.items()}
    out = dict.fromkeys(task_sizes, 0)
    left = min(int(total), sum(task_sizes.values()))  # type: ignore[arg-type]
    order = sorted(task_sizes, key=lambda t: (-task_sizes[t], t))
    while left > 0:
        open_tasks = [t for t in order if out[t] < task_sizes[t]]
        share = max(left // len(open_tasks), 1)
        for t in open_tasks:
            give = min(share, task_sizes[t] - out[t], left)
            out[t] += give
            left -= give
            if left == 0:
                break
    return out


def kmeans(points: np.ndarray, k: int, seed: int, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres) of Lloyd's k-means from a seeded k-means++ start (numpy: the points are a few hundred
    items in 2-3 dimensions, where a library's set-up costs more than the work)."""
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    dist = np.sum((points - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = dist.sum()
        pick = rng.choice(len(points), p=dist / total) if total > 0 else rng.integers(len(points))
        centres.append(points[pick])
        dist = np.minimum(dist, np.sum((points - points[pick]) ** 2, axis=1))
    c = np.array(centres)
    labels = np.full(len(points), -1, dtype=np.int64)
    norms = np.sum(points**2, axis=1)[:, None]
    for _ in range(iterations):
        new = np.argmin(norms - 2 * points @ c.T + np.sum(c**2, axis=1)[None, :], axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = np.column_stack([np.bincount(labels, weights=points[:, d], minlength=k) for d in range(points.shape[1])])
        filled = counts > 0
        c[filled] = sums[filled] / counts[filled, None]
    return labels, c


def _kmeans_pick(points: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the k points nearest the k-means centres, each cluster's share of the points)."""
    if k >= len(points):
        return np.arange(len(points)), np.full(len(points), 1.0 / len(points))
    scaled = (points - points.mean(axis=0)) / (points.std(axis=0) + 1e-9)
    labels, centres = kmeans(scaled, k, seed)
    chosen, weights = [], []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        dist = np.linalg.norm(scaled[members] - centres[c], axis=1)
        chosen.append(members[int(np.argmin(dist))])
        weights.append(len(members) / len(points))
    return np.array(chosen, dtype=np.int64), np.array(weights)


def select(
    how: str,
    tasks: np.ndarray,
    counts: dict[str, int],
    *,
    seed: int,
    item_embedding: np.ndarray | None = None,
    total: int | None = None,
    information: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, weights) of the anchors among the population (``tasks`` per item). ``weights``: the share of
    its task each anchor stands for (they sum to 1 within a task). ``information``: per item, the Fisher
    information ``fisher`` ranks by (:func:`integrated_information`)."""
    rng = np.random.default_rng(seed)
    tasks = np.asarray(tasks).astype(str)
    if how == "random":
        n = min(int(total if total is not None else sum(counts.values())), len(tasks))
        pos = np.sort(rng.choice(len(tasks), size=n, replace=False))
        weights = np.zeros(n)
        for t in np.unique(tasks[pos]):
            here = tasks[pos] == t
            weights[here] = 1.0 / here.sum()
        return pos, weights
    positions: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for t, k in counts.items():
        members = np.flatnonzero(tasks == t)
        if k <= 0 or len(members) == 0:
            continue
        if how == "stratified":
            pick = np.sort(rng.choice(len(members), size=min(k, len(members)), replace=False))
            w = np.full(len(pick), 1.0 / len(pick))
        elif how == "kmeans":
            if item_embedding is None:
                raise ValueError("k-means anchors need the item model's item parameters")
            pick, w = _kmeans_pick(item_embedding[members], k, int(rng.integers(2**31)))
        elif how == "fisher":
            if information is None:
                raise ValueError("Fisher-information anchors need the item model's integrated information")
            pick = greedy_information(information[members], k)
            w = np.full(len(pick), 1.0 / len(pick))
        else:
            raise ValueError(f"unknown selection {how!r}")
        positions.append(members[pick])
        weights.append(w)
    if not positions:
        raise ValueError("no anchor could be chosen (no task has queries)")
    return np.concatenate(positions), np.concatenate(weights)


def item_embedding(model: Any, positions: np.ndarray | None = None) -> np.ndarray:
    """The items' IRT embedding (discrimination(s) and easiness), as tinyBenchmarks clusters on."""
    emb = np.column_stack([model.a, model.b])
    return emb if positions is None else emb[positions]


def integrated_information(
    model: Any, theta: np.ndarray | None = None, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per item, the Fisher information about a subject's ability, ``|a|^2 p (1 - p)`` (the trace of the 2PL
    information matrix), averaged over abilities: the rows of ``theta`` [n, dims] with ``weights`` (default: a
    normal fitted to the source subjects' abilities, :func:`normal_abilities`); ``theta="subjects"``: the fitted
    source subjects themselves, their task offsets included."""
    a = np.asarray(model.a, dtype=np.float64)
    if isinstance(theta, str) and theta == "subjects":
        logits, w = model.logits(), np.full(len(model.theta), 1.0 / len(model.theta))
    else:
        if theta is None:
            theta, weights = normal_abilities(model)
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        logits = theta @ a.T + model.b
        w = np.full(len(theta), 1.0 / len(theta)) if weights is None else np.asarray(weights, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-logits))
    return np.sum(a**2, axis=1) * ((w / w.sum()) @ (p * (1.0 - p)))


def normal_abilities(model: Any, nodes: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """(abilities [nodes, dims], weights): Gauss-Hermite nodes of a normal fitted to the source subjects' abilities
    along their first principal direction (mean and covariance as the ability prior has them)."""
    theta = np.asarray(model.theta, dtype=np.float64)
    mean = theta.mean(axis=0)
    cov = np.cov(theta.T).reshape(theta.shape[1], theta.shape[1]) if len(theta) > 2 else np.eye(theta.shape[1])
    values, vectors = np.linalg.eigh(cov + np.eye(len(mean)) * 0.1)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)  # weights of exp(-x^2 / 2)
    return mean + np.outer(x, vectors[:, -1] * np.sqrt(values[-1])), w / w.sum()


def greedy_information(information: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` items chosen greedily for the largest summed expected information (the items'
    informations add, so greedy is exact: the ``k`` largest; ties go to the earlier item), in population order."""
    order = np.lexsort((np.arange(len(information)), -np.asarray(information, dtype=np.float64)))
    return np.sort(order[: min(k, len(information))])


def most_informative(information: np.ndarray, remaining: np.ndarray) -> int | None:
    """Of the positions ``remaining``, the one of largest ``information`` (the earlier on ties); None if empty."""
    if len(remaining) == 0:
        return None
    values = np.asarray(information, dtype=np.float64)[remaining]
    return int(remaining[int(np.argmax(values))])
