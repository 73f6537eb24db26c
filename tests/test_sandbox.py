"""The code sandbox: correct programs pass, hostile ones fail without harming the harness or the machine."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from fusionbench.metrics import ExecResult, Program, run_program, run_programs, score
from fusionbench.metrics import sandbox as sandbox_module
from fusionbench.metrics.sandbox import MARKER_VARIABLE, sandbox_isolation

TIMEOUT = 2.0
MARGIN = 6.0  # process start-up and clean-up on a loaded 2-core machine
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\n"
GOOD = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"


def _run(programs: dict[str, str], tests: str = TESTS, timeout: float = TIMEOUT) -> dict[str, ExecResult]:
    results = run_programs([Program(p, tests) for p in programs.values()], timeout=timeout, workers=2)
    return dict(zip(programs, results, strict=True))


def _assert_all_fail_in_time(results: dict[str, ExecResult], timeout: float = TIMEOUT) -> None:
    for name, result in results.items():
        assert not result.passed, f"{name} passed: {result}"
        assert result.status in ("failed", "timeout"), (name, result)
        assert result.duration < timeout + MARGIN, (name, result.duration)


def _sandbox_processes(scorer: int | None = None) -> list[int]:
    """Live processes started by the sandbox of ``scorer`` (this process by default), by their environment mark."""
    prefix = f"{MARKER_VARIABLE}={scorer or os.getpid()}-".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if any(v.startswith(prefix) for v in (entry / "environ").read_bytes().split(b"\0")):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# ---------------------------------------------------------------- ordinary programs
def test_good_and_wrong_programs_in_order() -> None:
    results = run_programs([Program(GOOD, TESTS), Program(WRONG, TESTS), GOOD + TESTS, WRONG + TESTS], workers=2)
    assert [r.passed for r in results] == [True, False, True, False]
    assert [r.status for r in results] == ["passed", "failed", "passed", "failed"]
    assert all(isinstance(r.duration, float) and r.duration > 0 for r in results)
    assert results[0].returncode == 0 and results[1].returncode != 0
    assert "AssertionError" in results[1].stderr
    assert run_programs([]) == []


def test_normal_programs_may_use_their_temp_dir_and_the_stdlib() -> None:
    programs = {
        "cwd_file": GOOD + "open('out.txt', 'w').write('x')\nassert open('out.txt').read() == 'x'\n",
        "home_and_tmp": GOOD
        + "import os, tempfile\nassert os.getcwd() == os.path.expanduser('~')\n"
        + "with tempfile.NamedTemporaryFile('w') as f:\n    f.write('x')\n"
        + "os.makedirs('a/b')\nimport shutil\nshutil.rmtree('a')\nassert not os.path.exists('a')\n",
        "stdlib": "import collections, functools, heapq, itertools, math, random, re, socket, string, typing\n" + GOOD,
        "prints": GOOD + "print('hello')\nimport sys\nprint('warn', file=sys.stderr)\n",
        "main_guard": GOOD + "if __name__ == '__main__':\n    input()\n",  # not run as __main__
    }
    results = _run(programs)
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(programs, "passed")


def test_syntax_error_and_wrong_answers_fail() -> None:
    results = _run({"syntax": "def add(a, b)\n    return a + b", "exception": "def add(a, b):\n    raise ValueError"})
    _assert_all_fail_in_time(results)
    assert "SyntaxError" in results["syntax"].stderr


# ---------------------------------------------------------------- hostile programs
def test_infinite_loop_and_fork_bombs_are_stopped() -> None:
    programs = {
        "busy_loop": "while True:\n    pass\n",
        "sleep": "import time\ntime.sleep(60)\n",
        "os_fork_bomb": "import os\nwhile True:\n    os.fork()\n",
        "posix_fork": "import posix\nwhile True:\n    posix.fork()\n",
        "multiprocessing_bomb": "import multiprocessing as mp\nwhile True:\n    mp.Process(target=len).start()\n",
        "subprocess_bomb": "import subprocess as sp, sys\nwhile True:\n    sp.Popen([sys.executable, '-c', 'pass'])\n",
        "ctypes_fork": "import ctypes\nctypes.CDLL(None).fork()\n",
        "os_system": "import os\nos.system('sleep 100 &')\n",
        "thread_bomb": "import threading as t, time\nwhile True:\n    t.Thread(target=time.sleep, args=(9,)).start()\n",
        "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    }
    start = time.perf_counter()
    results = _run({name: GOOD + code for name, code in programs.items()})
    _assert_all_fail_in_time(results)
    assert results["busy_loop"].status == "timeout" and results["sleep"].status == "timeout"
    assert time.perf_counter() - start < 3 * (TIMEOUT + MARGIN)
    assert _sandbox_processes() == []  # nothing left running


@pytest.mark.filterwarnings("ignore::fusionbench.metrics.sandbox.SandboxIsolationWarning")
@pytest.mark.parametrize("backend", ["auto", "guard"], ids=["best_isolation", "python_guard_only"])
def test_files_outside_the_sandbox_survive(tmp_path: Path, backend: str) -> None:
    """Plain attempts fail in every backend; with the Python guard alone, each is its PermissionError."""
    sentinel = tmp_path / "keep" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("precious")
    s, d = str(sentinel), str(sentinel.parent)
    programs = {
        "os_remove": f"import os\nos.remove({s!r})",
        "os_unlink": f"import os\nos.unlink({s!r})",
        "pathlib_unlink": f"import pathlib\npathlib.Path({s!r}).unlink()",
        "rmtree": f"import shutil\nshutil.rmtree({d!r})",
        "overwrite": f"open({s!r}, 'w').write('gone')",
        "append": f"open({s!r}, 'a').write('gone')",
        "os_open_trunc": f"import os\nos.open({s!r}, os.O_WRONLY | os.O_TRUNC)",
        "fileio": f"import io\nio.FileIO({s!r}, 'w')",
        "pathlib_write": f"import pathlib\npathlib.Path({s!r}).write_text('gone')",
        "rename": f"import os\nos.rename({s!r}, 'stolen')",
        "move": f"import shutil\nshutil.move({s!r}, 'stolen')",
        "chmod": f"import os\nos.chmod({s!r}, 0)",
        "symlink_escape": f"import os\nos.symlink({s!r}, 'link')\nopen('link', 'w').write('gone')",
        "relative_escape": f"import os\nopen(os.path.relpath({s!r}), 'w').write('gone')",
        "chdir_out": f"import os\nos.chdir({d!r})\nos.remove('sentinel.txt')",
        "os_system_rm": f"import os\nos.system('rm -rf {d}')",
        "subprocess_rm": f"import subprocess\nsubprocess.run(['rm', '-rf', {d!r}])",
        "truncate": f"import os\nos.truncate({s!r}, 0)",
    }
    jobs = [Program(code + "\n" + GOOD, TESTS) for code in programs.values()]
    weak = backend == "guard"  # the Python guard alone is weak isolation: it runs only when asked for
    results = run_programs(jobs, timeout=TIMEOUT, workers=2, backend=backend, allow_weak=weak)  # type: ignore[arg-type]
    results = dict(zip(programs, results, strict=True))
    _assert_all_fail_in_time(results)
    if backend == "guard":  # the file is visible, so only the guard stands in the way
        assert all("PermissionError" in r.stderr for r in results.values()), {
            n: r.stderr[-200:] for n, r in results.items() if "PermissionError" not in r.stderr
        }
    assert sentinel.read_text() == "precious"
    assert sorted(p.name for p in sentinel.parent.iterdir()) == ["sentinel.txt"]


class _Listener:
    """TCP servers on 127.0.0.1 and on each non-loopback IPv4 address of the host, counting connections."""

    def __init__(self) -> None:
        others = {
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        }
        hosts = ["127.0.0.1", *sorted(others)]
        self.servers = [socket.create_server((host, 0)) for host in hosts]
        self.addresses = [server.getsockname()[:2] for server in self.servers]
        self.accepted = 0
        self._threads = [threading.Thread(target=self._serve, args=(s,), daemon=True) for s in self.servers]
        for thread in self._threads:
            thread.start()

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        for server in self.servers:
            server.close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    try:
        yield server
    finally:
        server.close()


def _wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# Each program passes only if it reached the listener (then it sends a byte and runs correct code).
_CONNECT = {
    "socket": "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "s.settimeout(1)\ns.connect({addr!r})",
    "raw_socket": "import _socket\ns = _socket.socket()\ns.settimeout(1)\ns.connect({addr!r})",
    "create_connection": "import socket\ns = socket.create_connection({addr!r}, timeout=1)",
    "urllib": "import urllib.request\nurllib.request.urlopen('http://%s:%d/' % {addr!r}, timeout=1)",
}
# Walks around the Python guard to the C socket type: only a network namespace stops it.
_CONNECT_MRO = {
    "mro_walk": "import socket\ns = socket.socket.__mro__[-2](socket.AF_INET, socket.SOCK_STREAM)\n"
    "s.settimeout(1)\ns.connect({addr!r})\ns.sendall(b'x')",
}


def _network_programs(listener: _Listener, cases: dict[str, str]) -> dict[str, str]:
    return {
        f"{name}@{addr[0]}": code.format(addr=addr) + "\n" + GOOD
        for name, code in cases.items()
        for addr in listener.addresses
    }


def _assert_listener_reachable_unsandboxed(listener: _Listener) -> None:
    before = listener.accepted
    for addr in listener.addresses:
        socket.create_connection(addr, timeout=2).close()
    assert _wait_for(lambda: listener.accepted == before + len(listener.addresses)), "the control connection failed"


def test_network_namespace_blocks_a_real_listener(listener: _Listener) -> None:
    isolation = sandbox_isolation()
    if not isolation.network_namespace:
        pytest.skip(f"no network namespace on this machine: {isolation.describe()}")
    _assert_listener_reachable_unsandboxed(listener)
    before = listener.accepted
    programs = _network_programs(listener, {**_CONNECT, **_CONNECT_MRO})
    results = _run(programs)
    _assert_all_fail_in_time(results)
    time.sleep(0.2)
    assert listener.accepted == before
    _assert_listener_reachable_unsandboxed(listener)  # still listening: nothing was in the way


@pytest.mark.filterwarnings("ignore::fusionbench.metrics.sandbox.SandboxIsolationWarning")
@pytest.mark.parametrize("backend", ["auto", "guard"], ids=["best_isolation", "python_guard_only"])
def test_python_guard_blocks_sockets_in_the_hosts_network(listener: _Listener, backend: str) -> None:
    """In the host's network namespace (``isolate_network=False``) the guard alone stops plain socket use."""
    _assert_listener_reachable_unsandboxed(listener)
    before = listener.accepted
    programs = _network_programs(listener, _CONNECT)
    jobs = [Program(code, TESTS) for code in programs.values()]
    results = run_programs(
        jobs, timeout=TIMEOUT, workers=2, isolate_network=False, backend=backend, allow_weak=backend == "guard"
    )  # type: ignore[arg-type]
    _assert_all_fail_in_time(dict(zip(programs, results, strict=True)))
    assert all("PermissionError" in r.stderr for r in results), [r.stderr[-300:] for r in results]
    time.sleep(0.2)
    assert listener.accepted == before


def test_memory_hogs_fail() -> None:
    programs = {
        "10GB_at_once": "x = bytearray(10 * 1024**3)",
        "10GB_list": "x = [0] * (10 * 1024**3 // 8)",
        "gradual": "blocks = []\nwhile True:\n    blocks.append(bytearray(10**8))",
        "huge_output": "while True:\n    print('x' * 100000)",
    }
    results = _run({name: code + "\n" + GOOD for name, code in programs.items()})
    _assert_all_fail_in_time(results)
    assert "MemoryError" in results["10GB_at_once"].stderr


def test_early_exit_and_patched_checks_cannot_fake_a_pass() -> None:
    programs = {
        "sys_exit_0": WRONG + "import sys\nsys.exit(0)\n",
        "raise_systemexit": WRONG + "raise SystemExit(0)\n",
        "exit_builtin": WRONG + "exit()\n",
        "os_exit_0": WRONG + "import os\nos._exit(0)\n",
        "atexit_exit_0": WRONG + "import atexit, os\natexit.register(lambda: os._exit(0))\n",
        "patch_assertion_error": WRONG + "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n",
        "shadow_assertion_error": WRONG + "AssertionError = None\n",
        "patch_exec": WRONG + "import builtins\nbuiltins.exec = lambda *a, **k: None\n",
        "patch_compile": WRONG + "import builtins\nbuiltins.compile = lambda *a, **k: compile('pass', 'x', 'exec')\n",
        "clear_builtins": WRONG + "import builtins\nbuiltins.__dict__.clear()\n",
        "excepthook": WRONG + "import sys\nsys.excepthook = lambda *a: None\n",
        "settrace_skip": WRONG + "import sys\ndef t(frame, event, arg):\n    return None\nsys.settrace(t)\n",
        "patch_os_write": WRONG + "import os\nos.write = lambda fd, data: len(data)\n",
        "stdout_swap": WRONG + "import sys, io\nsys.stdout = io.StringIO()\n",
    }
    _assert_all_fail_in_time(_run(programs))


def test_fake_pass_outputs_fail() -> None:
    """What a pass printed before the judge decided (a token on stdout) is printed, and means nothing."""
    programs = {
        "print_passed": "print('passed')\nprint('PASS')\nimport os\nos._exit(0)",
        "random_hex": "import os, secrets\nprint()\nprint(secrets.token_hex(16))\nos._exit(0)",
        "read_stdin": "import os, sys\nsys.stdout.write(sys.stdin.read())\nsys.stdout.flush()\nos._exit(0)",
        "read_fd0": "import os\nos.write(1, open('/proc/self/fd/0', 'rb').read())\nos._exit(0)",
        "environment": "import os\nprint(os.environ)\nos._exit(0)",
    }
    _assert_all_fail_in_time(_run({name: WRONG + code for name, code in programs.items()}))


def test_spawn_failure_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_popen(*args: object, **kwargs: object) -> None:
        raise OSError("no processes left")

    monkeypatch.setattr(sandbox_module.subprocess, "Popen", broken_popen)
    result = run_program(Program(GOOD, TESTS))
    assert result.status == "error" and not result.passed and "no processes left" in result.stderr


def test_code_task_score_uses_the_sandbox() -> None:
    response = "[BEGIN]\nimport os\nos._exit(0)\n[DONE]"
    assert score("mbpp", response, ["assert add(1, 2) == 3"]) == 0.0
    assert score("mbpp", f"[BEGIN]\n{GOOD}[DONE]", ["assert add(1, 2) == 3"]) == 1.0
