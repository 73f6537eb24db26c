"""fusionbench: the LLMFusionBench multi-LLM response logs as a first-class Hugging Face dataset."""

from __future__ import annotations

from fusionbench._version import __version__


def load(*args, **kwargs):
    """Load a FusionBench config from release files or an export folder; see :func:`fusionbench.loading.load`."""
    from fusionbench.loading import load as _load

    return _load(*args, **kwargs)


__all__ = ["__version__", "load"]
