"""Matrix-factorisation routing (RouteLLM / EmbedLLM): a bilinear score of projected queries and candidates.

The score of candidate ``m`` on query ``x`` is ``s(x, m) = (x W) · v_m + b_m``: ``W`` ``[d, r]`` projects the
query features, ``v_m`` ``[r]`` embeds the candidate, ``b_m`` is its bias. RouteLLM's MF router computes
``w₂ᵀ(normalize(P_m) ⊙ W₁ e_q)``, EmbedLLM's ``σ(φ(q)ᵀψ(m))``; both are this bilinear form up to
parametrisation (RouteLLM's ``w₂`` and normalisation reweight the factors).

The candidates share a population: ``v_m = μ + δ_m`` and ``b_m = β + c_m``, with the penalty
``alpha/2 · (|W|² + |μ|² + Σ|δ_m|² + Σc_m²)`` (``β`` is free). A candidate with few labelled queries stays near
the population (its data pulls ``δ_m`` and ``c_m`` away from 0 only as far as they support), and a candidate
never observed (``missing="mask"`` and an all-NaN column: leave-one-model-out with no labelled query) gets
exactly ``v = μ``, ``b = β``: the population prior, its predicted correctness the average candidate's on each
query. At the optimum ``μ = Σ δ_m``, so ``μ`` is the mean of the candidate embeddings shrunk by ``k/(k+1)``.
Candidate features (size, prices) are not used: with nine models a map from them to ``(v, b)`` has too few
points to learn (see the fusion README).

Objectives (scipy L-BFGS on the exact gradient, one BLAS thread):

* ``"pointwise"`` (default, EmbedLLM, CARROT's MF baseline): binary cross-entropy of ``σ(s)`` against the
  objective in [0, 1] (correctness, or a score used as a soft target), averaged over the observed cells;
* ``"pairwise"`` (RouteLLM): for every query and every pair of observed cells with ``y_i > y_j``, the logistic
  loss of ``s_i - s_j`` (the win-rate of ``i`` over ``j`` is ``σ(s_i - s_j)``); tied pairs give no signal.

``alpha="cv"`` chooses the penalty by 5-fold cross-validation of the routed reward on the training queries
(:mod:`fusionbench.fusion.routers.penalty`, grid ``MF_ALPHAS``). The estimate is ``σ(s)``: P(correct) under the
pointwise objective, a ranking score under the pairwise one.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize

from fusionbench.fusion.blas import blas_threads
from fusionbench.fusion.routers.base import BaseRouter, FitData, RouterTags
from fusionbench.fusion.routers.penalty import MF_ALPHAS, cross_validate_penalty
from fusionbench.fusion.routers.registry import register_router
from fusionbench.fusion.routers.tradeoffs import Tradeoff

_PAIR_CHUNK = 1024


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def pointwise_loss(
    scores: np.ndarray, target: np.ndarray, observed: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean BCE of ``σ(scores)`` against ``target`` over the ``observed`` cells (all by default) and its
    gradient wrt the scores (0 in unobserved cells, whatever the target holds there)."""
    if observed is None:
        loss = _softplus(scores) - target * scores
        return float(loss.mean()), (_sigmoid(scores) - target) / scores.size
    count = max(int(observed.sum()), 1)
    filled = np.where(observed, target, 0.0)
    loss = np.where(observed, _softplus(scores) - filled * scores, 0.0)
    return float(loss.sum()) / count, np.where(observed, _sigmoid(scores) - filled, 0.0) / count


def pairwise_loss(scores: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean logistic loss of ``s_i - s_j`` over the pairs with ``y_i > y_j`` (per query) and its gradient; a NaN
    target (unobserved) is in no pair."""
    n_pairs = 0
    total = 0.0
    grad = np.zeros_like(scores)
    for start in range(0, scores.shape[0], _PAIR_CHUNK):
        s, y = scores[start : start + _PAIR_CHUNK], target[start : start + _PAIR_CHUNK]
        wins = y[:, :, None] > y[:, None, :]  # [n, i, j]: i beats j
        diff = s[:, :, None] - s[:, None, :]
        total += float(_softplus(-diff)[wins].sum())
        n_pairs += int(wins.sum())
        g = np.where(wins, -_sigmoid(-diff), 0.0)  # d loss / d diff
        grad[start : start + _PAIR_CHUNK] = g.sum(axis=2) - g.sum(axis=1)
    if n_pairs == 0:
        return 0.0, grad
    return total / n_pairs, grad / n_pairs


@register_router("mf")
class MFRouter(BaseRouter):
    """Bilinear matrix factorisation of queries x candidates, trained with scipy's L-BFGS (no torch needed).

    ``missing="mask"`` learns from the observed cells only (a new candidate's k labelled queries, or none:
    the population prior); see the module docstring. ``alpha="cv"`` chooses the penalty on the training queries
    (``alpha_``, with ``cv_scores_`` per ``MF_ALPHAS`` value).
    """

    router_tags = RouterTags(supports_missing_mask=True)

    def __init__(
        self,
        n_factors: int = 32,
        objective: Literal["pointwise", "pairwise"] = "pointwise",
        alpha: float | Literal["cv"] = 1e-4,
        max_iter: int = 200,
        tol: float = 1e-6,
        random_state: int | None = 0,
        tradeoff: Tradeoff | str = "performance_first",
        missing: str = "raise",
    ) -> None:
        self.n_factors = n_factors
        self.objective = objective
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        if self.objective not in ("pointwise", "pairwise"):
            raise ValueError(f"objective must be 'pointwise' or 'pairwise', not {self.objective!r}")
        target = data.target
        if np.nanmin(target) < 0 or np.nanmax(target) > 1:
            raise ValueError("MFRouter's objectives need targets in [0, 1] (correctness or a normalised score)")
        if int(self.n_factors) < 1:
            raise ValueError(f"n_factors must be >= 1, not {self.n_factors}")
        if self.alpha == "cv":
            self.alpha_, self.cv_scores_ = cross_validate_penalty(self, "alpha", MF_ALPHAS, data)
        elif isinstance(self.alpha, (int, float, np.floating)) and self.alpha >= 0:
            self.alpha_, self.cv_scores_ = float(self.alpha), None
        else:
            raise ValueError(f"alpha must be a non-negative number or 'cv', not {self.alpha!r}")
        with blas_threads(1):
            self._solve(data.X, target, data.observed)

    def _solve(self, X: Any, target: np.ndarray, observed: np.ndarray | None) -> None:
        d, k, r = X.shape[1], target.shape[1], int(self.n_factors)
        alpha = self.alpha_
        seen = np.ones(k, dtype=bool) if observed is None else observed.any(axis=0)
        rng = np.random.default_rng(self.random_state)
        if observed is not None:
            target = np.where(observed, target, np.nan)  # a cell without cost is unobserved too
        counts = np.maximum((~np.isnan(target)).sum(axis=0), 1)
        means = np.clip(np.where(seen, np.nansum(target, axis=0) / counts, np.nan), 1e-3, 1 - 1e-3)
        logits = np.log(means / (1 - means))
        beta = float(np.nanmean(logits)) if self.objective == "pointwise" else 0.0
        offsets = np.where(seen, logits - beta, 0.0) if self.objective == "pointwise" else np.zeros(k)
        W0, D0 = rng.normal(0.0, 1.0 / np.sqrt(d), d * r), rng.normal(0.0, 1.0 / np.sqrt(r), (k, r))
        D0[~seen] = 0.0  # an unseen candidate starts at the population embedding
        start = np.concatenate([W0, np.zeros(r), D0.ravel(), offsets, [beta]])
        if self.objective == "pointwise":
            cells = None if observed is None or observed.all() else observed

            def loss_of(scores: np.ndarray) -> tuple[float, np.ndarray]:
                return pointwise_loss(scores, target, cells)
        else:

            def loss_of(scores: np.ndarray) -> tuple[float, np.ndarray]:
                return pairwise_loss(scores, target)

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, ...]:
            W = theta[: d * r].reshape(d, r)
            mu = theta[d * r : d * r + r]
            D = theta[d * r + r : d * r + r + k * r].reshape(k, r)
            return W, mu, D, theta[-k - 1 : -1], theta[-1]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, mu, D, c, beta = unpack(theta)
            V = mu + D
            Z = np.asarray(X @ W)
            loss, grad_s = loss_of(Z @ V.T + c + beta)
            grad_v = grad_s.T @ Z
            grad_b = grad_s.sum(axis=0)
            penalty = float((W * W).sum() + mu @ mu + (D * D).sum() + c @ c)
            grad = [np.asarray(X.T @ (grad_s @ V)) + alpha * W, grad_v.sum(axis=0) + alpha * mu, grad_v + alpha * D]
            grad += [grad_b + alpha * c, [grad_b.sum()]]
            return loss + 0.5 * alpha * penalty, np.concatenate([g.ravel() for g in map(np.asarray, grad)])

        result = minimize(
            objective, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter, "gtol": self.tol}
        )
        W, mu, D, c, beta = unpack(result.x)
        D[~seen], c[~seen] = 0.0, 0.0  # their optimum: the population prior exactly
        self.W_ = W.copy()
        self.V_ = mu + D
        self.b_ = c + beta
        self.population_embedding_, self.population_bias_ = mu.copy(), float(beta)
        self.unobserved_ = np.flatnonzero(~seen)
        self.loss_ = float(result.fun)
        self.n_iter_ = int(result.nit)

    def decision_function(self, X: Any) -> np.ndarray:
        """``[n, k]`` bilinear scores ``s(x, m)`` (logits)."""
        features = self._check_features(X)
        return np.asarray(features @ self.W_) @ self.V_.T + self.b_

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return _sigmoid(np.asarray(X @ self.W_) @ self.V_.T + self.b_)

    def _load_state(self, state: dict[str, Any]) -> None:
        state.setdefault("cv_scores_", None)
        state.setdefault("alpha_", self.alpha)
        super()._load_state(state)
