"""A program cannot forge its own pass: the verdict is the judge process's, which no model code runs in.

Each program here has a wrong answer and then tries to make the run pass anyway: by finding and printing
a pass token in its own memory (the issue's attack: the old harness printed a random token after the tests,
which the program could read from its interpreter's frames), by writing what a pass looked like, by taking
the Python guard apart and attacking the judge process (signals, ``/proc/<judge>/mem``, ptrace), or by
returning an object that compares equal to anything. Every one must score 0; the same attacks with a right
answer still pass where they do not kill their own process, so the failures come from the wrong answer.
"""

from __future__ import annotations

import textwrap

import pytest
from test_sandbox import GOOD, TESTS, TIMEOUT, WRONG
from test_sandbox_escapes import UNGUARD

from fusionbench.metrics import score
from fusionbench.metrics.sandbox import Program, run_programs, sandbox_isolation

pytestmark = pytest.mark.filterwarnings("ignore::fusionbench.metrics.sandbox.SandboxIsolationWarning")

# Everything the old harness's token could be: 32 hex digits anywhere in the interpreter's objects,
# printed on lines of their own as the old harness did, then a clean exit before the asserts run.
_READ_TOKEN = textwrap.dedent(
    """
    import gc, os, re, sys
    found = set()
    for obj in gc.get_objects():
        for value in ([obj] if isinstance(obj, (str, bytes)) else
                      (obj.values() if isinstance(obj, dict) else [])):
            if isinstance(value, bytes):
                value = value.decode('latin-1')
            if isinstance(value, str):
                found.update(re.findall(r'[0-9a-f]{32}', value))
    frame = sys._getframe()
    while frame is not None:
        for value in frame.f_locals.values():
            if isinstance(value, (str, bytes)) and len(value) == 32:
                found.add(value.decode() if isinstance(value, bytes) else value)
        frame = frame.f_back
    for token in found:
        os.write(1, ('\\n' + token + '\\n').encode())
    os.write(1, b'\\npassed\\nPASS\\nok\\n')
    os._exit(0)
    """
)
# With the guard gone: stop, kill or rewrite the judge (the program process's parent).
_ATTACK_JUDGE = {
    "kill_judge": "posix.kill(posix.getppid(), 9)\n",
    "stop_judge": "posix.kill(posix.getppid(), 19)\n",
    "judge_mem": (
        "fd = posix.open('/proc/%d/mem' % posix.getppid(), posix.O_RDWR)\n"
        "posix.lseek(fd, 0x400000, 0)\nposix.write(fd, b'\\x00' * 64)\n"
    ),
    "ptrace_judge": "assert libc.ptrace(16, posix.getppid(), 0, 0) == 0, 'ptrace refused'\n",
    "exit_zero_for_judge": "posix._exit(0)\n",
}
_ALWAYS_EQUAL = (
    "class Yes:\n    def __eq__(self, other):\n        return True\n    __ne__ = lambda self, other: False\n"
    "    __bool__ = lambda self: True\n"
    "def add(a, b):\n    return Yes()\n"
)


def _results(programs: dict[str, str], backend: str = "auto") -> dict:
    jobs = [Program(code, TESTS) for code in programs.values()]
    results = run_programs(jobs, timeout=TIMEOUT, workers=2, backend=backend, allow_weak=True)  # type: ignore[arg-type]
    return dict(zip(programs, results, strict=True))


@pytest.mark.parametrize("backend", ["auto", "guard"], ids=["best_isolation", "python_guard_only"])
def test_reading_the_pass_token_from_memory_scores_zero(backend: str) -> None:
    """The issue's forged pass: a wrong answer that prints every token it can find and exits 0."""
    results = _results({"read_token": WRONG + _READ_TOKEN, "read_token_right": GOOD + _READ_TOKEN}, backend)
    assert not results["read_token"].passed, results["read_token"]
    assert not results["read_token_right"].passed  # exiting before the tests ran is no pass either
    assert score("mbpp", f"[BEGIN]\n{WRONG}{_READ_TOKEN}[DONE]", ["assert add(1, 2) == 3"]) == 0.0


@pytest.mark.parametrize("backend", ["auto", "guard"], ids=["best_isolation", "python_guard_only"])
def test_attacking_the_judge_process_scores_zero(backend: str) -> None:
    if backend == "auto" and not sandbox_isolation().complete:
        pytest.skip(f"no full isolation here: {sandbox_isolation().describe()}")
    programs = {name: WRONG + UNGUARD + code for name, code in _ATTACK_JUDGE.items()}
    for name, result in _results(programs, backend).items():
        assert not result.passed, (name, result)
        assert result.status in ("failed", "timeout"), (name, result)


def test_the_judge_cannot_be_traced_or_rewritten() -> None:
    """The attacks on the judge's memory really fail (not just the wrong answer): with a right answer the
    program reports what happened, and the run passes only because the tests pass."""
    probe = UNGUARD + textwrap.dedent(
        """
        judge = posix.getppid()
        try:
            posix.open('/proc/%d/mem' % judge, posix.O_RDWR)
            raise SystemExit('the judge memory is writable')
        except PermissionError:
            pass
        assert libc.ptrace(16, judge, 0, 0) != 0, 'the judge could be traced'
        """
    )
    results = _results({"right": GOOD + probe})
    assert results["right"].passed, results["right"]


def test_an_object_equal_to_everything_does_not_pass() -> None:
    """``__eq__`` always True used to pass any ``assert f(x) == y``; such an object does not cross to the judge."""
    results = _results({"always_equal": _ALWAYS_EQUAL, "right": GOOD})
    assert not results["always_equal"].passed
    assert "cannot be compared" in results["always_equal"].stderr
    assert results["right"].passed


def test_program_objects_and_data_cross_as_the_tests_need() -> None:
    """Classes, instances, methods, generators of lists, sets, floats (inf, nan, -0.0), big ints, bytes and
    nested containers reach the tests; exceptions the program raises are raised in the tests."""
    program = textwrap.dedent(
        """
        import math
        class Pair:
            def __init__(self, a, b):
                self.a, self.b = a, b
            def total(self):
                return self.a + self.b
        def longest(pairs):
            return max(p.total() for p in pairs)
        def values():
            return {'inf': math.inf, 'neg_zero': -0.0, 'big': 3 ** 5000, 'raw': b'\\x00\\xff',
                    'nested': ({1, 2}, frozenset({3}), [(1, 2.5)], {'k': None}), 'complex': 1 - 2j}
        def fails(x):
            raise ValueError('bad %s' % x)
        LIMIT = [1, 2, 3]
        """
    )
    tests = textwrap.dedent(
        """
        assert longest([Pair(1, 2), Pair(5, 24)]) == 29
        assert Pair(2, 3).total() == 5 and Pair(2, 3).a == 2
        v = values()
        assert v['inf'] == float('inf') and str(v['neg_zero']) == '-0.0' and v['big'] == 3 ** 5000
        assert v['raw'] == b'\\x00\\xff' and v['complex'] == 1 - 2j
        assert v['nested'] == ({1, 2}, frozenset({3}), [(1, 2.5)], {'k': None})
        assert math.isnan(float('nan')) and LIMIT == [1, 2, 3]
        try:
            fails(3)
            raise AssertionError('no exception')
        except ValueError as exc:
            assert 'bad 3' in str(exc)
        """
    )
    [result] = run_programs([Program(program, tests)], timeout=TIMEOUT, allow_weak=True)
    assert result.passed, result.stderr
