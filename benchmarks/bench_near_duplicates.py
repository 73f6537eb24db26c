"""Benchmark the near-duplicate leakage check over the splits of a multi-seed benchmark: n-grams counted per split
vs once per data set.

The splits are those a ``route benchmark`` checks: per seed, a random in-distribution split and a task-OOD split
per domain (each held-out domain's tasks as test). Two ways, alternating which goes first, over ``--rounds``:

* per split — the pool of n-gram counts emptied before every check, so each check counts all its texts (what the
  check did before the pool: a vectoriser fitted per split);
* pooled    — one pool for the run (:func:`fusionbench.fusion.near_duplicates.shingle_tfidf`): a text is counted
  the first time a check sees it, later splits of the same data only select their rows.

Both must find the same pairs (asserted). Usage: ``python benchmarks/bench_near_duplicates.py [--seeds 3]
[--rounds 2] [--export DIR]``; without ``--export`` the embedded LLMRouter data (6,108 real queries).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from fusionbench.fusion import RoutingData, splits
from fusionbench.fusion import near_duplicates as nd
from fusionbench.fusion.embedded import load as load_embedded


def split_pairs(data: RoutingData, seeds: int) -> list[tuple[RoutingData, RoutingData]]:
    """(train, test) of every split a multi-seed benchmark checks."""
    specs = []
    for seed in range(seeds):
        specs.append(splits.random(data, seed=seed))
        specs += [splits.task_ood(data, domain=d, seed=seed) for d in sorted(set(data.domains.tolist()))]
    return [(train, test) for train, _, test in (splits.apply(data, spec) for spec in specs)]


def check_all(pairs: list[tuple[RoutingData, RoutingData]], pooled: bool) -> tuple[float, float, list[tuple]]:
    """Wall and CPU seconds for every check, and the pairs found."""
    nd.clear_pool()
    found = []
    start, cpu = time.perf_counter(), time.process_time()
    for train, test in pairs:
        if not pooled:
            nd.clear_pool()
        result = nd.find_near_duplicates(train.query_ids, train.texts, test.query_ids, test.texts)
        found.append(tuple((t, r) for t, r, _ in result.pairs))
    return time.perf_counter() - start, time.process_time() - cpu, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--export", type=Path, help="an export (default: the embedded LLMRouter data)")
    args = parser.parse_args()
    data = RoutingData.from_export(args.export, incomplete="drop_queries") if args.export else load_embedded()
    pairs = split_pairs(data, args.seeds)
    print(f"{data.source}: {data.n_queries:,} queries; {len(pairs)} splits ({args.seeds} seeds x (random + OOD folds))")
    times: dict[str, list[float]] = {"per split": [], "pooled": []}
    cpus: dict[str, list[float]] = {"per split": [], "pooled": []}
    results = {}
    for round_ in range(args.rounds):
        order = ["per split", "pooled"] if round_ % 2 == 0 else ["pooled", "per split"]
        for way in order:
            seconds, cpu, results[way] = check_all(pairs, pooled=way == "pooled")
            times[way].append(seconds)
            cpus[way].append(cpu)
            print(f"round {round_ + 1} {way:>9}: {seconds:6.2f} s wall, {cpu:6.2f} s CPU")
    assert results["per split"] == results["pooled"], "the two ways found different pairs"
    for name, values in (("wall", times), ("CPU", cpus)):
        per_split, pooled = (statistics.median(values[w]) for w in ("per split", "pooled"))
        print(f"median {name}: per split {per_split:.2f} s, pooled {pooled:.2f} s ({per_split / pooled:.1f}x)")
    print(f"{sum(map(len, results['pooled']))} pairs, the same both ways")


if __name__ == "__main__":
    main()
