"""A cap on BLAS threads for the fusion code's many small matrix products."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


def blas_threads(limit: int) -> AbstractContextManager[Any]:
    """At most ``limit`` BLAS threads inside the block. The L-BFGS fits (MF, joint logistic) work on vectors of a
    few ten thousand parameters and the bootstrap multiplies [100, n] by [n, a few hundred]: threads gain nothing
    at those sizes, and on a machine busy with other work OpenBLAS's spinning threads made them 20-30x slower
    (measured: an MF fit 6.9 s -> 0.5 s; 1,000 resamples of 7.6k queries x 250 columns 2.5 s -> 0.12 s)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")
