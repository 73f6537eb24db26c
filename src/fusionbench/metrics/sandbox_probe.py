"""The probe that decides whether a sandbox backend gives the isolation it claims, by checking it from inside.

A full backend (bwrap, unshare) is used only after one run of :data:`_CHECKS` in it passed: the checks run
in the judge process (no Python guard there, so only the operating system stands in their way) and try
what a hostile program would: whether it is root, shares a namespace with the scorer, can gain privileges,
sees the host's ``/proc``, can write to ``/``, ``/usr``, ``/etc`` or the interpreter (read-only file system,
not mere permissions: ``EROFS``), can write its ``/tmp``, and can see a file the scorer just made in the
host's temporary folder (another program's scratch folder), the Hugging Face token files, or the scorer's
home folder beyond the path to the interpreter. The guard backend is only checked to run at all.
"""

from __future__ import annotations

import os
import tempfile

from fusionbench.metrics.sandbox_isolation import SandboxIsolation, _interpreter_paths, secret_paths

_CHECKS = """
import errno, os
host = {host!r}
bad = []
if os.getuid() == 0 or os.geteuid() == 0:
    bad.append("runs as root")
for ns in ("pid", "net", "ipc", "uts", "mnt"):
    if os.readlink("/proc/self/ns/" + ns) == host["ns"].get(ns):
        bad.append("shares the scorer's %s namespace" % ns)
if os.readlink("/proc/self") != str(os.getpid()):
    bad.append("sees the host's /proc")
with open("/proc/self/status") as status:
    if "NoNewPrivs:\\t1" not in status.read():
        bad.append("can gain new privileges")
for folder in ["/", "/usr", "/etc", *host["prefixes"]]:
    path = os.path.join(folder, ".fusionbench-probe-%d" % os.getpid())
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        os.unlink(path)
        bad.append(folder + " is writable")
    except OSError as exc:
        if exc.errno != errno.EROFS:
            bad.append("%s is not on a read-only file system (%s)" % (folder, exc.strerror))
with open("/tmp/probe", "w") as file:
    file.write("x")
for path in host["absent"]:
    if os.path.lexists(path):
        bad.append(path + " is visible")
if bad:
    raise AssertionError("not isolated: " + "; ".join(bad))
"""


def _host_facts(marker: str) -> dict:
    """What the checks compare with: the scorer's namespaces, and host paths that must be absent."""
    ns = {}
    for name in ("pid", "net", "ipc", "uts", "mnt"):
        try:
            ns[name] = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            continue
    prefixes = _interpreter_paths()
    absent = [marker, *(p for p in secret_paths() if os.path.exists(p))]
    home = os.path.realpath(os.path.expanduser("~"))
    try:
        entries = sorted(os.listdir(home))[:20]
    except OSError:
        entries = []
    for entry in entries:  # the home folder's entries that do not lead to the interpreter
        path = os.path.join(home, entry)
        if not any(p == path or p.startswith(path + "/") for p in prefixes):
            absent.append(path)
    return {"ns": ns, "prefixes": prefixes, "absent": absent}


def try_isolation(isolation: SandboxIsolation) -> tuple[bool, str]:
    """Run the probe in ``isolation``: (it holds, why not)."""
    from fusionbench.metrics.sandbox import Program, run_isolated

    with tempfile.NamedTemporaryFile(prefix="fusionbench-sandbox-probe-") as marker:
        if isolation.backend == "guard":
            tests = (
                "import colorsys, os, sys\nopen('probe', 'w').write('x')\n"
                "bad = [p for p in sys.path if os.path.isdir(p) and not os.access(p, os.R_OK | os.X_OK)]\n"
                "assert not bad, 'uid %d cannot read the interpreter: %s' % (os.getuid(), ' '.join(bad))\n"
            )
        else:
            tests = _CHECKS.format(host=_host_facts(marker.name))
        result = run_isolated([Program("import sys", tests)], isolation, timeout=20.0)[0]
    if result.passed:
        return True, ""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return False, (lines[-1] if lines else f"{result.status}, exit status {result.returncode}")[:500]
