"""Locks and folders never follow a symlink or truncate what they did not create (issue 16, point 3).

Every test plants what an attacker would (a link at a lock, staging, export, work or output path; a FIFO, a folder
or a hard link where a lock file goes), runs the real writer, and asserts that the victim (a file or folder with known
content in tmp_path, never a system file) is unchanged and that nothing was written through the link.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from release_factory import release_rows, write_release

from fusionbench.build import build_export
from fusionbench.cli import main
from fusionbench.export.folder import lock_path, locked, rewrite, write_parquet
from fusionbench.export.merge import merge_rows
from fusionbench.export.push import verify_export
from fusionbench.export.swap import staging_path
from fusionbench.files import (
    UnsafePathError,
    atomic_write_bytes,
    atomic_writer,
    create_new,
    ensure_folder,
    open_lock,
)
from fusionbench.fusion.report import write_report
from fusionbench.fusion.sft import make_sft_data
from fusionbench.fusion.thoughts.store import TEMPLATE_SCHEMA, TemplateStore, fingerprint
from fusionbench.generation.judge import judge_target, prompt_hash
from fusionbench.generation.store import RUN_SCHEMA, RunStore

SECRET = "root:x:0:0:victim line that must survive\n"
REPORT = {"format": "fusionbench-route-report/1"}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file with known content: what a link would point at (the system password file, in the attack)."""
    path = tmp_path / "victim" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


@pytest.fixture
def victim_dir(tmp_path: Path) -> Path:
    """A folder with known content that a link to a folder would point at."""
    folder = tmp_path / "victim_dir"
    folder.mkdir()
    (folder / "keep.txt").write_text(SECRET)
    return folder


def _unchanged(victim: Path) -> None:
    assert victim.read_text() == SECRET
    assert victim.stat().st_nlink in (1, 2)  # never truncated, never replaced


def _dir_unchanged(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"], "something was written into the victim folder"
    assert (folder / "keep.txt").read_text() == SECRET


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built")
    source = write_release(root / "release" / "train.csv", release_rows("gsm8k"))
    return build_export([str(source)], root / "export").out


@pytest.fixture
def export(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of a small real export (its own lock file not yet there)."""
    return Path(shutil.copytree(built, tmp_path / "exp" / "out"))


def _add_rows(export: Path) -> None:
    """A real merge (the path of ``ingest``): every row again under a new model name."""
    from fusionbench.export.folder import read_config

    rows = read_config(export, "gsm8k")
    rows = rows.set_column(rows.schema.get_field_index("model"), "model", pa.array(["new-model"] * rows.num_rows))
    merge_rows(export, rows, [{"model": "new-model"}], source="test")


# ---------------------------------------------------------------- the export's lock
def test_build_refuses_a_lock_file_that_is_a_symlink(tmp_path: Path, victim: Path, capsys) -> None:
    out = tmp_path / "out"
    lock_path(out).symlink_to(victim)
    assert main(["build", "--out", str(out), "--quiet"]) == 1
    message = "".join(capsys.readouterr())
    assert str(lock_path(out)) in message.replace("\n", "") and "symbolic link" in message
    _unchanged(victim)
    assert not out.exists() and lock_path(out).is_symlink()


def test_merge_refuses_a_lock_symlink_and_changes_nothing(export: Path, victim: Path) -> None:
    lock_path(export).symlink_to(victim)
    before = sorted(p.relative_to(export) for p in export.rglob("*"))
    with pytest.raises(UnsafePathError, match=re.escape(str(lock_path(export)))):
        _add_rows(export)
    _unchanged(victim)
    assert sorted(p.relative_to(export) for p in export.rglob("*")) == before


def test_a_hard_linked_lock_file_is_replaced_never_truncated(export: Path, victim: Path) -> None:
    """A lock file this process did not create (here a hard link to the victim) is never written: a new lock
    file takes its name, and the merge goes through."""
    os.link(victim, lock_path(export))
    _add_rows(export)
    _unchanged(victim)
    assert victim.stat().st_nlink == 1  # the lock's name now holds a file of fusionbench's own
    assert lock_path(export).stat().st_ino != victim.stat().st_ino
    verify_export(export)


@pytest.mark.parametrize("kind", ["fifo", "folder", "socket"])
def test_a_lock_path_that_is_not_a_regular_file_is_refused(export: Path, kind: str) -> None:
    """Opened with O_NONBLOCK (a FIFO never blocks), then refused by the fstat S_ISREG check, naming the path."""
    path = lock_path(export)
    if kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    else:
        os.mkfifo(path) if kind == "fifo" else path.mkdir()
    result: list[BaseException | None] = []
    worker = threading.Thread(target=lambda: result.append(_raises(lambda: _add_rows(export))), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "opening the lock hung (a FIFO must never be opened for a blocking read)"
    assert isinstance(result[0], UnsafePathError) and str(path) in str(result[0])
    assert {"fifo": "a FIFO", "folder": "a folder", "socket": "a socket"}[kind] in str(result[0])


def _raises(call) -> BaseException | None:
    try:
        call()
    except BaseException as err:  # handed back to the test thread
        return err
    return None


def test_the_lock_holder_note_and_the_lock_file_stays(export: Path) -> None:
    """The note of who holds the lock is written only into a lock file created here; the name stays a regular
    file (other tests rely on ``.<name>.lock`` staying beside the export)."""
    with locked(export):
        held = open_lock(lock_path(export))
        try:
            assert not held.try_lock() and held.read_note().startswith(f"pid {os.getpid()}")
        finally:
            held.close()
    assert lock_path(export).is_file() and not lock_path(export).is_symlink()


# ---------------------------------------------------------------- export, staging and leftovers
def test_an_export_path_that_is_a_symlink_to_a_folder_is_refused(tmp_path: Path, victim_dir: Path, capsys) -> None:
    out = tmp_path / "out"
    out.symlink_to(victim_dir, target_is_directory=True)
    assert main(["build", "--out", str(out), "--overwrite", "--quiet"]) == 1
    assert str(out) in "".join(capsys.readouterr()).replace("\n", "")
    _dir_unchanged(victim_dir)
    assert out.is_symlink()


def test_a_symlink_export_is_refused_by_every_rewrite(export: Path, victim_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(export, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="the export folder is a symbolic link"), rewrite(link):
        pass
    victim_link = tmp_path / "victim_link"
    victim_link.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError), rewrite(victim_link, create=True, overwrite=True):
        pass
    _dir_unchanged(victim_dir)


@pytest.mark.parametrize("kind", ["partial", "old"])
def test_a_planted_staging_name_is_refused(export: Path, victim_dir: Path, kind: str) -> None:
    """Staging names are predictable (``.<name>.partial-<pid>``, ``.<name>.old-<pid>``): a link planted there is
    refused naming it, never emptied, written through, or renamed into the export's place."""
    planted = staging_path(export) if kind == "partial" else export.parent / f".{export.name}.old-{os.getpid() + 1}"
    planted.symlink_to(victim_dir, target_is_directory=True)
    if kind == "old":
        shutil.rmtree(export)  # a hidden export: the old code renamed the newest ".old-" folder into place
    with pytest.raises(UnsafePathError, match=re.escape(str(planted))):
        _add_rows(export) if kind == "partial" else build_export(None, export)
    _dir_unchanged(victim_dir)
    assert planted.is_symlink()


def test_a_symlink_inside_an_export_is_refused(export: Path, victim: Path) -> None:
    """A copy for a rewrite would take in what a link points at (and a later write would change it)."""
    readme = export / "README.md"
    readme.unlink()
    readme.symlink_to(victim)
    with pytest.raises(UnsafePathError, match=re.escape("README.md")):
        _add_rows(export)
    _unchanged(victim)


# ---------------------------------------------------------------- the atomic writer and the shard writer
def test_the_atomic_writer_never_writes_through_a_link(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    target = tmp_path / "report.md"
    target.symlink_to(victim)
    with pytest.raises(UnsafePathError, match=re.escape("report.md")):
        atomic_write_bytes(target, b"new")
    linked = tmp_path / "linked"
    linked.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="linked"):
        atomic_write_bytes(linked / "new.txt", b"new")
    temp = tmp_path / ".tmp-planted"
    temp.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="planted"):
        create_new(temp)  # O_EXCL | O_NOFOLLOW: never an existing name, never through a link
    with pytest.raises(UnsafePathError, match=re.escape("report.md")):
        write_parquet(pa.table({"a": [1]}), target)  # the shard writer goes through the same writer
    _unchanged(victim)
    _dir_unchanged(victim_dir)
    assert [p.name for p in tmp_path.glob(".tmp-*")] == [".tmp-planted"]  # no temporary file left behind


def test_a_failed_atomic_write_leaves_the_old_bytes(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_ensure_folder_refuses_a_link_and_a_file(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        ensure_folder(link)
    with pytest.raises(UnsafePathError, match="regular file, not a folder"):
        ensure_folder(victim)
    assert ensure_folder(tmp_path / "a" / "b").is_dir()


# ---------------------------------------------------------------- generate's run folder and judge's work folder
def test_the_run_folder_lock_and_links(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=r"\.lock"):
        RunStore(run)
    (run / ".lock").unlink()
    os.link(victim, run / ".lock")  # a regular file it did not create: locked, never written
    (run / "run.json").symlink_to(victim)
    (run / ".tmp-shard").symlink_to(victim)  # a "leftover" temporary file that is a link: the link is removed
    store = RunStore(run)
    try:
        assert store.remove_temp_files() == 1 and not (run / ".tmp-shard").exists()
        with pytest.raises(UnsafePathError, match=re.escape("run.json")):
            store.open_manifest({"model": "m"}, {})
        shard = store.write_shard(RUN_SCHEMA.empty_table(), store.next_shard_name())
        assert shard.is_file() and not shard.is_symlink()
    finally:
        store.close()
    _unchanged(victim)
    linked = tmp_path / "linked_run"
    linked.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="the run folder is a symbolic link"):
        RunStore(linked)
    _dir_unchanged(victim_dir)


class _Judge:
    """A judge engine that answers every prompt with a score (no model, no network)."""

    model = "fake-judge"

    def __init__(self) -> None:
        self.last_errors: list[str] = []

    def complete(self, prompts: list[str]) -> list[str | None]:
        return ["<answer>0.7</answer>"] * len(prompts)


def test_the_judge_work_folder_is_never_a_link(export: Path, victim: Path, victim_dir: Path) -> None:
    work = export.parent / f".{export.name}.judge-{prompt_hash(_Judge.model)}"  # predictable: the default
    work.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="judge work folder"):
        judge_target(export, _Judge())
    _dir_unchanged(victim_dir)
    work.unlink()
    work.mkdir()
    (work / ".tmp-part-000000.parquet").symlink_to(victim)  # the old, predictable temporary name
    report = judge_target(export, _Judge())
    assert report.judged == report.rows - report.no_response > 0
    _unchanged(victim)
    verify_export(export)


# ---------------------------------------------------------------- thoughts, sft-data, route report
def test_the_templates_folder_lock_and_links(tmp_path: Path, victim: Path, victim_dir: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / ".lock").symlink_to(victim)
    with pytest.raises(UnsafePathError, match=r"\.lock"):
        TemplateStore(folder)
    (folder / ".lock").unlink()
    os.mkfifo(folder / ".lock")
    with pytest.raises(UnsafePathError, match="FIFO"):
        TemplateStore(folder)
    (folder / ".lock").unlink()
    (folder / "README.md").symlink_to(victim)
    with TemplateStore(folder) as store:
        manifest = store.open_manifest({"split": "train"})
        empty = TEMPLATE_SCHEMA.empty_table()
        with pytest.raises(UnsafePathError, match=re.escape("README.md")):
            store.finish(empty, {**manifest, "fingerprint": fingerprint(empty)}, "card")
    _unchanged(victim)
    linked = tmp_path / "linked"
    linked.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="templates folder is a symbolic link"):
        TemplateStore(linked)
    _dir_unchanged(victim_dir)


@pytest.mark.parametrize("planted", ["report.json", "dataset_info.json", "hf"])
def test_sft_data_never_writes_through_a_link(export: Path, tmp_path: Path, victim: Path, planted: str) -> None:
    out = tmp_path / "sft"
    out.mkdir()
    (out / planted).symlink_to(victim.parent if planted == "hf" else victim, target_is_directory=planted == "hf")
    with pytest.raises(UnsafePathError, match=re.escape(planted)):
        make_sft_data(export, out, select="label-only", overwrite=True)
    _unchanged(victim)
    assert sorted(p.name for p in victim.parent.iterdir()) == ["passwd"]
    assert sorted(p.name for p in out.iterdir()) == [planted]  # refused before anything was written


@pytest.mark.parametrize("planted", ["report.md", "report.json", "frontier.png", "per_task.png"])
def test_the_route_report_never_writes_through_a_link(tmp_path: Path, victim: Path, planted: str) -> None:
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / planted).symlink_to(victim)
    with pytest.raises(UnsafePathError, match=re.escape(planted)):
        write_report(REPORT, folder)
    _unchanged(victim)


def test_the_route_report_folder_is_never_a_link(tmp_path: Path, victim_dir: Path) -> None:
    folder = tmp_path / "report"
    folder.symlink_to(victim_dir, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="report folder is a symbolic link"):
        write_report(REPORT, folder)
    _dir_unchanged(victim_dir)


def test_route_train_never_writes_through_a_link(tmp_path: Path, victim: Path, victim_dir: Path, capsys) -> None:
    """The real ``route train`` (linear router, 64 TF-IDF terms, the embedded LLMRouter data)."""
    train = ["route", "train", "--router", "linear", "--features", "tfidf:64", "--quiet", "--out"]
    folder = tmp_path / "router"
    folder.mkdir()
    (folder / "training_record.json").symlink_to(victim)
    assert main([*train, str(folder)]) == 1
    assert "training_record.json" in "".join(capsys.readouterr()).replace("\n", "")
    _unchanged(victim)
    linked = tmp_path / "linked"
    linked.symlink_to(victim_dir, target_is_directory=True)
    assert main([*train, str(linked)]) == 1
    assert "symbolic link" in "".join(capsys.readouterr())
    _dir_unchanged(victim_dir)
