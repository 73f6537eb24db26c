"""Atomic file writes: a file is either its old bytes or its new ones, even after a crash or a kill."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

#: The prefix of a temporary file while it is written (readers skip such names; writers remove leftovers).
TEMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Make a folder's new entries durable (where the platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}{path.suffix}"
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    fsync_dir(path.parent)
