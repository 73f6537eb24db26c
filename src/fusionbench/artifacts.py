"""Artifacts: the one convention for what fusionbench writes to disk besides an export (a generation run, a split
file, thought templates and prompts, an SFT folder, a judge work folder, ...).

Every artifact carries a manifest: a JSON object whose ``format`` names the artifact and its version
(``"fusionbench-split/1"``; the router folder's older spelling, ``"format"`` and an integer ``"format_version"``,
is read too), beside ``fusionbench_version`` and ``created``. A folder keeps it in a file of its own
(``run.json``, ``manifest.json``); a one-file artifact (a split) is its own manifest.

- :func:`write_manifest` writes it atomically (:mod:`fusionbench.files`: never half a file, never through a link);
- :func:`read_manifest` checks it on read and raises :class:`ArtifactFormatError` naming the file, the format and
  version expected and what was found: no manifest, damaged JSON, another format, a newer version (upgrade
  fusionbench) or a version no longer read. A folder written before its format had a manifest can be read
  through a ``legacy`` hook that infers the version, or refused with the same clear error.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fusionbench.errors import BadInputError
from fusionbench.files import atomic_write_text, refuse_symlink


class ArtifactFormatError(BadInputError):
    """An artifact whose manifest is missing, damaged, of another format, or of a version this fusionbench
    does not read."""


class MissingManifestError(ArtifactFormatError, FileNotFoundError):
    """The artifact has no manifest (it is not a folder of this kind, or it was not finished)."""


@dataclass(frozen=True)
class ArtifactFormat:
    """One artifact format: its ``name``, the ``version`` this code writes, the ``manifest`` file inside the
    folder ("" when the artifact is one JSON file), the older versions it still ``reads`` and ``what`` it is
    (for messages: "a generation run folder (fusionbench generate)")."""

    name: str
    version: int
    manifest: str = "manifest.json"
    what: str = "a fusionbench artifact"
    reads: tuple[int, ...] = ()

    @property
    def tag(self) -> str:
        """The ``format`` value written: ``<name>/<version>``."""
        return f"{self.name}/{self.version}"

    @property
    def readable(self) -> tuple[int, ...]:
        """The versions read: ``reads``, or 1 to ``version``."""
        return self.reads or tuple(range(1, self.version + 1))

    def path(self, target: str | Path) -> Path:
        """The manifest file of the artifact at ``target``."""
        return Path(target) / self.manifest if self.manifest else Path(target)


def parse_format(manifest: Mapping[str, Any]) -> tuple[str, int] | None:
    """(name, version) of a manifest's ``format`` (``"name/N"``, or ``"name"`` with ``format_version``), or None."""
    value = manifest.get("format")
    if not isinstance(value, str):
        return None
    name, slash, version = value.rpartition("/")
    if slash and version.isdigit():
        return name, int(version)
    number = manifest.get("format_version")
    if isinstance(number, int) and not isinstance(number, bool):
        return value, number
    return None


def manifest_version(manifest: Mapping[str, Any]) -> int:
    """The format version of a checked manifest (:func:`read_manifest`'s result)."""
    parsed = parse_format(manifest)
    if parsed is None:
        raise ValueError("the manifest has no format version")
    return parsed[1]


def new_manifest(fmt: ArtifactFormat, **fields: Any) -> dict[str, Any]:
    """A manifest of the current version: ``format``, ``fusionbench_version``, ``created``, then ``fields``."""
    from fusionbench._version import __version__

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {"format": fmt.tag, "fusionbench_version": __version__, "created": created, **fields}


def write_manifest(target: str | Path, fmt: ArtifactFormat, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest`` (a :func:`new_manifest`, perhaps grown since) as the manifest of ``target``, atomically.
    Its ``format`` must be ``fmt``'s current one: a writer never stamps an old or foreign format."""
    if manifest.get("format") != fmt.tag:
        raise ValueError(f"a {fmt.name} manifest must have format {fmt.tag!r}, not {manifest.get('format')!r}")
    path = refuse_symlink(fmt.path(target), "the manifest")
    atomic_write_text(path, json.dumps(dict(manifest), indent=1, ensure_ascii=False) + "\n")
    return path


def check_manifest(
    manifest: Any, fmt: ArtifactFormat, where: str | Path, *, error: type[ArtifactFormatError] = ArtifactFormatError
) -> dict[str, Any]:
    """``manifest`` when it is a JSON object of ``fmt`` in a readable version; ``error`` naming ``where`` if not."""
    expected = f"expected {fmt.what} (format {fmt.tag!r})"
    if not isinstance(manifest, dict):
        raise error(str(where), f"not {fmt.what}: a JSON {type(manifest).__name__}, not an object; {expected}")
    parsed = parse_format(manifest)
    if parsed is None or parsed[0] != fmt.name:
        found = manifest.get("format")
        raise error(str(where), f"not {fmt.what} (format {found!r}); {expected}")
    version = parsed[1]
    if version > fmt.version:
        raise error(
            str(where),
            f"{fmt.name} version {version} was written by a newer fusionbench (this one reads versions "
            f"{', '.join(map(str, fmt.readable))}); upgrade fusionbench to read it",
        )
    if version not in fmt.readable:
        raise error(
            str(where),
            f"{fmt.name} version {version} is no longer read (this fusionbench reads versions "
            f"{', '.join(map(str, fmt.readable))}); write it again with this version",
        )
    return manifest


def read_manifest(
    target: str | Path,
    fmt: ArtifactFormat,
    *,
    legacy: Callable[[dict[str, Any] | None], dict[str, Any] | None] | None = None,
    error: type[ArtifactFormatError] = ArtifactFormatError,
    missing: type[MissingManifestError] = MissingManifestError,
) -> dict[str, Any]:
    """The checked manifest of the artifact at ``target`` (see :func:`check_manifest`).

    ``legacy``: how an artifact written before its format had a manifest is read. It gets the JSON object found
    (None when there is no manifest file) when that object has no ``format``, and returns the manifest with the
    inferred ``format`` (a readable version), or None to refuse it with the clear error. ``error`` and
    ``missing``: the :class:`ArtifactFormatError` and :class:`MissingManifestError` subclasses raised.
    """
    path = fmt.path(target)
    if not path.is_file():
        inferred = legacy(None) if legacy is not None else None
        if inferred is not None:
            return check_manifest(inferred, fmt, path, error=error)
        raise missing(str(path), f"no manifest: not {fmt.what} (expected format {fmt.tag!r})")
    text = path.read_text(encoding="utf-8")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as err:
        raise error(str(path), f"damaged JSON ({err.msg}); expected {fmt.what}", line=err.lineno) from None
    if legacy is not None and isinstance(manifest, dict) and "format" not in manifest:
        manifest = legacy(manifest) or manifest
    return check_manifest(manifest, fmt, path, error=error)


def read_file_or_folder(path: str | Path, fmt: ArtifactFormat, **options: Any) -> dict[str, Any]:
    """:func:`read_manifest` of the artifact folder at ``path``, or of ``path`` itself when it is the manifest
    file (a report folder's ``report.json``, or a copy of it elsewhere); ``options`` as :func:`read_manifest`."""
    path = Path(path)
    if path.is_dir():
        return read_manifest(path, fmt, **options)
    return read_manifest(path, dataclasses.replace(fmt, manifest=""), **options)
