"""Saving an item model without pickle: ``irt.json`` (the artifact manifest of :mod:`fusionbench.artifacts`, format
``fusionbench-irt/1``, with the config, ids and info) and ``irt.npz`` (the arrays, read with
``allow_pickle=False``), both written atomically (:mod:`fusionbench.files`), the manifest last. Loading never
imports anything a file names, and a damaged file is refused naming the folder and the file. A folder written
before the manifest (``"format": "fusionbench-irt"`` with a separate ``"version": 1``) is read as version 1."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, check_manifest, new_manifest, write_manifest
from fusionbench.files import atomic_write_bytes, ensure_folder
from fusionbench.fusion.irt.model import IRTConfig, ItemModel

FORMAT = "fusionbench-irt"
VERSION = 1
JSON_FILE, ARRAYS_FILE = "irt.json", "irt.npz"
#: the item model folder's manifest (``irt.json``)
IRT_ARTIFACT = ArtifactFormat(FORMAT, VERSION, manifest=JSON_FILE, what="an IRT item model folder (irt.json)")
_ARRAYS = ("a", "b", "theta", "delta")
_MAP_ARRAYS = ("mean", "scale", "weights", "intercept")


class DamagedFileError(ArtifactFormatError):
    """A saved item model (or tiny set) whose file is missing, unreadable or inconsistent (a ``BadInputError``,
    so a ``ValueError``)."""

    def __init__(self, folder: Path, file: str, message: str) -> None:
        super().__init__(f"{folder}: {file}", message)
        self.folder, self.file = Path(folder), file


class _ManifestError(DamagedFileError):
    """:func:`~fusionbench.artifacts.check_manifest`'s error for ``irt.json``: the manifest's path split into the
    folder and the file."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(Path(file).parent, Path(file).name, message)


def save_item_model(model: ItemModel, folder: str | Path) -> Path:
    """Write ``model`` into ``folder`` (created; a link is refused) as irt.json + irt.npz."""
    folder = ensure_folder(folder, "the item model folder")
    arrays = {name: np.asarray(getattr(model, name), dtype=np.float64) for name in _ARRAYS}
    fm = model.feature_map
    if fm is not None:
        arrays |= {f"map_{name}": np.asarray(fm[name], dtype=np.float64) for name in _MAP_ARRAYS}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(folder / ARRAYS_FILE, buffer.getvalue())
    meta = new_manifest(
        IRT_ARTIFACT,
        config=asdict(model.config),
        subjects=list(model.subjects),
        items=list(model.items),
        item_tasks=[str(t) for t in model.item_tasks],
        tasks=list(model.tasks),
        info=_jsonable(model.info),
        feature_map=None if fm is None else {"alpha": fm["alpha"], "train_r2_b": fm["train_r2_b"]},
    )
    write_manifest(folder, IRT_ARTIFACT, meta)
    return folder


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def _load_json(folder: Path, name: str) -> Any:
    path = folder / name
    if not path.is_file():
        raise DamagedFileError(folder, name, "missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedFileError(folder, name, f"not valid JSON ({error})") from None


def read_arrays(folder: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of ``folder/name`` (an npz read without pickle)."""
    path = folder / name
    if not path.is_file():
        raise DamagedFileError(folder, name, "missing")
    try:
        with np.load(path, allow_pickle=False) as handle:
            return {key: handle[key] for key in handle.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DamagedFileError(folder, name, f"not a readable npz archive ({error})") from None


def read_folder_manifest(folder: str | Path, fmt: ArtifactFormat) -> dict[str, Any]:
    """The checked manifest of a ``fmt`` folder (an item model's ``irt.json``, a tiny set's ``tiny.json``), a
    wrong one a :class:`DamagedFileError` naming folder and file; one written before the manifest
    (``"format": fmt.name`` with a separate ``"version": N``) is read as version N."""
    folder = Path(folder)
    meta = _load_json(folder, fmt.manifest)
    if isinstance(meta, dict) and meta.get("format") == fmt.name and "format_version" not in meta:
        meta = {**meta, "format_version": meta.get("version")}
    return check_manifest(meta, fmt, folder / fmt.manifest, error=_ManifestError)


def read_item_manifest(folder: str | Path) -> dict[str, Any]:
    """The checked manifest (``irt.json``) of an item model folder (:func:`read_folder_manifest`)."""
    return read_folder_manifest(folder, IRT_ARTIFACT)


def load_item_model(folder: str | Path) -> ItemModel:
    """The item model saved in ``folder`` by :func:`save_item_model`."""
    folder = Path(folder)
    meta = read_item_manifest(folder)
    arrays = read_arrays(folder, ARRAYS_FILE)
    try:
        known = {f.name for f in fields(IRTConfig)}
        config = IRTConfig(**{k: v for k, v in meta["config"].items() if k in known})
        subjects, items = tuple(map(str, meta["subjects"])), tuple(map(str, meta["items"]))
        item_tasks, tasks = np.array(meta["item_tasks"], dtype=object), tuple(map(str, meta["tasks"]))
    except (KeyError, TypeError, ValueError) as error:
        raise DamagedFileError(folder, JSON_FILE, f"bad or missing field ({error})") from None
    s, n, d, t = len(subjects), len(items), config.dims, len(tasks)
    shapes = {"a": (n, d), "b": (n,), "theta": (s, d), "delta": (s, t)}
    for name, shape in shapes.items():
        if name not in arrays:
            raise DamagedFileError(folder, ARRAYS_FILE, f"array {name!r} is missing")
        if arrays[name].shape != shape or not np.isfinite(arrays[name]).all():
            raise DamagedFileError(folder, ARRAYS_FILE, f"array {name!r} has shape {arrays[name].shape} "
                                   f"(expected {shape}) or non-finite values")  # fmt: skip
    if len(item_tasks) != n or not set(map(str, item_tasks)) <= set(tasks):
        raise DamagedFileError(folder, JSON_FILE, "item_tasks do not match the items and tasks")
    feature_map = None
    if meta.get("feature_map") is not None:
        missing = [k for k in _MAP_ARRAYS if f"map_{k}" not in arrays]
        if missing:
            raise DamagedFileError(folder, ARRAYS_FILE, f"feature map arrays {missing} are missing")
        feature_map = {k: arrays[f"map_{k}"] for k in _MAP_ARRAYS} | dict(meta["feature_map"])
    return ItemModel(config, subjects, items, item_tasks, tasks, arrays["a"], arrays["b"], arrays["theta"],
                     arrays["delta"], dict(meta.get("info") or {}), feature_map)  # fmt: skip
