"""The router contract: check_router over every registered router (and the variants that change what a router
declares), the registry's rules, and checks that fail on routers that break the contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from fusionbench.fusion.routers import (
    ROUTER_CLASSES,
    ROUTERS,
    BaseRouter,
    BestSingleRouter,
    KNNRouter,
    LinearRouter,
    MFRouter,
    PerTaskRouter,
    RouterTags,
    check_router,
    make_router,
    register_router,
    registered_routers,
    router_checks,
)
from fusionbench.fusion.routers.base import FitData
from fusionbench.fusion.routers.checks import RouterCheckError, check_data, check_id
from fusionbench.fusion.routers.persistence_checks import UntrustedRouterError
from fusionbench.fusion.routers.registry import default_name, router_name, unregister_router

#: Every registered router with its defaults, and the variants that declare something else.
ROUTERS_UNDER_TEST: list[BaseRouter] = [entry.cls() for entry in registered_routers().values()] + [
    KNNRouter(n_neighbors=7, target="labels"),
    LinearRouter(kind="logistic", C=1.0),
    PerTaskRouter(task_source="classifier"),
    MFRouter(n_factors=4, objective="pairwise", max_iter=50),
]


@pytest.mark.parametrize(("router", "check"), router_checks(ROUTERS_UNDER_TEST), ids=check_id)
def test_every_registered_router_keeps_the_contract(router: BaseRouter, check: Any) -> None:
    check(router)


def test_the_tree_registers_every_router_under_one_name() -> None:
    names = {name: entry.cls.__name__ for name, entry in registered_routers().items()}
    tree = {"best_single", "random", "oracle", "per_task", "knn", "linear", "mlp", "mf", "carrot", "pair"}
    assert tree <= set(names) and names["knn"] == "KNNRouter" and names["per_task"] == "PerTaskRouter"
    assert ROUTERS["mf"] is MFRouter and ROUTER_CLASSES["MFRouter"] is MFRouter
    assert isinstance(make_router("KNNRouter", n_neighbors=3), KNNRouter)  # a class name works too
    with pytest.raises(ValueError, match=r"unknown router 'svm'; known: \[.*'knn'"):
        make_router("svm")
    assert [default_name(c) for c in (KNNRouter, BestSingleRouter, PerTaskRouter)] == ["knn", "best_single", "per_task"]


def test_declared_tags_and_shared_parameters_drive_the_base_class() -> None:
    from fusionbench.fusion.routers import CarrotRouter, PairRouter, RandomRouter

    assert CarrotRouter.router_tags.needs_cost and MFRouter.router_tags.supports_missing_mask
    assert PerTaskRouter.router_tags.takes_tasks and not RandomRouter.router_tags.applies_tradeoff
    assert not PairRouter().get_params().keys() & {"tradeoff", "target"}
    d = check_data()
    pair = PairRouter(LinearRouter(alpha=1.0)).fit(d.X, d.Y)  # no tradeoff parameter: performance_first
    assert pair.tradeoff_.name == "performance_first" and not pair._label_target
    labels = KNNRouter(n_neighbors=5, target="labels").fit(d.X, d.Y)
    with pytest.raises(ValueError, match="estimates label shares"):
        labels.predict_performance(d.X)


def test_predict_labels_are_the_candidate_names_of_predict() -> None:
    d = check_data()
    router = KNNRouter(n_neighbors=5).fit(d.X, d.Y, candidates=["a", "b", "c"])
    choices = router.predict(d.X_new)
    assert router.predict_labels(d.X_new).tolist() == [["a", "b", "c"][i] for i in choices]
    assert len(set(choices.tolist())) > 1  # the names follow the indices, not one constant


# ---------------------------------------------------------------- routers that break the contract
class _Base(BaseRouter):
    def __init__(self, tradeoff: Any = "performance_first", missing: str = "raise") -> None:
        self.tradeoff = tradeoff
        self.missing = missing

    def _fit(self, data: FitData) -> None:
        self.mean_ = np.nanmean(data.target, axis=0)

    def _estimate(self, X: Any, tasks: np.ndarray | None) -> np.ndarray:
        return np.tile(self.mean_, (X.shape[0], 1))


def _registered(cls: type, name: str) -> type:
    register_router(name)(cls)
    return cls


@pytest.fixture
def scratch_names():
    made: list[str] = []
    yield made
    for name in made:
        unregister_router(name)


def test_a_correct_small_router_passes_and_each_broken_one_fails_its_check(scratch_names) -> None:
    good = _registered(type("GoodMeanRouter", (_Base,), {}), "good_mean")
    scratch_names.append("good_mean")
    assert "check_save_load" in check_router(good())

    # NaN let through: missing='mask' accepted without the capability being declared
    def lenient_fit(self: Any, X: Any, Y: Any, **fit: Any) -> Any:
        return BaseRouter.fit(self, X, np.nan_to_num(np.asarray(Y, dtype=float)), **fit)

    lenient = _registered(type("LenientRouter", (_Base,), {"fit": lenient_fit}), "lenient")
    scratch_names.append("lenient")
    with pytest.raises(RouterCheckError) as failed:
        check_router(lenient())
    assert "check_refuses_nan" in failed.value.failures and "check_save_load" not in failed.value.failures

    # a sign error: the utility rewards cost instead of charging it
    def first_is_best(self: Any, X: Any, tasks: Any) -> np.ndarray:
        return np.tile([1.0, 0.0, 0.0], (X.shape[0], 1))

    def rewards_cost(self: Any, X: Any, *, tradeoff: Any = None, tasks: Any = None) -> np.ndarray:
        chosen = self.tradeoff_ if tradeoff is None else self._fitted_tradeoff(tradeoff)
        cost = self.predict_cost(X)
        return chosen.perf_weight * self._estimate(X, None) + chosen.cost_weight * cost / cost.max()

    methods = {"_estimate": first_is_best, "predict_utility": rewards_cost}
    signed = _registered(type("SignErrorRouter", (_Base,), methods), "sign_error")
    scratch_names.append("sign_error")
    with pytest.raises(RouterCheckError) as failed:
        check_router(signed())
    assert set(failed.value.failures) == {"check_cost_routing"}
    assert "routed 40 queries to a dearer candidate" in failed.value.failures["check_cost_routing"]

    # fitted state that cannot be saved without pickle, and work done in __init__
    def busy_init(self: Any, tradeoff: Any = "performance_first", missing: str = "raise") -> None:
        _Base.__init__(self, tradeoff, missing)
        self.cache = {}

    def opaque_fit(self: Any, data: FitData) -> None:
        _Base._fit(self, data)
        self.helper_ = object()

    busy = _registered(type("BusyRouter", (_Base,), {"__init__": busy_init, "_fit": opaque_fit}), "busy")
    scratch_names.append("busy")
    with pytest.raises(RouterCheckError) as failed:
        check_router(busy())
    assert "not parameters: ['cache']" in failed.value.failures["check_declared"]
    assert "only pickle can save" in failed.value.failures["check_save_load"]

    # a capability mis-declared: routes that depend on X under requires_features=False
    tags = {"router_tags": RouterTags(requires_features=False)}
    blind = _registered(type("BlindKnnRouter", (KNNRouter,), tags), "blind_knn")
    scratch_names.append("blind_knn")
    with pytest.raises(RouterCheckError) as failed:
        check_router(blind(n_neighbors=5))
    assert set(failed.value.failures) == {"check_declared_needs"}
    assert "requires_features=False" in failed.value.failures["check_declared_needs"]

    # not registered: its folder could never be loaded
    with pytest.raises(RouterCheckError, match="is not a registered router") as failed:
        check_router(type("LooseRouter", (_Base,), {})())
    assert set(failed.value.failures) == {"check_declared", "check_save_load"}


def test_a_name_or_class_name_is_one_class(scratch_names) -> None:
    with pytest.raises(ValueError, match=r"router name 'knn' .* is taken by .*knn\.KNNRouter"):
        register_router("knn")(type("OtherKnn", (_Base,), {}))
    with pytest.raises(ValueError, match=r"class name 'KNNRouter' .* a router folder names its class"):
        register_router("knn2")(type("KNNRouter", (_Base,), {}))
    with pytest.raises(ValueError, match="lower-case letters"):
        register_router("Bad-Name")(type("BadNameRouter", (_Base,), {}))
    with pytest.raises(TypeError, match="not a subclass of BaseRouter"):
        register_router("plain")(dict)
    assert "knn2" not in registered_routers() and "bad_name" not in registered_routers()
    cls = register_router(type("ShortRouter", (_Base,), {}))  # the bare decorator: default name
    scratch_names.append("short")
    assert router_name(cls) == "short" and make_router("short").__class__ is cls


def test_a_saved_folder_builds_only_registered_classes(tmp_path, scratch_names) -> None:
    cls = _registered(type("ScratchRouter", (_Base,), {}), "scratch")
    scratch_names.append("scratch")
    d = check_data()
    folder = cls().fit(d.X, d.Y).save_pretrained(tmp_path / "r")
    assert type(BaseRouter.from_pretrained(folder)) is cls
    unregister_router("scratch")
    with pytest.raises(UntrustedRouterError, match=r"at class: 'ScratchRouter' \(not a fusionbench router"):
        BaseRouter.from_pretrained(folder)
    with pytest.raises(ValueError, match="not a registered router: decorate it with @register_router"):
        cls().fit(d.X, d.Y).save_pretrained(tmp_path / "unregistered")
    assert not (tmp_path / "unregistered").exists()


def test_fitted_state_is_the_trailing_underscore_attributes(tmp_path) -> None:
    d = check_data()
    router = MFRouter(n_factors=3, max_iter=20).fit(d.X, d.Y)
    folder = router.save_pretrained(tmp_path / "mf")
    layout = json.loads((folder / "config.json").read_text())["state"]
    saved = set(layout["arrays"]) | set(layout["json"])
    assert saved == {"W_", "V_", "b_", "loss_", "n_iter_", "alpha_", "cv_scores_", "population_embedding_"} | {
        "population_bias_",
        "unobserved_",
    }
    knn = KNNRouter(n_neighbors=4).fit(d.X, d.Y, cost=d.cost).save_pretrained(tmp_path / "knn")
    knn_layout = json.loads((knn / "config.json").read_text())["state"]
    assert "index_" not in knn_layout["json"] and "train_cost_" in knn_layout["arrays"]  # index rebuilt on load


def test_an_unfitted_router_refuses_to_route() -> None:
    from fusionbench.fusion.routers import CarrotRouter

    d = check_data()
    for router in (CarrotRouter(), KNNRouter(), PerTaskRouter()):
        with pytest.raises(NotFittedError):
            router.predict(d.X, tasks=d.tasks)
    assert RouterTags() == RouterTags(needs_cost=False)  # a frozen value: compared, hashed, never mutated
    with pytest.raises(AttributeError):
        RouterTags().needs_cost = True  # type: ignore[misc]


def test_a_new_module_in_the_routers_package_needs_no_other_file(tmp_path, monkeypatch, scratch_names) -> None:
    """The registry imports every module of the routers package, so an in-tree router is one new module (here a
    stand-in package, so the test never writes into src/)."""
    from fusionbench.fusion.routers import registry

    package = tmp_path / "standin_routers"
    package.mkdir()
    (package / "__init__.py").write_text('"""Imports nothing: the registry finds the modules."""\n')
    (package / "shiny.py").write_text(
        "from fusionbench.fusion.routers import BestSingleRouter, register_router\n\n\n"
        '@register_router("shiny")\nclass ShinyRouter(BestSingleRouter):\n    """The best single candidate."""\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_PACKAGE", "standin_routers")
    monkeypatch.setitem(registry._LOADED, "tree", False)
    scratch_names.append("shiny")
    router = make_router("shiny")
    assert type(router).__module__ == "standin_routers.shiny" and "ShinyRouter" in ROUTER_CLASSES
    assert "check_save_load" in check_router(router)
