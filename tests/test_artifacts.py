"""The artifact manifest convention (fusionbench.artifacts): written atomically, checked on read, and every
wrong manifest refused with an error naming the file, the format expected and what was found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionbench.artifacts import (
    ArtifactFormat,
    ArtifactFormatError,
    MissingManifestError,
    manifest_version,
    new_manifest,
    read_manifest,
    write_manifest,
)
from fusionbench.errors import BadInputError

FMT = ArtifactFormat("fusionbench-toy", 2, manifest="toy.json", what="a toy folder")


def test_round_trip_stamps_format_and_version(tmp_path: Path) -> None:
    manifest = new_manifest(FMT, settings={"k": 3})
    path = write_manifest(tmp_path, FMT, manifest)
    assert path == tmp_path / "toy.json" and not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    read = read_manifest(tmp_path, FMT)
    assert read["format"] == "fusionbench-toy/2" and read["settings"] == {"k": 3} and manifest_version(read) == 2
    assert read["fusionbench_version"] and read["created"]


def test_a_writer_never_stamps_another_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must have format 'fusionbench-toy/2'"):
        write_manifest(tmp_path, FMT, {"format": "fusionbench-toy/1"})
    assert not (tmp_path / "toy.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"no manifest: not a toy folder \(expected format 'fusionbench-toy/2'\)"),
        ('{"format": "fusionbench-toy/2",', r"line 1: damaged JSON"),
        ("[1, 2]", r"a JSON list, not an object"),
        ('{"format": "fusionbench-split/1"}', r"not a toy folder \(format 'fusionbench-split/1'\)"),
        ('{"settings": {}}', r"not a toy folder \(format None\)"),
        ('{"format": "fusionbench-toy/3"}', r"version 3 was written by a newer fusionbench.*upgrade"),
        ('{"format": "fusionbench-toy"}', r"format 'fusionbench-toy'\)"),
    ],
)
def test_wrong_manifests_are_refused_naming_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    if text is not None:
        (tmp_path / "toy.json").write_text(text)
    with pytest.raises(ArtifactFormatError, match=message) as caught:
        read_manifest(tmp_path, FMT)
    assert isinstance(caught.value, BadInputError) and caught.value.file == str(tmp_path / "toy.json")
    assert isinstance(caught.value, FileNotFoundError) == (text is None)


def test_versions_no_longer_read_and_the_separate_version_spelling(tmp_path: Path) -> None:
    only_two = ArtifactFormat("fusionbench-toy", 2, manifest="toy.json", what="a toy folder", reads=(2,))
    (tmp_path / "toy.json").write_text('{"format": "fusionbench-toy/1"}')
    with pytest.raises(ArtifactFormatError, match="version 1 is no longer read"):
        read_manifest(tmp_path, only_two)
    assert manifest_version(read_manifest(tmp_path, FMT)) == 1  # FMT reads 1 and 2
    (tmp_path / "toy.json").write_text('{"format": "fusionbench-toy", "format_version": 2}')
    assert manifest_version(read_manifest(tmp_path, FMT)) == 2


def test_legacy_hook_infers_the_version_or_refuses(tmp_path: Path) -> None:
    def legacy(found: dict | None) -> dict | None:
        if found is None:
            return None  # no manifest at all: refused
        return {"format": "fusionbench-toy/1", **found} if "settings" in found else None

    with pytest.raises(MissingManifestError):
        read_manifest(tmp_path, FMT, legacy=legacy)
    (tmp_path / "toy.json").write_text(json.dumps({"settings": {"k": 1}}))
    read = read_manifest(tmp_path, FMT, legacy=legacy)
    assert manifest_version(read) == 1 and read["settings"] == {"k": 1}
    (tmp_path / "toy.json").write_text(json.dumps({"other": 1}))
    with pytest.raises(ArtifactFormatError, match="format None"):
        read_manifest(tmp_path, FMT, legacy=legacy)


def test_a_one_file_artifact_is_its_own_manifest(tmp_path: Path) -> None:
    single = ArtifactFormat("fusionbench-one", 1, manifest="", what="a one-file artifact")
    path = tmp_path / "one.json"
    write_manifest(path, single, new_manifest(single, ids=[1]))
    assert read_manifest(path, single)["ids"] == [1]


def test_the_manifest_is_never_written_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "toy.json").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        write_manifest(folder, FMT, new_manifest(FMT))
    assert victim.read_text() == "keep"
