"""Tiny FusionBench in lm-eval: ``fusionbench_tiny[_cot]`` run only the anchors of a tiny set folder, score each by
fusionbench.metrics and aggregate to the set's estimate of the full benchmark; ``estimate`` and ``ingest`` read the
run, and ingested rows are marked as anchors of the tiny set.

The end to end test runs `tiny build` -> `fusionbench eval --tasks fusionbench_tiny --log_samples` -> `estimate` ->
`ingest` in subprocesses on CPU with the offline random-weight Llama of ``tiny_model.py``; its answers are gibberish,
so the estimates are also checked on mixed hand-made scores.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fusionbench.fusion.tiny import build_tiny, load_tiny
from fusionbench.harness_tasks import _generate
from fusionbench.harness_tasks import utils as harness_utils
from fusionbench.metrics import score
from fusionbench.schema import SCORER_FIELDS, TASKS

ANCHORS = 8


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBENCH_")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp / "hf-datasets")}
    return env | {"TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}


def _fusionbench(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "fusionbench", *args], cwd=tmp, env=_env(tmp), capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.fixture(scope="module")
def tiny_dir(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fusionbench tiny build` on the synthetic sample export, a few anchors."""
    tmp = tmp_path_factory.mktemp("tiny-build")
    out = tmp / "tiny-sample"
    _fusionbench(["tiny", "build", "--data", str(sample_export), "--total", str(ANCHORS), "--incomplete",
                  "drop_queries", "--out", str(out)], tmp)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def tiny_run(tiny_dir: Path, sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fusionbench eval --tasks fusionbench_tiny --log_samples` with the tiny Llama, offline."""
    from tiny_model import build_tiny_llama

    tmp = tmp_path_factory.mktemp("tiny-eval")
    model = build_tiny_llama(tmp / "llama")
    out = tmp / "out"
    metadata = json.dumps({"fusionbench_tiny": str(tiny_dir), "fusionbench_export": str(sample_export)})
    _fusionbench(["eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
                  "--tasks", "fusionbench_tiny", "--metadata", metadata, "--gen_kwargs", "max_gen_toks=16",
                  "--confirm_run_unsafe_code", "--log_samples", "--output_path", str(out)], tmp)  # fmt: skip
    return out


def _samples(out: Path) -> list[dict]:
    (path,) = out.rglob("samples_fusionbench_tiny_*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    for name in (harness_utils.EXPORT_ENV, harness_utils.TINY_ENV, harness_utils.SPLIT_ENV):
        monkeypatch.delenv(name, raising=False)
    harness_utils.task_queries.cache_clear()
    yield harness_utils
    harness_utils.task_queries.cache_clear()


# ------------------------------------------------------------------ task files and docs (no model)
def test_tiny_task_files_are_generated() -> None:
    files = _generate.render_all()
    assert _generate.tiny_task_names() == ["fusionbench_tiny", "fusionbench_tiny_cot"]
    for name in _generate.tiny_task_names():
        text = files[f"{name}.yaml"]
        assert "process_results: !function utils.process_tiny_results" in text
        assert "aggregation: !function utils.estimate_overall" in text
        for task in TASKS:  # every named aggregation exists
            assert f"aggregation: !function utils.estimate_{task}\n" in text
            assert callable(getattr(harness_utils, f"estimate_{task}"))


def test_tiny_docs_are_the_anchors_from_metadata_or_env(
    fresh, tiny_dir: Path, sample_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"fusionbench_tiny reads the anchors.*fusionbench_tiny.*FUSIONBENCH_TINY"):
        fresh.load_docs("tiny", "direct", fusionbench_export=str(sample_export))
    tiny = load_tiny(tiny_dir)
    docs = fresh.load_docs("tiny", "direct", fusionbench_export=str(sample_export), fusionbench_tiny=str(tiny_dir))
    assert docs["eval"]["query_id"] == list(tiny.query_ids)  # every anchor, in anchor order, nothing else
    assert set(docs["eval"][harness_utils.TINY_COLUMN]) == {str(tiny_dir.resolve())}
    monkeypatch.setenv(harness_utils.TINY_ENV, str(tiny_dir))
    cot = fresh.load_docs("tiny", "cot", fusionbench_export=str(sample_export))["eval"]
    assert cot["query_id"] == list(tiny.query_ids) and all(cot["prompt_cot"])


def test_anchors_missing_from_the_export_are_named(fresh, tiny_dir: Path, tmp_path: Path) -> None:
    meta = json.loads((tiny_dir / "tiny.json").read_text(encoding="utf-8"))
    other = tmp_path / "other"
    shutil.copytree(tiny_dir, other)
    meta["anchors"][0]["query_id"] = meta["population"]["query_ids"][0] = "not-a-query"
    meta["item_model"] = None
    meta["method"] = "stratified"
    (other / "tiny.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match=r"1 of the \d+ anchors .* are not in the export \(e.g. \['not-a-query'\]\)"):
        fresh.load_docs("tiny", "direct", fusionbench_tiny=str(other))


def test_aggregations_are_tinyset_estimate_on_mixed_scores(tiny_dir: Path) -> None:
    tiny = load_tiny(tiny_dir)
    folder = str(tiny_dir.resolve())
    scores = {q: float(i % 2) for i, q in enumerate(tiny.query_ids)}  # half right, half wrong
    items = [(folder, q, v) for q, v in reversed(scores.items())]  # order does not matter
    expected = tiny.estimate(scores)
    assert harness_utils.estimate_overall(items) == pytest.approx(expected.overall)
    assert expected.overall == pytest.approx(sum(expected.per_task.values()) / len(expected.per_task))
    for task in TASKS:
        got = getattr(harness_utils, f"estimate_{task}")(items)
        assert got == pytest.approx(expected.per_task[task]) if task in expected.per_task else math.isnan(got)
    with pytest.raises(ValueError, match="one tiny set"):
        harness_utils.estimate_overall([*items, ("/elsewhere", tiny.query_ids[0], 1.0)])


def test_mean_method_aggregation_is_the_hand_computed_weighted_mean(sample_export: Path) -> None:
    """A stratified set keeps no item model: each task's estimate is the weighted mean of its anchors' scores."""
    import argparse

    from fusionbench.cli.tiny import _load

    data = _load(argparse.Namespace(data=str(sample_export), incomplete="drop_queries"))
    tiny = build_tiny(data, per_task=2, method="stratified", seed=0)
    scores = {q: float(i % 3 == 0) for i, q in enumerate(tiny.query_ids)}
    estimate = tiny.estimate(scores)
    for task in set(tiny.tasks):
        mine = [(w, scores[q]) for q, t, w in zip(tiny.query_ids, tiny.tasks, tiny.weights, strict=True) if t == task]
        hand = sum(w * s for w, s in mine) / sum(w for w, _ in mine)
        assert estimate.per_task[task] == pytest.approx(hand)


# ------------------------------------------------------------------ end to end: build -> eval -> estimate -> ingest
def test_eval_logs_anchor_scores_and_reports_the_estimate(tiny_run: Path, tiny_dir: Path) -> None:
    tiny = load_tiny(tiny_dir)
    samples = _samples(tiny_run)
    assert sorted(s["doc"]["query_id"] for s in samples) == sorted(tiny.query_ids)
    scores = {}
    for sample in samples:  # per-sample scores are fusionbench.metrics' score of the logged response
        doc = sample["doc"]
        fields = {k: doc.get(k) for k in SCORER_FIELDS}
        assert sample["acc"] == pytest.approx(score(doc["task"], sample["resps"][0][0], doc["ground_truth"], **fields))
        scores[doc["query_id"]] = sample["acc"]
    (results_file,) = tiny_run.rglob("results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"]["fusionbench_tiny"]
    hand = tiny.estimate(scores)  # TinySet.estimate called here on the logged scores
    assert results["estimate,none"] == pytest.approx(hand.overall)
    for task, value in hand.per_task.items():
        assert results[f"estimate_{task},none"] == pytest.approx(value)
    assert results["acc,none"] == pytest.approx(sum(scores.values()) / len(scores))


def test_estimate_cli_reads_the_tiny_run(tiny_run: Path, tiny_dir: Path) -> None:
    proc = _fusionbench(["estimate", str(tiny_run), "--tiny", str(tiny_dir), "--json", "-"], tiny_run.parent)
    report = json.loads(proc.stdout[proc.stdout.index("{\n") :])
    ((subject, estimate),) = report["estimates"].items()
    assert subject.endswith("/direct") and estimate["n_answered"] == ANCHORS
    scores = {s["doc"]["query_id"]: s["acc"] for s in _samples(tiny_run)}
    assert estimate["overall"] == pytest.approx(load_tiny(tiny_dir).estimate(scores).overall)
    low, high = estimate["interval"]
    assert low <= estimate["overall"] <= high


def test_ingest_marks_rows_as_anchors_of_the_tiny_set(tiny_run: Path, sample_export: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    proc = _fusionbench(["ingest", str(tiny_run), "--model", "tiny-llama", "--into", str(export)], tmp_path)
    said = " ".join((proc.stdout + proc.stderr).split())
    assert "anchors of tiny:tiny-sample" in said and "not a full evaluation" in said
    card = (export / "README.md").read_text(encoding="utf-8")
    assert "anchors of the tiny set `tiny-sample`: not a full evaluation" in card
    from datasets import load_dataset

    rows = [r for split in ("train", "test") for r in load_dataset(str(export), "all", split=split)
            if r["model"] == "tiny-llama"]  # fmt: skip
    assert len(rows) == ANCHORS
    assert all(r["source"].startswith("tiny:tiny-sample:lm-eval:") for r in rows)
    scores = {s["doc"]["query_id"]: s["acc"] for s in _samples(tiny_run)}
    assert {r["query_id"]: r["performance"] for r in rows} == pytest.approx(scores)
    info = " ".join(_fusionbench(["info", str(export), "--by", "model"], tmp_path).stdout.split())
    modes = {f"tiny-llama/{r['mode']}" for r in rows}
    assert f"tiny anchors: {ANCHORS} of the " in info and "anchors of the tiny set tiny-sample (" in info
    assert all(mode in info for mode in modes) and "not a full evaluation" in info


# ------------------------------------------------------------------ per-domain tiny tasks
def test_domain_task_files_name_only_their_tasks() -> None:
    from fusionbench.schema import DOMAINS, TASK_DOMAINS

    files = _generate.render_all()
    assert len(_generate.tiny_domain_task_names()) == 2 * len(DOMAINS)
    for domain in DOMAINS:
        text = files[f"fusionbench_tiny_domain_{domain}_cot.yaml"]
        assert f"  fusionbench_tiny_domain: {domain}\n" in text and "  fusionbench_mode: cot\n" in text
        named = {t for t in TASKS if f"aggregation: !function utils.estimate_{t}\n" in text}
        assert named == {t for t in TASKS if TASK_DOMAINS[t] == domain}


def _a_domain_with_anchors(tiny_dir: Path) -> tuple[str, list[str]]:
    from fusionbench.schema import TASK_DOMAINS

    tiny = load_tiny(tiny_dir)
    domain = TASK_DOMAINS[tiny.tasks[0]]
    return domain, [q for q, t in zip(tiny.query_ids, tiny.tasks, strict=True) if TASK_DOMAINS[t] == domain]


def test_domain_docs_and_estimate_are_the_domains_own(fresh, tiny_dir: Path, sample_export: Path) -> None:
    from fusionbench.schema import TASK_DOMAINS

    domain, anchors = _a_domain_with_anchors(tiny_dir)
    docs = fresh.load_docs("tiny", "direct", fusionbench_export=str(sample_export), fusionbench_tiny=str(tiny_dir),
                           fusionbench_tiny_domain=domain)["eval"]  # fmt: skip
    assert docs["query_id"] == anchors and set(docs[harness_utils.TINY_DOMAIN_COLUMN]) == {domain}
    with pytest.raises(ValueError, match="unknown domain 'cooking'"):
        fresh.load_docs("tiny", "direct", fusionbench_export=str(sample_export), fusionbench_tiny=str(tiny_dir),
                        fusionbench_tiny_domain="cooking")  # fmt: skip
    tiny, folder = load_tiny(tiny_dir), str(tiny_dir.resolve())
    scores = {q: float(i % 2) for i, q in enumerate(anchors)}
    items = [(folder, q, v, domain) for q, v in scores.items()]
    per_task = tiny.estimate(scores).per_task
    own = [per_task[t] for t in TASKS if TASK_DOMAINS[t] == domain and t in per_task]
    assert harness_utils.estimate_overall(items) == pytest.approx(sum(own) / len(own))  # the domain's task mean
    doc = {**docs[0], "task": docs[0]["task"]}
    metrics = harness_utils.process_tiny_results(doc, ["no answer"])
    assert {k for k in metrics if k.startswith("estimate_")} == {
        f"estimate_{t}" for t in TASKS if TASK_DOMAINS[t] == domain
    }
    with pytest.raises(ValueError, match="one domain"):
        harness_utils.estimate_overall([*items, (folder, anchors[0], 1.0, "other")])


def test_a_domain_task_runs_its_anchors_and_ingests_as_tiny(
    tiny_dir: Path, sample_export: Path, tmp_path: Path
) -> None:
    from tiny_model import build_tiny_llama

    from fusionbench.harness.logs import file_task_mode

    domain, anchors = _a_domain_with_anchors(tiny_dir)
    task = f"fusionbench_tiny_domain_{domain}"
    model = build_tiny_llama(tmp_path / "llama")
    out = tmp_path / "out"
    metadata = json.dumps({"fusionbench_tiny": str(tiny_dir), "fusionbench_export": str(sample_export)})
    _fusionbench(["eval", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu",
                  "--tasks", task, "--metadata", metadata, "--gen_kwargs", "max_gen_toks=8",
                  "--confirm_run_unsafe_code", "--log_samples", "--output_path", str(out)], tmp_path)  # fmt: skip
    (path,) = out.rglob(f"samples_{task}_*.jsonl")
    assert file_task_mode(path) == ("tiny", "direct")
    samples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert sorted(s["doc"]["query_id"] for s in samples) == sorted(anchors)
    scores = {s["doc"]["query_id"]: s["acc"] for s in samples}
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"][task]
    items = [(str(tiny_dir.resolve()), q, v, domain) for q, v in scores.items()]
    assert results["estimate,none"] == pytest.approx(harness_utils.estimate_overall(items))
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    proc = _fusionbench(["ingest", str(out), "--model", "tiny-llama", "--into", str(export)], tmp_path)
    assert "not a full evaluation" in " ".join((proc.stdout + proc.stderr).split())
