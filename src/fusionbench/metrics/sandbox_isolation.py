"""Operating-system isolation for the code sandbox: which layers this machine allows, and the command to launch one.

Three backends, best first (``auto`` takes the first that works here, probed once per process):

* ``bwrap`` (bubblewrap): own PID, network, IPC, UTS (and cgroup) namespaces; a filesystem view of
  read-only ``/usr``, ``/etc`` and the interpreter's prefixes on an otherwise empty, read-only root,
  with a private, size-limited tmpfs ``/tmp`` as the only writable place; its own ``/proc``; no new
  privileges; killed with the scorer (``--die-with-parent``).
* ``unshare`` (util-linux): the same namespaces and a private ``/proc``, but the host filesystem as is.
* ``guard``: no namespaces; the Python guard and rlimits only.

When the scorer runs as root, the child harness drops to uid/gid 65534 (``nobody``) after setting its
rlimits and before any program code runs (root is exempt from ``RLIMIT_NPROC``, and a root program
could signal the scorer or read its ``/proc/<pid>/environ``), where the interpreter stays readable
for that uid. A non-root caller's program keeps the caller's uid (inside an unprivileged user
namespace for ``bwrap``/``unshare``). Programs die with the scorer (a parent-death signal on the
launcher; the kernel then ends the whole PID namespace). Without bwrap, a ``timeout -s KILL``
supervisor, started before the uid drop, kills the program on its own clock (under ``unshare`` it is
also the namespace's init, so the program is not pid 1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

Backend = Literal["bwrap", "unshare", "guard"]
BACKENDS: tuple[Backend, ...] = ("bwrap", "unshare", "guard")

#: The uid and gid a root scorer's programs run as.
NOBODY = 65534
#: The writable folder (a private tmpfs) inside the bwrap view; also the program's cwd, HOME and TMPDIR.
BWRAP_WORKDIR = "/tmp"
#: Size of that tmpfs, in bytes.
BWRAP_TMPFS_BYTES = 64 * 1024 * 1024
#: Seconds the in-sandbox supervisor waits beyond the scorer's timeout before it kills the program.
SUPERVISOR_GRACE = 2.0

# Run after the uid drop (if any) by the probe: the interpreter and its site-packages must stay
# readable and the work folder writable.
_PROBE = """
import os, sys
uid = int(sys.argv[1])
dirs = [p for p in sys.path if os.path.isdir(p)]
if uid >= 0:
    os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
import colorsys
bad = [p for p in dirs if not os.access(p, os.R_OK | os.X_OK)]
open('probe', 'w').write('x')
print('ok' if not bad else 'not readable: ' + ' '.join(bad))
"""


class SandboxIsolationWarning(RuntimeWarning):
    """The code sandbox runs with fewer operating-system protections than it was built for."""


@dataclass(frozen=True)
class SandboxIsolation:
    """The protections the code sandbox has on this machine (see :func:`sandbox_isolation`).

    ``program_uid`` is the uid programs run as (``None``: the scorer's own); ``notes`` say why a
    better backend or a layer was not available.
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
            "read-only filesystem view (only a private /tmp writable, the rest of the host absent)": (
                self.readonly_filesystem
            ),
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
    """The isolation ``backend`` gives here (``auto``: the best that works), probed once per process.

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


def warn_if_degraded(isolation: SandboxIsolation, stacklevel: int = 3) -> None:
    """Warn once per process and isolation level when a layer is missing, naming what remains."""
    if not isolation.missing:
        return
    with _lock:
        if isolation in _warned:
            return
        _warned.add(isolation)
    if isolation.backend == "bwrap":
        hint = ""
    elif shutil.which("bwrap") is None:
        hint = " Install bubblewrap (apt-get install bubblewrap) for full isolation."
    else:
        hint = (
            " bubblewrap is installed but cannot start: allow unprivileged user namespaces"
            " (sysctl user.max_user_namespaces, kernel.apparmor_restrict_unprivileged_userns) or score as root."
        )
    warnings.warn(
        "fusionbench: model-written programs run with INCOMPLETE operating-system isolation: "
        + isolation.describe()
        + hint,
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
    tools = {name: shutil.which(name) for name in ("bwrap", "unshare", "setpriv", "timeout")}
    if backend != "guard" and sys.platform != "linux":
        return None, f"{backend}: Linux only"
    if backend != "guard" and tools[backend] is None:
        return None, f"{backend}: not found on PATH"
    reason = f"{backend}: did not start"
    for uid_drop in (True, False) if os.geteuid() == 0 else (False,):
        isolation = _isolation(backend, tools, uid_drop=uid_drop, notes=notes)
        ok, detail = _try(isolation)
        if ok:
            return isolation, ""
        if uid_drop:
            notes = (*notes, f"{backend}: cannot drop to uid {NOBODY} ({detail})")
        else:
            reason = f"{backend}: {detail}"
    return None, reason


def _isolation(
    backend: Backend, tools: dict[str, str | None], uid_drop: bool, notes: tuple[str, ...]
) -> SandboxIsolation:
    namespaces = backend in ("bwrap", "unshare")
    setpriv = tools["setpriv"] is not None
    uid = NOBODY if uid_drop else os.geteuid()
    dies = backend == "bwrap" or (backend == "unshare" and setpriv)
    supervised = tools["timeout"] is not None and backend != "bwrap"  # under unshare also the init: not the program
    return SandboxIsolation(
        backend=backend,
        pid_namespace=namespaces,
        network_namespace=namespaces,
        ipc_uts_namespaces=namespaces,
        private_proc=namespaces,
        readonly_filesystem=backend == "bwrap",
        uid_drop=uid_drop,
        program_uid=uid,
        no_new_privileges=backend == "bwrap" or setpriv,
        dies_with_scorer=dies,
        wall_clock_supervisor=supervised,
        notes=notes,
    )


def _try(isolation: SandboxIsolation) -> tuple[bool, str]:
    """Run the probe program in ``isolation``: (worked, why not)."""
    with tempfile.TemporaryDirectory(prefix="fusionbench-sandbox-probe-") as base:
        workdir = prepare_workdir(isolation, base)
        uid = str(isolation.program_uid if isolation.uid_drop else -1)
        command = [*launch_prefix(isolation, 10.0, network=True), sys.executable, "-I", "-B", "-c", _PROBE, uid]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=workdir if isolation.backend != "bwrap" else "/",
                env={"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir},
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, str(exc)
    out = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode == 0 and out == "ok":
        return True, ""
    lines = (out + "\n" + done.stderr.decode("utf-8", "replace")).strip().splitlines()
    return False, (lines[-1] if lines else f"exit status {done.returncode}")[:300]


def prepare_workdir(isolation: SandboxIsolation, base: str | None) -> str:
    """The program's work folder: ``BWRAP_WORKDIR`` (inside the view) for bwrap, else a new folder in ``base``."""
    if isolation.backend == "bwrap":
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
    """The command before ``python ...``: the backend's launcher, then the wall-clock supervisor (if any)."""
    supervisor = []
    timeout_bin = shutil.which("timeout")
    if isolation.wall_clock_supervisor and timeout_bin:
        supervisor = [timeout_bin, "-s", "KILL", f"{timeout + SUPERVISOR_GRACE:.1f}"]
    setpriv = shutil.which("setpriv") if isolation.no_new_privileges else None
    if isolation.backend == "bwrap":
        return [*_bwrap_prefix(isolation, network), *supervisor]
    if isolation.backend == "unshare":
        spawn = [setpriv, "--pdeathsig", "KILL", "--no-new-privs", "--"] if setpriv else []
        flags = ["--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts"] + (["--net"] if network else [])
        if os.geteuid() != 0:
            flags += ["--user", "--map-current-user"]
        return [*spawn, shutil.which("unshare") or "unshare", *flags, "--", *supervisor]
    return [*([setpriv, "--no-new-privs", "--"] if setpriv else []), *supervisor]


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
