"""The artifacts that adopted the manifest convention (:mod:`fusionbench.artifacts`) late: the router folder's
``config.json``, the analysis report, ``finetune.json``, ``conversion.json``, a tiny set's ``tiny.json`` and a
featuriser folder's ``config.json``. For each: a round trip, a file written before the manifest still reads (as
version 1), a newer version is refused asking to upgrade, and a damaged file is refused naming the file."""

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


# ------------------------------------------------------------------ the analysis report (report.json)
@pytest.fixture(scope="module")
def analysis_report() -> dict:
    from fusionbench.fusion.analysis import AnalysisConfig, analyze
    from fusionbench.fusion.embedded import load

    return analyze(load(), AnalysisConfig(n_boot=10))


def test_analysis_report_round_trip(analysis_report: dict, tmp_path: Path) -> None:
    from fusionbench.fusion.analysis import read_analysis, write_analysis

    files = write_analysis(analysis_report, tmp_path / "report")
    read = read_analysis(tmp_path / "report")
    assert read["format"] == "fusionbench-analysis-report/1" and read["created"] and read["fusionbench_version"]
    assert read["leaderboard"] == json.loads(json.dumps(analysis_report["leaderboard"]))
    assert read_analysis(files["json"]) == read  # the file itself, or its folder


def test_analysis_report_written_before_the_manifest_still_reads(analysis_report: dict, tmp_path: Path) -> None:
    from fusionbench.fusion.analysis import read_analysis, write_analysis

    path = write_analysis(analysis_report, tmp_path / "report")["json"]
    _edit(path, ("fusionbench_version", "created"))  # what analyze wrote before: its format, no provenance
    read = read_analysis(path)
    assert manifest_version(read) == 1 and "created" not in read and read["bounds"]


def test_analysis_report_of_a_newer_version_is_refused(analysis_report: dict, tmp_path: Path) -> None:
    from fusionbench.fusion.analysis import read_analysis, write_analysis

    path = write_analysis(analysis_report, tmp_path / "report")["json"]
    _edit(path, format="fusionbench-analysis-report/2")
    _refused(lambda: read_analysis(tmp_path / "report"), path, "version 2 was written by a newer.*upgrade fusionbench")
    newer = {**analysis_report, "format": "fusionbench-analysis-report/2"}
    with pytest.raises(ArtifactFormatError, match="upgrade fusionbench"):  # nor is one written as if newer
        write_analysis(newer, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_analysis_report_is_never_written_through_a_link(analysis_report: dict, tmp_path: Path) -> None:
    from fusionbench.files import UnsafePathError
    from fusionbench.fusion.analysis import write_analysis

    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.json").symlink_to(victim)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_analysis(analysis_report, tmp_path / "report")
    assert victim.read_text(encoding="utf-8") == "keep" and not (tmp_path / "report" / "report.md").exists()


# ------------------------------------------------------------------ the fine-tuned adapter (finetune.json)
@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step LoRA fine-tune of the tiny offline Llama on two Alpaca records (CPU, float32)."""
    for package in ("trl", "peft"):
        pytest.importorskip(package)
    from tiny_model import build_tiny_llama

    from fusionbench.generation.finetune import FinetuneConfig, finetune

    root = tmp_path_factory.mktemp("finetune")
    records = [{"instruction": "Say hi", "input": "", "output": "hi"}, {"instruction": "2+2", "output": "4"}]
    (root / "alpaca.json").write_text(json.dumps(records), encoding="utf-8")
    model = build_tiny_llama(root / "llama")
    config = FinetuneConfig(str(model), max_steps=1, dtype="float32", max_length=64, gradient_accumulation=1)
    return finetune(root / "alpaca.json", root / "adapter", config).adapter


def _manifest_copy(adapter: Path, tmp_path: Path) -> Path:
    """The adapter's finetune.json alone in a folder of its own (the tests edit it)."""
    (tmp_path / "adapter").mkdir()
    copy = tmp_path / "adapter" / "finetune.json"
    copy.write_bytes((adapter / "finetune.json").read_bytes())
    return copy


def test_finetune_manifest_round_trip(adapter: Path) -> None:
    from fusionbench.generation.finetune import read_finetune

    manifest = read_finetune(adapter)
    assert manifest["format"] == "fusionbench-finetune/1" and manifest["created"] and manifest["fusionbench_version"]
    assert manifest["steps"] == 1 and manifest["examples"] == 2 and manifest["config"]["max_length"] == 64
    assert (adapter / "adapter_config.json").is_file()  # written before the manifest


def test_finetune_manifest_written_before_the_format_still_reads(adapter: Path, tmp_path: Path) -> None:
    from fusionbench.generation.finetune import read_finetune

    path = _manifest_copy(adapter, tmp_path)
    _as_before_the_manifest(path)  # finetune.json had no format nor created, only its fields
    read = read_finetune(path.parent)
    assert manifest_version(read) == 1 and read["base_model"] == read_finetune(adapter)["base_model"]


# ------------------------------------------------------------------ a converted export's conversion.json
@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded routing data written as an export folder (its provenance in conversion.json)."""
    from fusionbench.fusion.embedded import load

    return load().write_export(tmp_path_factory.mktemp("converted") / "export")


@pytest.fixture
def export_copy(converted: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(converted, tmp_path / "export"))


def test_conversion_round_trip(converted: Path) -> None:
    from fusionbench.fusion.converters.canonical import read_conversion
    from fusionbench.fusion.data import RoutingData
    from fusionbench.fusion.embedded import load

    manifest = read_conversion(converted)
    assert manifest["format"] == "fusionbench-conversion/1" and manifest["created"] and manifest["fusionbench_version"]
    assert manifest["source"] == load().source and manifest["provenance"]["kind"] == "llmrouter"
    back = RoutingData.from_export(converted)
    assert back.provenance["kind"] == "llmrouter" and back.provenance["note"] == manifest["provenance"]["note"]


def test_conversion_written_before_the_manifest_still_reads(export_copy: Path) -> None:
    from fusionbench.fusion.converters.canonical import read_conversion
    from fusionbench.fusion.data import RoutingData

    _as_before_the_manifest(export_copy / "conversion.json")  # it had fusionbench_version, no format nor created
    assert manifest_version(read_conversion(export_copy)) == 1
    assert RoutingData.from_export(export_copy).provenance["kind"] == "llmrouter"


def test_conversion_damaged_is_refused_by_from_export_naming_the_file(export_copy: Path) -> None:
    from fusionbench.fusion.data import RoutingData

    path = export_copy / "conversion.json"
    path.write_text('{"provenance": {"kind": "llmrouter"', encoding="utf-8")
    _refused(lambda: RoutingData.from_export(export_copy), path, r"line 1: damaged JSON")


# ------------------------------------------------------------------ newer, damaged or foreign manifests
_READERS = {
    "report.json": ("fusionbench.fusion.analysis", "read_analysis", "fusionbench-analysis-report"),
    "finetune.json": ("fusionbench.generation.finetune", "read_finetune", "fusionbench-finetune"),
    "conversion.json": ("fusionbench.fusion.converters.canonical", "read_conversion", "fusionbench-conversion"),
}


@pytest.mark.parametrize("file", sorted(_READERS))
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format": "NAME/2", "steps": 1, "provenance": {}}', r"NAME version 2 was written by a newer.*upgrade"),
        ('{"format": "NAME/1", "steps": 1', r"line 1: damaged JSON"),
        ('{"format": "fusionbench-split/1"}', r"not (an?) .*\(format 'fusionbench-split/1'\)"),
        ('{"loss": 1.0}', r"\(format None\)"),
        ("[1, 2]", r"a JSON list, not an object"),
    ],
)
def test_newer_damaged_or_foreign_manifest_is_refused_naming_the_file(
    tmp_path: Path, file: str, text: str, match: str
) -> None:
    import importlib

    module, reader, name = _READERS[file]
    (tmp_path / file).write_text(text.replace("NAME", name), encoding="utf-8")
    read = getattr(importlib.import_module(module), reader)
    _refused(lambda: read(tmp_path), tmp_path / file, match.replace("NAME", name))


# ------------------------------------------------------------------ a tiny set folder (tiny.json)
@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny set (IRT anchors, its item model in irt/) of 2PL answers of 6 models on two tasks, saved."""
    from scipy.special import expit

    from fusionbench.fusion.data import RoutingData
    from fusionbench.fusion.tiny import build_tiny

    rng = np.random.default_rng(1)
    tasks = ["gsm8k"] * 30 + ["boolq"] * 30
    a, b = rng.uniform(0.7, 1.5, 60), rng.normal(0, 1.0, 60)
    Y = np.column_stack([rng.random(60) < expit(a * theta + b) for theta in np.linspace(-1.5, 1.5, 6)])
    data = RoutingData.from_arrays(Y.astype(float), tasks=tasks, candidates=[f"m{i}" for i in range(6)])
    return build_tiny(data, per_task=4, method="anchors", seed=0).save(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture
def tiny_copy(tiny_set: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_set, tmp_path / "tiny"))


def _tiny_refused(folder: Path, match: str) -> None:
    from fusionbench.fusion.irt import DamagedFileError
    from fusionbench.fusion.tiny import load_tiny

    with pytest.raises(DamagedFileError, match=match) as caught:
        load_tiny(folder)
    assert (caught.value.folder, caught.value.file) == (folder, "tiny.json")
    assert f"{folder}: tiny.json: " in str(caught.value)


def test_tiny_set_round_trip(tiny_set: Path) -> None:
    from fusionbench.fusion.tiny import load_tiny
    from fusionbench.fusion.tiny.persist import read_tiny_manifest

    manifest = read_tiny_manifest(tiny_set)
    assert manifest["format"] == "fusionbench-tiny/1" and manifest["created"] and manifest["fusionbench_version"]
    assert "version" not in manifest and manifest["item_model"] == "irt"
    tiny = load_tiny(tiny_set)
    assert tiny.query_ids == tuple(a["query_id"] for a in manifest["anchors"]) and len(tiny.query_ids) == 8
    card = (tiny_set / "README.md").read_text(encoding="utf-8")
    assert tiny.item_model is not None and "`tiny.json` (format `fusionbench-tiny/1`)" in card


def test_tiny_set_written_before_the_manifest_still_loads(tiny_set: Path, tiny_copy: Path) -> None:
    from fusionbench.fusion.tiny import load_tiny
    from fusionbench.fusion.tiny.persist import read_tiny_manifest

    dropped = ("format", "created", "fusionbench_version")  # save_tiny wrote its format with a separate version
    _edit(tiny_copy / "tiny.json", dropped, format="fusionbench-tiny", version=1)
    assert manifest_version(read_tiny_manifest(tiny_copy)) == 1
    old, new = load_tiny(tiny_copy), load_tiny(tiny_set)
    scores = {q: float(i % 2) for i, q in enumerate(new.query_ids)}
    assert old.query_ids == new.query_ids and np.array_equal(old.weights, new.weights)
    assert old.estimate(scores, n_boot=0).overall == new.estimate(scores, n_boot=0).overall


@pytest.mark.parametrize("newer", [{"format": "fusionbench-tiny/2"}, {"format": "fusionbench-tiny", "version": 2}])
def test_tiny_set_of_a_newer_version_is_refused(tiny_copy: Path, newer: dict) -> None:
    _edit(tiny_copy / "tiny.json", **newer)
    _tiny_refused(tiny_copy, "fusionbench-tiny version 2 was written by a newer fusionbench.*upgrade fusionbench")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format": "fusionbench-tiny/1", "method":', r"not valid JSON"),
        ('{"format": "fusionbench-irt/1"}', r"not a tiny set folder \(format 'fusionbench-irt/1'\)"),
        ('{"method": "anchors"}', r"not a tiny set folder \(format None\)"),
        ("[1, 2]", r"a JSON list, not an object"),
    ],
)
def test_tiny_set_damaged_or_foreign_manifest_names_the_file(tiny_copy: Path, text: str, match: str) -> None:
    (tiny_copy / "tiny.json").write_text(text, encoding="utf-8")
    _tiny_refused(tiny_copy, match)


# ------------------------------------------------------------------ a featuriser folder (config.json)
TEXTS = ["solve 2 + 2", "solve 3 * 7", "who wrote hamlet", "who painted the mona lisa", "solve 9 - 4", "who is it"]


@pytest.fixture
def text_router(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A KNN router saved with its fitted TF-IDF featuriser (featurizer/config.json) and its choices on TEXTS."""
    from fusionbench.fusion import KNNRouter
    from fusionbench.fusion.features import TfidfFeaturizer

    featurizer = TfidfFeaturizer(min_df=1).fit(TEXTS)
    Y = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    router = KNNRouter(n_neighbors=3).fit(featurizer.transform(TEXTS), Y, candidates=["maths", "facts"])
    folder = router.save_pretrained(tmp_path / "router", featurizer=featurizer)
    return folder, router.predict(featurizer.transform(TEXTS))


def test_featurizer_round_trip(text_router: tuple[Path, np.ndarray]) -> None:
    from fusionbench.fusion.feature_checks import FEATURIZER_ARTIFACT
    from fusionbench.fusion.features import load_featurizer
    from fusionbench.fusion.routers.persistence import load_pipeline

    folder, predicted = text_router
    manifest = read_manifest(folder / "featurizer", FEATURIZER_ARTIFACT)
    assert manifest["format"] == "fusionbench-featurizer/1" and manifest["created"] and manifest["fusionbench_version"]
    assert manifest["kind"] == "tfidf" and manifest["vocabulary"] == load_featurizer(folder / "featurizer").vocabulary()
    np.testing.assert_array_equal(load_pipeline(folder).predict(TEXTS), predicted)


def test_featurizer_written_before_the_manifest_still_loads(text_router: tuple[Path, np.ndarray]) -> None:
    from fusionbench.fusion.routers.persistence import get_untrusted_types, load_pipeline

    folder, predicted = text_router
    _edit(folder / "featurizer" / "config.json", ("format", "created", "fusionbench_version"))  # kind, params, ...
    assert get_untrusted_types(folder) == []
    np.testing.assert_array_equal(load_pipeline(folder).predict(TEXTS), predicted)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"format": "fusionbench-featurizer/2", "kind": "tfidf"}', r"version 2 was written by a newer.*upgrade"),
        ('{"format": "fusionbench-featurizer/1", "kind":', r"not valid JSON"),
        ('{"format": "fusionbench-router/1"}', r"not a saved featuriser folder \(format 'fusionbench-router/1'\)"),
        ('{"params": {}}', r"not a saved featuriser folder \(format None\)"),
    ],
)
def test_featurizer_newer_damaged_or_foreign_config_names_the_file(
    text_router: tuple[Path, np.ndarray], text: str, match: str
) -> None:
    from fusionbench.fusion.features import load_featurizer
    from fusionbench.fusion.routers import BaseRouter
    from fusionbench.fusion.routers.persistence import DamagedRouterError, get_untrusted_types, load_pipeline

    folder = text_router[0]
    config = folder / "featurizer" / "config.json"
    config.write_text(text, encoding="utf-8")
    for call in (
        lambda: load_featurizer(folder / "featurizer"),
        lambda: load_featurizer(folder / "featurizer", trust=True),
        lambda: load_pipeline(folder),
        lambda: BaseRouter.from_pretrained(folder),  # the whole folder is checked, its featuriser too
        lambda: get_untrusted_types(folder),
    ):
        _refused(call, config, match, DamagedRouterError)
