"""The routing-core refactor (issue 17, point 1) changes no number of the route report.

``tests/golden/route_report_id_seed0.json`` holds every leaf (number, verdict, name) under ``scenarios`` of the report
JSON of :data:`CONFIG` on the embedded LLMRouter data, produced by the code **before** the refactor (commit be95324)
with::

    PYTHONPATH=<a checkout of be95324>/src python tests/test_route_core_stability.py --write

The refactor renamed the train-fitted baseline ``best_single`` to ``best_single_train`` (and its paired comparison
``vs_best_single`` to ``vs_best_single_train``); :data:`RENAMED` maps the old names explicitly. Every other key and
value must be equal (floats to 1e-12). The full default benchmark (``fusionbench route benchmark --scenarios id
--seeds 0``) was compared the same way by hand before and after, see the commit message.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden" / "route_report_id_seed0.json"
#: a cheap configuration whose numbers are still the report's numbers: two routers, 200 resamples
CONFIG = {"routers": ("knn", "linear"), "scenarios": ("id",), "seeds": (0,), "n_boot": 200}
#: names the refactor changed: old (pre-refactor report) -> new
RENAMED = {"best_single": "best_single_train", "vs_best_single": "vs_best_single_train"}
#: fields added after the golden file (issue 18 §2: task means, near duplicates); new fields, not changed numbers
ADDED_FIELDS = ("/macro/", "/near_duplicates/")


def run_report() -> dict[str, Any]:
    """The report JSON of :data:`CONFIG` on the embedded data, as ``fusionbench route benchmark`` writes it."""
    from fusionbench.fusion import embedded
    from fusionbench.fusion.report.benchmark import BenchmarkConfig, RouterSpec, run_benchmark
    from fusionbench.fusion.report.write import jsonable

    data = embedded.load(embedded.DEFAULT).resolve_incomplete("error")
    config = BenchmarkConfig(
        routers=tuple(RouterSpec(r, r) for r in CONFIG["routers"]),
        scenarios=CONFIG["scenarios"],
        seeds=CONFIG["seeds"],
        n_boot=CONFIG["n_boot"],
        id_scheme="release",  # pinned: the golden file was made on the release split (the default became random)
    )
    return jsonable(run_benchmark(data, config).to_dict())


def leaves(value: Any, path: str = "", rename: dict[str, str] | None = None) -> dict[str, Any]:
    """``{path: leaf}`` of a JSON value; keys and string leaves found in ``rename`` are renamed first."""
    rename = rename or {}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= leaves(item, f"{path}/{rename.get(key, key)}", rename)
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out |= leaves(item, f"{path}[{i}]", rename)
        return out
    if isinstance(value, str):
        return {path: rename.get(value, value)}
    return {path: value}


def report_leaves(report: dict[str, Any], rename: dict[str, str] | None = None) -> dict[str, Any]:
    """The compared part of a report: everything under ``scenarios`` (the tables' numbers, verdicts, counts)."""
    return leaves(report["scenarios"], "scenarios", rename)


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Paths whose leaf differs (floats beyond 1e-12), or that only one side has."""
    out = [f"only before: {p}" for p in before if p not in after]
    out += [f"only after: {p}" for p in after if p not in before]
    for path in before.keys() & after.keys():
        a, b = before[path], after[path]
        if isinstance(a, float) or isinstance(b, float):
            same = isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, abs_tol=1e-12)
        else:
            same = a == b
        if not same:
            out.append(f"{path}: before {a!r}, after {b!r}")
    return sorted(out)


def test_route_report_numbers_are_unchanged_by_the_routing_core_refactor() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden["config"] == {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()}
    before = report_leaves({"scenarios": golden["scenarios"]}, RENAMED)
    after = {p: v for p, v in report_leaves(run_report()).items() if not any(f in p for f in ADDED_FIELDS)}
    # the comparison covers the report's tables: every system's Perf, paired verdicts, per-task values
    assert any(p.endswith("/rows/best_single_train/perf/value") for p in after)
    assert any("/paired/knn/vs_best_single_train/perf/verdict" in p for p in after)
    assert sum(isinstance(v, float) for v in before.values()) > 200
    assert differences(before, after) == []


def test_the_comparison_sees_a_changed_number_and_a_renamed_key() -> None:
    report = {"scenarios": {"id": {"rows": {"best_single": {"perf": {"value": 0.5, "ci": [0.4, 0.6]}}}}}}
    renamed = report_leaves(report, RENAMED)
    assert list(renamed) == [
        "scenarios/id/rows/best_single_train/perf/value",
        "scenarios/id/rows/best_single_train/perf/ci[0]",
        "scenarios/id/rows/best_single_train/perf/ci[1]",
    ]
    changed = dict(renamed) | {"scenarios/id/rows/best_single_train/perf/value": 0.5 + 1e-9}
    assert differences(renamed, changed) == [
        "scenarios/id/rows/best_single_train/perf/value: before 0.5, after 0.500000001"
    ]
    assert differences(renamed, report_leaves(report)) != []  # without the mapping the old key is missing


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: PYTHONPATH=<pre-refactor src> python tests/test_route_core_stability.py --write")
    report = run_report()
    GOLDEN.parent.mkdir(exist_ok=True)
    payload = {
        "generated_by": "tests/test_route_core_stability.py --write on the pre-refactor code (commit be95324)",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()},
        "scenarios": report["scenarios"],
    }
    GOLDEN.write_text(json.dumps(payload, indent=None, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}: {len(report_leaves(report))} leaves")
