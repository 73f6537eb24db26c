"""The item model (fusionbench.fusion.irt): likelihood and gradient, recovery, masking, fractional scores,
determinism, the new-subject ability, the feature map and save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from fusionbench.artifacts import ArtifactFormatError, manifest_version
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.irt import (
    DamagedFileError,
    IRTConfig,
    fit_ability,
    fit_feature_map,
    fit_irt,
    fit_matrix,
    items_from_features,
    load_item_model,
    predict_new_subject,
    save_item_model,
)
from fusionbench.fusion.irt.model import _objective
from fusionbench.fusion.irt.persist import read_item_manifest


def _simulate(s: int = 60, n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta, a, b = rng.normal(0, 1, s), rng.uniform(0.6, 1.6, n), rng.normal(0, 1.2, n)
    p = expit(theta[:, None] * a + b)
    return (rng.random((s, n)) < p).astype(float), theta, a, b


def test_the_1pl_objective_is_the_hand_computed_cross_entropy_and_its_gradient_is_exact() -> None:
    y = np.array([[1.0, 0.0], [0.5, np.nan]])
    w = (~np.isnan(y)).astype(float)
    y0 = np.nan_to_num(y)
    cfg = IRTConfig(kind="1pl", prior_theta=1.0, prior_b=2.0)
    onehot = np.ones((2, 1))
    x = np.array([0.3, -0.2, 0.5, -1.0])  # theta_0, theta_1, b_0, b_1
    loss, grad = _objective(x, y0, w, np.zeros(2, dtype=np.int64), onehot, cfg)
    z = [[0.8, -0.7], [0.3, None]]
    nll = -np.log(expit(z[0][0])) - np.log(1 - expit(z[0][1])) - 0.5 * np.log(expit(0.3)) - 0.5 * np.log(expit(-0.3))
    prior = 0.5 * (0.3**2 + 0.2**2) + 0.5 * (0.5**2 + 1.0**2) / 4
    assert loss == pytest.approx(nll + prior, rel=1e-12)  # the masked cell adds nothing
    numeric = np.array([(_objective(x + e, y0, w, np.zeros(2, np.int64), onehot, cfg)[0]
                         - _objective(x - e, y0, w, np.zeros(2, np.int64), onehot, cfg)[0]) / 2e-6
                        for e in np.eye(4) * 1e-6])  # fmt: skip
    assert grad == pytest.approx(numeric, abs=1e-6)


@pytest.mark.parametrize(
    "options", [{"kind": "2pl"}, {"kind": "2pl", "dims": 2}, {"kind": "2pl", "task_effects": True}]
)
def test_the_2pl_gradients_match_finite_differences(options: dict) -> None:
    rng = np.random.default_rng(0)
    y = rng.random((4, 6))
    y[0, 1] = np.nan
    w = (~np.isnan(y)).astype(float)
    cfg = IRTConfig(**options)
    task_of = np.array([0, 0, 1, 1, 2, 2])
    onehot = np.eye(3)[task_of]
    size = 4 * cfg.dims + 6 * cfg.dims + 6 + (12 if cfg.task_effects else 0)
    x = rng.normal(0, 0.5, size)
    _, grad = _objective(x, np.nan_to_num(y), w, task_of, onehot, cfg)
    f = lambda v: _objective(v, np.nan_to_num(y), w, task_of, onehot, cfg)[0]  # noqa: E731
    numeric = np.array([(f(x + e) - f(x - e)) / 2e-6 for e in np.eye(size) * 1e-6])
    assert grad == pytest.approx(numeric, abs=1e-5)


def test_a_2pl_fit_recovers_simulated_parameters() -> None:
    y, theta, a, b = _simulate()
    model = fit_matrix(y, kind="2pl")
    assert model.info["converged"]
    assert np.corrcoef(model.theta[:, 0], theta)[0, 1] > 0.95
    assert np.corrcoef(model.b, b)[0, 1] > 0.9
    assert np.corrcoef(model.a[:, 0], a)[0, 1] > 0.4
    assert np.corrcoef(fit_matrix(y, kind="1pl").b, b)[0, 1] > 0.9


def test_missing_cells_are_masked_not_read_as_zero() -> None:
    y, *_ = _simulate(s=30, n=200)
    masked = y.copy()
    masked[:, :50][y[:, :50] == 0] = np.nan  # hide the failures of 50 items: as 0 they would look hard
    model = fit_matrix(masked, kind="1pl")
    assert np.all(np.isfinite(model.b))
    assert model.b[:50].mean() > fit_matrix(np.nan_to_num(masked), kind="1pl").b[:50].mean() + 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fit_matrix(np.array([[1.5, 0.0]]))


def test_fractional_scores_are_cross_entropy_targets() -> None:
    """A fractional score y counts as y successes and 1 - y failures: 0.5 everywhere is the same fit as a matrix
    of ones and zeros duplicated (each cell once right, once wrong)."""
    half = np.full((6, 10), 0.5)
    twin = np.vstack([np.ones((6, 10)), np.zeros((6, 10))])
    fitted = fit_matrix(half, kind="1pl", prior_b=100.0)
    assert np.abs(fitted.b).max() < 1e-3  # an item half right is of middling difficulty
    assert np.abs(fit_matrix(twin, kind="1pl", prior_b=100.0).b).max() < 1e-2
    graded = fit_matrix(np.tile(np.linspace(0.1, 0.9, 10), (6, 1)), kind="1pl")
    assert np.all(np.diff(graded.b) > 0)  # higher mean score, easier item


def test_fits_are_deterministic_and_seeded() -> None:
    y, *_ = _simulate(s=20, n=100)
    one, two = fit_matrix(y, dims=2, seed=3), fit_matrix(y, dims=2, seed=3)
    assert np.array_equal(one.a, two.a) and np.array_equal(one.theta, two.theta)


def test_fit_irt_reads_routing_data_and_a_new_subject_is_predicted() -> None:
    y, *_ = _simulate(s=21, n=300)
    tasks = ["t1"] * 150 + ["t2"] * 150
    data = RoutingData.from_arrays(y[:20].T, tasks=tasks, candidates=[f"m{i}" for i in range(20)])
    model = fit_irt(data, task_effects=True)
    assert model.subjects == data.candidates and model.items == tuple(data.keys)
    anchors = list(range(0, 300, 3))
    answers = {model.items[j]: y[20, j] for j in anchors}
    predicted = predict_new_subject(model, answers)
    assert set(predicted) == set(model.items)
    estimate = np.mean(list(predicted.values()))
    assert abs(estimate - y[20].mean()) < 0.08
    ability = fit_ability(model, np.array(anchors), y[20, anchors])
    assert ability.theta_sd > 0 and ability.log_likelihood < 0


def test_a_feature_map_gives_new_queries_a_difficulty() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(300, 5))
    easiness = features @ np.array([1.0, -0.5, 0.0, 0.0, 0.3])
    theta = rng.normal(size=40)
    y = (rng.random((40, 300)) < expit(theta[:, None] + easiness)).astype(float)
    model = fit_feature_map(fit_matrix(y[:, :250], kind="1pl"), features[:250], alpha=1.0)
    _, b_new = items_from_features(model, features[250:])
    assert np.corrcoef(b_new, easiness[250:])[0, 1] > 0.8
    with pytest.raises(ValueError, match="no feature map"):
        items_from_features(fit_matrix(y, kind="1pl"), features)


def test_save_and_load_round_trip_and_damaged_files_are_refused(tmp_path: Path) -> None:
    y, *_ = _simulate(s=10, n=40)
    model = fit_feature_map(fit_matrix(y, dims=2, item_tasks=["a"] * 20 + ["b"] * 20), np.eye(40)[:, :3])
    folder = save_item_model(model, tmp_path / "irt")
    loaded = load_item_model(folder)
    assert loaded.items == model.items and loaded.config == model.config and loaded.tasks == model.tasks
    for name in ("a", "b", "theta", "delta"):
        assert np.array_equal(getattr(loaded, name), getattr(model, name))
    assert np.array_equal(loaded.feature_map["weights"], model.feature_map["weights"])
    meta = json.loads((folder / "irt.json").read_text())
    assert meta["format"] == "fusionbench-irt/1" and meta["fusionbench_version"] and meta["created"]
    (folder / "irt.npz").write_bytes(b"not a zip")
    with pytest.raises(DamagedFileError, match=r"irt: irt\.npz: not a readable npz"):
        load_item_model(folder)
    save_item_model(model, folder)
    (folder / "irt.json").write_text(json.dumps({**meta, "format": "fusionbench-irt/99"}))
    with pytest.raises(DamagedFileError, match=r"irt: irt\.json: fusionbench-irt version 99 was written by a newer"):
        load_item_model(folder)
    (folder / "irt.json").write_text(json.dumps({**meta, "format": "fusionbench-tiny/1"}))
    with pytest.raises(ArtifactFormatError, match=r"irt\.json: not an IRT item model folder"):
        load_item_model(folder)
    (folder / "irt.json").write_text(json.dumps({**meta, "items": meta["items"][:-1]}))
    with pytest.raises(DamagedFileError, match=r"irt\.npz: array 'a' has shape"):
        load_item_model(folder)
    (folder / "irt.json").write_text("{broken")
    with pytest.raises(DamagedFileError, match=r"irt\.json: not valid JSON"):
        load_item_model(folder)
    (folder / "irt.json").unlink()
    with pytest.raises(DamagedFileError, match=r"irt\.json: missing"):
        load_item_model(folder)


def test_a_folder_saved_before_the_manifest_is_read_as_version_1(tmp_path: Path) -> None:
    """irt.json as it was written before the artifact manifest: "format" without the version, a separate
    "version"; read as version 1, the same model. A newer such version is refused with the upgrade message."""
    y, *_ = _simulate(s=8, n=30)
    model = fit_matrix(y, item_tasks=["a"] * 15 + ["b"] * 15)
    folder = save_item_model(model, tmp_path / "irt")
    meta = json.loads((folder / "irt.json").read_text())
    old = {"format": "fusionbench-irt", "version": 1} | {
        k: v for k, v in meta.items() if k not in ("format", "fusionbench_version", "created")
    }
    (folder / "irt.json").write_text(json.dumps(old, indent=1) + "\n")
    loaded = load_item_model(folder)
    assert loaded.items == model.items and loaded.subjects == model.subjects and loaded.config == model.config
    assert np.array_equal(loaded.b, model.b) and np.array_equal(loaded.theta, model.theta)
    assert manifest_version(read_item_manifest(folder)) == 1
    (folder / "irt.json").write_text(json.dumps({**old, "version": 2}))
    with pytest.raises(ArtifactFormatError, match=r"irt\.json: fusionbench-irt version 2 .* upgrade fusionbench"):
        load_item_model(folder)
    assert issubclass(DamagedFileError, ValueError)  # what callers caught before still catches it


def test_a_pickled_array_file_is_refused(tmp_path: Path) -> None:
    y, *_ = _simulate(s=5, n=10)
    folder = save_item_model(fit_matrix(y, kind="1pl"), tmp_path / "m")
    np.savez(folder / "irt.npz", a=np.array([object()], dtype=object), b=np.zeros(10))
    with pytest.raises(DamagedFileError, match=r"irt\.npz"):
        load_item_model(folder)


def test_a_new_subject_beyond_the_sources_gets_a_finite_ability() -> None:
    """Fractional answers of a subject stronger than every source, on sharp items: the damped Newton steps stay
    finite (undamped ones overshot to theta = -92 on AlpacaEval's preferences)."""
    rng = np.random.default_rng(7)
    theta, a, b = np.linspace(-3, 1, 30), rng.uniform(1.5, 3.0, 300), rng.normal(-1, 2.5, 300)
    y = expit(theta[:, None] * a + b)
    model = fit_matrix(y, kind="2pl")
    truth = expit(2.0 * a + b)
    ability = fit_ability(model, np.arange(0, 300, 3), truth[::3])
    assert np.isfinite(ability.theta).all() and ability.theta[0] > model.theta[:, 0].max()
    assert abs(float(np.mean(expit(model.a @ ability.theta + model.b))) - truth.mean()) < 0.05
