"""Which isolation the code sandbox finds, the refusal where it is not full, and the weak opt-in.

The fallback tests fake a machine without bubblewrap or without user namespaces: ``PATH`` holds only the
tools the sandbox looks up (``setpriv``, ``timeout``, and ``unshare`` or ``bwrap`` where a test keeps them)
and stand-ins that fail as they do there ("Operation not permitted"). Everything else is real.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_sandbox import GOOD, TESTS, WRONG

from fusionbench.metrics import score, score_batch, score_details
from fusionbench.metrics.sandbox import Program, SandboxIsolationWarning, run_programs, sandbox_isolation
from fusionbench.metrics.sandbox_isolation import (
    WEAK_SANDBOX_VARIABLE,
    SandboxIsolation,
    SandboxUnavailableError,
    SandboxUnscoredWarning,
)

_DENIED = "#!/bin/sh\necho '{name}: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``install(denied=(...), real=(...))``: ``PATH`` becomes one folder with failing stand-ins for the
    ``denied`` tools and links to the real ``setpriv``, ``timeout`` and the ``real`` ones; nothing else (so
    an installed bubblewrap is not found unless kept). The probe is forgotten; both restored afterwards."""

    def install(denied: tuple[str, ...] = (), real: tuple[str, ...] = ()) -> None:
        folder = tmp_path / "fake-bin"
        folder.mkdir(exist_ok=True)
        for name in ("setpriv", "timeout", *real):
            found = shutil.which(name)
            if found is not None:
                (folder / name).symlink_to(found)
        for name in denied:
            script = folder / name
            script.write_text(_DENIED.format(name=name))
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        monkeypatch.setenv("PATH", str(folder))
        sandbox_isolation(refresh=True)

    monkeypatch.delenv(WEAK_SANDBOX_VARIABLE, raising=False)
    yield install
    monkeypatch.undo()
    sandbox_isolation(refresh=True)


def _good_and_wrong() -> list[Program]:
    return [Program(GOOD, TESTS), Program(WRONG, TESTS)]


def _isolation_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, SandboxIsolationWarning)]


def test_without_namespaces_model_code_is_refused(fake_tools: Callable[..., None]) -> None:
    """No bubblewrap, ``unshare`` denied: no model code runs, and the error says what is missing and how to fix it."""
    fake_tools(denied=("unshare",))
    isolation = sandbox_isolation()
    assert isolation.backend == "guard" and not isolation.complete
    assert not (isolation.pid_namespace or isolation.network_namespace or isolation.readonly_filesystem)
    assert any("bwrap: not found" in n for n in isolation.notes), isolation.notes
    assert any("unshare" in n and "Operation not permitted" in n for n in isolation.notes), isolation.notes
    marker = Path(tempfile.gettempdir()) / f"fusionbench-refused-{os.getpid()}"
    program = Program(GOOD + f"open({str(marker)!r}, 'w').close()\n", TESTS)
    with pytest.raises(SandboxUnavailableError) as error:
        run_programs([program, Program(WRONG, TESTS)], workers=2)
    assert not marker.exists()  # nothing ran
    message = str(error.value)
    for needed in ("apt-get install bubblewrap", "--sandbox weak", WEAK_SANDBOX_VARIABLE, "read-only filesystem view"):
        assert needed in message, message
    assert "own PID namespace" in message and "Operation not permitted" in message


def test_refused_code_rows_are_unscored_and_counted(fake_tools: Callable[..., None]) -> None:
    """Scoring records a refused code response as None (neither 0 nor 1) and says how many; other rows score."""
    fake_tools(denied=("unshare",))
    with pytest.warns(SandboxUnscoredWarning, match=r"^1 code response left unscored \(null"):
        assert score("mbpp", f"[BEGIN]\n{GOOD}[DONE]", ["assert add(1, 2) == 3"]) is None
    with pytest.warns(SandboxUnscoredWarning, match="1 code response left unscored"):
        details = score_details("mbpp", f"[BEGIN]\n{GOOD}[DONE]", ["assert add(1, 2) == 3"])
    assert details is not None and details["acc"] is None and details["status"] == "unscored"
    tasks = ["mbpp", "mbpp", "gsm8k", "mbpp"]
    responses = [f"[BEGIN]\n{GOOD}[DONE]", f"[BEGIN]\n{WRONG}[DONE]", "#### 4", ""]
    golds = [["assert add(1, 2) == 3"]] * 2 + ["#### 4", ["assert add(1, 2) == 3"]]
    with pytest.warns(SandboxUnscoredWarning, match="^2 code responses left unscored") as record:
        scores = score_batch(tasks, responses, golds, workers=2)
    assert scores == [None, None, 1.0, 0.0]  # an empty answer is no code: 0, as always
    assert "apt-get install bubblewrap" in str(record[0].message)


def test_weak_isolation_runs_only_when_opted_in(fake_tools: Callable[..., None], monkeypatch) -> None:
    """``allow_weak=True``, the environment variable or ``fusionbench --sandbox weak``: the guard runs, loudly, once."""
    fake_tools(denied=("unshare",))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        results = run_programs(_good_and_wrong(), workers=2, allow_weak=True)
        monkeypatch.setenv(WEAK_SANDBOX_VARIABLE, "1")
        again = run_programs(_good_and_wrong(), workers=2)
    assert [r.status for r in results] == [r.status for r in again] == ["passed", "failed"]
    [message] = _isolation_warnings(record)  # once, not once per call
    assert "WEAK" in message and "apt-get install bubblewrap" in message
    for remaining in ("rlimits", "Python guard"):
        assert remaining in message.split("MISSING")[0], message
    monkeypatch.delenv(WEAK_SANDBOX_VARIABLE)
    with pytest.raises(SandboxUnavailableError):
        run_programs(_good_and_wrong(), allow_weak=False)
    from fusionbench.cli import main

    assert main(["--sandbox", "weak", "tasks-path"]) == 0
    assert os.environ.get(WEAK_SANDBOX_VARIABLE) == "1"


def test_without_bwrap_unshare_gives_the_full_isolation(fake_tools: Callable[..., None]) -> None:
    """As root without bubblewrap: unshare's private view, uid 65534, read-only host, no warning."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the unshare backend builds its view as root only")
    fake_tools(real=("unshare",))
    isolation = sandbox_isolation()
    assert isolation.backend == "unshare" and isolation.complete, isolation.describe()
    assert isolation.uid_drop and isolation.program_uid == 65534
    home = os.path.realpath(os.path.expanduser("~"))
    check = (
        "import errno, os, sys\nassert os.getuid() == 65534 and os.getpid() < 10\n"
        f"assert not os.path.exists({str(Path(home) / '.cache')!r})\n"
        "for folder in ('/', '/usr', sys.prefix):\n"
        "    try:\n        os.mkdir(os.path.join(folder, 'x'))\n"
        "    except OSError as exc:\n        assert exc.errno == errno.EROFS, exc\n"
        "    else:\n        raise AssertionError(folder + ' writable')\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", SandboxIsolationWarning)
        results = run_programs([*_good_and_wrong(), Program(GOOD, check)], workers=2)
    assert [r.status for r in results] == ["passed", "failed", "passed"], results[2].stderr


def test_a_named_backend_that_cannot_start_is_an_error(fake_tools: Callable[..., None]) -> None:
    fake_tools(denied=("bwrap",))
    with pytest.raises(RuntimeError, match="Operation not permitted"):
        sandbox_isolation("bwrap")
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        sandbox_isolation("docker")  # type: ignore[arg-type]


def test_bubblewrap_gives_full_isolation_without_a_warning() -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap); CI installs it")
    isolation = sandbox_isolation()
    assert isolation.backend == "bwrap", isolation.describe()
    assert isolation.missing == (), isolation.describe()
    if os.geteuid() == 0:
        assert isolation.uid_drop and isolation.program_uid == 65534
    with warnings.catch_warnings():
        warnings.simplefilter("error", SandboxIsolationWarning)
        results = run_programs(
            [*_good_and_wrong(), Program(GOOD + "import os\nassert os.getuid() != 0 and os.getpid() < 10\n", TESTS)],
            workers=2,
        )
    assert [r.status for r in results] == ["passed", "failed", "passed"]


def test_describe_names_every_layer() -> None:
    layers = dict.fromkeys(
        (
            "pid_namespace",
            "network_namespace",
            "ipc_uts_namespaces",
            "private_proc",
            "readonly_filesystem",
            "uid_drop",
            "no_new_privileges",
            "dies_with_scorer",
            "wall_clock_supervisor",
        ),
        False,
    )
    bare = SandboxIsolation(backend="guard", program_uid=0, notes=("bwrap: not found on PATH",), **layers)
    assert len(bare.missing) == 8  # the two ways of being killed without the scorer count as one layer
    assert bare.protections == ("rlimits", "Python guard (second layer)")
    assert "MISSING" in bare.describe() and "bwrap: not found on PATH" in bare.describe()
    full = SandboxIsolation(backend="bwrap", program_uid=65534, **dict.fromkeys(layers, True))
    assert full.missing == () and "MISSING" not in full.describe()


def test_scratch_folders_of_killed_scorers_are_swept_by_the_next_run(monkeypatch, tmp_path) -> None:
    """A scorer killed with SIGKILL cannot remove its scratch folder; the next process's first run does, and
    leaves the folders of live processes alone."""
    import subprocess
    import sys

    from fusionbench.metrics import sandbox

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    monkeypatch.setattr(sandbox.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sandbox, "_swept_stale_scratch", False)
    stale = tmp_path / f"fusionbench-sandbox-{dead.pid}-abc"
    live = tmp_path / f"fusionbench-sandbox-{os.getpid()}-def"
    other = tmp_path / "fusionbench-sandbox-probe-xyz"  # not a scratch folder of a scorer
    for folder in (stale, live, other):
        (folder / "work").mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxIsolationWarning)
        assert run_programs([GOOD], backend="guard", allow_weak=True)[0].passed
    assert not stale.exists() and live.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if p not in (live, other)]  # this run's own folder is gone too


def test_an_interpreter_under_tmp_is_bound_onto_the_private_tmp(monkeypatch, tmp_path) -> None:
    """A venv under /tmp (a CI clone there) is bound read-only after the private /tmp, not hidden by it or left
    out as if the host's /tmp showed it (the unshare view then failed its probe and was refused)."""
    import importlib

    sandbox_isolation = importlib.import_module("fusionbench.metrics.sandbox_isolation")  # the module, not the function
    venv = "/tmp/some-clone/.venv"
    monkeypatch.setattr(sandbox_isolation, "_interpreter_paths", lambda: ["/usr/lib/python3", venv])
    binds = sandbox_isolation.view_spec(str(tmp_path), 3.0)["binds"]
    paths = [path for _, path, _ in binds]
    assert ("dir", venv, "") in binds and paths.index(venv) > paths.index(sandbox_isolation.BWRAP_WORKDIR)
    assert "/usr/lib/python3" not in paths  # shown by the /usr bind already
