"""The journal of a shard being filled: every finished request, appended the moment it finishes.

A shard is written once ``batch_size`` requests are done; until then its requests live in memory and in
``journal-<shard>.jsonl`` beside it, one JSON line each, written with one ``write`` call to a file opened
with ``O_APPEND`` (the kernel keeps it when the process is killed, SIGKILL included). Once the shard is renamed
into place the journal is deleted. The next run (holding the folder's lock) finds the journals left over: a
journal whose shard exists is stale and deleted; the others are turned into their shard, so a killed job loses
no finished request and duplicates none. A torn last line (a kill during the write) is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL_GLOB = "journal-shard-*.jsonl"


def journal_path(run_dir: Path, shard_name: str) -> Path:
    """The journal of shard ``shard_name`` (``shard-....parquet``)."""
    return Path(run_dir) / f"journal-{shard_name.removesuffix('.parquet')}.jsonl"


def shard_of(journal: Path) -> str:
    """The shard name a journal belongs to."""
    return journal.name.removeprefix("journal-").removesuffix(".jsonl") + ".parquet"


class Journal:
    """An append-only JSON Lines file: one record per finished request (opened without following a link)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(path, flags, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop for the rare short write
            assert self._fd is not None
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and delete: its requests are in the shard now."""
        self.close()
        self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The whole records of a journal; a last line cut short by a kill is left out."""
    records = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn by a kill mid-write: that request was not finished as far as the run knows
    return records


def leftover_journals(run_dir: Path) -> list[Path]:
    """Journals a killed run left behind, oldest first."""
    return sorted(Path(run_dir).glob(JOURNAL_GLOB))
