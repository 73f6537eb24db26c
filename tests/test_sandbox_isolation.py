"""Which isolation the code sandbox finds, and the loud warning when a layer is missing.

The fallback tests fake a machine without user namespaces: ``bwrap`` and ``unshare`` on ``PATH`` are
scripts that fail as they do there ("Operation not permitted"). Everything else is real.
"""

from __future__ import annotations

import os
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_sandbox import GOOD, TESTS, WRONG

from fusionbench.metrics.sandbox import Program, SandboxIsolationWarning, run_programs, sandbox_isolation
from fusionbench.metrics.sandbox_isolation import SandboxIsolation

_DENIED = "#!/bin/sh\necho '{name}: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Put failing stand-ins for the named tools first on PATH and forget the probe; restored afterwards."""

    def install(*names: str) -> None:
        folder = tmp_path / "fake-bin"
        folder.mkdir(exist_ok=True)
        for name in names:
            script = folder / name
            script.write_text(_DENIED.format(name=name))
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        sandbox_isolation(refresh=True)

    yield install
    monkeypatch.undo()
    sandbox_isolation(refresh=True)


def _good_and_wrong() -> list[Program]:
    return [Program(GOOD, TESTS), Program(WRONG, TESTS)]


def _isolation_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, SandboxIsolationWarning)]


def test_without_user_namespaces_the_guard_remains_and_says_so(fake_tools: Callable[..., None]) -> None:
    fake_tools("bwrap", "unshare")
    isolation = sandbox_isolation()
    assert isolation.backend == "guard"
    assert not (isolation.pid_namespace or isolation.network_namespace or isolation.readonly_filesystem)
    assert any("bwrap" in n and "Operation not permitted" in n for n in isolation.notes), isolation.notes
    assert any("unshare" in n and "Operation not permitted" in n for n in isolation.notes), isolation.notes
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        results = run_programs(_good_and_wrong(), workers=2)
        again = run_programs(_good_and_wrong(), workers=2)
    assert [r.status for r in results] == [r.status for r in again] == ["passed", "failed"]
    [message] = _isolation_warnings(record)  # once, not once per call
    for remaining in ("rlimits", "Python guard"):
        assert remaining in message.split("MISSING")[0], message
    for missing in ("own PID namespace", "own network namespace", "read-only filesystem view", "private /proc"):
        assert missing in message.split("MISSING")[1], message
    assert "Operation not permitted" in message and "bubblewrap" in message


def test_without_bwrap_unshare_keeps_the_namespaces_and_names_the_missing_view(
    fake_tools: Callable[..., None],
) -> None:
    try:
        sandbox_isolation("unshare")
    except RuntimeError as exc:
        pytest.skip(f"unshare does not work on this machine: {exc}")
    fake_tools("bwrap")
    isolation = sandbox_isolation()
    assert isolation.backend == "unshare" and isolation.pid_namespace and isolation.network_namespace
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert [r.status for r in run_programs(_good_and_wrong(), workers=2)] == ["passed", "failed"]
    [message] = _isolation_warnings(record)
    protections, missing = message.split("MISSING")
    assert "own PID namespace" in protections and "own network namespace" in protections
    assert "read-only filesystem view" in missing


def test_a_named_backend_that_cannot_start_is_an_error(fake_tools: Callable[..., None]) -> None:
    fake_tools("bwrap")
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
        assert run_programs([GOOD], backend="guard")[0].passed
    assert not stale.exists() and live.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if p not in (live, other)]  # this run's own folder is gone too
