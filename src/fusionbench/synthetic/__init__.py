"""The synthetic release: generated in the release's exact file format (every quirk included) so that every
code path runs offline. It is not the LLMFusionBench release: never report results on it.

:mod:`~fusionbench.synthetic.generator` writes release files (the embedded sample in ``sample/``, and
full-size releases for the benchmarks); :mod:`~fusionbench.synthetic.items` makes the task items.
"""

from fusionbench.synthetic.generator import (
    FILES,
    MARKER,
    PLANTED_KINDS,
    SAMPLE_ARGS,
    SAMPLE_DIR,
    count_tokens,
    embedding_text,
    generate_release,
    is_synthetic_release,
    planted_kind,
    planted_skill,
    regenerate_sample,
    release_performance,
)

__all__ = [
    "FILES",
    "MARKER",
    "PLANTED_KINDS",
    "SAMPLE_ARGS",
    "SAMPLE_DIR",
    "count_tokens",
    "embedding_text",
    "generate_release",
    "is_synthetic_release",
    "planted_kind",
    "planted_skill",
    "regenerate_sample",
    "release_performance",
]
