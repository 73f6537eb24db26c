"""The templates folder of ``fusionbench thoughts build``: a resumable work folder and, once every query has a
result, the templates table.

::

    TEMPLATES_DIR/
      manifest.json        the build's settings (a resumed build must match them), counts, fingerprint
      parts/part-*.parquet results as they come, each written atomically (temporary name, fsync, rename)
      templates.parquet    one row per query: the latest result of each (a failure: null template)
      README.md            a short card

A failed summary is a row with a null ``template`` and status ``failed`` (or ``empty``): counted, and retried by
the next run into the same folder. ``.lock`` (flock) keeps two builds out of one folder.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fusionbench.artifacts import (
    ArtifactFormat,
    MissingManifestError,
    new_manifest,
    read_manifest,
    write_manifest,
)
from fusionbench.files import TEMP_PREFIX, atomic_write_bytes, ensure_folder, open_lock, refuse_symlink
from fusionbench.schema import doc_field

MANIFEST = "manifest.json"
TEMPLATES_FORMAT = ArtifactFormat(
    "fusionbench-thought-templates", 1, MANIFEST, "a thought templates folder (fusionbench thoughts build)"
)
FORMAT = TEMPLATES_FORMAT.tag
PARTS = "parts"
TEMPLATES_FILE = "templates.parquet"
CARD = "README.md"


TEMPLATE_SCHEMA = pa.schema(
    [
        doc_field("query_id", pa.string(), "the query the template was built from"),
        doc_field("task", pa.string(), "its task"),
        doc_field("split", pa.string(), "its split (train: templates are never built from the split evaluated)"),
        doc_field("query", pa.string(), "its bare question"),
        doc_field("question", pa.string(), "the text the prompts show for it (its direct prompt)"),
        doc_field("template", pa.string(), "the thought template; null when summarising failed"),
        doc_field("sources", pa.list_(pa.string()), "the responses summarised, best first, as model/mode"),
        doc_field("summarizer_model", pa.string(), "the model (or extractive method) that wrote the template"),
        doc_field("prompt_hash", pa.string(), "SHA-256 of the summariser prompt's wording; null without a prompt"),
        doc_field("selection", pa.string(), "how the responses were chosen, e.g. hybrid(stage1=5,top_n=3)/small"),
        doc_field("status", pa.string(), "ok, failed (every retry failed) or empty (a blank reply)"),
        doc_field("error", pa.string(), "why it failed; null when ok"),
        doc_field("embedding", pa.list_(pa.float32()), "the query's stored embedding, for retrieval"),
    ]
)


class TemplatesSettingsError(ValueError):
    """The templates folder holds a build with other settings."""


class TemplatesLockedError(ValueError):
    """Another build holds the templates folder."""


class TemplatesIncompleteError(FileNotFoundError):
    """The folder has no finished templates table (the build was interrupted, or it is not a templates folder)."""


class TemplatesMissingError(TemplatesIncompleteError, MissingManifestError):
    """The folder has no manifest: not a templates folder (or a build killed before it began)."""


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def fingerprint(table: pa.Table) -> str:
    """16 hex digits of SHA-256 over every (query_id, template, sources, summariser, prompt hash), sorted."""
    columns = ["query_id", "template", "sources", "summarizer_model", "prompt_hash"]
    rows = sorted(json.dumps([r[c] for c in columns]) for r in table.select(columns).to_pylist())
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()[:16]


def latest_results(parts: list[Path]) -> pa.Table | None:
    """The last result of each query over ``parts`` (in order), or None without parts."""
    if not parts:
        return None
    table = pa.concat_tables([pq.read_table(p, schema=TEMPLATE_SCHEMA) for p in parts])
    table = table.append_column("__order", pa.array(range(table.num_rows), pa.int64()))
    last = table.group_by("query_id", use_threads=False).aggregate([("__order", "max")])["__order_max"]
    return table.take(pc.take(last, pc.sort_indices(last))).drop_columns(["__order"])


@dataclass(frozen=True)
class TemplateSet:
    """A finished templates folder: the table and its manifest."""

    folder: Path
    table: pa.Table
    manifest: dict[str, Any]

    @property
    def split(self) -> str:
        """The split the templates were built from."""
        return self.manifest["settings"]["split"]

    @property
    def fingerprint(self) -> str:
        """16 hex digits of SHA-256 over the templates (the manifest's fingerprint)."""
        return self.manifest["fingerprint"]

    @property
    def name(self) -> str:
        """``<folder name>@<fingerprint>``: how generated rows name the templates set in their ``source``."""
        return f"{self.folder.name}@{self.fingerprint}"


def read_templates(folder: str | Path) -> TemplateSet:
    """The finished templates of ``folder``; :class:`TemplatesIncompleteError` when there are none yet."""
    folder = Path(folder)
    manifest = read_manifest(folder, TEMPLATES_FORMAT, missing=TemplatesMissingError)
    if not (folder / TEMPLATES_FILE).is_file() or "fingerprint" not in manifest:
        raise TemplatesIncompleteError(
            f"{folder}: the build has not finished (no {TEMPLATES_FILE}); rerun the same fusionbench thoughts build"
        )
    return TemplateSet(folder, pq.read_table(folder / TEMPLATES_FILE, schema=TEMPLATE_SCHEMA), manifest)


class TemplateStore:
    """The open templates folder of one build: lock, manifest, parts and the final table."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = ensure_folder(folder, "the templates folder")
        ensure_folder(self.folder / PARTS, "the templates folder's parts folder")
        # opened without following a link, a regular file, never written; held for the build's lifetime
        self._lock = open_lock(self.folder / ".lock")
        try:
            locked = self._lock.try_lock()
        except ImportError:  # no flock on this platform: no protection against concurrent builds
            locked = True
        if not locked:
            self._lock.close()
            raise TemplatesLockedError(f"{self.folder}: another fusionbench thoughts build is writing it")
        for leftover in [*self.folder.glob(f"{TEMP_PREFIX}*"), *(self.folder / PARTS).glob(f"{TEMP_PREFIX}*")]:
            leftover.unlink(missing_ok=True)

    def close(self) -> None:
        self._lock.close()

    def __enter__(self) -> TemplateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST

    def open_manifest(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Check the recorded settings against ``settings`` (an error naming the differences), or start anew."""
        if refuse_symlink(self.manifest_path, "the templates manifest").is_file():
            manifest = read_manifest(self.folder, TEMPLATES_FORMAT)
            recorded = manifest.get("settings", {})
            differences = [
                f"{key}: {recorded.get(key)!r} (recorded) != {settings.get(key)!r} (now)"
                for key in sorted(set(recorded) | set(settings))
                if recorded.get(key) != settings.get(key)
            ]
            if differences:
                raise TemplatesSettingsError(
                    f"{self.folder} holds templates built with other settings; use another --out or the same "
                    f"settings. Differences: {'; '.join(differences)}"
                )
            return manifest
        if self.parts():
            raise TemplatesSettingsError(f"{self.folder} has parts but no {MANIFEST}: not a build this version resumes")
        manifest = new_manifest(TEMPLATES_FORMAT, settings=settings)
        self.write_manifest(manifest)
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_manifest(self.folder, TEMPLATES_FORMAT, manifest)

    def parts(self) -> list[Path]:
        return sorted((self.folder / PARTS).glob("part-*.parquet"))

    def results(self) -> pa.Table | None:
        return latest_results(self.parts())

    def write_part(self, rows: list[dict[str, Any]]) -> Path:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / PARTS / f"part-{stamp}-{uuid.uuid4().hex[:6]}.parquet"
        atomic_write_bytes(path, table_bytes(pa.Table.from_pylist(rows, schema=TEMPLATE_SCHEMA)))
        return path

    def finish(self, table: pa.Table, manifest: dict[str, Any], card: str) -> None:
        """Write the templates table, then the manifest (with the table's ``fingerprint``), then the card."""
        if manifest.get("fingerprint") != fingerprint(table):
            raise ValueError("the manifest's fingerprint is not the table's")
        atomic_write_bytes(self.folder / TEMPLATES_FILE, table_bytes(table.cast(TEMPLATE_SCHEMA)))
        self.write_manifest(manifest)
        atomic_write_bytes(self.folder / CARD, card.encode("utf-8"))
