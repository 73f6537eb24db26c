"""save_pretrained / from_pretrained: identical predictions, no pickle by default, featuriser checks; and the
scikit-learn conventions (clone, Pipeline from texts, cross_val_score with routing scorers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from fusionbench.fusion import (
    BestSingleRouter,
    CarrotRouter,
    KNNRouter,
    LinearRouter,
    MFRouter,
    MLPRouter,
    OracleRouter,
    PairRouter,
    PerTaskRouter,
    RandomRouter,
)
from fusionbench.fusion.features import TfidfFeaturizer
from fusionbench.fusion.routers import BaseRouter, Tradeoff, load_pipeline, routing_scorer
from fusionbench.fusion.routers.persistence_checks import UntrustedRouterError, get_untrusted_types

ROUTERS = [
    BestSingleRouter(tradeoff="balance"),
    RandomRouter(random_state=5),
    OracleRouter(),
    PerTaskRouter(),
    PerTaskRouter(task_source="classifier"),
    KNNRouter(n_neighbors=7),
    KNNRouter(n_neighbors=7, target="labels", tradeoff=Tradeoff.cost_first("fusionfactory")),
    LinearRouter(kind="logistic"),
    LinearRouter(kind="linear_svr", target="labels"),
    MLPRouter(hidden_layer_sizes=(8, 4), max_iter=30),
    MLPRouter(max_iter=20, per_candidate=True, hidden_layer_sizes=(3,)),
    MFRouter(n_factors=4, max_iter=30),
    MFRouter(n_factors=4, max_iter=10, alpha="cv", missing="mask"),
    CarrotRouter(perf=LinearRouter(), cost_model=KNNRouter(n_neighbors=5), lam=0.3),
    PairRouter(KNNRouter(n_neighbors=5), strong="c2", weak="c0"),
]


def data(n: int = 120, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(n, 3)) > 0).astype(float)
    cost = np.array([1.0, 2.0, 4.0]) * (1 + rng.random((n, 3))) * 1e-3
    tasks = np.where(X[:, 0] > 0, "t1", "t2").astype(object)
    return {"X": X, "Y": Y, "cost": cost, "tasks": tasks}


@pytest.mark.parametrize("router", ROUTERS, ids=lambda r: type(r).__name__)
def test_round_trip_predicts_the_same(router: BaseRouter, tmp_path: Path) -> None:
    d = data()
    router = clone(router).fit(d["X"], d["Y"], cost=d["cost"], tasks=d["tasks"], candidates=["c0", "c1", "c2"])
    folder = router.save_pretrained(tmp_path / "router")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["config.json", "state.npz"]
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == type(router).__name__ and config["candidates"] == ["c0", "c1", "c2"]
    assert config["n_features_in"] == 6 and config["fusionbench_version"] and config["format"] == "fusionbench-router/1"
    assert config["fitted"]["training_fingerprint_"] == router.training_fingerprint_
    loaded = BaseRouter.from_pretrained(folder)
    assert type(loaded) is type(router) and repr(loaded) == repr(router)  # the same constructor parameters
    assert np.array_equal(loaded.predict(d["X"], tasks=d["tasks"]), router.predict(d["X"], tasks=d["tasks"]))
    assert np.allclose(
        loaded.predict_utility(d["X"], tasks=d["tasks"]), router.predict_utility(d["X"], tasks=d["tasks"])
    )
    assert loaded.candidates_.tolist() == ["c0", "c1", "c2"]
    for fitted in ("alpha_", "C_", "cv_scores_", "population_embedding_"):  # penalties chosen by CV, MF's prior
        if hasattr(router, fitted):
            assert np.array_equal(np.asarray(getattr(loaded, fitted)), np.asarray(getattr(router, fitted)))


def test_pickle_needs_consent_on_save_and_trust_on_load(tmp_path: Path) -> None:
    d = data()
    router = PerTaskRouter(task_source="classifier", classifier=KNeighborsClassifier(3)).fit(
        d["X"], d["Y"], tasks=d["tasks"]
    )
    with pytest.raises(ValueError, match="only pickle can save: pass allow_pickle=True"):
        router.save_pretrained(tmp_path / "a")
    folder = router.save_pretrained(tmp_path / "b", allow_pickle=True)
    assert (folder / "pickled.joblib").is_file()
    with pytest.raises(ValueError, match="trust=True"):
        PerTaskRouter.from_pretrained(folder)
    loaded = PerTaskRouter.from_pretrained(folder, trust=True)
    assert np.array_equal(loaded.predict(d["X"]), router.predict(d["X"]))


def test_loading_refuses_other_classes_and_foreign_imports(tmp_path: Path) -> None:
    d = data()
    folder = LinearRouter().fit(d["X"], d["Y"]).save_pretrained(tmp_path / "r")
    with pytest.raises(ValueError, match="holds a LinearRouter, not a KNNRouter"):
        KNNRouter.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["params"]["alpha"] = {"__sklearn__": "os.system", "params": {}}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UntrustedRouterError, match=r"params\.alpha\.__sklearn__: 'os\.system' \(not in the allow-list"):
        BaseRouter.from_pretrained(folder)
    with pytest.raises(UntrustedRouterError, match=r"not a scikit-learn estimator class.*refused even with trust"):
        BaseRouter.from_pretrained(folder, trust=True)  # trust opens scikit-learn estimators, not os.system
    config["class"] = "EvilRouter"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UntrustedRouterError, match="refused 2 untrusted") as refused:
        BaseRouter.from_pretrained(folder)
    assert "at class: 'EvilRouter' (not a fusionbench router" in str(refused.value)
    assert get_untrusted_types(folder) == ["EvilRouter", "os.system"]
    with pytest.raises(FileNotFoundError, match="not a saved router folder"):
        BaseRouter.from_pretrained(tmp_path / "nothing")


TEXTS = [
    "what is the derivative of x squared",
    "integrate the function x times sine x",
    "solve the quadratic equation for x",
    "who wrote the declaration of independence",
    "which treaty ended the first world war",
    "name the capital city of australia",
] * 10


def text_data() -> tuple[list[str], np.ndarray, np.ndarray]:
    math = np.array(["x" in t for t in TEXTS])
    Y = np.column_stack([~math, math]).astype(float)  # c0 knows history, c1 maths
    cost = np.tile([1e-3, 3e-3], (len(TEXTS), 1))
    return TEXTS, Y, cost


def test_featuriser_checks_and_text_pipeline_round_trip(tmp_path: Path) -> None:
    texts, Y, cost = text_data()
    pipe = make_pipeline(TfidfFeaturizer(min_df=1), KNNRouter(n_neighbors=3))
    pipe.fit(texts, Y, knnrouter__cost=cost, knnrouter__candidates=["history", "maths"])
    featurizer, router = pipe.steps[0][1], pipe.steps[-1][1]
    assert (Y[np.arange(len(texts)), pipe.predict(texts)] == 1).all()
    folder = router.save_pretrained(tmp_path / "r", featurizer=featurizer)
    assert json.loads((folder / "config.json").read_text())["featurizer"]["kind"] == "tfidf"
    loaded = load_pipeline(folder)
    assert np.array_equal(loaded.predict(texts), pipe.predict(texts))
    # another vocabulary of the same width is refused, and so is another width
    renamed = TfidfFeaturizer(min_df=1).fit([t.replace("australia", "canada") for t in texts])
    assert renamed.spec()["dim"] == router.n_features_in_
    with pytest.raises(ValueError, match="another TF-IDF vocabulary"):
        KNNRouter.from_pretrained(folder, featurizer=renamed)
    wider = TfidfFeaturizer(min_df=1).fit([t + " zzz" for t in texts])
    with pytest.raises(ValueError, match=f"gives {wider.spec()['dim']} features, but"):
        KNNRouter.from_pretrained(folder, featurizer=wider)
    with pytest.raises(ValueError, match="gives 3 features, but"):
        KNNRouter.from_pretrained(folder, featurizer={"kind": "tfidf", "dim": 3})
    with pytest.raises(ValueError, match="differs in 'kind'"):
        KNNRouter.from_pretrained(folder, featurizer={"kind": "stored", "dim": router.n_features_in_})
    with pytest.raises(ValueError, match=r"from featuriser \{"):
        KNNRouter.from_pretrained(folder).predict(np.zeros((1, 2)))


def test_clone_params_and_cross_val_score() -> None:
    d = data(n=200)
    router = KNNRouter(n_neighbors=9, tradeoff="balance")
    assert clone(router).get_params() == router.get_params()
    assert router.set_params(n_neighbors=5) is router and router.n_neighbors == 5
    carrot = CarrotRouter(perf=LinearRouter(alpha=2.0))
    assert carrot.get_params()["perf__alpha"] == 2.0
    plain = cross_val_score(LinearRouter(), d["X"], d["Y"], cv=3)
    mean_perf = cross_val_score(LinearRouter(), d["X"], d["Y"], cv=3, scoring=routing_scorer("mean_performance"))
    assert np.allclose(plain, mean_perf) and mean_perf.mean() > d["Y"].mean(axis=0).max()
    pgr = cross_val_score(LinearRouter(), d["X"], d["Y"], cv=3, scoring=routing_scorer("pgr"))
    assert np.all(pgr > 1.0)  # better than the best single candidate on every fold
    with pytest.raises(ValueError, match="needs cost"):
        cross_val_score(
            KNNRouter(tradeoff="balance"),
            d["X"],
            d["Y"],
            cv=3,
            scoring=routing_scorer("reward"),
            params={"cost": d["cost"]},
            error_score="raise",
        )


def test_cost_reaches_fit_and_scorer_through_metadata_routing() -> None:
    d = data(n=200)
    with sklearn.config_context(enable_metadata_routing=True):
        router = KNNRouter(tradeoff="balance").set_fit_request(cost=True)
        reward = cross_val_score(router, d["X"], d["Y"], cv=3, scoring=routing_scorer("reward"), params=d_cost(d))
        cost = cross_val_score(router, d["X"], d["Y"], cv=3, scoring=routing_scorer("neg_mean_cost"), params=d_cost(d))
    assert reward.shape == (3,) and np.all(np.isfinite(reward))
    assert np.all(-cost > 0) and np.all(-cost < d["cost"].max())


def d_cost(d: dict) -> dict:
    return {"cost": d["cost"]}
