"""``python -m fusionbench.generation ...``: the ``fusionbench generate`` command on its own."""

from __future__ import annotations

import argparse
import sys

from fusionbench.generation.command import DESCRIPTION, add_generate_arguments, run_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fusionbench.generation", description=DESCRIPTION)
    return run_from_args(add_generate_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
