"""Matrix-factorisation routing (RouteLLM / EmbedLLM): a bilinear score of projected queries and candidates.

The score of candidate ``m`` on query ``x`` is ``s(x, m) = (x W) · v_m + b_m``: ``W`` ``[d, r]`` projects the
query features, ``v_m`` ``[r]`` embeds the candidate, ``b_m`` is its bias. RouteLLM's MF router computes
``w₂ᵀ(normalize(P_m) ⊙ W₁ e_q)``, EmbedLLM's ``σ(φ(q)ᵀψ(m))``; both are this bilinear form up to
parametrisation (RouteLLM's ``w₂`` and normalisation reweight the factors).

Objectives (L2 penalty ``alpha/2 · (|W|² + |V|²)``, scipy L-BFGS on the exact gradient):

* ``"pointwise"`` (default, EmbedLLM, CARROT's MF baseline): binary cross-entropy of ``σ(s)`` against the
  objective in [0, 1] (correctness, or a score used as a soft target);
* ``"pairwise"`` (RouteLLM): for every query and every pair with ``y_i > y_j``, the logistic loss of
  ``s_i - s_j`` (the win-rate of ``i`` over ``j`` is ``σ(s_i - s_j)``); tied pairs give no signal.

The estimate is ``σ(s)``: P(correct) under the pointwise objective, a ranking score under the pairwise one.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize

from fusionbench.fusion.routers.base import BaseRouter, FitData
from fusionbench.fusion.routers.tradeoffs import Tradeoff

_PAIR_CHUNK = 1024


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def pointwise_loss(scores: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean BCE of ``σ(scores)`` against ``target`` and its gradient wrt the scores."""
    loss = _softplus(scores) - target * scores
    return float(loss.mean()), (_sigmoid(scores) - target) / scores.size


def pairwise_loss(scores: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean logistic loss of ``s_i - s_j`` over the pairs with ``y_i > y_j`` (per query) and its gradient."""
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


class MFRouter(BaseRouter):
    """Bilinear matrix factorisation of queries x candidates, trained with scipy's L-BFGS (no torch needed)."""

    def __init__(
        self,
        n_factors: int = 32,
        objective: Literal["pointwise", "pairwise"] = "pointwise",
        alpha: float = 1e-4,
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
        if target.min() < 0 or target.max() > 1:
            raise ValueError("MFRouter's objectives need targets in [0, 1] (correctness or a normalised score)")
        X = data.X
        d, k, r = X.shape[1], target.shape[1], int(self.n_factors)
        if r < 1:
            raise ValueError(f"n_factors must be >= 1, not {self.n_factors}")
        rng = np.random.default_rng(self.random_state)
        mean = np.clip(target.mean(axis=0), 1e-3, 1 - 1e-3)
        start = np.concatenate(
            [
                rng.normal(0.0, 1.0 / np.sqrt(d), d * r),
                rng.normal(0.0, 1.0 / np.sqrt(r), k * r),
                np.log(mean / (1 - mean)) if self.objective == "pointwise" else np.zeros(k),
            ]
        )
        loss_of = pointwise_loss if self.objective == "pointwise" else pairwise_loss

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W, V, b = theta[: d * r].reshape(d, r), theta[d * r : d * r + k * r].reshape(k, r), theta[-k:]
            Z = np.asarray(X @ W)
            loss, grad_s = loss_of(Z @ V.T + b, target)
            grad_z = grad_s @ V
            grad_w = np.asarray(X.T @ grad_z) + self.alpha * W
            grad_v = grad_s.T @ Z + self.alpha * V
            penalty = 0.5 * self.alpha * (float((W * W).sum()) + float((V * V).sum()))
            return loss + penalty, np.concatenate([grad_w.ravel(), grad_v.ravel(), grad_s.sum(axis=0)])

        result = minimize(
            objective, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter, "gtol": self.tol}
        )
        theta = result.x
        self.W_ = theta[: d * r].reshape(d, r)
        self.V_ = theta[d * r : d * r + k * r].reshape(k, r)
        self.b_ = theta[-k:]
        self.loss_ = float(result.fun)
        self.n_iter_ = int(result.nit)

    def decision_function(self, X: Any) -> np.ndarray:
        """``[n, k]`` bilinear scores ``s(x, m)`` (logits)."""
        features = self._check_features(X)
        return np.asarray(features @ self.W_) @ self.V_.T + self.b_

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return _sigmoid(np.asarray(X @ self.W_) @ self.V_.T + self.b_)

    def _state(self) -> dict[str, Any]:
        return {"W_": self.W_, "V_": self.V_, "b_": self.b_, "loss_": self.loss_, "n_iter_": self.n_iter_}
