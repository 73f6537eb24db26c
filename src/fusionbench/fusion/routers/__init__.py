"""Query-level routers: scikit-learn estimators from query features to a candidate (model x mode).

Baselines (:class:`BestSingleRouter`, :class:`RandomRouter`, :class:`OracleRouter`), per-task routing
(:class:`PerTaskRouter`, Bench-CoE subject level), learned routers (:class:`KNNRouter`, :class:`LinearRouter`,
:class:`MLPRouter`, :class:`MFRouter`), cost-aware routing (:class:`CarrotRouter`; :class:`CascadeRouter`, a
threshold cascade on predicted correctness) and the two-model view (:class:`PairRouter`, RouteLLM). The
interface is in :mod:`fusionbench.fusion.routers.base`; trade-offs and labels in
:mod:`fusionbench.fusion.routers.tradeoffs`; persistence in :mod:`fusionbench.fusion.routers.persistence`.
scikit-learn and scipy are needed (the ``route`` extra).

A router is one module: a :class:`BaseRouter` subclass decorated with :func:`register_router` (in this
package, or in an installed package declaring the ``fusionbench.routers`` entry point;
:mod:`fusionbench.fusion.routers.registry`), checked with :func:`check_router`
(:mod:`fusionbench.fusion.routers.checks`).
"""

from __future__ import annotations

from collections.abc import Mapping

from fusionbench.fusion.routers.base import SHARED_PARAMS, BaseRouter, NotSupported, RouterTags
from fusionbench.fusion.routers.baselines import BestSingleRouter, OracleRouter, RandomRouter
from fusionbench.fusion.routers.carrot import CarrotRouter
from fusionbench.fusion.routers.cascade import CascadeRouter
from fusionbench.fusion.routers.checks import check_router, router_checks
from fusionbench.fusion.routers.knn import KNNRouter
from fusionbench.fusion.routers.linear import LinearRouter
from fusionbench.fusion.routers.mf import MFRouter
from fusionbench.fusion.routers.mlp import MLPRouter
from fusionbench.fusion.routers.pair import PairRouter
from fusionbench.fusion.routers.persistence import check_featurizer, load_pipeline
from fusionbench.fusion.routers.registry import (
    ENTRY_POINT_GROUP,
    RegistryView,
    make_router,
    register_router,
    registered_routers,
    router_class,
)
from fusionbench.fusion.routers.scoring import routing_scorer
from fusionbench.fusion.routers.tasks import PerTaskRouter
from fusionbench.fusion.routers.tradeoffs import Tradeoff, labels_from

#: Class name -> class of every registered router (a live view of the registry: what from_pretrained may build).
ROUTER_CLASSES: Mapping[str, type] = RegistryView(by_class=True)
#: Short name (``--router knn``) -> class (a live view of the registry).
ROUTERS: Mapping[str, type] = RegistryView(by_class=False)


__all__ = [
    "ENTRY_POINT_GROUP",
    "ROUTERS",
    "ROUTER_CLASSES",
    "SHARED_PARAMS",
    "BaseRouter",
    "BestSingleRouter",
    "CarrotRouter",
    "CascadeRouter",
    "KNNRouter",
    "LinearRouter",
    "MFRouter",
    "MLPRouter",
    "NotSupported",
    "OracleRouter",
    "PairRouter",
    "PerTaskRouter",
    "RandomRouter",
    "RouterTags",
    "Tradeoff",
    "check_featurizer",
    "check_router",
    "labels_from",
    "load_pipeline",
    "make_router",
    "register_router",
    "registered_routers",
    "router_checks",
    "router_class",
    "routing_scorer",
]
