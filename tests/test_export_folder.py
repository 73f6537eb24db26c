"""The export folder's one writer protocol: an exclusive lock, staging, and a swap that never leaves the path empty.

Every test runs real processes (the CLI or a Python child) and kills them with SIGKILL at the instants that
used to lose data: between the two renames of a swap, and while the old export was being deleted.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from release_factory import release_rows, write_release

from fusionbench.build import build_export
from fusionbench.errors import ExportExistsError
from fusionbench.export.folder import ExportLockedError, locked, read_config, response_shards, rewrite
from fusionbench.export.push import verify_export
from fusionbench.export.swap import clean_leftovers

CHILD_TIMEOUT = 120


def _python(*code: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    """Run the ``code`` parts in a fresh interpreter (the child imports fusionbench itself)."""
    argv = [sys.executable, "-c", "\n".join(textwrap.dedent(part) for part in code)]
    if wait:
        return subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fusionbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for_message(child: subprocess.Popen, text: str, timeout: float = CHILD_TIMEOUT) -> str:
    """Read the child's stderr until a line holds ``text`` (the child is still running then)."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stderr], [], [], 1.0)
        if ready:
            line = child.stderr.readline()
            if not line and child.poll() is not None:
                break
            seen.append(line)
            if text in line:
                return line
    raise AssertionError(f"the child never said {text!r}; it said: {''.join(seen)[-2000:]}")


def _leftovers(export: Path) -> list[str]:
    """What lies beside the export besides it and its lock file."""
    return sorted(p.name for p in export.parent.glob(f".{export.name}.*") if p.name != f".{export.name}.lock")


@pytest.fixture
def small_export(tmp_path: Path) -> Path:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k") + release_rows("math"))
    return build_export([str(source)], tmp_path / "out").out


def _add_model_code(export: Path, model: str) -> str:
    """A child that adds every row of the export again under the model name ``model`` (a new model's run)."""
    return f"""
        import pyarrow as pa, pyarrow.compute as pc
        from fusionbench.export.folder import read_config
        from fusionbench.export.merge import merge_rows
        rows = pa.concat_tables([read_config({str(export)!r}, task) for task in ("gsm8k", "math")])
        rows = rows.set_column(rows.schema.get_field_index("model"), "model", pa.array([{model!r}] * rows.num_rows))
        report = merge_rows({str(export)!r}, rows, [{{"model": {model!r}}}], source={model!r})
        print("added", report.rows_added)
    """


def _models(export: Path) -> set[str]:
    tables = [read_config(export, task, ["model"]) for task in ("gsm8k", "math")]
    return {model for table in tables for model in pc.unique(table["model"]).to_pylist()}


# ---------------------------------------------------------------- the lock
def test_two_writers_into_one_export_both_land(small_export: Path) -> None:
    """Two merges started together: the second waits for the first, so no model's rows are lost."""
    with locked(small_export):  # hold the lock so that both children are surely waiting at once
        children = [_python(_add_model_code(small_export, name), wait=False) for name in ("new-a", "new-b")]
        for child in children:  # both are waiting for the lock at once, and each says so
            assert "waiting for it to finish" in _wait_for_message(child, "is being written by")
    outputs = [child.communicate(timeout=CHILD_TIMEOUT) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert {"new-a", "new-b"} <= _models(small_export)
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in response_shards(small_export))
    assert rows == 3 * 80  # the release's 80 rows, then 80 for each new model
    verify_export(small_export)
    assert _leftovers(small_export) == []


def test_two_builds_into_one_folder(tmp_path: Path) -> None:
    """``build --out X`` twice at once: the second waits, then refuses (no --overwrite); with --overwrite both
    finish one after the other and the folder holds one whole export."""
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"))
    out = tmp_path / "out"
    with locked(out):
        first = _cli("build", "--source", str(source), "--out", str(out), "--quiet")
        second = _cli("build", "--source", str(source), "--out", str(out), "--quiet")
        for child in (first, second):
            _wait_for_message(child, "waiting for it to finish")
    results = [(p.wait(timeout=CHILD_TIMEOUT), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, _, err in results if code == 1)
    assert "exists" in refused and "--overwrite" in refused
    verify_export(out)
    with locked(out):
        both = [_cli("build", "--source", str(source), "--out", str(out), "--overwrite", "--quiet") for _ in range(2)]
        for child in both:
            _wait_for_message(child, "waiting for it to finish")
    assert [p.wait(timeout=CHILD_TIMEOUT) for p in both] == [0, 0]
    verify_export(out)
    assert _leftovers(out) == []


def test_a_writer_that_cannot_wait_fails_clearly(small_export: Path) -> None:
    with (
        locked(small_export),
        pytest.raises(ExportLockedError, match=r"being written by pid \d+"),
        rewrite(small_export, wait=0.3),
    ):
        pytest.fail("the rewrite must not start while another writer holds the lock")


# ---------------------------------------------------------------- kills at the dangerous instants
KILL_BETWEEN_RENAMES = """
    import os, signal
    from fusionbench.export import swap
    swap._exchange = lambda first, second: False  # as on a file system without renameat2
    real_rename = os.rename
    def rename(src, dst):
        real_rename(src, dst)
        if ".old-" in str(dst):  # the export has just been moved aside: die before the new one is in place
            os.kill(os.getpid(), signal.SIGKILL)
    swap.Path.rename = lambda self, target: rename(self, target)
"""


def test_kill_between_the_two_renames_is_restored_by_the_next_writer(small_export: Path) -> None:
    before = verify_export(small_export)
    child = _python(KILL_BETWEEN_RENAMES, _add_model_code(small_export, "killed"))
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert not small_export.exists()  # the window the fallback swap has
    assert [name.split("-")[0] for name in _leftovers(small_export)] == [".out.old", ".out.partial"]
    with rewrite(small_export, refresh_card=False):
        pass  # the next writer: restores the old export under its lock, then cleans the rest
    assert verify_export(small_export) == before
    assert "killed" not in _models(small_export)
    assert _leftovers(small_export) == []


def test_with_renameat2_the_path_always_holds_a_whole_export(small_export: Path) -> None:
    """Kill merges at many instants; after each kill the path holds a whole export (old or new), checked
    against its own card, and the next writer removes what the killed one left."""
    killed = 0
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1, 2.4):
        child = _python(_add_model_code(small_export, f"m{delay}"), wait=False)
        time.sleep(delay)
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            killed += 1
        child.wait(timeout=CHILD_TIMEOUT)
        assert small_export.is_dir()
        verify_export(small_export)
        clean_leftovers(small_export)
    assert killed >= 2  # the test must really have interrupted writers
    assert _leftovers(small_export) == []


KILL_WHILE_DELETING_THE_OLD_EXPORT = """
    import os, shutil, signal
    from fusionbench.export import swap
    real_rmtree = shutil.rmtree
    def rmtree(path, *args, **kwargs):
        if (".partial-" in str(path) or ".old-" in str(path)) and os.path.isdir(path):
            entries = sorted(os.listdir(path))
            if "data" in entries:  # the swapped-out old export, not an empty staging folder
                real_rmtree(os.path.join(path, "data", "gsm8k"))  # half deleted
                os.kill(os.getpid(), signal.SIGKILL)
        return real_rmtree(path, *args, **kwargs)
    swap.shutil.rmtree = rmtree
"""


def test_kill_while_the_old_export_is_deleted_leaves_nothing_behind(tmp_path: Path, small_export: Path) -> None:
    source = write_release(tmp_path / "other" / "train.csv", release_rows("boolq"))
    build = f"""
    from fusionbench.build import build_export
    build_export([{str(source)!r}], {str(small_export)!r}, overwrite=True)
    """
    child = _python(KILL_WHILE_DELETING_THE_OLD_EXPORT, build)
    assert child.returncode == -signal.SIGKILL, child.stderr
    verify_export(small_export)  # the new export is in place and whole
    assert (small_export / "data" / "boolq").is_dir() and not (small_export / "data" / "gsm8k").exists()
    assert len(_leftovers(small_export)) == 1  # the half-deleted old copy
    build_export([str(source)], small_export, overwrite=True)  # the next build recognises and removes it
    assert _leftovers(small_export) == []


def test_out_naming_a_file_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k"))
    target = tmp_path / "report.txt"
    target.write_text("the user's file")
    child = _cli("build", "--source", str(source), "--out", str(target), "--overwrite", "--quiet")
    _, err = child.communicate(timeout=CHILD_TIMEOUT)
    assert child.returncode == 1 and "not a folder" in err
    assert target.read_text() == "the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release", "report.txt"]
    with pytest.raises(ExportExistsError):
        build_export([str(source)], target, overwrite=True)


def test_a_failed_rewrite_leaves_the_export_and_no_staging(small_export: Path) -> None:
    before = verify_export(small_export)
    with pytest.raises(RuntimeError, match="half way"), rewrite(small_export) as staging:
        (staging / "data" / "gsm8k").rename(staging / "data" / "elsewhere")
        raise RuntimeError("failed half way")
    assert verify_export(small_export) == before
    assert _leftovers(small_export) == []


def test_leftovers_of_dead_writers_are_removed_by_the_next_writer(small_export: Path) -> None:
    """Staging and swapped-out copies of killed writers (any pid: every writer holds the lock, so none is in
    use) are removed; with an export at the path, a swapped-out copy is deleted, not restored."""
    for name in (".out.partial-999999", ".out.old-999998", ".out.partial-1"):
        (small_export.parent / name / "data").mkdir(parents=True)
    (small_export.parent / ".out.judge-abc").mkdir()  # a judge job's resumable work folder is not a leftover
    with rewrite(small_export, refresh_card=False):
        pass
    assert _leftovers(small_export) == [".out.judge-abc"]
    verify_export(small_export)


def test_leftovers_of_a_hyphenated_export_name_are_found_and_the_newest_old_one_restored(tmp_path: Path) -> None:
    """Leftovers are ``.<name>.<kind>-<pid>``: the pid is after the last hyphen, so a name with hyphens works;
    of several swapped-out exports the most recent one (by modification time, not by pid) comes back."""
    export = tmp_path / "my-fusion-export"
    made = {}
    for name, age in [(".my-fusion-export.old-900", 30), (".my-fusion-export.old-100", 10),
                      (".my-fusion-export.partial-555", 20), (".my-fusion-export.old-abc", 5)]:  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        (folder / "which").write_text(name)
        os.utime(folder, (time.time() - age, time.time() - age))
        made[name] = folder
    touched = clean_leftovers(export)
    assert (export / "which").read_text() == ".my-fusion-export.old-100"  # the newest, though its pid is lower
    assert sorted(p.name for p in touched) == sorted(
        [".my-fusion-export.old-100", ".my-fusion-export.old-900", ".my-fusion-export.partial-555"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".my-fusion-export.old-abc", "my-fusion-export"]
    assert clean_leftovers(export) == []  # an export at the path: nothing is restored over it


def test_a_successful_fallback_swap_leaves_only_the_new_export(small_export: Path, monkeypatch) -> None:
    """Without renameat2 the swap is two renames; once it succeeds, the old export must be gone, not beside it."""
    from fusionbench.export import swap
    from fusionbench.export.merge import merge_rows

    exchanges = []
    monkeypatch.setattr(swap, "_exchange", lambda first, second: exchanges.append((first, second)) or False)
    import pyarrow as pa

    rows = read_config(small_export, "gsm8k")
    rows = rows.set_column(rows.schema.get_field_index("model"), "model", pa.array(["fallback"] * rows.num_rows))
    merge_rows(small_export, rows, [{"model": "fallback"}], source="fallback")
    assert exchanges, "the fallback path was not taken"
    assert "fallback" in _models(small_export)
    verify_export(small_export)
    assert _leftovers(small_export) == []
    assert sorted(p.name for p in small_export.parent.iterdir() if p.name.startswith(".out")) == [".out.lock"]
