"""Item response theory for routing data: fit 1PL / 2PL / multidimensional 2PL item models on the (candidate x
query) correctness matrix (:mod:`.model`), save them without pickle (:mod:`.persist`), and audit labels with them
(:mod:`.audit`)."""

from __future__ import annotations

from fusionbench.fusion.irt.model import (
    Ability,
    IRTConfig,
    ItemModel,
    fit_ability,
    fit_feature_map,
    fit_irt,
    fit_matrix,
    items_from_features,
    predict_items,
    predict_new_subject,
)
from fusionbench.fusion.irt.persist import DamagedFileError, load_item_model, save_item_model

__all__ = [
    "Ability",
    "DamagedFileError",
    "IRTConfig",
    "ItemModel",
    "fit_ability",
    "fit_feature_map",
    "fit_irt",
    "fit_matrix",
    "items_from_features",
    "load_item_model",
    "predict_items",
    "predict_new_subject",
    "save_item_model",
]
