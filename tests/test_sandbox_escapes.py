"""The operating-system layer of the code sandbox: programs that first take the Python guard apart.

Every program here starts with ``UNGUARD``, which removes the guard's import hooks and re-imports
``os``/``posix``/``ctypes`` unpatched (``test_the_unguard_prelude_really_removes_the_guard`` proves it
does), so only the operating system stands between it and the machine. Escapes whose effect the
program can see (files, secrets) check their own success, so such a program scores 1 only if it
escaped; the test also checks from outside that nothing was harmed. Escapes whose effect only shows
outside (kills, processes left running) are judged from outside alone. A test runs for each backend
that provides the layer it needs and is skipped, saying why, where none does (``bwrap`` gives all of
them, and so does ``unshare`` as root, with its own read-only view and the uid drop; the issue's four
guard bypasses against host files are in ``test_sandbox_bypasses.py``).
"""

from __future__ import annotations

import ast
import os
import platform
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_sandbox import GOOD, MARGIN, TESTS, TIMEOUT, _sandbox_processes, _wait_for

from fusionbench.metrics import score_details
from fusionbench.metrics.sandbox import Program, SandboxIsolation, run_programs, sandbox_isolation

pytestmark = pytest.mark.filterwarnings("ignore::fusionbench.metrics.sandbox.SandboxIsolationWarning")

UNGUARD = textwrap.dedent(
    """
    import sys
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "__main__"]
    for _name in [n for n, m in list(sys.modules.items()) if m is None or n in (
            "os", "posix", "_posixsubprocess", "subprocess", "socket", "_socket", "shutil")]:
        del sys.modules[_name]
    import os, posix, ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    """
)
# System call numbers (the generic table on aarch64); -100 is AT_FDCWD.
_SYSCALLS = {
    "x86_64": {"kill": 62, "openat": 257, "unlinkat": 263},
    "aarch64": {"kill": 129, "openat": 56, "unlinkat": 35},
}


def _isolation(backend: str, *layers: str) -> SandboxIsolation:
    """The backend's isolation, or a skip naming what this machine lacks."""
    try:
        isolation = sandbox_isolation(backend)  # type: ignore[arg-type]
    except RuntimeError as exc:
        pytest.skip(str(exc))
    lacking = [layer for layer in layers if not _has(isolation, layer)]
    if lacking:
        pytest.skip(f"{backend} lacks {', '.join(lacking)} here: {isolation.describe()}")
    return isolation


def _has(isolation: SandboxIsolation, layer: str) -> bool:
    if layer == "protected_files":  # the test's files: absent from the view, or root's while the program is not
        return isolation.readonly_filesystem or isolation.uid_drop
    if layer == "protected_scorer":  # the scorer's pid and /proc: out of sight, or another uid's
        return isolation.pid_namespace or isolation.uid_drop
    if layer == "non_root":
        return isolation.program_uid != 0
    return bool(getattr(isolation, layer))


def _run(programs: dict[str, str], backend: str, timeout: float = TIMEOUT) -> dict:
    jobs = [Program(UNGUARD + code, TESTS) for code in programs.values()]
    results = run_programs(jobs, timeout=timeout, workers=2, backend=backend, allow_weak=backend == "guard")  # type: ignore[arg-type]
    return dict(zip(programs, results, strict=True))


def _assert_all_fail(results: dict, timeout: float = TIMEOUT) -> None:
    for name, result in results.items():
        assert not result.passed, f"{name} escaped: {result}"
    _assert_finished(results, timeout)


def _assert_finished(results: dict, timeout: float = TIMEOUT) -> None:
    for name, result in results.items():
        assert result.status in ("passed", "failed", "timeout"), (name, result)
        assert result.duration < timeout + MARGIN, (name, result.duration)


def _assert_no_leftovers() -> None:
    assert _wait_for(lambda: not _sandbox_processes(), 3.0), f"left running: {_sandbox_processes()}"


@pytest.fixture(params=["bwrap", "unshare"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def keep(tmp_path: Path) -> Path:
    """A folder outside the sandbox with a file and a subfolder in it, owned by the test's user."""
    folder = tmp_path / "keep"
    (folder / "sub").mkdir(parents=True)
    (folder / "sentinel.txt").write_text("precious")
    return folder


def _assert_intact(keep: Path) -> None:
    assert (keep / "sentinel.txt").read_text() == "precious"
    assert sorted(p.name for p in keep.iterdir()) == ["sentinel.txt", "sub"]
    assert list((keep / "sub").iterdir()) == []


# ---------------------------------------------------------------- the prelude is a real bypass
def test_the_unguard_prelude_really_removes_the_guard() -> None:
    """Harmless calls the guard forbids succeed after ``UNGUARD`` (so the other tests test the OS layer)."""
    code = (
        UNGUARD
        + "posix.kill(posix.getpid(), 0)\nassert libc.getpid() == posix.getpid()\n"
        + "import subprocess\nassert subprocess.run(['true']).returncode == 0\nassert os.system('true') == 0\n"
        + GOOD
    )
    [result] = run_programs([Program(code, TESTS)], timeout=TIMEOUT, backend="guard", allow_weak=True)
    assert result.passed, result


def test_reimporting_a_patched_module_keeps_the_guard() -> None:
    """The issue's ``del sys.modules['posix']; import posix`` gets the patched module back: the guard holds."""
    programs = {
        "posix": "import sys\ndel sys.modules['posix']\nimport posix\nposix.kill(posix.getpid(), 0)\n",
        "os": "import sys\ndel sys.modules['os']\nimport os\nos.kill(os.getpid(), 0)\n",
        "ctypes": "import sys\ndel sys.modules['ctypes']\nimport ctypes\n",
    }
    jobs = [Program(code + GOOD, TESTS) for code in programs.values()]
    results = run_programs(jobs, timeout=TIMEOUT, workers=2, backend="guard", allow_weak=True)
    results = dict(zip(programs, results, strict=True))
    _assert_all_fail(results)
    assert "PermissionError" in results["posix"].stderr and "PermissionError" in results["os"].stderr
    assert "ImportError" in results["ctypes"].stderr


# ---------------------------------------------------------------- the scorer and other processes
def test_the_scorer_and_other_processes_survive_kills(backend: str) -> None:
    _isolation(backend, "protected_scorer", "pid_namespace")
    canary = subprocess.Popen(["sleep", "60"])  # a process of the scorer's user outside the sandbox
    kill = _SYSCALLS.get(platform.machine(), {}).get("kill")
    try:
        programs = {
            "kill_parent": "posix.kill(posix.getppid(), 9)\nimport time\ntime.sleep(1)\n",
            "kill_scorer": f"posix.kill({os.getpid()}, 9)\n",
            "kill_canary": f"posix.kill({canary.pid}, 9)\n",
            "kill_everyone": "assert posix.getpid() < 50, 'not in a PID namespace'\nposix.kill(-1, 9)\n",
            "killpg_scorer": f"posix.killpg(posix.getpgid({os.getpid()}), 9)\n",
        }
        if kill is not None:
            programs["ctypes_kill_parent"] = f"assert libc.syscall({kill}, posix.getppid(), 9) == 0\n"
            programs["ctypes_kill_scorer"] = f"assert libc.syscall({kill}, {os.getpid()}, 9) == 0\n"
        _assert_finished(_run({name: code + GOOD for name, code in programs.items()}, backend))
        assert canary.poll() is None, "the canary was killed"  # and this process, the scorer, is still here
    finally:
        canary.kill()
        canary.wait()
    _assert_no_leftovers()


def test_fork_and_setsid_children_do_not_outlive_the_run(backend: str) -> None:
    _isolation(backend, "pid_namespace")
    escape = (
        "pid = posix.fork()\nif pid == 0:\n    posix.setsid()\n    if posix.fork() == 0:\n"
        "        import time\n        time.sleep(30)\n    posix._exit(0)\nposix.waitpid(pid, 0)\n"
    )
    spawn = "posix.posix_spawn('/bin/sh', ['sh', '-c', 'setsid sleep 30 &'], {})\nimport time\ntime.sleep(0.3)\n"
    _assert_finished(_run({"fork_setsid": escape + GOOD, "posix_spawn_setsid": spawn + GOOD}, backend))
    _assert_no_leftovers()


def test_fork_bomb_is_contained_by_rlimit_nproc(backend: str) -> None:
    _isolation(backend, "non_root", "pid_namespace")
    before = subprocess.run(["true"], check=False).returncode
    results = _run({"fork_bomb": "while True:\n    posix.fork()\n", "spawn_bomb": _SPAWN_BOMB}, backend)
    _assert_all_fail(results)
    assert subprocess.run(["true"], check=False).returncode == before == 0  # the machine still forks
    _assert_no_leftovers()


_SPAWN_BOMB = (
    "while True:\n    posix.posix_spawn(sys.executable, [sys.executable, '-c', 'import time; time.sleep(9)'], {})\n"
)


def test_scorer_killed_with_sigkill_leaves_no_program_running(backend: str) -> None:
    isolation = _isolation(backend, "pid_namespace")
    if not isolation.dies_with_scorer:
        pytest.skip(f"{backend} does not tie the program to the scorer here: {isolation.describe()}")
    program = UNGUARD + "if posix.fork() == 0:\n    posix.setsid()\nimport time\ntime.sleep(60)\n"
    scorer_code = (
        "import warnings\nwarnings.simplefilter('ignore')\nfrom fusionbench.metrics.sandbox import run_programs\n"
        f"run_programs([{program!r}] * 2, timeout=60, workers=2, backend={backend!r})\n"
    )
    scorer = subprocess.Popen([sys.executable, "-c", scorer_code])
    try:
        # two programs, each with a launcher, the program and its setsid child at least
        started = _wait_for(lambda: len(_sandbox_processes(scorer.pid)) >= 6, 30.0)
        assert started, f"the programs did not start: {_sandbox_processes(scorer.pid)}"
        time.sleep(0.3)
        scorer.send_signal(signal.SIGKILL)
        scorer.wait()
        left = _wait_for(lambda: not _sandbox_processes(scorer.pid), 5.0)
        assert left, f"still running after the scorer died: {_sandbox_processes(scorer.pid)}"
    finally:
        if scorer.poll() is None:
            scorer.kill()
            scorer.wait()


# ---------------------------------------------------------------- files outside the sandbox
def test_files_outside_survive_unguarded_programs(backend: str, keep: Path) -> None:
    _isolation(backend, "protected_files")
    k, s, new = str(keep), str(keep / "sentinel.txt"), str(keep / "new.txt")
    calls = _SYSCALLS.get(platform.machine())
    programs = {
        "system_rm": f"assert posix.system('test -e {k} && rm -rf {k}') == 0\n",
        "posix_spawn_rm": (
            f"pid = posix.posix_spawn('/bin/sh', ['sh', '-c', 'test -e {k} && rm -rf {k}'], {{}})\n"
            "assert posix.waitpid(pid, 0)[1] == 0\n"
        ),
        "subprocess_rm": f"import subprocess\nsubprocess.run(['sh', '-c', 'test -e {k} && rm -rf {k}'], check=True)\n",
        "sqlite_outside": f"import sqlite3\nsqlite3.connect({str(keep / 'x.db')!r}).execute('create table t (x)')\n",
        "posix_unlink": f"posix.unlink({s!r})\n",
        "posix_rename": f"posix.rename({s!r}, 'stolen')\n",
        "posix_chmod": f"posix.chmod({k!r}, 0o777)\n",
        "posix_open_write": f"fd = posix.open({s!r}, posix.O_WRONLY | posix.O_TRUNC)\nposix.write(fd, b'gone')\n",
        "posix_open_create": f"posix.open({new!r}, posix.O_WRONLY | posix.O_CREAT)\n",
        "proc_self_root": f"fd = posix.open('/proc/self/root' + {s!r}, posix.O_WRONLY | posix.O_TRUNC)\n",
        "symlink_then_write": (
            f"posix.symlink({k!r}, 'link')\nfd = posix.open('link/new.txt', posix.O_WRONLY | posix.O_CREAT)\n"
        ),
        "symlink_race": _symlink_race(s),
    }
    if calls is not None:
        programs["ctypes_unlinkat"] = f"assert libc.syscall({calls['unlinkat']}, -100, {s.encode()!r}, 0) == 0\n"
        programs["ctypes_openat_create"] = (
            f"assert libc.syscall({calls['openat']}, -100, {new.encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644) >= 0\n"
        )
    _assert_all_fail(_run({name: code + GOOD for name, code in programs.items()}, backend))
    _assert_intact(keep)


def _symlink_race(target: str) -> str:
    """The guard checks a path, then opens it: swap the symlink in between, many times."""
    return textwrap.dedent(
        f"""
        import threading
        open('inside.txt', 'w').close()
        stop = False
        def flip():
            while not stop:
                for dest in ({target!r}, 'inside.txt'):
                    posix.symlink(dest, 'tmp_link')
                    posix.replace('tmp_link', 'link')
        posix.symlink('inside.txt', 'link')
        thread = threading.Thread(target=flip)
        thread.start()
        for _ in range(3000):
            try:
                with open('link', 'w') as f:
                    f.write('gone')
            except OSError:
                pass
        stop = True
        thread.join()
        assert posix.stat({target!r}).st_size == 4, 'the race was lost'
        """
    )


@pytest.mark.parametrize("any_backend", ["bwrap", "unshare", "guard"])
def test_links_in_the_work_folder_do_not_reach_outside_at_cleanup(any_backend: str, keep: Path) -> None:
    """The scorer deletes the work folder afterwards: links in it to outside must not be followed."""
    backend = any_backend
    _isolation(backend)
    links = (
        f"posix.symlink({str(keep)!r}, 'dir_link')\nposix.symlink({str(keep / 'sentinel.txt')!r}, 'file_link')\n"
        f"posix.mkdir('deep')\nposix.symlink({str(keep)!r}, 'deep/link')\n"
    )
    _assert_finished(_run({"links": links + GOOD}, backend))
    _assert_intact(keep)


# ---------------------------------------------------------------- secrets of the scorer
_SECRET_NAME = "FUSIONBENCH_TEST_SECRET"


def _secret_hunter() -> str:
    return textwrap.dedent(
        f"""
        found = []
        paths = ['/proc/%d/environ' % posix.getppid(), '/proc/1/environ', '/proc/self/environ',
                 '/proc/{os.getpid()}/environ', '/proc/self/root/proc/{os.getpid()}/environ']
        paths += ['/proc/%s/environ' % p for p in posix.listdir('/proc') if p.isdigit()]
        for path in paths:
            try:
                fd = posix.open(path, posix.O_RDONLY)
                data = posix.read(fd, 1 << 20).decode('latin-1')
            except OSError:
                continue
            found += [v for v in data.split(chr(0)) if v.startswith({_SECRET_NAME!r})]
        sys.stderr.write('FOUND %r\\n' % found)
        assert found, 'no secret found'
        """
    )


def test_the_scorers_environment_stays_secret(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _isolation(backend, "protected_scorer", "private_proc")
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv(_SECRET_NAME, secret)
    results = _run({"hunt": _secret_hunter() + GOOD}, backend)
    _assert_all_fail(results)
    assert "FOUND []" in results["hunt"].stderr and secret not in results["hunt"].stderr


def test_score_details_stderr_carries_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's report: the planted secret came back in ``score_details()['stderr']``."""
    isolation = sandbox_isolation()
    if not (isolation.private_proc and (isolation.pid_namespace or isolation.uid_drop)):
        pytest.skip(f"no private /proc here: {isolation.describe()}")
    secret = "s3cr3t-" + os.urandom(8).hex()
    monkeypatch.setenv(_SECRET_NAME, secret)
    response = "[BEGIN]\n" + UNGUARD + _secret_hunter() + GOOD + "[DONE]"
    details = score_details("mbpp", response, ["assert add(1, 2) == 3"])
    assert details is not None and details["acc"] == 0.0
    assert "FOUND []" in details["stderr"] and secret not in details["stderr"]


def test_home_and_other_host_files_are_not_readable(backend: str, tmp_path: Path) -> None:
    _isolation(backend, "protected_files")
    secret_file = tmp_path / "readable" / "secret.txt"
    secret_file.parent.mkdir()
    secret_file.write_text("top secret")
    secret_file.chmod(0o644)
    home = os.path.realpath(os.path.expanduser("~"))
    listing = (
        f"try:\n    sys.stderr.write('HOME %r\\n' % sorted(posix.listdir({home!r})))\nexcept OSError:\n    pass\n"
        f"fd = posix.open({str(secret_file)!r}, posix.O_RDONLY)\nsys.stderr.write(posix.read(fd, 99).decode())\n"
    )
    results = _run({"read": listing + GOOD}, backend)
    _assert_all_fail(results)
    stderr = results["read"].stderr
    assert "top secret" not in stderr
    if "HOME " in stderr:  # listed: only the path down to the interpreter is there
        shown = ast.literal_eval(stderr.split("HOME ", 1)[1].splitlines()[0])
        prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
        allowed = {p[len(home) + 1 :].split("/")[0] for p in prefixes if p.startswith(home + "/")}
        assert set(shown) <= allowed, (shown, allowed)
