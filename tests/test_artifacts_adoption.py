"""The artifacts that adopted the manifest convention (:mod:`fusionbench.artifacts`) late: the router folder's
``config.json``, the analysis report, ``finetune.json`` and ``conversion.json``. For each: a round trip, a file
written before the manifest still reads (as version 1), a newer version is refused asking to upgrade, and a
damaged file is refused naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusionbench.artifacts import ArtifactFormatError, manifest_version, read_manifest
from fusionbench.errors import BadInputError


def _edit(path: Path, drop: tuple[str, ...] = (), **changes: object) -> None:
    """Rewrite the JSON object in ``path`` without the keys ``drop``, with ``changes``."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload = {k: v for k, v in payload.items() if k not in drop} | changes
    path.write_text(json.dumps(payload), encoding="utf-8")


def _as_before_the_manifest(path: Path, **older: object) -> None:
    """Rewrite a manifest as the writer wrote it before it adopted the convention (no ``created``)."""
    _edit(path, ("format", "created"), **older)


def _refused(call, path: Path, match: str, error: type[Exception] = ArtifactFormatError) -> None:
    with pytest.raises(error, match=match) as caught:
        call()
    assert isinstance(caught.value, BadInputError) and caught.value.file == str(path)
    assert str(path) in str(caught.value)


# ------------------------------------------------------------------ the router folder (config.json)
@pytest.fixture
def router_folder(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A saved PairRouter (its base KNN router in a sub-folder), the queries and the predictions."""
    from fusionbench.fusion import KNNRouter, PairRouter

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(80, 3)) > 0).astype(float)
    cost = np.array([1.0, 2.0, 4.0]) * 1e-3 * np.ones((80, 3))
    router = PairRouter(KNNRouter(n_neighbors=5), strong="c2", weak="c0")
    router.fit(X, Y, cost=cost, candidates=["c0", "c1", "c2"])
    return router.save_pretrained(tmp_path / "router"), X, router.predict(X)


def test_router_folder_round_trip(router_folder: tuple[Path, np.ndarray, np.ndarray]) -> None:
    from fusionbench.fusion.routers import BaseRouter
    from fusionbench.fusion.routers.persistence import ROUTER_ARTIFACT

    folder, X, predicted = router_folder
    for config in (folder / "config.json", *folder.glob("*/config.json")):
        manifest = read_manifest(config.parent, ROUTER_ARTIFACT)
        assert manifest["format"] == "fusionbench-router/1" and manifest["created"] and manifest["fusionbench_version"]
        assert "format_version" not in manifest
    np.testing.assert_array_equal(BaseRouter.from_pretrained(folder).predict(X), predicted)


def test_router_folder_written_before_the_manifest_still_loads(
    router_folder: tuple[Path, np.ndarray, np.ndarray],
) -> None:
    from fusionbench.fusion.routers import BaseRouter
    from fusionbench.fusion.routers.persistence import ROUTER_ARTIFACT, get_untrusted_types

    folder, X, predicted = router_folder
    for config in (folder / "config.json", *folder.glob("*/config.json")):
        _as_before_the_manifest(config, format="fusionbench-router", format_version=1)
        assert manifest_version(read_manifest(config.parent, ROUTER_ARTIFACT)) == 1
    assert get_untrusted_types(folder) == []
    np.testing.assert_array_equal(BaseRouter.from_pretrained(folder).predict(X), predicted)


@pytest.mark.parametrize(
    "newer", [{"format": "fusionbench-router/2"}, {"format": "fusionbench-router", "format_version": 2}]
)
def test_router_folder_of_a_newer_version_is_refused(
    router_folder: tuple[Path, np.ndarray, np.ndarray], newer: dict
) -> None:
    from fusionbench.fusion.routers import BaseRouter
    from fusionbench.fusion.routers.persistence import DamagedRouterError

    folder = router_folder[0]
    sub = next(folder.glob("*/config.json"))  # a sub-router's config is checked too
    _edit(sub, **newer)
    message = "fusionbench-router version 2 was written by a newer fusionbench.*upgrade fusionbench"
    _refused(lambda: BaseRouter.from_pretrained(folder), sub, message, DamagedRouterError)
    _refused(lambda: BaseRouter.from_pretrained(folder, trust=True), sub, message, DamagedRouterError)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format": "fusionbench-router/1", "class":', "not valid JSON"),
        ('{"format": "fusionbench-irt/1"}', r"not a saved router folder \(format 'fusionbench-irt/1'\)"),
        ('{"class": "KNNRouter"}', r"not a saved router folder \(format None\)"),
    ],
)
def test_router_folder_damaged_or_foreign_config_names_the_file(
    router_folder: tuple[Path, np.ndarray, np.ndarray], text: str, match: str
) -> None:
    from fusionbench.fusion.routers import BaseRouter
    from fusionbench.fusion.routers.persistence import DamagedRouterError

    folder = router_folder[0]
    (folder / "config.json").write_text(text, encoding="utf-8")
    _refused(lambda: BaseRouter.from_pretrained(folder), folder / "config.json", match, DamagedRouterError)
