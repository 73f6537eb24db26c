"""The plotting helpers shared by the route report's plots (:mod:`fusionbench.fusion.report.plots`) and the analysis
report's (:mod:`fusionbench.fusion.analysis.plots`): matplotlib (the optional ``plot`` extra) on its file-only
``Agg`` backend, the watermark of a synthetic report, and one way to save and close a figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: the text across every plot drawn from synthetic data
WATERMARK = "SYNTHETIC - do not report"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the ``Agg`` backend (files only, no display); ``ImportError`` without matplotlib,
    which callers turn into a note that the plots were left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def mark_synthetic(fig: Any, synthetic: bool) -> None:
    """Write :data:`WATERMARK` across ``fig`` when its data is ``synthetic``; otherwise leave it as it is."""
    if synthetic:
        fig.text(0.5, 0.5, WATERMARK, fontsize=28, color="red", alpha=0.25, ha="center", va="center", rotation=20)


def save_figure(fig: Any, path: Path, *, synthetic: bool, dpi: int, tight_bbox: bool = False) -> Path:
    """Mark ``fig`` if ``synthetic``, lay it out, write it to ``path`` as PNG at ``dpi`` (cropped to its artists,
    a legend outside the axes included, with ``tight_bbox``) and close it; returns ``path``."""
    mark_synthetic(fig, synthetic)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, **({"bbox_inches": "tight"} if tight_bbox else {}))
    pyplot().close(fig)
    return path
