"""IRT item parameters per task: a one-dimensional 2PL item model (:mod:`fusionbench.fusion.irt`) fitted on the
candidates' scores (subjects = candidates, items = queries, missing cells masked), its difficulty (``-b`` in logits:
higher is harder) and discrimination (``a``: how sharply the item separates strong from weak candidates; negative
means the weak ones get it right more often, a label to check) summarised per task."""

from __future__ import annotations

import numpy as np

from fusionbench.fusion.analysis.common import table, task_order
from fusionbench.fusion.analysis.skills import ItemStatistics, quartiles
from fusionbench.fusion.data import RoutingData

#: Fewer candidates than this cannot separate an item's discrimination from the candidates' abilities.
MIN_CANDIDATES = 3


def irt_item_parameters(data: RoutingData, *, seed: int = 0) -> ItemStatistics | None:
    """Difficulty and discrimination of every query from a 2PL fit, summarised per task (quartiles, the share of
    negative discriminations); None with fewer than :data:`MIN_CANDIDATES` candidates."""
    from fusionbench.fusion.irt import fit_irt

    if data.n_candidates < MIN_CANDIDATES:
        return None
    model = fit_irt(data, kind="2pl", dims=1, seed=seed)
    labels = np.asarray([str(t) for t in data.tasks])
    rows, difficulty, discrimination = [], {}, {}
    for task in task_order(data.tasks):
        mask = labels == task
        diff, disc = model.difficulty[mask], model.discrimination[mask]
        difficulty[task] = [float(v) for v in diff]
        discrimination[task] = [float(v) for v in disc]
        rows.append(
            {
                "task": task,
                "n_queries": int(mask.sum()),
                **quartiles("difficulty", diff),
                **quartiles("discrimination", disc),
                "share_negative_discrimination": float((disc < 0).mean()),
            }
        )
    return ItemStatistics(table(rows), difficulty, discrimination)
