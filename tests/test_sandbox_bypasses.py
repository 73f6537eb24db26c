"""The issue's four ways around the Python guard, run for real against host files, in every backend.

Each program deletes a file, creates a file and unlinks another in a victim folder of the host, through:
dropping the guard's ``sys.meta_path`` finders and re-importing ``posix``; ``_imp.create_builtin``; ``fork`` +
``execv('/proc/self/exe')`` (a fresh interpreter without the guard); a fresh ``ctypes.CDLL(None)``. Two victim
folders: one in the host's temporary folder (absent from the full backends' view) and, where the test may
write there, one inside the interpreter's prefix (present in the view, read-only). With the guard alone
(weak isolation, opted in) the attacks succeed, which proves they are real; with a full backend nothing of
the host changes. Each program checks its own success, so it can pass only by escaping.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sandbox import GOOD, TESTS, TIMEOUT

from fusionbench.metrics.sandbox import Program, run_programs, sandbox_isolation

pytestmark = pytest.mark.filterwarnings("ignore::fusionbench.metrics.sandbox.SandboxIsolationWarning")

_META_PATH = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "__main__"]
del sys.modules["posix"]
import posix as fresh
fresh.unlink(DELETE)
fresh.close(fresh.open(CREATE, fresh.O_WRONLY | fresh.O_CREAT, 0o644))
fresh.unlink(UNLINK)
"""
_CREATE_BUILTIN = """
import _imp, importlib.machinery
fresh = _imp.create_builtin(importlib.machinery.ModuleSpec("posix", None))
_imp.exec_builtin(fresh)
fresh.unlink(DELETE)
fresh.close(fresh.open(CREATE, fresh.O_WRONLY | fresh.O_CREAT, 0o644))
fresh.unlink(UNLINK)
"""
_FORK_EXEC = """
import _imp, importlib.machinery
fresh = _imp.create_builtin(importlib.machinery.ModuleSpec("posix", None))
_imp.exec_builtin(fresh)
code = ("import os; os.unlink(%r); os.close(os.open(%r, os.O_WRONLY | os.O_CREAT, 0o644)); os.unlink(%r)"
        % (DELETE, CREATE, UNLINK))
pid = fresh.fork()
if pid == 0:
    fresh.execv("/proc/self/exe", ["python", "-I", "-c", code])
assert fresh.waitpid(pid, 0)[1] == 0, "the fresh interpreter failed"
"""
_CTYPES = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "__main__"]
for name in ("ctypes", "_ctypes"):
    sys.modules.pop(name, None)
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
assert libc.unlink(DELETE.encode()) == 0, "unlink refused"
fd = libc.open(CREATE.encode(), 0o1 | 0o100, 0o644)
assert fd >= 0, "open refused"
libc.close(fd)
assert libc.unlink(UNLINK.encode()) == 0, "unlink refused"
"""
ATTACKS = {
    "meta_path_posix": _META_PATH,
    "create_builtin": _CREATE_BUILTIN,
    "fork_execv": _FORK_EXEC,
    "ctypes": _CTYPES,
}


def _victim(folder: Path) -> Path:
    for name in ATTACKS:
        (folder / name).mkdir(parents=True)
        (folder / name / "delete.txt").write_text("precious")
        (folder / name / "unlink.txt").write_text("precious")
    return folder


@pytest.fixture
def victims(tmp_path: Path) -> Iterator[list[Path]]:
    """Victim folders: one in the host's /tmp, and one in the interpreter's prefix where that is writable here."""
    folders = [_victim(tmp_path / "victim")]
    inside = Path(sys.prefix) / f"fusionbench-test-victim-{os.getpid()}"
    if os.access(sys.prefix, os.W_OK) and not inside.exists():
        folders.append(_victim(inside))
    try:
        yield folders
    finally:
        if len(folders) > 1:
            shutil.rmtree(folders[1])


def _programs(folder: Path) -> dict[str, Program]:
    programs = {}
    for name, attack in ATTACKS.items():
        paths = {key: str(folder / name / f"{key.lower()}.txt") for key in ("DELETE", "CREATE", "UNLINK")}
        prelude = "".join(f"{key} = {value!r}\n" for key, value in paths.items())
        programs[f"{name}@{folder}"] = Program(prelude + textwrap.dedent(attack) + GOOD, TESTS)
    return programs


def _state(folder: Path) -> dict[str, list[str]]:
    return {name: sorted(p.name for p in (folder / name).iterdir()) for name in ATTACKS}


def _run(folders: list[Path], backend: str) -> dict:
    programs = {k: v for folder in folders for k, v in _programs(folder).items()}
    results = run_programs(list(programs.values()), timeout=TIMEOUT, workers=2, backend=backend, allow_weak=True)  # type: ignore[arg-type]
    return dict(zip(programs, results, strict=True))


def test_the_bypasses_are_real_under_the_python_guard_alone(victims: list[Path]) -> None:
    """Weak isolation, opted in: each bypass deletes, creates and unlinks host files (and passes)."""
    results = _run(victims[:1], "guard")
    for name, result in results.items():
        assert result.passed, (name, result.stderr[-500:])
    assert _state(victims[0]) == {name: ["create.txt"] for name in ATTACKS}


@pytest.mark.parametrize("backend", ["bwrap", "unshare"])
def test_the_bypasses_change_nothing_in_a_full_backend(victims: list[Path], backend: str) -> None:
    try:
        isolation = sandbox_isolation(backend)  # type: ignore[arg-type]
    except RuntimeError as exc:
        pytest.skip(str(exc))
    assert isolation.complete, isolation.describe()
    before = [_state(folder) for folder in victims]
    assert all(state == {name: ["delete.txt", "unlink.txt"] for name in ATTACKS} for state in before)
    results = _run(victims, backend)
    for name, result in results.items():
        assert not result.passed, (name, result)
        assert result.status == "failed", (name, result)
    assert [_state(folder) for folder in victims] == before
    for folder in victims:
        for name in ATTACKS:
            assert (folder / name / "delete.txt").read_text() == "precious"
    if len(victims) > 1:  # the prefix is in the view: the attack met a read-only file system, not absence
        stderr = " ".join(r.stderr for k, r in results.items() if k.endswith(str(victims[1])))
        assert "Read-only file system" in stderr or "unlink refused" in stderr, stderr[-2000:]


@pytest.mark.parametrize("backend", ["bwrap", "unshare"])
@pytest.mark.parametrize("where", ["host_tmp", "interpreter_prefix"])
def test_the_hugging_face_token_is_not_readable(
    backend: str, where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$HF_HOME/token`` is absent from the view, or covered by an empty file where it lies in a bound folder."""
    try:
        sandbox_isolation(backend)  # type: ignore[arg-type]
    except RuntimeError as exc:
        pytest.skip(str(exc))
    home = tmp_path / "hf" if where == "host_tmp" else Path(sys.prefix) / f"fusionbench-test-hf-{os.getpid()}"
    if where == "interpreter_prefix" and not os.access(sys.prefix, os.W_OK):
        pytest.skip(f"cannot write a token into {sys.prefix} here")
    home.mkdir()
    secret = "hf_" + os.urandom(12).hex()
    try:
        (home / "token").write_text(secret)
        monkeypatch.setenv("HF_HOME", str(home))
        steal = (
            f"data = ''\ntry:\n    data = open({str(home / 'token')!r}).read()\nexcept OSError as exc:\n"
            "    print(exc, file=sys.stderr)\nprint('GOT %r' % data, file=sys.stderr)\n"
            f"assert {secret!r} in data, 'no token'\n"
        )
        [result] = run_programs([Program("import sys\n" + steal + GOOD, TESTS)], timeout=TIMEOUT, backend=backend)  # type: ignore[arg-type]
    finally:
        shutil.rmtree(home)
    assert not result.passed and secret not in result.stderr, result
    assert "GOT ''" in result.stderr, result.stderr
