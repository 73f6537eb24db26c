"""The sandboxed child, compiled once by :mod:`fusionbench.metrics.sandbox` and run in ``python -I -B -S``.

The child's ``-c`` bootstrap reads ``(codes, globals)`` from stdin with marshal and runs
:mod:`~fusionbench.metrics.sandbox_view`, :mod:`~fusionbench.metrics.sandbox_judge` and this module in one
namespace with ``PAYLOAD`` in it. The harness builds the private view (unshare backend), applies the
limits, drops to an unprivileged uid (root scorer), makes itself non-dumpable, puts the scorer's
site-packages on ``sys.path`` and forks: the child is the program process (the guard, then the program and
the setup code, then it serves the judge), the parent is the judge (the tests), whose exit status is the
verdict: 0 passed, 1 failed, 128+n when the program process was killed by signal n (a CPU limit, say).
It is kept as a real module so that it is read, linted and formatted like the rest of the code; it is
imported only for ``SETUP_FAILED``. Plain try/except and %-formatting are deliberate: after the guard
the program process must not reach for helpers (contextlib, str methods of rebindable modules) that the
program could have replaced.
"""

# ruff: noqa: SIM105, UP031, RUF059

#: Exit status of a child whose set-up (not the program) failed; the sandbox reports it as 'error'.
SETUP_FAILED = 86


def _harness(payload):
    import gc
    import os
    import resource
    import sys
    import time

    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    if payload["view"] is not None:
        _enter_view(payload["view"], SETUP_FAILED)  # noqa: F821 - from sandbox_view.py, run before this
    for name, value in payload["limits"].items():
        which = getattr(resource, name)
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    uid = payload["uid"]
    if uid is not None:  # started as root: become an unprivileged user before any program code runs
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        except OSError as exc:
            os.write(2, ("fusionbench-sandbox: could not drop to uid %d: %s\n" % (uid, exc)).encode())
            os._exit(SETUP_FAILED)
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
            os.write(2, b"fusionbench-sandbox: the uid drop did not hold\n")
            os._exit(SETUP_FAILED)
    # The judge must not be dumpable (no ptrace, no /proc/<judge>/mem for a process of the same uid). A uid
    # drop from root already made it so (fs.suid_dumpable 0 or 2), which shows as /proc/self owned by root;
    # otherwise say so with prctl (ctypes costs a child ~5 ms to import, so only then). A root program (weak
    # isolation as root) could trace anything anyway.
    try:
        dumpable = os.getuid() != 0 and os.stat("/proc/self/environ").st_uid != 0
    except OSError:
        dumpable = True
    if dumpable:
        import ctypes

        if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
            os.write(2, b"fusionbench-sandbox: could not make the judge non-dumpable\n")
            os._exit(SETUP_FAILED)
    for folder in payload["site_packages"]:  # run with -S: no .pth file of the scorer's environment runs here
        if folder not in sys.path:
            sys.path.append(folder)
    requests, replies = os.pipe(), os.pipe()
    gc.freeze()  # neither process's collector then writes to (and copies) the pages they share after the fork
    pid = os.fork()
    if pid == 0:
        os.close(requests[1])
        os.close(replies[0])
        _program_process(payload, requests[0], replies[1])
    os.close(requests[0])
    os.close(replies[1])
    tests = payload["tests"]
    del payload
    status = 0
    try:
        _judge(replies[0], requests[1], tests)  # noqa: F821 - from sandbox_judge.py
    except ProgramGone as exc:  # noqa: F821
        os.write(2, ("fusionbench: %s\n" % exc).encode())
        for _ in range(50):  # the program process is ending (a CPU limit's signal is reported as such)
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = 0
                break
            time.sleep(0.005)
        status = 128 + os.WTERMSIG(code) if not pid and os.WIFSIGNALED(code) else 1
    except BaseException as exc:
        sys.__excepthook__(type(exc), exc, exc.__traceback__)
        status = 1
    if pid:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    os._exit(status)


def _program_process(payload, requests, replies):
    """Run the program and the setup code under the guard, then serve the judge; never returns."""
    import builtins
    import os
    import sys

    _guard(payload["root"])
    _exec, _compile, _exit, _serve_judge = builtins.exec, builtins.compile, os._exit, _serve  # noqa: F821
    _stdout, _stderr, _excepthook = sys.stdout, sys.stderr, sys.__excepthook__
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    parts = (("program", payload["program"]), ("setup", payload["setup"]))
    del payload
    try:
        for name, source in parts:
            _exec(_compile(source, "<" + name + ">", "exec", dont_inherit=True), namespace)
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
    _serve_judge(requests, replies, namespace)
    _exit(1)


def _guard(root):
    import _io
    import builtins
    import importlib.machinery as machinery
    import io
    import os
    import posix
    import resource
    import sys

    try:
        import _posixsubprocess
    except ImportError:
        _posixsubprocess = None

    realpath, join, getcwd, sep, fspath, fsdecode = (
        os.path.realpath,
        os.path.join,
        os.getcwd,
        os.sep,
        os.fspath,
        os.fsdecode,
    )
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

    for name, n in (
        ("remove", 1),
        ("unlink", 1),
        ("rmdir", 1),
        ("removedirs", 1),
        ("mkdir", 1),
        ("makedirs", 1),
        ("rename", 2),
        ("renames", 2),
        ("replace", 2),
        ("link", 2),
        ("symlink", 2),
        ("chmod", 1),
        ("lchmod", 1),
        ("chown", 1),
        ("lchown", 1),
        ("truncate", 1),
        ("utime", 1),
        ("mkfifo", 1),
        ("mknod", 1),
        ("chdir", 1),
        ("setxattr", 1),
        ("removexattr", 1),
        ("chflags", 1),
        ("lchflags", 1),
    ):
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, guard_paths(getattr(module, name), n))

    for name in (
        "system",
        "popen",
        "fork",
        "forkpty",
        "vfork",
        "kill",
        "killpg",
        "setsid",
        "setpgid",
        "setpgrp",
        "setuid",
        "setgid",
        "seteuid",
        "setegid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
        "chroot",
        "fchdir",
        "fchmod",
        "fchown",
        "execv",
        "execve",
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execvp",
        "execvpe",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
        "pidfd_open",
        "unshare",
        "setns",
        "sched_setaffinity",
        "plock",
    ):
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
            for name in (
                "socketpair",
                "fromfd",
                "create_connection",
                "create_server",
                "getaddrinfo",
                "gethostbyname",
                "gethostbyname_ex",
                "gethostbyaddr",
                "getnameinfo",
                "dup",
            ):
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

    patchers = {
        "socket": patch_socket,
        "_socket": patch_raw_socket,
        "subprocess": patch_subprocess,
        "shutil": patch_shutil,
        "threading": patch_threading,
    }

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

    # ``del sys.modules["posix"]; import posix`` would build a fresh, unpatched module: serve the
    # patched ones again, and keep the blocked ones blocked.
    patched = {name: sys.modules[name] for name in ("os", "posix", "_io", "io", "resource", "builtins")}
    if _posixsubprocess is not None:
        patched["_posixsubprocess"] = _posixsubprocess
    blocked = frozenset(name for name, module in sys.modules.items() if module is None)

    class ServePatched:
        def find_spec(self, name, path=None, target=None):
            if name in blocked:
                raise ImportError("%s is disabled in the sandbox" % name)
            module = patched.get(name)
            if module is None:
                return None
            return machinery.ModuleSpec(name, self)

        def create_module(self, spec):
            return patched[spec.name]

        def exec_module(self, module):
            pass

    sys.meta_path.insert(0, PatchOnImport())
    sys.meta_path.insert(0, ServePatched())


if __name__ == "__main__":
    _harness(globals().pop("PAYLOAD"))
