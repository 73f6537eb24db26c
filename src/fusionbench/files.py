"""Files: the one owner of how fusionbench opens what it writes.

- Atomic writes (:func:`atomic_writer`, :func:`atomic_write_bytes`, :func:`atomic_write_text`): a file is either its
  old bytes or its new ones, even after a crash or a kill. The temporary file is created afresh
  (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file, never through a link), the destination and its folder
  must not be symbolic links, and the rename replaces a name, never writes through one.
- Lock files (:func:`open_lock`): opened with ``O_NOFOLLOW | O_CREAT | O_CLOEXEC``, checked to be a regular file
  (``fstat``), and written only when this process created them.
- Folders (:func:`ensure_folder`, :func:`refuse_symlink`): a folder or file fusionbench writes that is a symbolic link
  is refused, naming the path; the folders above the one the user names are the user's to link.
- JSON Lines reading whose errors name the file and line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fusionbench.errors import BadInputError

#: The prefix of a temporary file while it is written (readers skip such names; writers remove leftovers).
TEMP_PREFIX = ".tmp-"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_LOCK_FLAGS = os.O_RDWR | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)",
          stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}  # fmt: skip


class UnsafePathError(OSError):
    """A path fusionbench would write is a symbolic link, or not the kind of file it expects; nothing was written."""

    def __init__(self, path: str | os.PathLike, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {message}")


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "a regular file" if stat.S_ISREG(mode) else "not a regular file")


def refuse_symlink(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; :class:`UnsafePathError` naming it when it is a symbolic link (``what`` says what
    fusionbench expected there: "the export folder", "the lock file", ...)."""
    path = Path(path)
    if path.is_symlink():
        advice = "fusionbench never writes through a link (remove it, or name the real path)"
        raise UnsafePathError(path, f"{what} is a symbolic link; {advice}")
    return path


def ensure_folder(path: str | os.PathLike, what: str = "the output folder") -> Path:
    """Create ``path`` (and its parents) as a folder, or check the one there; :class:`UnsafePathError` when it is a
    symbolic link or not a folder."""
    path = refuse_symlink(path, what)
    if path.exists() and not path.is_dir():
        raise UnsafePathError(path, f"{what} is {_kind(path.lstat().st_mode)}, not a folder")
    path.mkdir(parents=True, exist_ok=True)
    if not stat.S_ISDIR(path.lstat().st_mode):  # replaced between the check and the mkdir
        raise UnsafePathError(path, f"{what} is {_kind(path.lstat().st_mode)}, not a folder")
    return path


def _check_folder(folder: Path) -> None:
    """The folder a file is written into must be a real folder (not a link to one)."""
    try:
        mode = folder.lstat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no such folder") from None
    if not stat.S_ISDIR(mode):
        raise UnsafePathError(folder, f"the folder written into is {_kind(mode)}, not a folder")


def create_new(path: str | os.PathLike) -> BinaryIO:
    """Create ``path`` for writing: a new file (``O_EXCL``), never an existing one, never through a link."""
    path = Path(path)
    try:
        fd = os.open(path, _NEW_FILE, 0o666)
    except FileExistsError:
        raise UnsafePathError(path, "exists already where fusionbench creates a new file; remove it") from None
    return os.fdopen(fd, "wb")


def fsync_dir(folder: Path) -> None:
    """Make a folder's new entries durable (where the platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | _NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A binary handle whose bytes replace ``path`` when the block ends without an error (nothing changes
    otherwise). ``durable``: fsync the file and its folder (off for scratch copies that a rename publishes later).
    Refused (:class:`UnsafePathError`) when ``path`` or its folder is a symbolic link."""
    path = Path(path)
    _check_folder(path.parent)
    refuse_symlink(path, "the file to write")
    temp = path.parent / f"{TEMP_PREFIX}{uuid.uuid4().hex}{path.suffix}"
    try:
        with create_new(temp) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        refuse_symlink(path, "the file to write")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file in the same folder and ``os.replace``."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def move_into(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename a file this process wrote (in the same file system) to ``path``, refusing a link at ``path``."""
    path = Path(path)
    _check_folder(path.parent)
    refuse_symlink(path, "the file to write")
    os.replace(source, path)


# ---- lock files ---------------------------------------------------------------------------------------


class LockFile:
    """An open lock file: ``fd`` (``flock`` it), and whether this process ``created`` it (only then is it written)."""

    def __init__(self, path: Path, fd: int, created: bool) -> None:
        self.path, self.fd, self.created = path, fd, created

    def try_lock(self) -> bool:
        """Take the exclusive ``flock`` without waiting; False when another process holds it."""
        import fcntl

        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def is_current(self) -> bool:
        """True while the path still names this file (a writer may have replaced it: see :func:`take_over`)."""
        try:
            named = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        own = os.fstat(self.fd)
        return (named.st_dev, named.st_ino) == (own.st_dev, own.st_ino)

    def read_note(self, limit: int = 200) -> str:
        """The first ``limit`` bytes, as text (who holds the lock, when its holder wrote that)."""
        return os.pread(self.fd, limit, 0).decode("utf-8", "replace").strip()

    def write_note(self, text: str) -> None:
        """Replace the content with ``text``; only a lock file this process created is ever written."""
        if not self.created:
            raise PermissionError(f"{self.path}: not created by this process, so never written")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode("utf-8"), 0)

    def close(self) -> None:
        """Release the lock (closing the file releases the ``flock``)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def _open_lock_fd(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP or path.is_symlink():
            raise UnsafePathError(path, "the lock file is a symbolic link; fusionbench never follows one") from None
        if path.exists() and not path.is_file():
            raise UnsafePathError(path, f"the lock file is {_kind(path.lstat().st_mode)}, not a regular file") from None
        raise


def open_lock(path: str | os.PathLike) -> LockFile:
    """Open (or create) the lock file ``path`` with ``O_NOFOLLOW | O_CREAT | O_CLOEXEC``; never truncated here.
    :class:`UnsafePathError` naming the path when it is a symbolic link, a folder, a FIFO or anything but a
    regular file."""
    path = Path(path)
    while True:
        if path.is_symlink() or path.is_char_device() or path.is_block_device():  # never opened (opening a device
            what = "a symbolic link" if path.is_symlink() else _kind(path.lstat().st_mode)  # may act, e.g. a watchdog)
            raise UnsafePathError(path, f"the lock file is {what}, not a regular file; fusionbench will not use it")
        try:
            fd, created = _open_lock_fd(path, _LOCK_FLAGS | os.O_CREAT | os.O_EXCL), True
        except FileExistsError:
            try:
                fd, created = _open_lock_fd(path, _LOCK_FLAGS), False
            except FileNotFoundError:
                continue  # removed in between: create it
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise UnsafePathError(path, f"the lock file is {_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return LockFile(path, fd, created)


def take_over(lock: LockFile) -> LockFile:
    """Given the held lock of a lock file this process did not create, put a new one (created here, held) at its
    path and release the old one; waiters on the old file see that it is no longer current and reopen the path.
    Where the path cannot be replaced, the old lock is kept (and never written)."""
    fresh_path = lock.path.with_name(f"{lock.path.name}.{uuid.uuid4().hex[:12]}")
    try:
        fd = os.open(fresh_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)
    except OSError:
        return lock
    fresh = LockFile(lock.path, fd, True)
    try:
        if not fresh.try_lock():
            raise OSError("a lock file created a moment ago is held by another process")
        os.replace(fresh_path, lock.path)
    except OSError:
        fresh.close()
        with contextlib.suppress(OSError):
            fresh_path.unlink()
        return lock
    lock.close()
    return fresh


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
            except RecursionError:  # a value nested thousands deep: json gives up, and so do we, naming the line
                raise BadInputError(str(path), "a JSON value nested too deeply", line=line_number) from None
