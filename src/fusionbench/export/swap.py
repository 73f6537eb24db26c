"""Swapping a finished staging folder in for an export, so that the path always holds a whole export.

On Linux the swap is one ``renameat2(RENAME_EXCHANGE)`` call: the old and the new export trade places
atomically, and the staging name then holds the old one until it is deleted. Where the kernel or the
file system cannot exchange, the swap is two renames (export -> ``.<name>.old-<pid>``, staging -> export);
a kill between them leaves no export at the path but the old one beside it, and :func:`clean_leftovers`
(run by the next writer, under the export's lock) puts it back. Staging and swapped-out folders of killed
writers are recognised by their names and removed by the next writer.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

from fusionbench.files import UnsafePathError, refuse_symlink

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOTSUP}


def staging_path(export: Path) -> Path:
    """Where a writer stages the new export: a hidden folder beside it, named after the writer's pid."""
    return export.parent / f".{export.name}.partial-{os.getpid()}"


def _swapped_out_path(export: Path) -> Path:
    return export.parent / f".{export.name}.old-{os.getpid()}"


def _leftovers(export: Path, kind: str) -> list[Path]:
    """Folders beside ``export`` left by writers: ``kind`` is ``partial`` (staging) or ``old`` (swapped out).
    One of those names that is a symbolic link (or not a folder) was not left by a writer: it is refused, naming it."""
    found = [p for p in export.parent.glob(f".{export.name}.{kind}-*") if p.name.rsplit("-", 1)[-1].isdigit()]
    for path in found:
        refuse_symlink(path, "a staging folder's name")
        if not path.is_dir():
            raise UnsafePathError(path, "a staging folder's name holds a file, not a folder; remove it")
    return sorted(found, key=lambda p: p.lstat().st_mtime)


def clean_leftovers(export: Path) -> list[Path]:
    """Restore an export hidden by a kill between the two renames of a swap, then remove every staging and
    swapped-out folder beside it. Call only while holding the export's lock (every writer holds it, so
    nothing found here is in use). Returns what was removed or restored."""
    touched = []
    old = _leftovers(export, "old")
    if old and not export.exists():
        newest = old.pop()
        newest.rename(export)
        touched.append(newest)
    for leftover in [*old, *_leftovers(export, "partial")]:
        shutil.rmtree(leftover, ignore_errors=True)
        touched.append(leftover)
    return touched


def _exchange(first: Path, second: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(second))


def swap_in(staging: Path, export: Path) -> None:
    """Put ``staging`` at ``export``'s path; the old export (if any) is deleted once it is out of the way."""
    if not export.exists():
        staging.rename(export)
        return
    if _exchange(staging, export):
        shutil.rmtree(staging)  # it now holds the old export
        return
    swapped_out = _swapped_out_path(export)
    export.rename(swapped_out)
    staging.rename(export)
    shutil.rmtree(swapped_out)
