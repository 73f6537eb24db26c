"""Item response theory on a (subject x item) correctness matrix: 1PL, 2PL and a low-dimensional multidimensional 2PL.

A subject is a candidate (model x mode), an item a query. The probability that subject ``i`` answers item ``j``
correctly is ``sigmoid(theta_i . a_j + b_j + delta_{i, task(j)})``: ``theta`` the ability (``dims`` values), ``a``
the discrimination (all ones for 1PL), ``b`` the easiness (the difficulty is ``-b``), and with ``task_effects`` a
per-(subject, task) offset ``delta`` (a subject's skill profile over tasks). Missing cells (NaN) are masked, never
read as 0; fractional scores (F1, judge preferences) are Bernoulli targets in [0, 1] (cross-entropy). The fit is the
MAP of the log-likelihood under Gaussian priors (theta ~ N(0, 1), b ~ N(0, 2^2), a ~ N(1, 0.5^2) on the first
dimension and N(0, 0.5^2) on the others, delta ~ N(0, 0.5^2); the sds are config fields), by scipy's L-BFGS with
the analytic gradient, from a deterministic start (seeded jitter for the extra dimensions): the same data and seed
give the same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from fusionbench.fusion.blas import blas_threads

KINDS = ("1pl", "2pl")


@dataclass(frozen=True)
class IRTConfig:
    """How an item model is fitted; see the module docstring."""

    kind: str = "2pl"
    dims: int = 1
    task_effects: bool = False
    prior_theta: float = 1.0
    prior_a: float = 0.5
    prior_b: float = 2.0
    prior_task: float = 0.5
    max_iter: int = 2000
    tol: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.dims < 1 or (self.kind == "1pl" and self.dims != 1):
            raise ValueError(f"dims must be >= 1 (and 1 for 1pl), not {self.dims}")
        for name in ("prior_theta", "prior_a", "prior_b", "prior_task"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


@dataclass(frozen=True, eq=False)
class ItemModel:
    """A fitted item model: per item ``a`` [n_items, dims], ``b`` [n_items], ``item_tasks``; per subject ``theta``
    [n_subjects, dims] and ``delta`` [n_subjects, n_tasks] (zeros without task effects); ``tasks`` (the order of
    ``delta``'s columns); optionally ``feature_map`` (ridge weights from query features to (a, b), see
    :func:`fit_feature_map`)."""

    config: IRTConfig
    subjects: tuple[str, ...]
    items: tuple[str, ...]
    item_tasks: np.ndarray
    tasks: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    delta: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    feature_map: dict[str, Any] | None = None

    @property
    def difficulty(self) -> np.ndarray:
        """``-b``: higher is harder."""
        return -self.b

    @property
    def discrimination(self) -> np.ndarray:
        """The length of each item's ``a`` (signed by its first dimension for one dimension)."""
        return self.a[:, 0] if self.a.shape[1] == 1 else np.linalg.norm(self.a, axis=1)

    def task_index(self) -> np.ndarray:
        """Each item's task as an index into :attr:`tasks` (computed once)."""
        return self._task_index

    @cached_property
    def _task_index(self) -> np.ndarray:
        lookup = {t: i for i, t in enumerate(self.tasks)}
        return np.array([lookup[str(t)] for t in self.item_tasks], dtype=np.int64)

    def logits(self) -> np.ndarray:
        """[n_subjects, n_items] logits of the fitted subjects."""
        return self.theta @ self.a.T + self.b + self.delta[:, self.task_index()]

    def probabilities(self) -> np.ndarray:
        """[n_subjects, n_items] predicted probabilities of a correct answer of the fitted subjects."""
        return expit(self.logits())

    def item_positions(self, items: Sequence[str]) -> np.ndarray:
        """Indices of ``items`` (ids) in :attr:`items`; a KeyError names the first unknown one."""
        lookup = {item: j for j, item in enumerate(self.items)}
        missing = [str(i) for i in items if str(i) not in lookup]
        if missing:
            raise KeyError(f"{len(missing)} items are not in the item model, e.g. {missing[:3]}")
        return np.array([lookup[str(i)] for i in items], dtype=np.int64)


# ---------------------------------------------------------------------------------------- the objective
def _unpack(x: np.ndarray, shape: tuple[int, int, int, int], cfg: IRTConfig) -> tuple[np.ndarray, ...]:
    s, n, d, t = shape
    theta = x[: s * d].reshape(s, d)
    at = s * d
    if cfg.kind == "2pl":
        a = x[at : at + n * d].reshape(n, d)
        at += n * d
    else:
        a = np.ones((n, 1))
    b = x[at : at + n]
    at += n
    delta = x[at : at + s * t].reshape(s, t) if cfg.task_effects else np.zeros((s, t))
    return theta, a, b, delta


def _objective(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, task_of: np.ndarray, onehot: np.ndarray, cfg: IRTConfig
) -> tuple[float, np.ndarray]:
    """Negative log posterior (cross-entropy on the observed cells + Gaussian priors) and its gradient."""
    s, n = y.shape
    d, t = cfg.dims, onehot.shape[1]
    theta, a, b, delta = _unpack(x, (s, n, d, t), cfg)
    z = theta @ a.T + b + delta[:, task_of]
    loss = float(np.sum(w * (np.logaddexp(0.0, z) - y * z)))
    dz = w * (expit(z) - y)
    a_mean = np.zeros(d)
    a_mean[0] = 1.0
    loss += 0.5 * (np.sum(theta**2) / cfg.prior_theta**2 + np.sum(b**2) / cfg.prior_b**2)
    parts = [(dz @ a + theta / cfg.prior_theta**2).ravel()]
    if cfg.kind == "2pl":
        loss += 0.5 * np.sum((a - a_mean) ** 2) / cfg.prior_a**2
        parts.append((dz.T @ theta + (a - a_mean) / cfg.prior_a**2).ravel())
    parts.append(dz.sum(axis=0) + b / cfg.prior_b**2)
    if cfg.task_effects:
        loss += 0.5 * np.sum(delta**2) / cfg.prior_task**2
        parts.append((dz @ onehot + delta / cfg.prior_task**2).ravel())
    return loss, np.concatenate(parts)


def _start(y: np.ndarray, w: np.ndarray, t: int, cfg: IRTConfig) -> np.ndarray:
    """A deterministic start: easiness from item means, ability from subject means, extra dimensions from the
    residual's SVD plus a seeded jitter."""
    s, n = y.shape
    seen = w > 0
    item_mean = np.where(seen.any(0), (y * w).sum(0) / np.maximum(w.sum(0), 1e-12), 0.5)
    subj_mean = np.where(seen.any(1), (y * w).sum(1) / np.maximum(w.sum(1), 1e-12), 0.5)
    logit = lambda p: np.log(np.clip(p, 0.02, 0.98) / (1 - np.clip(p, 0.02, 0.98)))  # noqa: E731
    b = logit(item_mean) * 0.8
    theta = np.zeros((s, cfg.dims))
    raw = logit(subj_mean)
    theta[:, 0] = (raw - raw.mean()) / (raw.std() + 1e-9) * 0.8 if s > 1 else 0.0
    rng = np.random.default_rng(cfg.seed)
    if cfg.dims > 1:
        resid = np.where(seen, y - np.clip(item_mean, 0, 1), 0.0)
        resid = resid - resid.mean(axis=1, keepdims=True)
        u, _sv, _ = np.linalg.svd(resid, full_matrices=False)
        extra = min(cfg.dims - 1, u.shape[1] - 1)
        if extra > 0:
            theta[:, 1 : 1 + extra] = u[:, 1 : 1 + extra] * np.sqrt(s) * 0.5
        theta[:, 1:] += rng.normal(0.0, 0.05, size=(s, cfg.dims - 1))
    parts = [theta.ravel()]
    if cfg.kind == "2pl":
        a = np.zeros((n, cfg.dims))
        a[:, 0] = 1.0
        if cfg.dims > 1:
            a[:, 1:] = rng.normal(0.0, 0.05, size=(n, cfg.dims - 1))
        parts.append(a.ravel())
    parts.append(b)
    if cfg.task_effects:
        parts.append(np.zeros(s * t))
    return np.concatenate(parts)


def fit_matrix(
    scores: Any,
    *,
    subjects: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    item_tasks: Sequence[str] | None = None,
    weights: Any = None,
    config: IRTConfig | None = None,
    **options: Any,
) -> ItemModel:
    """Fit an item model on ``scores`` [n_subjects, n_items] in [0, 1] (NaN = missing, masked). ``weights``: an
    optional [n_subjects, n_items] weight per cell; ``options`` override :class:`IRTConfig` fields."""
    cfg = replace(config or IRTConfig(), **options)
    y = np.array(scores, dtype=np.float64)
    if y.ndim != 2 or 0 in y.shape:
        raise ValueError(f"scores must be a non-empty [n_subjects, n_items] matrix, not shape {y.shape}")
    observed = ~np.isnan(y)
    if np.any((y[observed] < 0) | (y[observed] > 1)):
        raise ValueError("scores must lie in [0, 1] (NaN for a missing cell)")
    s, n = y.shape
    w = observed.astype(np.float64) if weights is None else np.where(observed, np.asarray(weights, float), 0.0)
    y = np.where(observed, y, 0.0)
    subjects = tuple(str(v) for v in (subjects if subjects is not None else [f"s{i}" for i in range(s)]))
    items = tuple(str(v) for v in (items if items is not None else [f"i{j}" for j in range(n)]))
    tasks_of = np.array(["default"] * n if item_tasks is None else [str(t) for t in item_tasks], dtype=object)
    if (len(subjects), len(items), len(tasks_of)) != (s, n, n):
        raise ValueError("subjects, items and item_tasks must match the matrix's shape")
    tasks = tuple(dict.fromkeys(tasks_of.tolist()))
    lookup = {t: i for i, t in enumerate(tasks)}
    task_of = np.array([lookup[t] for t in tasks_of], dtype=np.int64)
    onehot = np.zeros((n, len(tasks)))
    onehot[np.arange(n), task_of] = 1.0
    x0 = _start(y, w, len(tasks), cfg)
    with blas_threads(1):  # small products: threads only contend (see fusionbench.fusion.blas)
        done = minimize(_objective, x0, args=(y, w, task_of, onehot, cfg), jac=True, method="L-BFGS-B",
                        options={"maxiter": cfg.max_iter, "gtol": cfg.tol, "ftol": 1e-9, "maxcor": 20})  # fmt: skip
    theta, a, b, delta = _unpack(done.x, (s, n, cfg.dims, len(tasks)), cfg)
    info = {"converged": bool(done.success), "iterations": int(done.nit), "objective": float(done.fun),
            "cells": int(observed.sum()), "message": str(done.message)}  # fmt: skip
    return ItemModel(cfg, subjects, items, tasks_of, tasks, a.copy(), b.copy(), theta.copy(), delta.copy(), info)


def fit_irt(data: Any, *, score: str = "performance", **options: Any) -> ItemModel:
    """Fit an item model on a :class:`~fusionbench.fusion.data.RoutingData`: subjects = its candidates, items = its
    rows (ids = ``data.keys``, tasks = ``data.tasks``); ``score`` names the cell matrix (``performance`` or
    ``judge``); ``options`` are :class:`IRTConfig` fields."""
    matrix = np.asarray(getattr(data, score), dtype=np.float64).T
    model = fit_matrix(matrix, subjects=data.candidates, items=[str(k) for k in data.keys],
                       item_tasks=[str(t) for t in data.tasks], **options)  # fmt: skip
    return replace(model, info={**model.info, "source": str(data.source), "score": score})


# ------------------------------------------------------------------------------- a new subject's ability
@dataclass(frozen=True)
class Ability:
    """A new subject's MAP ability ``theta`` [dims], task offsets ``delta`` [n_tasks], and the Laplace
    posterior standard deviation of ``theta``'s first dimension (``theta_sd``)."""

    theta: np.ndarray
    delta: np.ndarray
    theta_sd: float
    log_likelihood: float


def ability_prior(model: ItemModel) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean, covariance) of the fitted subjects' abilities (regularised) and the task-offset prior's sd."""
    theta = model.theta
    mean = theta.mean(axis=0)
    cov = np.cov(theta.T).reshape(model.config.dims, model.config.dims) if len(theta) > 2 else np.eye(theta.shape[1])
    cov = cov + np.eye(len(mean)) * 0.1
    tau = float(np.sqrt(np.mean(model.delta**2) + 0.01)) if model.config.task_effects else 0.0
    return mean, cov, tau


def fit_ability(
    model: ItemModel, positions: np.ndarray, scores: np.ndarray, *, iterations: int = 30, prior: Any = None
) -> Ability:
    """The MAP ability of a new subject from its ``scores`` on the items at ``positions`` (item parameters fixed):
    damped Newton steps (at most 2 logits, halved until the objective does not rise) on the cross-entropy plus the
    Gaussian prior of :func:`ability_prior`."""
    pos = np.asarray(positions, dtype=np.int64)
    y = np.asarray(scores, dtype=np.float64)
    mean, cov, tau = prior if prior is not None else ability_prior(model)
    d = model.config.dims
    n_tasks = len(model.tasks) if tau > 0 else 0
    task = model.task_index()[pos]
    design = np.zeros((len(pos), d + n_tasks))
    design[:, :d] = model.a[pos]
    if n_tasks:
        design[np.arange(len(pos)), d + task] = 1.0
    precision = np.zeros((d + n_tasks, d + n_tasks))
    precision[:d, :d] = np.linalg.inv(cov)
    if n_tasks:
        precision[d:, d:] = np.eye(n_tasks) / tau**2
    centre = np.concatenate([mean, np.zeros(n_tasks)])
    x = centre.copy()
    b = model.b[pos]

    def objective(v: np.ndarray) -> float:
        z = design @ v + b
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * (v - centre) @ precision @ (v - centre))

    current = objective(x)
    for _ in range(iterations):
        p = expit(design @ x + b)
        grad = design.T @ (p - y) + precision @ (x - centre)
        hess = (design * (p * (1 - p))[:, None]).T @ design + precision
        step = np.linalg.solve(hess, grad)
        step *= min(1.0, 2.0 / max(float(np.max(np.abs(step))), 1e-12))  # at most 2 logits a step
        t = 1.0
        while objective(x - t * step) > current + 1e-12 and t > 1e-6:  # damped: never uphill
            t /= 2
        x = x - t * step
        current = objective(x)
        if np.max(np.abs(t * step)) < 1e-8:
            break
    p = expit(design @ x + b)
    hess = (design * (p * (1 - p))[:, None]).T @ design + precision
    sd = float(np.sqrt(np.linalg.inv(hess)[0, 0]))
    eps = 1e-12
    loglik = float(np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    delta = x[d:] if n_tasks else np.zeros(len(model.tasks))
    return Ability(x[:d].copy(), delta.copy(), sd, loglik)


def predict_items(model: ItemModel, ability: Ability, positions: np.ndarray | None = None) -> np.ndarray:
    """Predicted probability of a correct answer of a subject of ``ability`` on the items at ``positions`` (all)."""
    pos = np.arange(len(model.items)) if positions is None else np.asarray(positions, dtype=np.int64)
    z = model.a[pos] @ ability.theta + model.b[pos] + ability.delta[model.task_index()[pos]]
    return expit(z)


def predict_new_subject(model: ItemModel, answers: dict[str, float] | Any) -> dict[str, float]:
    """Predicted per-item correctness of a new subject given its ``answers`` ({item id: score}) on some items:
    its ability fitted with the item parameters fixed, then every item predicted (the answered ones too). The
    routers' cold start uses this."""
    keys = [str(k) for k in answers]
    ability = fit_ability(model, model.item_positions(keys), np.array([float(answers[k]) for k in answers]))
    return dict(zip(model.items, predict_items(model, ability).tolist(), strict=True))


# ------------------------------------------------------------------------------ items from query features
def fit_feature_map(model: ItemModel, features: Any, *, alpha: float = 1.0) -> ItemModel:
    """A second stage: ridge regressions (closed form, intercept unpenalised, features standardised) from query
    ``features`` [n_items, f] to each item's ``b`` and ``a``, so that a new query gets a difficulty before any
    subject answered it (:func:`items_from_features`)."""
    X = np.asarray(features, dtype=np.float64)
    if X.shape[0] != len(model.items):
        raise ValueError(f"features have {X.shape[0]} rows for {len(model.items)} items")
    mean, scale = X.mean(axis=0), X.std(axis=0) + 1e-9
    Z = (X - mean) / scale
    targets = np.column_stack([model.b, model.a])
    centre = targets.mean(axis=0)
    gram = Z.T @ Z + alpha * np.eye(Z.shape[1])
    weights = np.linalg.solve(gram, Z.T @ (targets - centre))
    fitted = Z @ weights + centre
    r2 = 1 - np.sum((targets[:, 0] - fitted[:, 0]) ** 2) / max(np.sum((targets[:, 0] - centre[0]) ** 2), 1e-12)
    mapping = {"mean": mean, "scale": scale, "weights": weights, "intercept": centre, "alpha": float(alpha),
               "train_r2_b": float(r2)}  # fmt: skip
    return replace(model, feature_map=mapping)


def items_from_features(model: ItemModel, features: Any) -> tuple[np.ndarray, np.ndarray]:
    """(a [m, dims], b [m]) of new queries from their ``features`` through the fitted feature map."""
    if model.feature_map is None:
        raise ValueError("the item model has no feature map; fit one with fit_feature_map")
    fm = model.feature_map
    X = (np.asarray(features, dtype=np.float64) - fm["mean"]) / fm["scale"]
    out = X @ fm["weights"] + fm["intercept"]
    return out[:, 1:], out[:, 0]
