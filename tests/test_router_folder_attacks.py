"""A router folder is data: tampered folders are refused before anything in them is built, and damaged ones are one
clear error naming the file. Each attack runs for real (scikit-learn really re-exports ``subprocess.check_output``,
``os.remove`` and ``os.makedirs``) and the test asserts that its effect did not happen."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import _base, _lfw
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import _testing

from fusionbench.cli import main
from fusionbench.fusion import CarrotRouter, KNNRouter, LinearRouter, PairRouter, PerTaskRouter
from fusionbench.fusion.features import TfidfFeaturizer, load_featurizer
from fusionbench.fusion.routers import BaseRouter, load_pipeline
from fusionbench.fusion.routers.persistence_checks import (
    DamagedRouterError,
    UntrustedRouterError,
    get_untrusted_types,
)

CHECK_OUTPUT = "sklearn.utils._testing.check_output"
REMOVE = "sklearn.datasets._lfw.remove"
MAKEDIRS = "sklearn.datasets._base.makedirs"


def test_the_gadgets_are_real() -> None:
    """What the attacks below call: names inside scikit-learn modules that are really os / subprocess functions."""
    assert _testing.check_output is subprocess.check_output
    assert _lfw.remove is os.remove and _base.makedirs is os.makedirs


def _data(n: int = 80, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(n, 3)) > 0).astype(float)
    cost = np.array([1.0, 2.0, 4.0]) * (1 + rng.random((n, 3))) * 1e-3
    tasks = np.where(X[:, 0] > 0, "t1", "t2").astype(object)
    return {"X": X, "Y": Y, "cost": cost, "tasks": tasks}


def _saved(router: BaseRouter, folder: Path, **fit: object) -> Path:
    d = _data()
    return router.fit(d["X"], d["Y"], cost=d["cost"], tasks=d["tasks"], **fit).save_pretrained(folder)


def _tamper(path: Path, edit) -> None:
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def _shell(marker: Path) -> dict:
    return {"__sklearn__": CHECK_OUTPUT, "params": {"args": ["sh", "-c", f"touch {marker}"]}}


# ---------------------------------------------------------------- code in config.json
def test_check_output_in_a_parameter_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    folder = _saved(LinearRouter(), tmp_path / "r")
    marker = tmp_path / "PWNED"
    _tamper(folder / "config.json", lambda c: c["params"].update(random_state=_shell(marker)))
    with pytest.raises(UntrustedRouterError) as refused:
        BaseRouter.from_pretrained(folder)
    message = str(refused.value)
    assert str(folder) in message and f"config.json at params.random_state.__sklearn__: '{CHECK_OUTPUT}'" in message
    assert refused.value.findings[0].type == CHECK_OUTPUT and not marker.exists()
    assert get_untrusted_types(folder) == [CHECK_OUTPUT] and not marker.exists()


def test_every_decode_path_is_checked_and_all_findings_listed(tmp_path: Path) -> None:
    folder = _saved(
        PairRouter(LinearRouter(), strong="c2", weak="c0"), tmp_path / "pair", candidates=["c0", "c1", "c2"]
    )
    victim, made = tmp_path / "victim.txt", tmp_path / "made"
    victim.write_text("keep me")

    def edit(config: dict) -> None:
        inner = config["params"]["router"]["params"]  # a router inside the parameters: nested params
        inner["random_state"] = {"__sklearn__": REMOVE, "params": {"path": str(victim)}}
        inner["C"] = {"__tuple__": [{"__sklearn__": MAKEDIRS, "params": {"name": str(made)}}]}
        inner["kind"] = {
            "__dict__": {"x": {"__sklearn__": "sklearn.linear_model.LogisticRegression", "params": {"z": 1}}}
        }
        inner["max_iter"] = {"__tuple__": [], "__sklearn__": CHECK_OUTPUT}  # two tags: not something we write
        config["params"]["threshold"] = {"__router__": "builtins.eval", "params": {}}
        config["params"]["missing"] = {"__tradeoff__": {"name": "x", "evil": 1}}

    _tamper(folder / "config.json", edit)
    with pytest.raises(UntrustedRouterError, match="refused 6 untrusted") as refused:
        PairRouter.from_pretrained(folder)
    keys = {f.key: f.type for f in refused.value.findings}
    assert keys["params.router.params.random_state.__sklearn__"] == REMOVE
    assert keys["params.router.params.C.__tuple__[0].__sklearn__"] == MAKEDIRS
    assert keys["params.router.params.kind.__dict__.x.params.z"] == "sklearn.linear_model.LogisticRegression"
    assert "object with keys ['__sklearn__', '__tuple__']" in keys["params.router.params.max_iter"]
    assert keys["params.threshold.__router__"] == "builtins.eval" and "params.missing.__tradeoff__" in keys
    assert "LogisticRegression has no parameter 'z'" in str(refused.value)
    assert victim.read_text() == "keep me" and not made.exists()


def test_a_sub_router_folder_is_checked_before_the_parent_is_built(tmp_path: Path) -> None:
    folder = _saved(CarrotRouter(perf=LinearRouter(), cost_model=KNNRouter(n_neighbors=5)), tmp_path / "carrot")
    made = tmp_path / "made"
    gadget = {"__sklearn__": MAKEDIRS, "params": {"name": str(made)}}
    _tamper(folder / "perf_" / "config.json", lambda c: c["params"].update(alpha=gadget))
    with pytest.raises(UntrustedRouterError, match=r"perf_/config\.json at params\.alpha\.__sklearn__"):
        BaseRouter.from_pretrained(folder)
    assert not made.exists()
    shutil.rmtree(folder / "perf_")
    with pytest.raises(DamagedRouterError, match=r"perf_/config\.json: sub-router 'perf_' is missing"):
        BaseRouter.from_pretrained(folder)


def test_the_class_key_and_state_names_cannot_reach_outside(tmp_path: Path) -> None:
    folder = _saved(LinearRouter(), tmp_path / "r")
    _tamper(folder / "config.json", lambda c: c.update({"class": "subprocess.Popen"}))
    with pytest.raises(UntrustedRouterError, match=r"at class: 'subprocess\.Popen' \(not a fusionbench router"):
        BaseRouter.from_pretrained(folder)
    _tamper(folder / "config.json", lambda c: c.update({"class": "LinearRouter"}))
    _tamper(folder / "config.json", lambda c: c["state"]["routers"].append("../../elsewhere"))
    with pytest.raises(DamagedRouterError, match=r"'state\.routers' has names that are not attribute names"):
        BaseRouter.from_pretrained(folder)
    _tamper(folder / "config.json", lambda c: (c["state"].update(routers=[]), c["fitted"].update(predict=1)))
    with pytest.raises(DamagedRouterError, match="'fitted' may hold only"):
        BaseRouter.from_pretrained(folder)


def test_allowed_estimators_load_without_trust_and_trust_is_the_only_door(tmp_path: Path) -> None:
    d = _data()
    router = PerTaskRouter(task_source="classifier", classifier=LogisticRegression(C=0.5))
    folder = _saved(router, tmp_path / "allowed")
    assert get_untrusted_types(folder) == []
    loaded = PerTaskRouter.from_pretrained(folder)
    assert loaded.classifier.C == 0.5 and np.array_equal(loaded.predict(d["X"]), router.predict(d["X"]))
    other = PerTaskRouter(task_source="classifier", classifier=DecisionTreeClassifier(max_depth=2, random_state=0))
    other.fit(d["X"], d["Y"], tasks=d["tasks"])
    folder = other.save_pretrained(tmp_path / "tree", allow_pickle=True)
    assert get_untrusted_types(folder) == ["pickle", "sklearn.tree._classes.DecisionTreeClassifier"]
    with pytest.raises(UntrustedRouterError, match=r"pickled\.joblib at state\.pickled: 'pickle'"):
        PerTaskRouter.from_pretrained(folder)
    trusted = PerTaskRouter.from_pretrained(folder, trust=True)
    assert np.array_equal(trusted.predict(d["X"]), other.predict(d["X"]))


# ---------------------------------------------------------------- the featuriser folder
TEXTS = ["what is two plus two", "solve x squared", "who wrote hamlet", "capital of france"] * 6


def _text_folder(tmp_path: Path) -> Path:
    featurizer = TfidfFeaturizer(min_df=1).fit(TEXTS)
    Y = np.array([[1.0, 0.0] if "x" in t or "plus" in t else [0.0, 1.0] for t in TEXTS])
    router = KNNRouter(n_neighbors=3).fit(featurizer.transform(TEXTS), Y, candidates=["maths", "facts"])
    return router.save_pretrained(tmp_path / "text", featurizer=featurizer)


def test_the_featuriser_folder_is_checked(tmp_path: Path) -> None:
    folder = _text_folder(tmp_path)
    assert load_pipeline(folder).predict(TEXTS[:4]).tolist() == [0, 0, 1, 1]
    marker = tmp_path / "PWNED"
    _tamper(
        folder / "featurizer" / "config.json", lambda c: c.update(kind=CHECK_OUTPUT, params=_shell(marker)["params"])
    )
    with pytest.raises(UntrustedRouterError, match=rf"featurizer/config\.json at kind: '{CHECK_OUTPUT}'"):
        load_pipeline(folder)
    _tamper(folder / "featurizer" / "config.json", lambda c: c.update(kind="tfidf", params={"analyzer": "char"}))
    with pytest.raises(UntrustedRouterError, match="TfidfFeaturizer has no parameter 'analyzer'"):
        load_featurizer(folder / "featurizer")
    # a sentence-transformers model folder named by the file: loading it imports what its modules.json names
    st = {"kind": "sentence-transformers", "params": {"model": str(tmp_path / "evil-model"), "cache_dir": "/etc"}}
    (folder / "featurizer" / "config.json").write_text(json.dumps(st))
    assert get_untrusted_types(folder) == [
        "sentence-transformers cache_dir folder",
        "sentence-transformers model folder",
    ]
    with pytest.raises(UntrustedRouterError, match=r"params\.model: 'sentence-transformers model folder'"):
        load_featurizer(folder / "featurizer")
    assert not marker.exists()


def test_a_damaged_featuriser_folder_names_its_file(tmp_path: Path) -> None:
    folder = _text_folder(tmp_path)
    saved = folder / "featurizer" / "state.npz"
    good = saved.read_bytes()
    saved.write_bytes(_npz({"idf": np.ones(3)}))  # three weights for a longer vocabulary
    with pytest.raises(DamagedRouterError, match=r"featurizer/state\.npz: idf has shape \(3,\)"):
        load_pipeline(folder)
    saved.write_bytes(good[:-20])
    with pytest.raises(DamagedRouterError, match=r"featurizer/state\.npz: not a readable \.npz"):
        load_pipeline(folder)
    saved.unlink()
    with pytest.raises(DamagedRouterError, match=r"featurizer/state\.npz: missing in router folder"):
        load_pipeline(folder)
    _tamper(folder / "featurizer" / "config.json", lambda c: c["params"].update(ngram_range=2))
    with pytest.raises(DamagedRouterError, match=r"featurizer/config\.json: its parameters do not build a featuriser"):
        load_featurizer(folder / "featurizer")
    _tamper(folder / "featurizer" / "config.json", lambda c: c.pop("vocabulary"))
    with pytest.raises(DamagedRouterError, match=r"featurizer/config\.json: key 'vocabulary' is missing"):
        load_pipeline(folder)


# ---------------------------------------------------------------- damaged folders
def test_a_cut_or_invalid_config_is_one_error_naming_the_file(tmp_path: Path) -> None:
    folder = _saved(LinearRouter(), tmp_path / "r")
    text = (folder / "config.json").read_text()
    (folder / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(DamagedRouterError, match=r"config\.json, line \d+: not valid JSON .* router folder"):
        BaseRouter.from_pretrained(folder)
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DamagedRouterError, match=r"config\.json: unreadable"):
        BaseRouter.from_pretrained(folder)
    (folder / "config.json").write_text(text)
    _tamper(folder / "config.json", lambda c: c.update(tradeoff={"stats": 5}))
    with pytest.raises(DamagedRouterError, match=r"config\.json: its fitted values do not fit a LinearRouter"):
        BaseRouter.from_pretrained(folder)
    _tamper(folder / "config.json", lambda c: c.pop("state"))
    with pytest.raises(DamagedRouterError, match="key 'state' is missing"):
        BaseRouter.from_pretrained(folder)


def _npz(arrays: dict[str, np.ndarray], compression: int = zipfile.ZIP_STORED, extra: dict | None = None) -> bytes:
    """An .npz written by hand (so it can hold what ``np.savez`` would not): ``extra`` are raw .npy members."""
    members = {}
    for name, array in arrays.items():
        member = io.BytesIO()
        np.lib.format.write_array(member, array, allow_pickle=True)
        members[name] = member.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in {**members, **(extra or {})}.items():
            archive.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def test_a_cut_bombed_or_incomplete_state_is_one_error_naming_the_file(tmp_path: Path) -> None:
    folder = _saved(LinearRouter(), tmp_path / "r")
    state = folder / "state.npz"
    good = state.read_bytes()
    state.write_bytes(good[: len(good) // 2])
    with pytest.raises(DamagedRouterError, match=r"state\.npz: not a readable \.npz"):
        BaseRouter.from_pretrained(folder)
    with np.load(io.BytesIO(good)) as npz:
        arrays = {name: npz[name] for name in npz.files}
    state.write_bytes(_npz({k: v for k, v in arrays.items() if k != "coef_"}))
    with pytest.raises(DamagedRouterError, match=r"state\.npz: arrays \['coef_'\] are missing in router folder"):
        BaseRouter.from_pretrained(folder)
    state.write_bytes(_npz({**arrays, "coef_": np.array([{"a": 1}], dtype=object)}))
    with pytest.raises(DamagedRouterError, match="array 'coef_' has dtype object: only plain arrays load"):
        BaseRouter.from_pretrained(folder)
    # a header that claims a terabyte in a few bytes: refused before anything is allocated
    state.write_bytes(_npz(arrays, extra={"coef_": _npy_claiming((10**12,))}))
    with pytest.raises(
        DamagedRouterError, match=r"array 'coef_' claims shape \(1000000000000,\) \(8,000,000,000,000 b"
    ):
        BaseRouter.from_pretrained(folder)


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A .npy member whose header claims ``shape`` (float64) but holds 32 bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return member.getvalue() + bytes(32)


def test_a_zip_bomb_is_refused_from_its_directory_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    folder = _saved(LinearRouter(), tmp_path / "r")
    with np.load(folder / "state.npz") as npz:
        arrays = {name: npz[name] for name in npz.files}
    bomb = np.zeros(8 * 1024**2)  # 64 MiB of zeros, about 64 KiB deflated
    (folder / "state.npz").write_bytes(_npz({**arrays, "coef_": bomb}, zipfile.ZIP_DEFLATED))
    assert (folder / "state.npz").stat().st_size < 1024**2
    tracemalloc.start()
    try:
        with pytest.raises(DamagedRouterError, match=r"state\.npz: its arrays declare [\d,]+ bytes, over the 16,777,"):
            BaseRouter.from_pretrained(folder, max_bytes=16 * 1024**2)
        monkeypatch.setenv("FUSIONBENCH_ROUTER_MAX_BYTES", str(16 * 1024**2))
        with pytest.raises(DamagedRouterError, match="16,777,216-byte cap"):
            BaseRouter.from_pretrained(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2  # the 64 MiB were never inflated
    monkeypatch.delenv("FUSIONBENCH_ROUTER_MAX_BYTES")
    # entries whose zip directory declares 4 GiB each (the bytes are not there): refused by the default cap
    raw = bytearray(_npz({k: np.zeros(2) for k in arrays}))
    directory = raw.rindex(b"PK\x05\x06")
    entry = raw.find(b"PK\x01\x02")
    while 0 <= entry < directory:
        raw[entry + 24 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")  # uncompressed size
        entry = raw.find(b"PK\x01\x02", entry + 4)
    (folder / "state.npz").write_bytes(bytes(raw))
    with pytest.raises(
        DamagedRouterError, match=f"declare {len(arrays) * 0xFFFFFFF0:,} bytes, over the 4,294,967,296-byte cap"
    ):
        BaseRouter.from_pretrained(folder)


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real `route train` folder (linear router, 64 TF-IDF terms, the embedded LLMRouter data)."""
    folder = tmp_path_factory.mktemp("routers") / "linear"
    assert (
        main(["route", "train", "--router", "linear", "--features", "tfidf:64", "--out", str(folder), "--quiet"]) == 0
    )
    return folder


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "import sys; from fusionbench.cli import main; sys.exit(main())", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_route_predict_and_eval_refuse_a_tampered_folder(trained: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    shutil.copytree(trained, evil)
    marker, victim = tmp_path / "PWNED", tmp_path / "victim.txt"
    victim.write_text("keep me")
    _tamper(evil / "config.json", lambda c: c["params"].update(random_state=_shell(marker)))
    done = _cli("route", "predict", str(evil), "--out", str(tmp_path / "c.parquet"), cwd=tmp_path)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and "Traceback" not in said, said
    assert f"params.random_state.__sklearn__: '{CHECK_OUTPUT}'" in said and not marker.exists()
    assert not (tmp_path / "c.parquet").exists()
    gadget = {"__sklearn__": REMOVE, "params": {"path": str(victim)}}
    _tamper(evil / "config.json", lambda c: c["params"].update(random_state=gadget))
    done = _cli("route", "eval", str(evil), "--n-boot", "10", cwd=tmp_path)
    said = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 1 and f"'{REMOVE}'" in said and "Traceback" not in said, said
    assert victim.read_text() == "keep me"


def test_route_cli_damaged_folder_is_one_line_and_trust_loads_a_real_folder(trained, tmp_path, capsys) -> None:
    assert main(["route", "predict", str(trained), "--trust", "--out", str(tmp_path / "ok.parquet")]) == 0
    assert (tmp_path / "ok.parquet").is_file()
    cut = tmp_path / "cut"
    shutil.copytree(trained, cut)
    data = (cut / "state.npz").read_bytes()
    (cut / "state.npz").write_bytes(data[:100])
    capsys.readouterr()
    assert main(["route", "predict", str(cut), "--out", str(tmp_path / "x.parquet")]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert said.startswith(f"error: {cut / 'state.npz'}: not a readable .npz (cut or corrupted?) in router folder")
