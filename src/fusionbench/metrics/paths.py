"""Where the package's ``evaluate`` modules live, for ``evaluate.load(fusionbench.metrics.path(name))``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The shipped evaluate modules, each a folder ``modules/<name>/`` holding ``<name>.py`` and a README card.
MODULE_NAMES: tuple[str, ...] = (
    "fusionbench_accuracy",
    "fusionbench_cost",
    "fusionbench_judge",
    "fusionbench_routing",
)


def path(name: str) -> str:
    """Folder of the evaluate module ``name`` (``"fusionbench_cost"`` or just ``"cost"``), for ``evaluate.load``."""
    full = name if name.startswith("fusionbench_") else f"fusionbench_{name}"
    if full not in MODULE_NAMES:
        raise ValueError(f"no evaluate module {name!r}; choose one of {list(MODULE_NAMES)}")
    folder = Path(str(resources.files("fusionbench.metrics").joinpath("modules", full)))
    if not (folder / f"{full}.py").is_file():
        raise FileNotFoundError(f"{folder}: the module script is missing (is fusionbench installed from a zip?)")
    return str(folder)
