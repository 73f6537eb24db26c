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


# ------------------------------------------------------------------ the formats that adopted it
def _bump(manifest: Path, version: int = 9) -> None:
    """Rewrite a manifest as if a newer fusionbench wrote it."""
    payload = json.loads(manifest.read_text())
    payload["format"] = payload["format"].rsplit("/", 1)[0] + f"/{version}"
    manifest.write_text(json.dumps(payload))


def test_split_files(tmp_path: Path) -> None:
    from fusionbench.fusion.splits import SplitError, SplitSpec

    spec = SplitSpec("s", "random", 0, ("a", "b"), (), ("c",))
    path = spec.save(tmp_path / "s.json")
    assert json.loads(path.read_text())["format"] == "fusionbench-split/1" and SplitSpec.load(path) == spec
    _bump(path)
    with pytest.raises(SplitError, match=r"s\.json: fusionbench-split version 9 was written by a newer") as caught:
        SplitSpec.load(path)
    assert isinstance(caught.value, ArtifactFormatError)
    path.write_text('{"format": "fusionbench-route-report/1"}')
    with pytest.raises(SplitError, match=r"not a fusionbench split file \(format 'fusionbench-route-report/1'\)"):
        SplitSpec.load(path)


def test_thought_templates_and_prompts(sample_export: Path, tmp_path: Path) -> None:
    from fusionbench.fusion.thoughts import ExtractiveSummarizer, apply_templates, build_templates
    from fusionbench.fusion.thoughts.apply import read_prompts
    from fusionbench.fusion.thoughts.store import TemplatesIncompleteError, read_templates

    templates, prompts = tmp_path / "templates", tmp_path / "prompts"
    build_templates(sample_export, templates, ExtractiveSummarizer(), tasks=["gsm8k"])
    apply_templates(templates, sample_export, prompts, k=1, tasks=["gsm8k"])
    assert read_templates(templates).manifest["format"] == "fusionbench-thought-templates/1"
    assert read_prompts(prompts).manifest["format"] == "fusionbench-thought-prompts/1"
    with pytest.raises(TemplatesIncompleteError, match="no manifest: not a thought templates folder"):
        read_templates(tmp_path)
    for folder, read in ((templates, read_templates), (prompts, read_prompts)):
        _bump(folder / "manifest.json")
        with pytest.raises(ArtifactFormatError, match=rf"{folder.name}/manifest\.json: .*version 9.*upgrade"):
            read(folder)
    with pytest.raises(ArtifactFormatError, match="version 9"):  # a resumed build checks it too
        build_templates(sample_export, templates, ExtractiveSummarizer(), tasks=["gsm8k"])


def test_sft_folder_and_its_older_layout(sample_export: Path, tmp_path: Path) -> None:
    from fusionbench.fusion.sft import make_sft_data
    from fusionbench.fusion.sft.writers import read_sft_manifest

    result = make_sft_data(sample_export, tmp_path / "sft", select="label-only")
    manifest = read_sft_manifest(result.files.folder)
    assert manifest["format"] == "fusionbench-sft/1" and manifest["name"] == result.files.alpaca.stem
    assert manifest["examples"] == len(json.loads(result.files.alpaca.read_text()))
    assert all((result.files.folder / name).exists() for name in manifest["files"].values())
    result.files.manifest.unlink()  # a folder written before the manifest: read as version 1
    old = read_sft_manifest(result.files.folder)
    assert manifest_version(old) == 1 and old["legacy"] and old["report"]["split"] == "train"
    with pytest.raises(MissingManifestError, match="not an SFT folder"):
        read_sft_manifest(tmp_path)
    result.files.report.write_text("{")
    with pytest.raises(ArtifactFormatError, match=r"report\.json, line 1: damaged JSON"):
        read_sft_manifest(result.files.folder)


def test_generation_run_folder(tmp_path: Path) -> None:
    from fusionbench.generation.store import RunSettingsError, RunStore
    from fusionbench.generation.store import read_manifest as read_run_manifest

    store = RunStore(tmp_path / "run")
    written = store.open_manifest({"model": "m", "seed": 0}, {"price": None})
    store.close()
    assert written["format"] == "fusionbench-generation-run/1" and read_run_manifest(tmp_path / "run") == written
    old = tmp_path / "old"
    old.mkdir()
    (old / "run.json").write_text(json.dumps({"settings": {"model": "m", "seed": 0}}))  # no format: version 1
    assert manifest_version(read_run_manifest(old)) == 1
    store = RunStore(old)
    with pytest.raises(RunSettingsError, match="seed"):
        store.open_manifest({"model": "m", "seed": 1}, {})
    store.close()
    _bump(tmp_path / "run" / "run.json", 2)
    with pytest.raises(ArtifactFormatError, match=r"run/run\.json: fusionbench-generation-run version 2"):
        read_run_manifest(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not a generation run folder"):
        read_run_manifest(tmp_path)


def test_judge_work_folder_names_its_judge(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fusionbench.generation.judge import open_work

    work = tmp_path / "work"
    work.mkdir()
    assert open_work(work, "judge-a", tmp_path)["judge_model"] == "judge-a"
    assert open_work(work, "judge-a", tmp_path)["format"] == "fusionbench-judge-work/1"
    with pytest.raises(ValueError, match="by 'judge-a', not 'judge-b'"):
        open_work(work, "judge-b", tmp_path)
    older = tmp_path / "older"  # parts and no manifest: the parts' judge model is checked, then recorded
    older.mkdir()
    pq.write_table(pa.table({"judge_model": ["judge-a"]}), older / "part-000000.parquet")
    with pytest.raises(ValueError, match="by 'judge-a'"):
        open_work(older, "judge-b", tmp_path)
    assert not (older / "manifest.json").exists()
    assert open_work(older, "judge-a", tmp_path)["judge_model"] == "judge-a"
    assert read_manifest(older, ArtifactFormat("fusionbench-judge-work", 1))["judge_model"] == "judge-a"
