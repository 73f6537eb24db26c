"""Query-level routers: scikit-learn estimators from query features to a candidate (model x mode).

Baselines (:class:`BestSingleRouter`, :class:`RandomRouter`, :class:`OracleRouter`), per-task routing
(:class:`PerTaskRouter`, Bench-CoE subject level), learned routers (:class:`KNNRouter`, :class:`LinearRouter`,
:class:`MLPRouter`, :class:`MFRouter`), cost-aware routing (:class:`CarrotRouter`) and the two-model view
(:class:`PairRouter`, RouteLLM). The interface is in :mod:`fusionbench.fusion.routers.base`; trade-offs and
labels in :mod:`fusionbench.fusion.routers.tradeoffs`; persistence in
:mod:`fusionbench.fusion.routers.persistence`. scikit-learn and scipy are needed (the ``route`` extra).
"""

from __future__ import annotations

from fusionbench.fusion.routers.base import BaseRouter
from fusionbench.fusion.routers.baselines import BestSingleRouter, OracleRouter, RandomRouter
from fusionbench.fusion.routers.carrot import CarrotRouter
from fusionbench.fusion.routers.knn import KNNRouter
from fusionbench.fusion.routers.linear import LinearRouter
from fusionbench.fusion.routers.mf import MFRouter
from fusionbench.fusion.routers.mlp import MLPRouter
from fusionbench.fusion.routers.pair import PairRouter
from fusionbench.fusion.routers.persistence import check_featurizer, load_pipeline
from fusionbench.fusion.routers.scoring import routing_scorer
from fusionbench.fusion.routers.tasks import PerTaskRouter
from fusionbench.fusion.routers.tradeoffs import Tradeoff, labels_from

#: Router class name -> class (what from_pretrained may build, and the CLI's registry).
ROUTER_CLASSES: dict[str, type[BaseRouter]] = {
    cls.__name__: cls
    for cls in (
        BestSingleRouter,
        RandomRouter,
        OracleRouter,
        PerTaskRouter,
        KNNRouter,
        LinearRouter,
        MLPRouter,
        MFRouter,
        CarrotRouter,
        PairRouter,
    )
}
#: Short names (``--router knn``) -> class.
ROUTERS: dict[str, type[BaseRouter]] = {
    "best_single": BestSingleRouter,
    "random": RandomRouter,
    "oracle": OracleRouter,
    "per_task": PerTaskRouter,
    "knn": KNNRouter,
    "linear": LinearRouter,
    "mlp": MLPRouter,
    "mf": MFRouter,
    "carrot": CarrotRouter,
    "pair": PairRouter,
}


def make_router(name: str, **params: object) -> BaseRouter:
    """A router by short name (``"knn"``, ``"linear"``, ...) or class name, with constructor parameters."""
    cls = ROUTERS.get(name) or ROUTER_CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown router {name!r}; known: {sorted(ROUTERS)}")
    return cls(**params)


__all__ = [
    "ROUTERS",
    "ROUTER_CLASSES",
    "BaseRouter",
    "BestSingleRouter",
    "CarrotRouter",
    "KNNRouter",
    "LinearRouter",
    "MFRouter",
    "MLPRouter",
    "OracleRouter",
    "PairRouter",
    "PerTaskRouter",
    "RandomRouter",
    "Tradeoff",
    "check_featurizer",
    "labels_from",
    "load_pipeline",
    "make_router",
    "routing_scorer",
]
