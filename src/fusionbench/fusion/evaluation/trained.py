"""A trained router folder as ``fusionbench route`` writes it: the router and its featuriser, what it was trained
on, and (after ``route calibrate``) its calibration.

Beside the router's own ``config.json`` / ``state.npz`` (``save_pretrained``) and ``featurizer/``:

* ``route.json``: the data spec, split scheme and arguments, seed, featuriser spec, trade-off and router name;
* ``split.json``: the split (:class:`~fusionbench.fusion.splits.SplitSpec`), so predict / calibrate / eval
  use the same validation and test queries;
* ``training_record.json``: the training query ids and hashes of their normalised texts
  (:class:`~fusionbench.fusion.evaluation.gate.TrainingRecord`), for the leakage check on any data;
* ``calibration.json``: the calibrated knob, when ``route calibrate`` was run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fusionbench.files import atomic_write_text
from fusionbench.fusion.evaluation.calibration import Calibration
from fusionbench.fusion.evaluation.gate import TrainingRecord
from fusionbench.fusion.splits import SplitSpec

CONTEXT = "route.json"
SPLIT = "split.json"
RECORD = "training_record.json"
CALIBRATION = "calibration.json"
FORMAT = "fusionbench-route-train/1"


@dataclass
class Trained:
    """A loaded router folder."""

    folder: Path
    router: Any
    featurizer: Any
    context: dict[str, Any]
    split: SplitSpec | None
    record: TrainingRecord | None
    calibration: Calibration | None

    def predict(self, X: Any, tasks: Any = None) -> Any:
        """Indices into ``router.candidates_``: the calibrated knob when there is one, else ``predict``."""
        if self.calibration is not None:
            return self.calibration.route(self.router, X, tasks)
        return self.router.predict(X, tasks=tasks)


def save_trained(
    folder: str | Path,
    router: Any,
    featurizer: Any,
    context: dict[str, Any],
    split: SplitSpec,
    record: TrainingRecord,
) -> Path:
    """Write a router folder (see the module docstring)."""
    from fusionbench.fusion.features import save_featurizer

    folder = Path(folder)
    router.save_pretrained(folder, featurizer=featurizer)
    if not (folder / "featurizer" / "config.json").is_file():
        save_featurizer(featurizer, folder / "featurizer")
    atomic_write_text(folder / CONTEXT, json.dumps({"format": FORMAT, **context}, indent=1) + "\n")
    split.save(folder / SPLIT)
    record.save(folder / RECORD)
    stale = folder / CALIBRATION
    if stale.exists():
        stale.unlink()  # a calibration of the previous router in this folder would be wrong
    return folder


def load_trained(folder: str | Path, *, trust: bool = False) -> Trained:
    """Load a router folder written by :func:`save_trained` (or any ``save_pretrained`` folder with a
    featuriser: the context, split and record are then empty)."""
    from fusionbench.fusion.routers.persistence import load_router_folder

    folder = Path(folder)
    router, featurizer = load_router_folder(folder, trust=trust)  # the whole folder is checked before it is built
    context = json.loads((folder / CONTEXT).read_text(encoding="utf-8")) if (folder / CONTEXT).is_file() else {}
    split = SplitSpec.load(folder / SPLIT) if (folder / SPLIT).is_file() else None
    record = TrainingRecord.load(folder / RECORD) if (folder / RECORD).is_file() else None
    calibration = None
    if (folder / CALIBRATION).is_file():
        calibration = Calibration.from_dict(json.loads((folder / CALIBRATION).read_text(encoding="utf-8")))
    return Trained(folder, router, featurizer, context, split, record, calibration)


def save_calibration(folder: str | Path, calibration: Calibration) -> Path:
    path = Path(folder) / CALIBRATION
    atomic_write_text(path, json.dumps(calibration.to_dict(), indent=1) + "\n")
    return path
