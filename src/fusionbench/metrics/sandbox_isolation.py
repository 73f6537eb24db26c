"""Operating-system isolation for the code sandbox: which backend this machine allows, and how to launch it.

Two backends give the full isolation, verified by a probe (:mod:`~fusionbench.metrics.sandbox_probe`) before
first use: own PID, network, IPC, UTS and mount namespaces; a read-only view of ``/usr``, ``/etc``, ``/lib*``
and the interpreter's prefixes in which a private, size-limited tmpfs ``/tmp`` is the only writable place and
the rest of the host (home folders, ``$HF_HOME``, the host's ``/tmp`` with other programs' scratch folders,
the scorer's ``/proc``) is absent; a fresh ``/proc``; no new privileges; a non-root uid (65534 when the scorer
is root, else the scorer's own); death with the scorer.

* ``bwrap`` (bubblewrap), as root or as a user where unprivileged user namespaces are allowed.
* ``unshare`` (util-linux), as root only: ``unshare`` makes the namespaces, then the child builds the view
  itself (:mod:`~fusionbench.metrics.sandbox_view`), supervises the program as the namespace's init and
  drops to uid 65534.
* ``guard`` is *weak*: no namespaces, no view; rlimits and the in-process Python guard only, which
  deliberately hostile code can bypass.

A backend that is not full is refused (:class:`SandboxUnavailableError`, naming what is missing and how to
get it) unless the caller opts in: ``allow_weak=True``, ``fusionbench --sandbox weak``, or the environment
variable :data:`WEAK_SANDBOX_VARIABLE` set to ``1``.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

Backend = Literal["bwrap", "unshare", "guard"]
BACKENDS: tuple[Backend, ...] = ("bwrap", "unshare", "guard")

#: The uid and gid a root scorer's programs run as.
NOBODY = 65534
#: The writable folder (a private tmpfs) inside the view; also the program's cwd, HOME and TMPDIR.
BWRAP_WORKDIR = "/tmp"
#: Size of that tmpfs, in bytes.
BWRAP_TMPFS_BYTES = 64 * 1024 * 1024
#: Seconds the in-sandbox supervisor waits beyond the scorer's timeout before it kills the program.
SUPERVISOR_GRACE = 2.0
#: Set to ``1`` to let model-written code run where the full isolation is not available (weak isolation).
WEAK_SANDBOX_VARIABLE = "FUSIONBENCH_ALLOW_WEAK_SANDBOX"
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


class SandboxIsolationWarning(RuntimeWarning):
    """The code sandbox runs with fewer operating-system protections than it was built for (weak, opted in)."""


class SandboxUnavailableError(RuntimeError):
    """The full isolation is not available here and weak isolation was not allowed: no model code was run."""


class SandboxUnscoredWarning(UserWarning):
    """Code responses were left unscored (null) because the sandbox refused to run them."""


@dataclass(frozen=True)
class SandboxIsolation:
    """The protections the code sandbox has on this machine (see :func:`sandbox_isolation`).

    ``program_uid`` is the uid programs run as; ``notes`` say why a better backend was not available.
    """

    backend: Backend
    pid_namespace: bool
    network_namespace: bool
    ipc_uts_namespaces: bool
    private_proc: bool
    readonly_filesystem: bool
    uid_drop: bool
    program_uid: int
    no_new_privileges: bool
    dies_with_scorer: bool
    wall_clock_supervisor: bool
    notes: tuple[str, ...] = ()

    def _layers(self) -> dict[str, bool]:
        return {
            "own PID namespace (cannot see or signal the scorer; whole process tree killed at the end)": (
                self.pid_namespace
            ),
            "own network namespace (no network at all)": self.network_namespace,
            "own IPC and UTS namespaces": self.ipc_uts_namespaces,
            "private /proc (no /proc/<scorer pid>)": self.private_proc,
            "read-only filesystem view (only a private /tmp writable; home folders, $HF_HOME and the host's "
            "/tmp absent)": self.readonly_filesystem,
            "non-root uid (RLIMIT_NPROC holds; root processes cannot be signalled)": self.program_uid != 0,
            "no new privileges (no setuid escalation)": self.no_new_privileges,
            "killed without the scorer's help ("
            + ("dies with the scorer" if self.dies_with_scorer else "own wall-clock supervisor")
            + ")": self.dies_with_scorer or self.wall_clock_supervisor,
        }

    @property
    def protections(self) -> tuple[str, ...]:
        """The layers in place, the rlimits and the Python guard included."""
        return (*(name for name, on in self._layers().items() if on), "rlimits", "Python guard (second layer)")

    @property
    def missing(self) -> tuple[str, ...]:
        """The operating-system layers not in place; empty means full isolation."""
        return tuple(name for name, on in self._layers().items() if not on)

    @property
    def complete(self) -> bool:
        """Whether every layer is in place (model code runs without an opt-in only then)."""
        return not self.missing

    def describe(self) -> str:
        """One paragraph: backend, what protects the scorer now, what is missing and why."""
        text = (
            f"code sandbox backend {self.backend!r}, programs run as uid {self.program_uid}. "
            f"Protections: {'; '.join(self.protections)}."
        )
        if self.missing:
            text += f" MISSING: {'; '.join(self.missing)}."
        if self.notes:
            text += f" Why: {' | '.join(self.notes)}."
        return text


_lock = threading.Lock()
_cache: dict[str, SandboxIsolation] = {}
_warned: set[SandboxIsolation] = set()


def sandbox_isolation(backend: Backend | Literal["auto"] = "auto", *, refresh: bool = False) -> SandboxIsolation:
    """The isolation ``backend`` gives here (``auto``: the first full one, else the weak guard), probed once.

    ``refresh=True`` probes again (after installing bubblewrap, say) and re-arms the warning.
    Raises ``RuntimeError`` when an explicitly named backend does not work here.
    """
    if backend != "auto" and backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}; expected 'auto' or one of {', '.join(BACKENDS)}")
    with _lock:
        if refresh:
            _cache.clear()
            _warned.clear()
        if backend not in _cache:
            _cache[backend] = _probe_auto() if backend == "auto" else _probe_named(backend)
        return _cache[backend]


def weak_allowed(allow_weak: bool | None = None) -> bool:
    """``allow_weak`` if given, else whether :data:`WEAK_SANDBOX_VARIABLE` is set to ``1``."""
    if allow_weak is not None:
        return allow_weak
    return os.environ.get(WEAK_SANDBOX_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def how_to_fix() -> str:
    """What to install or allow for the full isolation here."""
    if shutil.which("bwrap") is None:
        return "install bubblewrap (apt-get install bubblewrap)" + (
            "" if os.geteuid() == 0 else ", or score as root with util-linux unshare"
        )
    return (
        "bubblewrap is installed but cannot start: allow unprivileged user namespaces (sysctl "
        "user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns) or score as root"
    )


def require_isolation(isolation: SandboxIsolation, allow_weak: bool | None = None, stacklevel: int = 3) -> None:
    """Raise :class:`SandboxUnavailableError` unless ``isolation`` is full or weak isolation is allowed
    (then warn once, naming what is missing)."""
    if isolation.complete:
        return
    if not weak_allowed(allow_weak):
        raise SandboxUnavailableError(
            "refusing to run model-written code: the code sandbox lacks "
            + "; ".join(isolation.missing)
            + f" (best backend here: {isolation.backend!r}"
            + (f"; {' | '.join(isolation.notes)}" if isolation.notes else "")
            + f"). To get it, {how_to_fix()}. To run it anyway with weak isolation (rlimits and a Python guard "
            f"that hostile code can bypass), pass --sandbox weak or set {WEAK_SANDBOX_VARIABLE}=1."
        )
    warn_if_degraded(isolation, stacklevel=stacklevel + 1)


def warn_if_degraded(isolation: SandboxIsolation, stacklevel: int = 3) -> None:
    """Warn once per process and isolation level when a layer is missing, naming what remains."""
    if isolation.complete:
        return
    with _lock:
        if isolation in _warned:
            return
        _warned.add(isolation)
    warnings.warn(
        "fusionbench: model-written programs run with WEAK operating-system isolation (opted in): "
        + isolation.describe()
        + f" For full isolation, {how_to_fix()}.",
        SandboxIsolationWarning,
        stacklevel=stacklevel,
    )


def _probe_named(backend: Backend) -> SandboxIsolation:
    isolation, reason = _probe(backend, ())
    if isolation is None:
        raise RuntimeError(f"the {backend!r} sandbox backend does not work here: {reason}")
    return isolation


def _probe_auto() -> SandboxIsolation:
    notes: tuple[str, ...] = ()
    for backend in BACKENDS:
        isolation, reason = _probe(backend, notes)
        if isolation is not None:
            return isolation
        notes = (*notes, reason)
    raise RuntimeError("no code sandbox backend works here: " + " | ".join(notes))


def _probe(backend: Backend, notes: tuple[str, ...]) -> tuple[SandboxIsolation | None, str]:
    """(the isolation ``backend`` gives, "") or (None, why it cannot start); ``notes`` say why better ones failed."""
    from fusionbench.metrics.sandbox_probe import try_isolation

    tools = {name: shutil.which(name) for name in ("bwrap", "unshare", "setpriv", "timeout")}
    root = os.geteuid() == 0
    if backend != "guard" and sys.platform != "linux":
        return None, f"{backend}: Linux only"
    if backend != "guard" and tools[backend] is None:
        return None, f"{backend}: not found on PATH"
    if backend == "unshare" and not (root and tools["setpriv"] and platform.machine() in _PIVOT_ROOT):
        return None, "unshare: builds its read-only view only as root, with util-linux setpriv (Linux x86_64/arm64)"
    reason = f"{backend}: did not start"
    for uid_drop in (True, False) if root else (False,):
        isolation = _isolation(backend, tools, uid_drop=uid_drop, notes=notes)
        ok, detail = try_isolation(isolation)
        if ok:
            return isolation, ""
        if uid_drop and backend == "guard":
            notes = (*notes, f"{backend}: cannot drop to uid {NOBODY} ({detail})")
        else:
            reason = f"{backend}: {detail}"
        if backend != "guard":  # the full backends always drop as root (the view makes the interpreter readable)
            break
    return None, reason


def _isolation(
    backend: Backend, tools: dict[str, str | None], uid_drop: bool, notes: tuple[str, ...]
) -> SandboxIsolation:
    full = backend != "guard"
    setpriv = tools["setpriv"] is not None
    return SandboxIsolation(
        backend=backend,
        pid_namespace=full,
        network_namespace=full,
        ipc_uts_namespaces=full,
        private_proc=full,
        readonly_filesystem=full,
        uid_drop=uid_drop,
        program_uid=NOBODY if uid_drop else os.geteuid(),
        no_new_privileges=full or setpriv,
        dies_with_scorer=full,
        wall_clock_supervisor=backend == "unshare" or (backend == "guard" and tools["timeout"] is not None),
        notes=notes,
    )


def prepare_workdir(isolation: SandboxIsolation, base: str | None) -> str:
    """The program's work folder: ``/tmp`` inside the view, or (guard) a new folder in ``base``."""
    if isolation.backend != "guard":
        return BWRAP_WORKDIR
    if base is None:
        raise ValueError(f"the {isolation.backend!r} backend needs a host folder for the program")
    workdir = os.path.join(base, "work")
    os.mkdir(workdir, 0o700)
    if isolation.uid_drop:
        os.chmod(base, 0o711)
        os.chown(workdir, isolation.program_uid, isolation.program_uid)
    return workdir


def launch_prefix(isolation: SandboxIsolation, timeout: float, network: bool) -> list[str]:
    """The command before ``python ...``: the backend's launcher, then (guard) the wall-clock supervisor."""
    setpriv = shutil.which("setpriv") or "setpriv"
    if isolation.backend == "bwrap":
        return _bwrap_prefix(isolation, network)
    if isolation.backend == "unshare":
        flags = ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--ipc", "--uts"]
        flags += ["--net"] if network else []
        return [setpriv, "--pdeathsig", "KILL", "--", shutil.which("unshare") or "unshare", *flags, "--"]
    timeout_bin = shutil.which("timeout")
    supervisor = [timeout_bin, "-s", "KILL", f"{timeout + SUPERVISOR_GRACE:.1f}"] if timeout_bin else []
    return [*([setpriv, "--no-new-privs", "--"] if isolation.no_new_privileges else []), *supervisor]


_TOPS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def view_spec(base: str, timeout: float) -> dict:
    """What :mod:`~fusionbench.metrics.sandbox_view` builds on ``base`` (an empty folder) for the unshare backend."""
    binds: list[tuple[str, str, str]] = [("dir", "/usr", ""), ("dir", "/etc", "")]
    for top in _TOPS:
        if os.path.islink(top):
            binds.append(("symlink", top, os.readlink(top)))
        elif os.path.isdir(top):
            binds.append(("dir", top, ""))
    binds += [("device", f"/dev/{name}", "") for name in ("null", "zero", "urandom")]
    binds += [("tmpfs", BWRAP_WORKDIR, f"mode=1777,size={BWRAP_TMPFS_BYTES}"), ("proc", "/proc", "")]
    # The interpreter last, so that one living under /tmp is bound onto the private tmpfs, not hidden by it; a
    # prefix is left out only where a bound host folder already shows it (never for the tmpfs or /proc).
    tops = [path for kind, path, _ in binds if kind in ("dir", "symlink")]
    binds += [("dir", path, "") for path in _interpreter_paths() if not _under(path, tops)]
    return {
        "root": base,
        "binds": binds,
        "masks": _secret_files([path for kind, path, _ in binds if kind == "dir"]),
        "pivot_root": _PIVOT_ROOT.get(platform.machine(), -1),
        "workdir": BWRAP_WORKDIR,
        "wall_clock": timeout + SUPERVISOR_GRACE,
    }


def secret_paths() -> list[str]:
    """Where the Hugging Face token may be stored (it must never be readable by a program)."""
    home = os.path.expanduser("~")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    paths = [os.path.join(os.environ.get("HF_HOME") or os.path.join(cache, "huggingface"), "token")]
    paths += [os.path.join(cache, "huggingface", "token")]
    if os.environ.get("HF_TOKEN_PATH"):
        paths.append(os.environ["HF_TOKEN_PATH"])
    return list(dict.fromkeys(os.path.abspath(p) for p in paths))


def _secret_files(bound: list[str]) -> list[str]:
    """The token files that exist inside a bound folder, as seen there (they are masked there)."""
    found = [q for p in secret_paths() if os.path.isfile(p) for q in (p, os.path.realpath(p)) if _under(q, bound)]
    return list(dict.fromkeys(found))


def _bwrap_prefix(isolation: SandboxIsolation, network: bool) -> list[str]:
    """bwrap's options: the namespaces, then the view, built in order (a later mount hides what is under it)."""
    args = [shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if network:
        args.append("--unshare-net")
    args += ["--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--ro-bind", "/etc", "/etc", "--proc", "/proc"]
    # Only the devices Python may need: each mount costs the sandbox start a fraction of a millisecond.
    args += ["--perms", "0755", "--dir", "/dev"]
    args += ["--dev-bind", "/dev/null", "/dev/null", "--dev-bind", "/dev/urandom", "/dev/urandom"]
    args += ["--perms", "1777", "--size", str(BWRAP_TMPFS_BYTES), "--tmpfs", BWRAP_WORKDIR]
    # The interpreter last, so that one living under /tmp is bound onto the tmpfs, not hidden by it.
    bound = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev"]
    made = {BWRAP_WORKDIR}
    for path in _interpreter_paths():
        if not _under(path, bound):
            args += _parent_dirs(path, bound, made)
            args += ["--ro-bind", path, path]
            bound.append(path)
    for secret in _secret_files(bound):
        args += ["--ro-bind", "/dev/null", secret]
    args += ["--chdir", BWRAP_WORKDIR, "--remount-ro", "/", "--cap-drop", "ALL"]
    if isolation.uid_drop:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for the harness's drop, then gone
    return [*args, "--"]


def _interpreter_paths() -> list[str]:
    """The interpreter's prefixes (as named and resolved), outermost first, nested ones dropped."""
    exe_prefix = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, exe_prefix}
    paths |= {os.path.realpath(p) for p in paths}
    kept: list[str] = []
    for path in sorted(p.rstrip("/") or "/" for p in paths if os.path.isdir(p)):
        if path != "/" and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def _under(path: str, tops: list[str]) -> bool:
    return any(path == top or path.startswith(top + "/") for top in tops)


def _parent_dirs(path: str, bound: list[str], made: set[str]) -> list[str]:
    """``--dir`` with mode 0755 for each missing parent of ``path`` (bwrap would make them 0700)."""
    args = []
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        parent = "/" + "/".join(parts[:i])
        if parent not in made and not _under(parent, bound):
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args
