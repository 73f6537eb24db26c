"""The four evaluate modules: loaded offline with the real ``evaluate.load`` from the package, and as classes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import evaluate
import numpy as np
import pytest
import yaml

import fusionbench.metrics
from fusionbench.metrics import MODULE_NAMES, MissingPriceError, path, threshold_sweep


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One evaluate cache for the module: evaluate imports each loaded script from ``<modules cache>``,
    and its ``evaluate_modules`` package is bound to the first cache folder a process uses."""
    return tmp_path_factory.mktemp("hf_home")


@pytest.fixture
def load(hf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """``evaluate.load(path(name))`` offline, with every cache under pytest's tmp folders."""
    for var in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(hf_home))
    # evaluate reads these once at import: point the already-imported config at the test folders too.
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", hf_home / "modules")
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", hf_home / "metrics")
    yield lambda name: evaluate.load(path(name), cache_dir=str(tmp_path / "cache"))


def _direct(name: str, tmp_path: Path):
    return getattr(fusionbench.metrics, name)(cache_dir=str(tmp_path / "direct"))


def test_path_and_cards() -> None:
    assert MODULE_NAMES == ("fusionbench_accuracy", "fusionbench_cost", "fusionbench_judge", "fusionbench_routing")
    for name in MODULE_NAMES:
        folder = Path(path(name))
        assert folder.name == name and (folder / f"{name}.py").is_file()
        assert path(name.removeprefix("fusionbench_")) == str(folder)
        card = (folder / "README.md").read_text(encoding="utf-8")
        header = yaml.safe_load(card.split("---")[1])
        assert header["title"].startswith("FusionBench") and "evaluate" in header["tags"] and header["description"]
        for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values", "## Citation"):
            assert section in card, (name, section)
        script = (folder / f"{name}.py").read_text(encoding="utf-8")
        assert "from ." not in script  # evaluate copies the script alone: no relative imports
        assert not any(line.startswith("import ") and "," in line for line in script.splitlines())
    with pytest.raises(ValueError, match="no evaluate module"):
        path("bleu")


def test_classes_import_directly() -> None:
    from fusionbench.metrics import Accuracy, Cost, Judge, Routing

    for cls in (Accuracy, Cost, Judge, Routing):
        assert issubclass(cls, evaluate.Metric)
    with pytest.raises(AttributeError):
        fusionbench.metrics.Nope  # noqa: B018


def test_accuracy(load: Callable, tmp_path: Path) -> None:
    accuracy = load("fusionbench_accuracy")
    inputs = {
        "predictions": [1.0, 0.0, None, 1.0, 1.0, float("nan")],
        "references": ["gsm8k", "gsm8k", "gsm8k", "gsm8k", "mbpp", "mbpp"],
        "modes": ["direct", "direct", "cot", "cot", "direct", "cot"],
    }
    r = accuracy.compute(**inputs)
    assert (r["n"], r["n_scored"], r["n_unscorable"]) == (6, 4, 2)  # None and NaN counted, not zeros
    assert r["accuracy"] == 0.75  # (1 + 0 + 1 + 1) / 4
    assert r["by_task"]["gsm8k"] == {"accuracy": 2 / 3, "n": 4, "n_scored": 3, "n_unscorable": 1}
    assert r["by_task"]["mbpp"]["accuracy"] == 1.0 and r["macro_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert r["by_task_mode"]["gsm8k"]["direct"]["accuracy"] == 0.5
    assert r["by_task_mode"]["gsm8k"]["cot"]["accuracy"] == 1.0
    assert r["by_task_mode"]["mbpp"]["cot"] == {"accuracy": None, "n": 1, "n_scored": 0, "n_unscorable": 1}
    assert r["cot_gain"] == {"overall": pytest.approx(1.0 - 2 / 3), "gsm8k": 0.5, "mbpp": None}
    assert _direct("Accuracy", tmp_path).compute(**inputs) == r
    # add_batch accumulates every input column, modes included
    for start in (0, 3):
        accuracy.add_batch(**{k: v[start : start + 3] for k, v in inputs.items()})
    assert accuracy.compute() == r


def test_cost(load: Callable, tmp_path: Path) -> None:
    cost = load("fusionbench_cost")
    inputs = {
        "predictions": ["gemma-2-9b-it", "deepseek-r1", "deepseek-r1"],
        "references": [1.0, 0.0, None],
        "input_tokens": [1000, 2000, None],
        "output_tokens": [500, 1000, 50],
    }
    r = cost.compute(**inputs, compare_sheets=["illustrative-output-4x"])
    release = (1000 * 0.1 + 500 * 0.1 + 2000 * 0.55 + 1000 * 2.19) / 1e6
    illustrative = (1000 * 0.1 + 500 * 0.4 + 2000 * 0.55 + 1000 * 2.2) / 1e6
    assert r["price_sheet"] == "fusionbench-release-2025" and r["price_date"] == "2025-03"
    assert r["total_usd"] == pytest.approx(release) and r["mean_usd_per_query"] == pytest.approx(release / 2)
    assert r["n_missing_tokens"] == 1 and r["n_priced"] == 2
    assert r["n_correct"] == 1.0 and r["cost_per_correct_usd"] == pytest.approx(release)
    other = r["repriced"]["illustrative-output-4x"]
    assert other["total_usd"] == pytest.approx(illustrative)
    assert other["total_usd_ratio"] == pytest.approx(illustrative / release)
    assert _direct("Cost", tmp_path).compute(**inputs, compare_sheets=["illustrative-output-4x"]) == r
    unpriced = {**inputs, "predictions": ["gemma-2-9b-it", "gpt-99", "gpt-99"]}
    with pytest.raises(MissingPriceError):
        cost.compute(**unpriced)
    excluded = cost.compute(**unpriced, on_missing_price="exclude")
    assert excluded["n_missing_price"] == 1 and excluded["total_usd"] == pytest.approx(150 / 1e6)


def test_judge(load: Callable, tmp_path: Path) -> None:
    judge = load("fusionbench_judge")
    inputs = {
        "predictions": ["<answer>0.8</answer>", "80%", "0", "<answer>maybe</answer>", ""],
        "references": [1.0, 1.0, 0.0, 1.0, 0.0],
    }
    r = judge.compute(**inputs)
    assert (r["n"], r["n_parsed"], r["n_failed"]) == (5, 3, 2)
    assert r["mean"] == pytest.approx(1.6 / 3) and r["coverage"] == pytest.approx(0.6)
    assert r["auroc"] == 1.0 and r["n_calibration"] == 3
    assert _direct("Judge", tmp_path).compute(**inputs) == r
    # Already-parsed scores (the dataset's judge_score column) go in as numbers, None for a failed call.
    numeric = judge.compute(predictions=[None, 0.8, 0.8, 0.0, 1.5], references=[1.0, 1.0, 1.0, 0.0, 0.0])
    assert numeric["n_failed"] == 2 and numeric["mean"] == pytest.approx(1.6 / 3) and numeric["auroc"] == 1.0


PERF = [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
COST = [[1.0, 2.0, 3.0]] * 3
CANDIDATES = ["m0/direct", "m1/direct", "m1/cot"]


def test_routing(load: Callable, tmp_path: Path) -> None:
    routing = load("fusionbench_routing")
    choices, query_ids = ["m0/direct", "m1/direct", "m0/direct"], ["q0", "q1", "q2"]
    r = routing.compute(
        predictions=choices, references=query_ids, performance=PERF, cost=COST, candidates=CANDIDATES, seed=3
    )
    assert r["router_accuracy"] == pytest.approx(2 / 3) and r["router_cost"] == pytest.approx(4 / 3)
    assert r["oracle_accuracy"] == 1.0 and r["oracle_cost"] == 2.0  # q0 tie -> the cheaper m0/direct
    assert r["gap_at_oracle"] == pytest.approx(1 / 3) and r["cost_save"] == pytest.approx(1 / 3)
    assert r["pgr"] == pytest.approx(1.0) and r["frontier"] == ["m0/direct", "router"]
    assert r["cost_save_vs_best_single_oracle"] == pytest.approx(1 / 3)
    low, high = r["ci"]["router_accuracy"]
    assert low <= r["router_accuracy"] <= high
    direct = _direct("Routing", tmp_path).compute(
        predictions=choices, references=query_ids, performance=PERF, cost=COST, candidates=CANDIDATES, seed=3
    )
    assert direct == r
    # The same candidates as long rows, in a different query order, with the router's choices shuffled.
    rows = [
        {"query_id": f"q{q}", "task": "t", "model": c.split("/")[0], "mode": c.split("/")[1]}
        | {"performance": PERF[q][i], "cost_usd": COST[q][i]}
        for q in (2, 0, 1)
        for i, c in enumerate(CANDIDATES)
    ]
    from_rows = routing.compute(predictions=choices[::-1], references=query_ids[::-1], rows=rows, seed=3, n_boot=0)
    for key in ("router_accuracy", "router_cost", "oracle_accuracy", "aiq", "pgr", "cost_save"):
        assert from_rows[key] == pytest.approx(r[key]), key
    assert from_rows["n_unmatched_choices"] == 0 and from_rows["n_dropped_queries"] == 0
    assert np.isclose(from_rows["aiq"], (1 / 3 + 2 / 3) / 2 / 6 + 2 / 3 * 5 / 6)
    # A pair router's scores, one per prediction: the sweep between strong (m1/direct) and weak (m0/direct).
    rates = [0.1, 0.9, 0.5]
    swept = routing.compute(
        predictions=choices[::-1], references=query_ids[::-1], rows=rows, n_boot=0, strong_win_rates=rates[::-1]
    )["sweep"]
    # m1/direct is right on q0, q1; m0/direct on q0 only: the gap is exactly q1, which has the top score.
    # Curve: 0 % -> 1/3, 33 % (q1 strong) -> 2/3, flat to 100 %: area 1/6 + 4/9, APGR (11/18 - 1/3) / (1/3) = 5/6.
    assert swept["apgr"] == pytest.approx(5 / 6)
    assert swept == threshold_sweep([1, 1, 0], [1, 0, 0], rates)
    assert swept["curve"]["strong_percentage"][0] == 0.0 and swept["curve"]["strong_percentage"][-1] == 100.0
    with pytest.raises(ValueError, match="rows="):
        routing.compute(predictions=choices, references=query_ids)
    # A missing cell: one vocabulary with fusion (error by default, drop_queries, drop_candidates); "drop" warns.
    holes = [row for row in rows if (row["query_id"], row["mode"]) != ("q2", "cot")]
    with pytest.raises(ValueError, match=r"1 \(query, candidate\) cells have no value.*incomplete='drop_queries'"):
        routing.compute(predictions=choices, references=query_ids, rows=holes, n_boot=0)
    dropped = routing.compute(
        predictions=choices, references=query_ids, rows=holes, n_boot=0, incomplete="drop_queries"
    )
    assert dropped["n_queries"] == 2 and dropped["n_dropped_queries"] == 1 and dropped["n_unmatched_choices"] == 1
    narrow = routing.compute(
        predictions=choices, references=query_ids, rows=holes, n_boot=0, incomplete="drop_candidates"
    )
    assert narrow["n_queries"] == 3 and narrow["n_dropped_candidates"] == 1 and "m1/cot" not in narrow["candidates"]
    with pytest.warns(DeprecationWarning, match="incomplete='drop' is now incomplete='drop_queries'"):
        old = routing.compute(predictions=choices, references=query_ids, rows=holes, n_boot=0, incomplete="drop")
    assert old == dropped
