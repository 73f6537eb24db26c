"""Run FusionBench in lm-evaluation-harness: the task folder and a wrapper around lm-eval's own CLI.

``fusionbench eval <lm_eval arguments>`` is ``lm_eval <lm_eval arguments>`` with this package's task
folder added to ``--include_path``::

    fusionbench eval --model hf --model_args pretrained=DIR --tasks fusionbench_gsm8k,fusionbench_cot
    lm_eval --include_path "$(fusionbench tasks-path)" --tasks fusionbench ...     # the same, by hand
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

#: lm-eval 0.4.13's subcommands; all accept ``--include_path``. Without one, lm-eval inserts ``run``.
SUBCOMMANDS: tuple[str, ...] = ("run", "ls", "validate")
_HELP = ("-h", "--help")


def tasks_path() -> Path:
    """The folder of FusionBench's lm-eval task YAMLs (``fusionbench_<task>[_cot]`` and the groups)."""
    return Path(__file__).resolve().parents[1] / "harness_tasks"


def merge_include_path(user: str | None) -> str:
    """Our task folder, then the user's path(s), joined by ``os.pathsep`` (later folders win on a clash)."""
    ours = str(tasks_path())
    parts = [ours] + [p for p in (user or "").split(os.pathsep) if p and Path(p).resolve() != Path(ours)]
    return os.pathsep.join(parts)


def lm_eval_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` for lm-eval's CLI with ``--include_path`` set to (or merged with) :func:`tasks_path`.

    Works for ``run``/``ls``/``validate`` and for the legacy form without a subcommand; an
    ``include_path`` set in a ``--config`` YAML is kept. A bare ``--help`` (or nothing) is passed
    through unchanged.
    """
    args = list(argv)
    if not args or args[0] in _HELP or args == ["run"]:
        return args
    for i, arg in enumerate(args):
        if arg == "--include_path" and i + 1 < len(args):
            args[i + 1] = merge_include_path(args[i + 1])
            return args
        if arg.startswith("--include_path="):
            args[i] = "--include_path=" + merge_include_path(arg.split("=", 1)[1])
            return args
    return [*args, "--include_path", merge_include_path(_config_include_path(args))]


def _config_include_path(args: Sequence[str]) -> str | None:
    """``include_path`` of a ``--config``/``-C`` YAML in ``args`` (our CLI value would replace it)."""
    for i, arg in enumerate(args):
        path = args[i + 1] if arg in ("--config", "-C") and i + 1 < len(args) else None
        path = arg.split("=", 1)[1] if arg.startswith("--config=") else path
        if path and Path(path).is_file():
            import yaml

            value = (yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}).get("include_path")
            return os.pathsep.join(value) if isinstance(value, list) else value
    return None


@contextlib.contextmanager
def split_include_paths() -> Iterator[None]:
    """Let lm-eval's ``TaskManager`` read ``include_path="a:b"`` as two folders.

    lm-eval 0.4.13's help documents ``--include_path "dir1:dir2"``, but its ``TaskManager`` turns the
    string into one ``Path`` (which does not exist, so no task is found). While this context is
    active, a string holding ``os.pathsep`` that is not itself an existing path is split.
    """
    from lm_eval.tasks import manager

    original = manager.TaskManager.__init__
    signature = inspect.signature(original)

    def __init__(self, *args, **kwargs) -> None:
        bound = signature.bind(self, *args, **kwargs)
        value = bound.arguments.get("include_path")
        if isinstance(value, str) and os.pathsep in value and not Path(value).exists():
            bound.arguments["include_path"] = [p for p in value.split(os.pathsep) if p]
        original(*bound.args, **bound.kwargs)

    manager.TaskManager.__init__ = __init__  # type: ignore[method-assign]
    try:
        yield
    finally:
        manager.TaskManager.__init__ = original  # type: ignore[method-assign]


def run_lm_eval(argv: Sequence[str]) -> int:
    """Run lm-eval's own CLI (``lm_eval.__main__.cli_evaluate``) on ``argv`` plus our ``--include_path``.

    Returns the exit status (0 on success, argparse's 2 on a usage error). Exceptions raised by
    lm-eval propagate, as they do from the ``lm_eval`` command.
    """
    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm-eval", *lm_eval_argv(argv)]
    try:
        with split_include_paths():
            cli_evaluate()
    except SystemExit as stop:
        code = stop.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fusionbench.harness <lm_eval arguments>``."""
    return run_lm_eval(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
