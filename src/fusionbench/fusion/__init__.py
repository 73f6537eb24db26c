"""Fusing LLMs from their logs: query level (routing), thought level (templates) and model level (SFT data).

The fusion package is data in, data out: it never drives an LLM (what does — generation, the judge, a thought
summariser — lives in :mod:`fusionbench.generation`). Names are imported lazily, so that ``import fusionbench``
stays cheap and scikit-learn loads only when a router is used.
"""

from __future__ import annotations

from fusionbench._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "RoutingData": "fusionbench.fusion.data",
    "splits": "fusionbench.fusion.splits",
    "evaluate": "fusionbench.fusion.evaluation",
    "experiment": "fusionbench.fusion.experiment",
    "TrainedRouter": "fusionbench.fusion.experiment",
    "RunContext": "fusionbench.fusion.experiment",
    "calibrate": "fusionbench.fusion.evaluation",
    "BestSingleRouter": "fusionbench.fusion.routers",
    "RandomRouter": "fusionbench.fusion.routers",
    "OracleRouter": "fusionbench.fusion.routers",
    "PerTaskRouter": "fusionbench.fusion.routers",
    "KNNRouter": "fusionbench.fusion.routers",
    "LinearRouter": "fusionbench.fusion.routers",
    "MLPRouter": "fusionbench.fusion.routers",
    "MFRouter": "fusionbench.fusion.routers",
    "CarrotRouter": "fusionbench.fusion.routers",
    "PairRouter": "fusionbench.fusion.routers",
    "Tradeoff": "fusionbench.fusion.routers",
    "AutoRouter": "fusionbench.fusion.routers.auto",
    "ClusterRouter": "fusionbench.fusion.routers.cluster",
    "CascadeRouter": "fusionbench.fusion.routers.cascade",
    "TaskPriorRouter": "fusionbench.fusion.routers.prior",
    "register_router": "fusionbench.fusion.routers",
    "check_router": "fusionbench.fusion.routers",
    "RouterTags": "fusionbench.fusion.routers",
    "make_router": "fusionbench.fusion.routers",
    "routing_scorer": "fusionbench.fusion.routers",
    "load_pipeline": "fusionbench.fusion.routers",
    "StoredEmbeddings": "fusionbench.fusion.features",
    "TfidfFeaturizer": "fusionbench.fusion.features",
    "SentenceTransformerFeaturizer": "fusionbench.fusion.features",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
