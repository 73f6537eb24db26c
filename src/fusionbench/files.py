"""Files: atomic writes (a file is either its old bytes or its new ones, even after a crash or a kill) and JSON Lines
reading whose errors name the file and line."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fusionbench.errors import BadInputError

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


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSON Lines file; a line that is not JSON is a
    :class:`~fusionbench.errors.BadInputError` naming the file and the line."""
    with Path(path).open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_number, json.loads(line)
            except json.JSONDecodeError as err:
                raise BadInputError(str(path), f"not a JSON line ({err.msg})", line=line_number) from err
