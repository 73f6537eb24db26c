"""Benchmark the scoring layer: ``score_batch`` on synthetic non-code rows, and the code sandbox.

Run: ``python benchmarks/bench_scoring.py [--rows 300000] [--programs 200] [--workers N]``.

The non-code rows cover the 12 non-code tasks in equal shares, with responses of a few hundred
characters in the formats models produce (parenthesised letters, "#### n", ``\\boxed{}``, free text),
about half of them correct, and 40 responses per query as in the release. The floor is a bare loop
that applies one precompiled regex per row: the least any extraction can cost.

The sandbox runs the canonical HumanEval and MBPP solutions with their tests (../shared/data/code;
MBPP-style synthetic functions, a quarter of them wrong, without it) under each isolation backend
that works here (bwrap, unshare as root, the Python guard alone: weak isolation, opted into here only to
measure it), and an empty program serially; its floor is a bare interpreter start (``python -I -B -S -c
pass``) in the same run. The full backends' throughput over the guard's is printed (target: 0.90 or more).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

from fusionbench.metrics import Program, run_programs, score_batch
from fusionbench.metrics.sandbox import SandboxIsolationWarning, sandbox_isolation
from fusionbench.schema import CODE_TASKS, TASKS

_SHARED_CODE = Path(__file__).resolve().parents[2] / "shared" / "data" / "code"

_FILLER = (
    "Let's work through this carefully. First we identify the relevant quantities, then we combine them "
    "step by step, checking each intermediate result against the constraints given in the question. "
)
_WORDS = [
    "river",
    "mountain",
    "Paris",
    "Einstein",
    "photosynthesis",
    "1969",
    "Jupiter",
    "Shakespeare",
    "oxygen",
    "Nile",
    "piano",
]
_MATH_GOLDS = [
    ("\\frac{1}{2}", ["\\dfrac{1}{2}", "0.5", "\\frac12", "\\frac{1}{3}"]),
    ("\\frac{\\sqrt{3}}{2}", ["\\frac{\\sqrt3}{2}", "\\sqrt{3}/2", "\\frac{\\sqrt{2}}{2}"]),
    ("(1,2]", ["(1, 2]", "[1,2]"]),
    ("12", ["12", "12.0", "13"]),
    ("x^2+1", ["x^2 + 1", "1+x^2", "x^2-1"]),
    ("5\\text{ cm}", ["5", "5 \\text{cm}", "6"]),
]


def _row(task: str, rng: random.Random, q: int) -> tuple[str, str, str, dict]:
    """(task, response, gold, fields) for one synthetic row of query ``q``."""
    qrng = random.Random(f"{task}:{q}")  # the query's gold is fixed across its 40 responses
    right = rng.random() < 0.5
    pad = _FILLER * rng.randint(1, 3)
    if task in ("commonsense_qa", "openbook_qa", "arc_challenge", "hellaswag", "mmlu", "gpqa"):
        labels = "ABCDE" if task == "commonsense_qa" else "ABCD"
        gold = qrng.choice(labels)
        pred = gold if right else rng.choice(labels)
        form = rng.choice(["So the answer is ({}).", "Answer: {}", "({}) is correct.", "The correct option is {}."])
        return task, pad + form.format(pred), gold, {"choice_labels": list(labels)}
    if task == "gsm8k":
        gold_n = qrng.randint(1, 5000)
        pred = gold_n if right else gold_n + rng.randint(1, 9)
        form = rng.choice(["The answer is {:,}.", "#### {}", "So she earns ${} in total.", "\\boxed{{{}}}"])
        return (
            task,
            pad + f"{rng.randint(2, 99)} + {rng.randint(2, 99)} = 7. " + form.format(pred),
            f"... #### {gold_n}",
            {},
        )
    if task == "math":
        gold, alts = qrng.choice(_MATH_GOLDS)
        pred = rng.choice(alts)
        return task, pad + f"Therefore the answer is $\\boxed{{{pred}}}$.", f"We get $\\boxed{{{gold}}}$.", {}
    if task == "boolq":
        gold = qrng.choice(["True", "False"])
        pred = gold if right else rng.choice(["True", "False", "untrue"])
        return task, pad + f"Based on the passage, the statement is {pred}.", gold, {}
    gold = " ".join(qrng.sample(_WORDS, 2))
    pred = gold if right else " ".join(rng.sample(_WORDS, 2))
    return task, pad + f"The answer is {pred}.", gold, {"aliases": [gold.upper()]}


def make_rows(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str], list[dict]]:
    """``n`` synthetic non-code rows as (tasks, responses, golds, fields)."""
    rng = random.Random(seed)
    tasks_cycle = [t for t in TASKS if t not in CODE_TASKS]
    tasks, responses, golds, fields = [], [], [], []
    for i in range(n):
        task = tasks_cycle[(i // 40) % len(tasks_cycle)]
        t, r, g, f = _row(task, rng, i // (40 * len(tasks_cycle)))
        tasks.append(t)
        responses.append(r)
        golds.append(g)
        fields.append(f)
    return tasks, responses, golds, fields


def make_programs(n: int) -> list[Program]:
    """``n`` MBPP-style programs with their asserts; every fourth one is wrong."""
    programs = []
    for i in range(n):
        op = "-" if i % 4 == 3 else "+"
        code = f"def add_{i}(a, b):\n    return a {op} b\n"
        tests = "\n".join(f"assert add_{i}({a}, {b}) == {a + b}" for a, b in ((1, 2), (3, 4), (10, -2)))
        programs.append(Program(code, tests))
    return programs


def real_programs(n: int) -> list[Program] | None:
    """``n`` canonical HumanEval and MBPP solutions with their tests, alternating, or None without ../shared."""
    folder = _SHARED_CODE
    if not (folder / "HumanEval.jsonl").is_file() or not (folder / "mbpp.jsonl").is_file():
        return None
    with open(folder / "HumanEval.jsonl", encoding="utf-8") as file:
        human_eval = [json.loads(line) for line in file if line.strip()]
    with open(folder / "mbpp.jsonl", encoding="utf-8") as file:
        mbpp = [json.loads(line) for line in file if line.strip()]
    pool = []
    for i in range(max(len(human_eval), len(mbpp))):
        if i < len(human_eval):
            row = human_eval[i]
            program = row["prompt"] + row["canonical_solution"]
            pool.append(Program(program, row["test"] + f"\ncheck({row['entry_point']})\n"))
        if i < len(mbpp):
            row = mbpp[i]
            pool.append(Program(row["code"], "\n".join(row["test_list"]) + "\n", row.get("test_setup_code") or ""))
    return [pool[i % len(pool)] for i in range(n)]


def _interpreter_floor(n: int) -> float:
    """Seconds per bare ``python -I -B -S -c pass`` (the child's flags), serially: what a process per program costs."""
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-I", "-B", "-S", "-c", "pass"], check=True)
    return (time.perf_counter() - t0) / n


def bench_sandbox(n: int, workers: int, rounds: int = 3) -> None:
    """Programs/s with ``workers`` and the latency of an empty program, for each backend that works here.

    The backends take turns, ``rounds`` times, and each keeps its best round: on a shared machine the
    others' load then falls on all of them alike.
    """
    programs = real_programs(n)
    source = "canonical HumanEval/MBPP solutions" if programs is not None else "synthetic MBPP-style programs"
    if programs is None:
        programs = make_programs(n)
    empty = min(50, n)
    floor = _interpreter_floor(empty)
    print(f"sandbox: {n} {source}, {workers} workers, best of {rounds} interleaved rounds; ", end="")
    print(f"interpreter floor {floor * 1000:.0f} ms per bare start")
    warnings.simplefilter("ignore", SandboxIsolationWarning)  # each backend is named below
    backends = {}
    for backend in ("bwrap", "unshare", "guard"):
        try:
            backends[backend] = sandbox_isolation(backend)  # type: ignore[arg-type]
        except RuntimeError as exc:
            print(f"  {backend:8s} not available here: {exc}")
    speeds: dict[str, float] = {}
    serials: dict[str, float] = {}
    passed: dict[str, int] = {}
    for _ in range(rounds):
        for backend, isolation in backends.items():
            weak = not isolation.complete  # the guard alone: weak isolation, run here only to measure it
            run = functools.partial(run_programs, workers=workers, backend=backend, allow_weak=weak)
            run(programs[:4])  # warm the page cache
            t0 = time.perf_counter()
            results = run(programs)
            speeds[backend] = max(speeds.get(backend, 0.0), n / (time.perf_counter() - t0))
            passed[backend] = sum(r.passed for r in results)
            t0 = time.perf_counter()
            run([Program("pass")] * empty, workers=1)
            serials[backend] = min(serials.get(backend, math.inf), (time.perf_counter() - t0) / empty)
    expected = n - n // 4 if source.startswith("synthetic") else n
    for backend, isolation in backends.items():
        print(
            f"  {backend:8s} {speeds[backend]:5.1f} programs/s ({passed[backend]}/{n} passed, expected {expected}); "
            f"empty program {serials[backend] * 1000:.0f} ms = {serials[backend] / floor:.2f}x the floor; "
            f"missing layers: {len(isolation.missing)}"
        )
    for backend in ("bwrap", "unshare"):
        if backend in speeds and "guard" in speeds:
            print(f"  {backend} / guard throughput: {speeds[backend] / speeds['guard']:.2f} (target >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--programs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per sandbox backend (best kept)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    tasks, responses, golds, fields = make_rows(args.rows)
    print(f"built {args.rows:,} synthetic rows in {time.perf_counter() - t0:.1f} s")

    floor_re = re.compile(r"\(([A-Z])\)")
    t0 = time.perf_counter()
    hits = 0
    for response, gold in zip(responses, golds, strict=True):
        match = floor_re.search(response)
        hits += match is not None and match.group(1) == gold
    floor = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = score_batch(tasks, responses, golds, fields, workers=args.workers)
    elapsed = time.perf_counter() - t0
    mean = sum(s for s in scores if s is not None) / len(scores)
    print(
        f"score_batch: {args.rows:,} non-code rows in {elapsed:.2f} s = {args.rows / elapsed:,.0f} rows/s "
        f"(mean score {mean:.3f})"
    )
    print(
        f"floor (one precompiled regex per row): {floor:.2f} s = {args.rows / floor:,.0f} rows/s; "
        f"score_batch / floor = {elapsed / floor:.1f}x"
    )

    if args.programs > 0:  # --programs 0: the scorers alone
        bench_sandbox(args.programs, args.workers or os.cpu_count() or 1, args.rounds)


if __name__ == "__main__":
    main()
