"""A trained router folder as ``fusionbench route train`` (or :func:`fusionbench.fusion.experiment.train`) writes
it: the router and its featuriser, what it was trained on (a typed :class:`RunContext`), and (after calibration) its
calibrated knob.

Beside the router's own ``config.json`` / ``state.npz`` (``save_pretrained``) and ``featurizer/``, each file a
manifest of :mod:`fusionbench.artifacts` (format and version, written atomically, checked on read):

* ``route.json``: the :class:`RunContext` (``fusionbench-route-train/2``; a version-1 ``route.json``, the CLI's
  argument dict, is read and converted; a folder without one loads with no context);
* ``split.json``: the split (:class:`~fusionbench.fusion.splits.SplitSpec`), so predict / calibrate / eval
  use the same validation and test queries;
* ``training_record.json``: the training query ids and hashes of their normalised texts
  (:class:`~fusionbench.fusion.evaluation.gate.TrainingRecord`), for the leakage check on any data;
* ``calibration.json``: the calibrated knob (``fusionbench-calibration/1``; an older one without a format reads
  as version 1), when calibration was run.

A damaged or foreign side file is one :class:`RouterFolderError` naming the folder and the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionbench.artifacts import ArtifactFormat, ArtifactFormatError, new_manifest, read_manifest, write_manifest
from fusionbench.fusion.evaluation.calibration import CALIBRATION_FORMAT, Calibration
from fusionbench.fusion.evaluation.gate import TrainingRecord
from fusionbench.fusion.splits import SplitSpec

CONTEXT = "route.json"
SPLIT = "split.json"
RECORD = "training_record.json"
CALIBRATION = "calibration.json"
CONTEXT_FORMAT = ArtifactFormat(
    "fusionbench-route-train", 2, manifest=CONTEXT, what="a route-train context (route.json of a router folder)"
)
FORMAT = CONTEXT_FORMAT.tag


class RouterFolderError(ArtifactFormatError):
    """A side file of a router folder (context, split, training record, calibration) that is damaged or foreign."""


def _pairs(items: Any) -> dict[str, Any]:
    from fusionbench.fusion.evaluation.inputs import parse_pairs

    return parse_pairs(items) if isinstance(items, list) else dict(items or {})


def _plain(value: Any) -> Any:
    """A parameter value as JSON (tuples as lists; anything else through the router folder's tags)."""
    from fusionbench.fusion.routers.persistence import encode_param

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return encode_param(value)


@dataclass(frozen=True)
class RunContext:
    """How a router was trained: enough to load the same data and split again (``route.json``).

    ``data``: the data spec (None: the embedded dataset); ``split_scheme`` / ``split_args`` / ``seed``: the split;
    ``features``: the featuriser spec; ``router`` / ``router_params``: the registry name and the parameters given
    (JSON; the fitted router's full parameters are in ``config.json``); ``tradeoff``; ``score_column``;
    ``incomplete`` / ``tasks_from`` / ``lenient`` / ``candidates``: how the data was read;
    ``fusionbench_version`` and ``training_fingerprint`` (the router's ``training_fingerprint_``) of the run;
    ``format_version``: the version of the ``route.json`` it was read from (written: the current one).
    """

    data: str | None = None
    split_scheme: str = "random"
    split_args: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    features: str = "tfidf"
    router: str = "auto"
    router_params: Mapping[str, Any] = field(default_factory=dict)
    tradeoff: str = "performance_first"
    score_column: str = "performance"
    incomplete: str = "error"
    tasks_from: str = "task"
    lenient: bool = False
    candidates: tuple[str, ...] | None = None
    fusionbench_version: str = ""
    training_fingerprint: str | None = None
    format_version: int = CONTEXT_FORMAT.version

    def to_manifest(self) -> dict[str, Any]:
        """``route.json``'s object: the manifest fields, then every field but ``format_version``."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "format_version"}
        fields |= {"split_args": _plain(dict(self.split_args)), "router_params": _plain(dict(self.router_params))}
        fields["candidates"] = None if self.candidates is None else list(self.candidates)
        manifest = new_manifest(CONTEXT_FORMAT)
        version = self.fusionbench_version or manifest["fusionbench_version"]
        return manifest | fields | {"fusionbench_version": version}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], where: str = CONTEXT) -> RunContext:
        """The context of a checked ``route.json`` object (version 1, the CLI's argument dict, converted)."""
        from fusionbench.artifacts import manifest_version

        version = manifest_version(manifest)
        try:
            if version == 1:
                return cls._from_v1(manifest)
            names = {f.name for f in dataclasses.fields(cls)} - {"format_version"}
            values = {k: v for k, v in manifest.items() if k in names}
            if values.get("candidates") is not None:
                values["candidates"] = tuple(values["candidates"])
            return cls(**values, format_version=version)
        except (TypeError, ValueError, AttributeError) as error:
            raise RouterFolderError(where, f"its fields do not make a run context: {error}") from None

    @classmethod
    def _from_v1(cls, old: Mapping[str, Any]) -> RunContext:
        candidates = old.get("candidates")
        return cls(
            data=old.get("data"), split_scheme=old.get("split_scheme") or "random",
            split_args=_pairs(old.get("scheme_args")), seed=int(old.get("seed") or 0),
            features=old.get("features") or "tfidf", router=old.get("router") or "auto",
            router_params=_pairs(old.get("set")), tradeoff=old.get("tradeoff") or "performance_first",
            incomplete=old.get("incomplete") or "error", tasks_from=old.get("tasks_from") or "task",
            lenient=bool(old.get("lenient")), candidates=None if candidates is None else tuple(candidates),
            format_version=1,
        )  # fmt: skip


def _legacy_context(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``route.json`` written before it had a format: the CLI's argument dict, read as version 1."""
    if found is not None and {"router", "split_scheme"} <= set(found):
        return {"format": f"{CONTEXT_FORMAT.name}/1", **found}
    return None


def _side_file(folder: Path, name: str, read: Callable[[Path], Any]) -> Any:
    """``read(path)`` of a side file, or None when the folder has none; any damage is a RouterFolderError."""
    path = folder / name
    if not path.exists():
        return None
    try:
        return read(path)
    except RouterFolderError:
        raise
    except ArtifactFormatError as error:
        raise RouterFolderError(str(path), f"in router folder {folder}: {error.message}", line=error.line) from None
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, IsADirectoryError) as error:
        what = f"missing key {error}" if isinstance(error, KeyError) else str(error)
        raise RouterFolderError(str(path), f"damaged {name} in router folder {folder}: {what}") from None


@dataclass
class TrainedRouter:
    """A fitted router with its featuriser, run context, split, training record and calibration (a router folder,
    in memory). ``folder`` is where it was loaded from or saved to (None before :meth:`save`)."""

    router: Any
    featurizer: Any
    context: RunContext | None
    split: SplitSpec | None
    record: TrainingRecord | None
    calibration: Calibration | None = None
    folder: Path | None = None

    def predict(self, X: Any, tasks: Any = None) -> Any:
        """Indices into ``router.candidates_``: the calibrated knob when there is one, else ``predict``."""
        if self.calibration is not None:
            return self.calibration.route(self.router, X, tasks)
        return self.router.predict(X, tasks=tasks)

    def features(self, data: Any) -> Any:
        """The router's input for ``data``: the saved featuriser applied to it."""
        from fusionbench.fusion.evaluation.inputs import transform

        if self.featurizer is None:
            raise ValueError(f"{self.folder or 'the router'} has no saved featuriser; train it with route train")
        return transform(self.featurizer, data)

    def save(self, folder: str | Path) -> Path:
        """Write the router folder (see the module docstring); a stale calibration in it is removed."""
        if self.context is None or self.split is None or self.record is None:
            raise ValueError("a router folder needs its run context, split and training record")
        self.folder = save_trained(folder, self.router, self.featurizer, self.context, self.split, self.record)
        if self.calibration is not None:
            save_calibration(self.folder, self.calibration)
        return self.folder


#: the name this class had before the library workflow (``fusion.experiment``)
Trained = TrainedRouter


def save_trained(
    folder: str | Path,
    router: Any,
    featurizer: Any,
    context: RunContext,
    split: SplitSpec,
    record: TrainingRecord,
) -> Path:
    """Write a router folder (see the module docstring)."""
    from fusionbench.fusion.features import save_featurizer

    folder = Path(folder)
    router.save_pretrained(folder, featurizer=featurizer)
    if not (folder / "featurizer" / "config.json").is_file():
        save_featurizer(featurizer, folder / "featurizer")
    write_manifest(folder, CONTEXT_FORMAT, context.to_manifest())
    split.save(folder / SPLIT)
    record.save(folder / RECORD)
    stale = folder / CALIBRATION
    if stale.exists():
        stale.unlink()  # a calibration of the previous router in this folder would be wrong
    return folder


def read_context(folder: str | Path) -> RunContext | None:
    """The run context of a router folder (None when it has no ``route.json``)."""
    folder = Path(folder)

    def read(path: Path) -> RunContext:
        manifest = read_manifest(folder, CONTEXT_FORMAT, legacy=_legacy_context, error=RouterFolderError)
        return RunContext.from_manifest(manifest, str(path))

    return _side_file(folder, CONTEXT, read)


def load_trained(folder: str | Path, *, trust: bool = False) -> TrainedRouter:
    """Load a router folder written by :func:`save_trained` (or any ``save_pretrained`` folder with a
    featuriser: the context, split and record are then None)."""
    from fusionbench.fusion.routers.persistence import load_router_folder

    folder = Path(folder)
    router, featurizer = load_router_folder(folder, trust=trust)  # the whole folder is checked before it is built
    context = read_context(folder)
    split = _side_file(folder, SPLIT, SplitSpec.load)
    record = _side_file(folder, RECORD, TrainingRecord.load)
    calibration = _side_file(folder, CALIBRATION, Calibration.load)
    return TrainedRouter(router, featurizer, context, split, record, calibration, folder)


def save_calibration(folder: str | Path, calibration: Calibration) -> Path:
    """Write ``calibration.json`` into a router folder."""
    return calibration.save(Path(folder) / CALIBRATION)


__all__ = [
    "CALIBRATION_FORMAT",
    "CONTEXT_FORMAT",
    "RouterFolderError",
    "RunContext",
    "Trained",
    "TrainedRouter",
    "load_trained",
    "read_context",
    "save_calibration",
    "save_trained",
]
