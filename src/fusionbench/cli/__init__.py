"""The ``fusionbench`` command line: build and inspect exports, rescore, evaluate, add models, judge, publish.

One module per family of verbs (:mod:`~fusionbench.cli.exports`, :mod:`~fusionbench.cli.runs`); each adds its
subcommands with ``register``.
"""

from __future__ import annotations

import os

# Before pyarrow loads: Arrow's allocator (mimalloc) without transparent huge pages, unless the user says
# otherwise. The build allocates from several threads at once; on huge pages it touched 2x the memory of a
# single-threaded reader and, on a VM where a fresh huge page is expensive, spent twice the system time
# (full-size build, interleaved A/B runs: median 1.46-1.48 s -> 1.32-1.35 s; a plain pyarrow read-and-write
# 0.69-0.74 s either way).
os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")

import argparse
import sys

from fusionbench._version import __version__
from fusionbench.cli import analyze, exports, route, runs, sft, thoughts, tiny
from fusionbench.cli.common import console
from fusionbench.errors import BadInputError, ExportExistsError

#: The modules whose ``register(commands)`` add subcommands, in the order ``--help`` lists them.
COMMAND_MODULES = (exports, runs, route, sft, thoughts, analyze, tiny)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="fusionbench", description=__doc__.split("\n\n")[0])
    main.add_argument("--version", action="version", version=f"fusionbench {__version__}")
    main.add_argument(
        "--sandbox",
        choices=("full", "weak"),
        default="full",
        help="code tasks: 'full' (default) runs model-written code only in a full sandbox (bubblewrap, or unshare as "
        "root) and leaves it unscored (null) elsewhere; 'weak' runs it anyway with rlimits and a Python guard alone "
        "(the same as FUSIONBENCH_ALLOW_WEAK_SANDBOX=1)",
    )
    commands = main.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--sandbox"] and argv[2:3] == ["eval"]:  # `fusionbench --sandbox weak eval ...` too
        if argv[1] == "weak":
            os.environ["FUSIONBENCH_ALLOW_WEAK_SANDBOX"] = "1"
        argv = argv[2:]
    if argv[:1] == ["eval"]:  # everything after `eval` belongs to lm-eval, unparsed
        from fusionbench.harness import run_lm_eval

        return run_lm_eval(argv[1:])
    args = parser().parse_args(argv)
    if args.sandbox == "weak":  # read by fusionbench.metrics.run_programs wherever scoring runs code
        os.environ["FUSIONBENCH_ALLOW_WEAK_SANDBOX"] = "1"
    try:
        return args.func(args)
    except Exception as err:  # errors about the user's input or files: one line; anything else: a traceback
        if not isinstance(err, _user_errors()):
            raise
        console.print(f"[red]error:[/red] {err}")
        return 1


def _user_errors() -> tuple[type[Exception], ...]:
    from fusionbench.export.folder import ExportLockedError
    from fusionbench.generation.store import RunLockedError

    return (BadInputError, ExportExistsError, ExportLockedError, RunLockedError, OSError, ValueError)


if __name__ == "__main__":
    sys.exit(main())
