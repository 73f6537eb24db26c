"""RoutingData handed to the routing metrics (:mod:`fusionbench.metrics.routing`): one matrix type, no second copy.

:func:`as_matrices` gives the :class:`~fusionbench.metrics.routing_rows.RoutingMatrices` of a RoutingData (its
performance and cost arrays shared, not copied); :func:`routing_metrics` runs
:func:`~fusionbench.metrics.routing.evaluate_routing` on it: AIQ, PGR, CostSave, the frontier and the baselines
*on the evaluated queries* (``best_single_oracle``: the best candidate on them, in hindsight). The train-fitted
baselines (``best_single_train``, ``per_task``) and the paired CIs against them are :func:`.core.evaluate`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.fusion.data import COLUMNS, MissingValuesError, RoutingData
from fusionbench.metrics.routing import evaluate_routing
from fusionbench.metrics.routing_rows import RoutingMatrices


def as_matrices(data: RoutingData) -> RoutingMatrices:
    """The query x candidate matrices of ``data``; a cell without performance or cost is an error naming the
    column (the routing metrics compare every candidate on every query, and a missing cost is never 0)."""
    for name, matrix in (("performance", data.performance), ("cost", data.cost)):
        missing = np.isnan(matrix)
        if missing.any():
            raise MissingValuesError(
                f"{data.source}: {name} (column {COLUMNS[name]!r}) is missing for {int(missing.sum()):,} of "
                f"{missing.size:,} (query, candidate) cells; the routing metrics need every cell "
                "(drop the queries or candidates first: RoutingData.resolve_incomplete)"
            )
    return RoutingMatrices(
        query_ids=[str(q) for q in data.query_ids],
        tasks=[str(t) for t in data.tasks],
        candidates=list(data.candidates),
        performance=data.performance,
        cost=data.cost,
    )


def routing_metrics(choices: Any, test: RoutingData, **options: Any) -> dict[str, Any]:
    """:func:`fusionbench.metrics.routing.evaluate_routing` of ``choices`` (candidate names or indices, one per
    test query) on ``test``; ``options`` (``n_boot``, ``seed``, ``strong``, ...) go to it."""
    matrices = as_matrices(test)
    return evaluate_routing(
        matrices.performance, matrices.cost, matrices.candidates, list(choices), matrices.tasks, **options
    )
