"""Tiny FusionBench (fusionbench.fusion.tiny): anchors, hand-computed estimates, the split rule, save/load, the
leave-one-model-out study run small, and the command line from ``tiny build`` to ``estimate`` on a generate run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import expit

from fusionbench.cli import main
from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.irt import DamagedFileError, ItemModel, fit_irt
from fusionbench.fusion.tiny import build_tiny, load_tiny, lomo_study
from fusionbench.fusion.tiny.select import allocate, greedy_information, integrated_information

TASKS = ("gsm8k", "boolq", "mmlu")


def _simulated(n_per_task: int = 60, models: int = 8, seed: int = 0, splits: bool = False) -> RoutingData:
    """2PL answers of ``models`` models (both modes) on three tasks, with a per-model task profile."""
    rng = np.random.default_rng(seed)
    n = n_per_task * len(TASKS)
    tasks = [t for t in TASKS for _ in range(n_per_task)]
    code = np.repeat(np.arange(len(TASKS)), n_per_task)
    theta = np.linspace(-1.5, 1.5, models)
    profile = rng.normal(0, 0.4, (models, len(TASKS)))
    a, b = rng.uniform(0.7, 1.5, n), rng.normal(0, 1.2, n)
    cols, names = [], []
    for m in range(models):
        for mode, bonus in (("direct", 0.0), ("cot", 0.3)):
            p = expit(a * (theta[m] + bonus) + b + profile[m, code])
            cols.append((rng.random(n) < p).astype(float))
            names.append(f"model{m}/{mode}")
    extra = {"splits": ["train" if i % 5 else "test" for i in range(n)]} if splits else {}
    texts = [f"Question {i} of {t}?" for i, t in enumerate(tasks)]
    return RoutingData.from_arrays(np.column_stack(cols), tasks=tasks, texts=texts, candidates=names, **extra)


def test_allocation_spreads_the_total_evenly_and_caps_by_task_size() -> None:
    assert allocate({"a": 10, "b": 10, "c": 10}, total=7, per_task=None) == {"a": 3, "b": 2, "c": 2}
    assert allocate({"a": 2, "b": 10}, total=8, per_task=None) == {"a": 2, "b": 6}
    assert allocate({"a": 2, "b": 10}, total=None, per_task=4) == {"a": 2, "b": 4}
    with pytest.raises(ValueError, match="exactly one"):
        allocate({"a": 1}, total=3, per_task=2)


def test_stratified_estimate_is_the_hand_computed_mean_of_task_means() -> None:
    data = _simulated()
    tiny = build_tiny(data, per_task=4, method="stratified", seed=3)
    assert len(tiny.query_ids) == 12 and tiny.item_model is None
    scores = {q: (1.0 if i % 3 == 0 else 0.25) for i, q in enumerate(tiny.query_ids)}
    estimate = tiny.estimate(scores, n_boot=50)
    by_task = {t: [scores[q] for q, tt in zip(tiny.query_ids, tiny.tasks, strict=True) if tt == t] for t in TASKS}
    for t in TASKS:
        assert estimate.per_task[t] == pytest.approx(np.mean(by_task[t]))
    assert estimate.overall == pytest.approx(np.mean([np.mean(v) for v in by_task.values()]))
    low, high = estimate.interval
    assert low <= estimate.overall <= high and estimate.interpolation is None
    assert tiny.estimate(scores, n_boot=50).interval == estimate.interval  # seeded


def test_total_bounds_the_anchors_and_unknown_scores_are_counted() -> None:
    data = _simulated()
    for method in ("random", "stratified", "anchors", "gpirt"):
        tiny = build_tiny(data, total=10, method=method, seed=1, calibration_models=2)
        assert 0 < len(tiny.query_ids) <= 10 and len(set(tiny.query_ids)) == len(tiny.query_ids)
        for t in set(tiny.tasks):
            assert sum(w for w, tt in zip(tiny.weights, tiny.tasks, strict=True) if tt == t) == pytest.approx(1.0)
    estimate = tiny.estimate({**dict.fromkeys(tiny.query_ids, 1.0), "not-an-anchor": 0.0}, n_boot=0)
    assert estimate.ignored == 1 and estimate.n_answered == len(tiny.query_ids)
    with pytest.raises(ValueError, match="none of the 1 scores"):
        tiny.estimate({"not-an-anchor": 1.0})
    with pytest.raises(ValueError, match="outside"):
        tiny.estimate({tiny.query_ids[0]: 2.0})


def test_anchors_never_come_from_the_test_split() -> None:
    data = _simulated(splits=True)
    test_ids = set(data.split("test").query_ids)
    for method in ("stratified", "irt"):
        tiny = build_tiny(data, total=30, method=method)
        assert not set(tiny.query_ids) & test_ids and not set(tiny.population_ids) & test_ids
    with pytest.raises(ValueError, match="never chosen from the split being estimated"):
        build_tiny(data, total=30, split="test")


def test_irt_estimates_a_new_model_and_flags_an_extrapolation() -> None:
    data = _simulated(n_per_task=80, models=9)
    source, held = data.without_candidates(["model4"]), data.select_candidates(["model4/direct"])
    tiny = build_tiny(source, per_task=15, method="gpirt", calibration_models=3)
    answers = held.subset(tiny.query_ids)
    order = {q: i for i, q in enumerate(answers.query_ids)}
    scores = {q: float(answers.performance[order[q], 0]) for q in tiny.query_ids}
    estimate = tiny.estimate(scores, n_boot=100)
    truth = np.mean([held.performance[np.asarray(held.tasks) == t, 0].mean() for t in TASKS])
    assert abs(estimate.overall - truth) < 0.08
    assert estimate.interval[0] < estimate.overall < estimate.interval[1]
    assert estimate.interpolation is True and 0 <= min(tiny.task_lambda.values()) <= 1
    extreme = tiny.estimate(dict.fromkeys(tiny.query_ids, 1.0), n_boot=0)
    assert extreme.interpolation is False and "outside the source models' range" in extreme.flags[0]
    predicted = tiny.predicted_correctness(scores)
    assert set(predicted) == set(tiny.population_ids) and all(0 < v < 1 for v in predicted.values())


def test_save_and_load_round_trip_with_a_card_and_damage_is_refused(tmp_path: Path) -> None:
    data = _simulated()
    tiny = build_tiny(data, per_task=5, method="anchors", seed=2)
    folder = tiny.save(tmp_path / "tiny")
    loaded = load_tiny(folder)
    assert loaded.query_ids == tiny.query_ids and np.array_equal(loaded.weights, tiny.weights)
    scores = {q: float(i % 2) for i, q in enumerate(tiny.query_ids)}
    assert loaded.estimate(scores, n_boot=20).overall == pytest.approx(tiny.estimate(scores, n_boot=20).overall)
    assert "15 anchor queries" in (folder / "README.md").read_text()
    meta = json.loads((folder / "tiny.json").read_text())
    assert meta["format"] == "fusionbench-tiny/1" and meta["created"] and meta["fusionbench_version"]
    (folder / "tiny.json").write_text(json.dumps({**meta, "anchors": [{"query_id": "nope", "task": "x", "weight": 1}]}))
    with pytest.raises(DamagedFileError, match=r"tiny: tiny\.json: the anchors are not among"):
        load_tiny(folder)
    (folder / "tiny.json").write_text(json.dumps(meta))
    (folder / "irt" / "irt.npz").write_bytes(b"garbage")
    with pytest.raises(DamagedFileError, match=r"irt: irt\.npz"):
        load_tiny(folder)


def test_the_leave_one_model_out_study_runs_small() -> None:
    data = _simulated(n_per_task=40, models=5)
    result = lomo_study(data, methods=("stratified", "irt"), per_task=5, draws=2, calibration_models=2)
    assert set(result["methods"]) == {"stratified", "irt"}
    for row in result["methods"].values():
        assert len(row["per_model"]) == 5 and row["ci"][0] <= row["mae"] <= row["ci"][1]
        assert set(row["per_task"]) == set(TASKS) and 0 <= row["mae"] < 30


def _generate_run(folder: Path, rows: list[dict]) -> Path:
    """A generate run folder: run.json and one shard in the run schema (as fusionbench generate writes them)."""
    from fusionbench.generation.store import RUN_SCHEMA

    folder.mkdir(parents=True)
    fixed = {"domain": "other", "split": "train", "sample": 0, "query": "q", "prompt": "p", "source": "generate:test",
             "flags": []}  # fmt: skip
    rows = [{**fixed, **row} for row in rows]
    (folder / "run.json").write_text(json.dumps({"settings": {}}))
    pq.write_table(pa.Table.from_pylist(rows, schema=RUN_SCHEMA), folder / "shard-20261206T000000-00000.parquet")
    return folder


def test_cli_tiny_build_then_estimate_on_a_generate_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _simulated(splits=True)
    export = data.write_export(tmp_path / "export")
    tiny_dir = tmp_path / "tiny"
    assert main(["tiny", "build", "--data", str(export), "--per-task", "4", "--method", "irt",
                 "--out", str(tiny_dir)]) == 0  # fmt: skip
    tiny = load_tiny(tiny_dir)
    test_ids = set(data.split("test").query_ids)
    assert len(tiny.query_ids) == 12 and not set(tiny.query_ids) & test_ids
    run = _generate_run(tmp_path / "run", [
        {"query_id": q, "task": t, "model": "new-model", "mode": "direct", "performance": float(i % 2)}
        for i, (q, t) in enumerate(zip(tiny.query_ids, tiny.tasks, strict=True))
    ])  # fmt: skip
    out_json = tmp_path / "estimate.json"
    assert main(["estimate", str(run), "--tiny", str(tiny_dir), "--json", str(out_json), "--n-boot", "30"]) == 0
    printed = capsys.readouterr().out
    assert "new-model/direct" in printed and "overall" in printed
    assert "extrapolation: answers fit the item model poorly" in printed  # alternate right/wrong: no ability fits
    result = json.loads(out_json.read_text())["estimates"]["new-model/direct"]
    expected = tiny.estimate({q: float(i % 2) for i, q in enumerate(tiny.query_ids)}, n_boot=30)
    assert result["overall"] == pytest.approx(expected.overall) and result["interval"] == list(expected.interval)
    assert result["interpolation"] is False and result["n_answered"] == 12
    assert main(["estimate", str(tmp_path), "--tiny", str(tiny_dir)]) == 1  # not a run: one line naming it
    assert main(["tiny", "build", "--data", str(export), "--out", str(tiny_dir)]) == 1  # not overwritten


def test_the_alpacaeval_converter_reads_fractional_preferences(shared_data: Path, tmp_path: Path) -> None:
    from fusionbench.errors import BadInputError
    from fusionbench.fusion.converters import from_external

    folder = shared_data / "routing-more" / "alpacaeval2"
    data = from_external("alpacaeval2", folder, incomplete="drop_queries")
    assert data.n_candidates == 57 and data.n_queries == 805 - data.provenance["skipped"]["queries_incomplete"]
    perf = data.performance
    assert perf.min() >= 0 and perf.max() <= 1 and ((perf > 0.01) & (perf < 0.99)).mean() > 0.1  # fractional
    lines = (folder / "alpacaeval2_preference_matrix.csv").read_text().splitlines()
    cells = lines[3].split(",")
    cells[5] = "2.7"
    (tmp_path / "alpacaeval2_items.csv").write_text((folder / "alpacaeval2_items.csv").read_text())
    (tmp_path / "alpacaeval2_preference_matrix.csv").write_text("\n".join([*lines[:3], ",".join(cells)]) + "\n")
    with pytest.raises(BadInputError, match=r"alpacaeval2_preference_matrix\.csv, line 4, column '4'.*outside"):
        from_external("alpacaeval2", tmp_path)


def test_cli_estimate_reads_an_lm_eval_samples_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _simulated()
    tiny = build_tiny(data, per_task=3, method="stratified", seed=5)
    tiny.save(tmp_path / "tiny")
    folder = tmp_path / "lm-eval" / "my-model"
    folder.mkdir(parents=True)
    (folder / "results_2026-12-06T05-00-00.000001.json").write_text(
        json.dumps({"config": {"model": "hf", "model_args": "pretrained=org/my-model"}})
    )
    for task in TASKS:
        anchors = [q for q, t in zip(tiny.query_ids, tiny.tasks, strict=True) if t == task]
        with (folder / f"samples_fusionbench_{task}_cot_2026-12-06T05-00-00.000001.jsonl").open("w") as handle:
            for i, q in enumerate(anchors):
                handle.write(json.dumps({"doc_id": i, "doc": {"query_id": q, "task": task}, "acc": float(i == 0)}))
                handle.write("\n")
    assert main(["estimate", str(tmp_path / "lm-eval"), "--tiny", str(tmp_path / "tiny"), "--json", "-"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed[printed.index("{\n") :])["estimates"]["org/my-model/cot"]
    assert result["per_task"] == {t: pytest.approx(1 / 3) for t in TASKS} and result["overall"] == pytest.approx(1 / 3)
    bad = folder / "samples_fusionbench_gsm8k_2026-12-06T05-00-00.000001.jsonl"
    bad.write_text(json.dumps({"doc": {"query_id": tiny.query_ids[0]}, "acc": "yes"}) + "\n")
    assert main(["estimate", str(tmp_path / "lm-eval"), "--tiny", str(tmp_path / "tiny")]) == 1
    error = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "samples_fusionbench_gsm8k_2026-12-06T05-00-00.000001.jsonl, line 1, column 'acc'" in error


def _planted_item_model(data: RoutingData, a: np.ndarray, b: np.ndarray) -> ItemModel:
    """The item model of ``data`` with hand-set item parameters, source abilities spread over [-1, 1] and no task
    offsets."""
    model = fit_irt(data, kind="2pl", dims=1, task_effects=True, max_iter=5)
    theta = np.linspace(-1.0, 1.0, len(model.subjects))[:, None]
    return dataclasses.replace(model, a=a[:, None].astype(float), b=b.astype(float), theta=theta,
                               delta=np.zeros_like(model.delta))  # fmt: skip


def test_integrated_information_is_the_hand_computed_mean_of_a2_p_q() -> None:
    model = SimpleNamespace(a=np.array([[2.0], [1.0], [1.0]]), b=np.array([0.0, 0.0, 3.0]))
    info = integrated_information(model, np.array([[-1.0], [1.0]]))
    pq2, pq1, pq4 = expit(2) * expit(-2), expit(1) * expit(-1), expit(4) * expit(-4)
    assert info == pytest.approx([4 * pq2, pq1, (pq2 + pq4) / 2])  # a^2 * mean over abilities of p (1 - p)
    assert greedy_information(info, 2).tolist() == [0, 1]
    assert greedy_information(np.array([0.1, 0.3, 0.3, 0.2]), 2).tolist() == [1, 2]  # ties: the earlier item


def test_adaptive_anchors_are_the_items_of_largest_integrated_information(tmp_path: Path) -> None:
    data = _simulated(n_per_task=20)
    rng = np.random.default_rng(1)
    a, b = np.full(data.n_queries, 0.4), rng.normal(0, 2.0, data.n_queries)
    planted = np.array([3, 11, 25, 38, 44, 59])  # two per task: sharp items at the sources' mean ability
    a[planted], b[planted] = 2.5, 0.0
    model = _planted_item_model(data, a, b)
    tiny = build_tiny(data, per_task=2, method="adaptive", item_model=model, seed=0)
    ids = [str(q) for q in data.query_ids]
    assert sorted(ids.index(q) for q in tiny.query_ids) == planted.tolist()
    again = build_tiny(data, per_task=2, method="adaptive", item_model=model, seed=7)
    assert again.query_ids == tiny.query_ids  # determined by the item model alone, not the seed
    info = integrated_information(model)
    wider = build_tiny(data, per_task=5, method="adaptive", item_model=model)
    for task in TASKS:  # at a larger budget: still each task's k most informative items
        members = np.flatnonzero(np.asarray(data.tasks) == task)
        top = members[np.argsort(-info[members], kind="stable")[:5]]
        assert {ids[p] for p in top} == {q for q, t in zip(wider.query_ids, wider.tasks, strict=True) if t == task}
    scores = {q: 1.0 for q in tiny.query_ids}
    assert tiny.estimate(scores, n_boot=20).overall > tiny.estimate(dict.fromkeys(scores, 0.0), n_boot=20).overall
    loaded = load_tiny(tiny.save(tmp_path / "tiny-adaptive"))
    assert loaded.method == "adaptive" and loaded.query_ids == tiny.query_ids
    half = dict.fromkeys(tiny.query_ids[:3], 1.0)
    assert loaded.estimate(half, n_boot=0).overall == pytest.approx(tiny.estimate(half, n_boot=0).overall)


def test_next_item_follows_the_ability_estimate() -> None:
    data = _simulated(n_per_task=20)
    b = np.tile(np.linspace(-3.0, 3.0, 20), len(TASKS))  # easiness spread in every task, equal discrimination
    model = _planted_item_model(data, np.ones(data.n_queries), b)
    tiny = build_tiny(data, total=data.n_queries, method="irt", item_model=model)
    easiness = dict(zip((str(q) for q in data.query_ids), b.tolist(), strict=True))
    first = tiny.next_item({})
    assert abs(easiness[first]) < 0.2  # before any answer: p = 1/2 at the sources' mean ability (0)
    easy = [q for q in tiny.query_ids if easiness[q] > 0][:12]
    hard = [q for q in tiny.query_ids if easiness[q] < 0][:12]
    assert easiness[tiny.next_item(dict.fromkeys(easy, 1.0))] < -0.3  # all right: a harder item comes next
    assert easiness[tiny.next_item(dict.fromkeys(hard, 0.0))] > 0.3  # all wrong: an easier one
    answered = dict.fromkeys(tiny.query_ids, 1.0)
    assert tiny.next_item(answered) is None
    left = tiny.query_ids[5]
    assert tiny.next_item({q: v for q, v in answered.items() if q != left}) == left
    with pytest.raises(ValueError, match="keeps no item model"):
        build_tiny(data, per_task=2, method="stratified").next_item({})
