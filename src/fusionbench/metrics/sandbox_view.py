"""The ``unshare`` backend's private view of the host, built inside the program's fresh namespaces.

Compiled with :mod:`fusionbench.metrics.sandbox_child` and run in the sandboxed child, never imported for use
in the scorer. ``unshare --mount --pid --net --ipc --uts --fork`` starts the child as root in new namespaces
(the mount namespace private, so nothing here reaches the host); :func:`_enter_view` then

1. mounts a small tmpfs on the run's empty scratch folder as the new root (mode 0755), creates in it the
   folders the view needs (mode 0755, so a Python in root's home folder is reachable by uid 65534 while the
   real home folder is not there at all) and bind-mounts ``/usr``, ``/etc``, ``/lib*``, ``/bin``, ``/sbin``
   and the interpreter's prefixes at their own paths, each remounted read-only, ``nosuid`` and ``nodev``;
   ``/dev/null``, ``/dev/zero`` and ``/dev/urandom`` alone are bound from ``/dev``;
2. mounts a private, size-limited tmpfs on ``/tmp`` (the program's work folder) and a fresh ``/proc`` of
   the new PID namespace, remounts the new root read-only and ``pivot_root``\\ s into it, detaching the
   host's tree (the host's ``/tmp``, home folders, ``$HF_HOME`` and ``/proc`` are then unreachable);
3. forks: the parent stays root as the PID namespace's init and supervisor (it kills the namespace by
   exiting at the wall-clock limit, and exits with the harness's status); the child sets no-new-privileges
   and returns to the harness, which drops to uid 65534 before any program code runs.

Any failure exits with the set-up status, and the sandbox reports an error instead of running the program.
"""

# ruff: noqa: UP031

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_MNT_DETACH = 2
_PR_SET_NO_NEW_PRIVS = 38


def _enter_view(view, setup_failed):
    import ctypes
    import os
    import signal

    libc = ctypes.CDLL(None, use_errno=True)

    def fail(what):
        errno = ctypes.get_errno()
        os.write(2, ("fusionbench-sandbox: %s: %s\n" % (what, os.strerror(errno))).encode())
        os._exit(setup_failed)

    def mount(source, target, fstype, flags, data=None):
        args = [None if a is None else a.encode() for a in (source, target, fstype, data)]
        if libc.mount(args[0], args[1], args[2], ctypes.c_ulong(flags), args[3]) != 0:
            fail("mount %s on %s" % (source or fstype, target))

    def bind_readonly(path, target, flags):
        mount(path, target, None, _MS_BIND)
        mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags)

    os.umask(0o022)
    root = view["root"]
    mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
    for kind, path, extra in view["binds"]:
        target = root + path
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if kind == "symlink":
            os.symlink(extra, target)
        elif kind == "device":
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
            bind_readonly(path, target, _MS_NOSUID | _MS_NOEXEC)
        else:
            os.makedirs(target, 0o755, exist_ok=True)
            if kind == "tmpfs":
                mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, extra)
            elif kind == "proc":
                mount("proc", target, "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
            else:
                bind_readonly(path, target, _MS_NOSUID | _MS_NODEV)
    for path in view["masks"]:  # secrets inside a bound folder: an empty device in their place
        bind_readonly("/dev/null", root + path, _MS_NOSUID | _MS_NOEXEC)
    mount(None, root, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    os.chdir(root)
    if libc.syscall(view["pivot_root"], b".", b".") != 0:
        fail("pivot_root")
    if libc.umount2(b".", _MNT_DETACH) != 0:
        fail("detach the host's file system")
    os.chdir(view["workdir"])
    pid = os.fork()
    if pid:  # the namespace's init: when it exits, the kernel kills every process in the namespace
        signal.signal(signal.SIGALRM, lambda *_: os._exit(128 + signal.SIGKILL))
        signal.setitimer(signal.ITIMER_REAL, view["wall_clock"])
        while True:
            try:
                done, status = os.waitpid(pid, 0)
            except ChildProcessError:
                os._exit(setup_failed)
            if done == pid:
                os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        fail("set no-new-privileges")
