"""Data-quality flags as bit masks while rows are converted, and as ``list<string>`` columns in the export."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fusionbench.schema import FLAGS

#: flag name -> its bit in a row's mask.
FLAG_BITS: dict[str, int] = {flag: 1 << i for i, flag in enumerate(FLAGS)}


def flag_names(mask: int) -> list[str]:
    return [flag for flag, bit in FLAG_BITS.items() if mask & bit]


def flags_column(mask: np.ndarray) -> pa.Array:
    """Bit masks -> list<string> flags, building each distinct combination once."""
    uniques, inverse = np.unique(mask, return_inverse=True)
    combos = pa.array([flag_names(int(m)) for m in uniques], pa.list_(pa.string()))
    return combos.take(pa.array(inverse.astype(np.int64)))
