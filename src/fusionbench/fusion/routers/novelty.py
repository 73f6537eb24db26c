"""Which queries of a batch come from a region of feature space that train never covered (a new task)?

A router that learned "task A's best model" transfers that choice to a new task that merely looks like A, and a
new task's models may rank otherwise (on the embedded data, mmlu and gpqa held out are routed to the best
commonsense model, which scores 0.11 on them). No per-query score separates such queries well enough (a query's
distance to train flags at most ~86 % of them at a 20 % false-alarm rate), but a *batch* does: the queries of a new
task are one another's nearest neighbours, while an in-distribution query's neighbours are training queries in the
proportion of the two sets. This is the nearest-neighbour two-sample test (Schilling, JASA 1986), applied per
query:

1. for each batch query, its ``k`` nearest neighbours (cosine) among train ∪ batch (itself excluded);
2. under "same distribution", the number of batch neighbours is about Binomial(k, π) with π = n_batch /
   (n_train + n_batch − 1); the query's p-value is that count's binomial tail;
3. the batch has a new region only if the queries with p < ``alpha`` are at least ``min_flagged`` and
   ``min_share`` of the batch and significantly many (a binomial test at ``alpha`` against the ``alpha``
   false-alarm rate); otherwise nothing is flagged, so in-distribution batches are routed exactly as without
   the check. The share floor is there because the per-query tests share neighbours, so their false alarms come
   in clusters (near-duplicate items of one task): on random splits of the embedded data 0.2-2.2 % of the test
   queries reach p < 0.1 % (10 seeds), far above the 0.1 % the binomial gate assumes;
4. then the queries with p < ``member_alpha`` (a looser level: the batch is already known to hold a new region)
   are *flagged*, and a linear classifier (train vs flagged rows) adds the unflagged batch queries it puts on the
   flagged side: the new task's queries that happen to sit near train.

A batch of one query, or any batch shaped like train, is never flagged. The result depends on the batch (it is a
transductive check, like a two-sample test); the router that uses it says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import binom
from sklearn.neighbors import NearestNeighbors
from sklearn.svm import LinearSVC

#: Defaults: 20 neighbours; a 0.1 % level and a 5 % share floor for the batch (so that an in-distribution batch
#: is left alone) and 1 % for membership once the batch has a new region (how they were chosen, disclosed:
#: docs/results/routing.md).
NOVELTY_K = 20
NOVELTY_ALPHA = 1e-3
NOVELTY_MEMBER_ALPHA = 1e-2
NOVELTY_MIN_FLAGGED = 20
NOVELTY_MIN_SHARE = 0.05


@dataclass(frozen=True)
class NoveltyResult:
    """``novel``: the batch rows routed as a new task; ``flagged``: those the per-query test flagged before
    propagation; ``significant``: whether the batch as a whole showed a new region."""

    novel: np.ndarray
    flagged: np.ndarray
    significant: bool

    @property
    def n_novel(self) -> int:
        """How many batch rows are treated as a new task."""
        return int(self.novel.sum())


def _stack(reference: Any, X: Any) -> Any:
    if sp.issparse(reference) or sp.issparse(X):
        return sp.vstack([sp.csr_matrix(reference), sp.csr_matrix(X)]).tocsr()
    return np.vstack([np.asarray(reference), np.asarray(X)])


def batch_novelty(
    reference: Any,
    X: Any,
    *,
    k: int = NOVELTY_K,
    alpha: float = NOVELTY_ALPHA,
    member_alpha: float = NOVELTY_MEMBER_ALPHA,
    min_flagged: int = NOVELTY_MIN_FLAGGED,
    min_share: float = NOVELTY_MIN_SHARE,
) -> NoveltyResult:
    """The rows of the batch ``X`` that form a region the training features ``reference`` do not cover (see the
    module docstring). ``reference`` and ``X``: ``[n, d]`` features of the same featuriser, dense or sparse."""
    n_ref, n = reference.shape[0], X.shape[0]
    nothing = np.zeros(n, dtype=bool)
    if n < 2 or n_ref < 1 or n_ref + n - 1 <= k:
        return NoveltyResult(nothing, nothing.copy(), False)
    everything = _stack(reference, X)
    search = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(everything)
    _, neighbours = search.kneighbors(X)
    own = n_ref + np.arange(n)
    keep = neighbours != own[:, None]
    keep[keep.sum(axis=1) > k, -1] = False  # a row whose own index fell outside its k + 1: drop the farthest
    neighbours = neighbours[keep].reshape(n, k)
    in_batch = neighbours >= n_ref
    share = n / (n_ref + n - 1)
    p_values = binom.sf(in_batch.sum(axis=1) - 1, k, share)
    n_strict = int((p_values < alpha).sum())
    if n_strict < max(min_flagged, min_share * n) or binom.sf(n_strict - 1, n, alpha) >= alpha:
        return NoveltyResult(nothing, nothing.copy(), False)
    flagged = p_values < max(alpha, member_alpha)
    side = np.r_[np.zeros(n_ref, dtype=np.int8), np.ones(int(flagged.sum()), dtype=np.int8)]
    rows = _stack(reference, X[np.flatnonzero(flagged)])
    classifier = LinearSVC(C=0.5, dual="auto", max_iter=2000, random_state=0).fit(rows, side)
    novel = flagged | (classifier.predict(X) == 1)
    return NoveltyResult(novel, flagged, True)
