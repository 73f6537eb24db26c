"""Write a synthetic LLMFusionBench release (train.csv, partial_test.csv) and time it.

    python benchmarks/make_synthetic_release.py --out /tmp/fusionbench-synthetic [--train-queries 500]
        [--test-queries 50] [--seed 0] [--planted]

The defaults give the release's size: 14 x 500 train and 13 x 50 test queries, 40 rows each (~306k rows).
The content is synthetic (see fusionbench.synthetic).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fusionbench.synthetic import generate_release


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write train.csv and partial_test.csv into")
    parser.add_argument("--train-queries", type=int, default=500, help="train queries per task (default 500)")
    parser.add_argument("--test-queries", type=int, default=50, help="test queries per task (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--planted", action="store_true", help="a per-query skill signal in the embeddings (routers)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    counts = generate_release(args.out, args.train_queries, args.test_queries, args.seed, planted=args.planted)
    seconds = time.perf_counter() - start
    for name, rows in counts.items():
        size = (args.out / name).stat().st_size
        print(f"{name}: {rows:,} rows, {size / 1e6:.1f} MB")
    total = sum(counts.values())
    print(f"total: {total:,} rows in {seconds:.1f} s ({total / seconds:,.0f} rows/s)")
    return counts


if __name__ == "__main__":
    main()
