"""Waiting for a sandboxed program and ending its whole process tree, without signalling a reused pid.

The launcher (``bwrap``, ``unshare`` or ``timeout``) is the scorer's child. With a PID namespace the
namespace's init is the launcher's child: killing it makes the kernel kill every process of the
namespace, and its exit completes only once they are all gone. Without one, the program's process
group is killed and any process still marked with the run's environment variable (a ``setsid``
escapee) is found in ``/proc`` and killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time

#: How long to wait for a launcher or a namespace's init to follow a kill, in milliseconds.
_FOLLOW_MS = 5000


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(child) for child in file.read().split()]
    except (OSError, ValueError):
        return []


def kill_children(pid: int) -> bool:
    """SIGKILL the launcher's children: a namespace's init (the namespace goes with it) or the harness.

    Each child is pinned with a pidfd and then confirmed to still be the launcher's child, so a
    reused pid is never signalled. Returns whether any child was signalled.
    """
    killed = False
    for child in children(pid):
        try:
            pidfd = os.pidfd_open(child)
        except (AttributeError, OSError):
            continue
        try:
            if child in children(pid):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                killed = True
        except OSError:
            pass
        finally:
            os.close(pidfd)
    return killed


def open_init(launcher: int, info_fd: int) -> int | None:
    """A pidfd for the namespace's init that bwrap names on its ``--info-fd`` (read end ``info_fd``), or None.

    Only waited on, never signalled; it is opened only while the init is still the launcher's child.
    """
    data = b""
    poller = select.poll()
    poller.register(info_fd, select.POLLIN)
    while poller.poll(10_000):
        chunk = os.read(info_fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            pid = int(json.loads(data)["child-pid"])
        except (ValueError, KeyError, TypeError):
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        if pid in children(launcher):
            return pidfd
        os.close(pidfd)
        return None
    return None


def _poll(pidfd: int, ms: float) -> bool:
    poller = select.poll()  # not select.select: a pidfd may be above FD_SETSIZE
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(ms))


def wait_and_kill(proc: subprocess.Popen, timeout: float, init_pidfd: int | None = None) -> tuple[int, bool]:
    """Wait for the launcher; on time-out kill what it runs; then kill its process group and reap it.

    Returns (returncode, timed_out). With a pidfd the group is killed while the launcher is still
    unreaped, so its pid (the group id) cannot have been reused by then. ``init_pidfd`` (closed here)
    is bwrap's namespace init, which can outlive the launcher: it is waited for, since its exit
    completes only once the kernel has ended every process of the namespace (measured: no cost).
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        if pidfd is None:
            try:
                return proc.wait(timeout=timeout), False
            except subprocess.TimeoutExpired:
                kill_children(proc.pid)
                kill_group(proc.pid)
                return proc.wait(), True
        exited = _poll(pidfd, timeout * 1000)
        if not exited and kill_children(proc.pid):
            _poll(pidfd, _FOLLOW_MS)  # the launcher follows its child; the group kill below covers the rest
        if init_pidfd is not None:
            _poll(init_pidfd, _FOLLOW_MS)
        kill_group(proc.pid)
        return proc.wait(), not exited
    finally:
        for fd in (pidfd, init_pidfd):
            if fd is not None:
                os.close(fd)


def reap_marked(tag: bytes) -> int:
    """SIGKILL every process whose environment holds ``tag`` (``NAME=value``); returns how many."""
    killed = 0
    for _ in range(20):  # a forking program can add processes while we scan
        found = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                pidfd = os.pidfd_open(int(entry.name))
            except OSError:
                continue
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as file:
                    if tag in file.read().split(b"\0"):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                        found += 1
            except OSError:
                pass
            finally:
                os.close(pidfd)
        killed += found
        if not found:
            break
        time.sleep(0.01)
    return killed


def signal_of(returncode: int) -> int:
    """The signal that ended the program: a negative status from Popen, 128 + n from the launchers."""
    if returncode < 0:
        return -returncode
    return returncode - 128 if 128 < returncode < 128 + 65 else 0
