"""``fusionbench analyze DATA --report DIR`` end to end: the embedded data, a synthetic export (judge, responses,
CAPA, majority vote), the real ../shared data (skipped when absent), and the report without matplotlib."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fusionbench.cli import main
from fusionbench.fusion.analysis import AnalysisConfig, analyze, extract_answers, write_analysis
from fusionbench.fusion.converters import from_external
from fusionbench.fusion.embedded import load as load_embedded


def _report(folder: Path) -> tuple[dict, str]:
    return json.loads((folder / "report.json").read_text()), (folder / "report.md").read_text()


def test_analyze_embedded_writes_report_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["analyze", "embedded", "--report", str(out), "--n-boot", "50", "--quiet"]) == 0
    report, markdown = _report(out)
    data = load_embedded()
    assert report["format"] == "fusionbench-analysis-report/1" and not report["synthetic"]
    micro = {r["candidate"]: r["accuracy"] for r in report["leaderboard"]["scores"] if r["task"] == "(micro)"}
    assert micro == pytest.approx(dict(zip(data.candidates, data.performance.mean(axis=0), strict=True)))
    oracle = next(r for r in report["bounds"] if r["task"] == "(all)" and r["bound"] == "oracle")
    assert oracle["value"] == pytest.approx(data.performance.max(axis=1).mean())
    assert report["oracle_at_k"][-1]["oracle"] == pytest.approx(oracle["value"])
    # no judge column: the judge section is skipped and said once under "Skipped"
    assert "judge" not in report and "## 2. Judge" not in markdown
    assert sum("judge" in item for item in report["skipped"]) == 1
    assert markdown.count("no judge scores") == 1
    pytest.importorskip("matplotlib")
    for name in ("leaderboard.png", "similarity.png", "oracle_at_k.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"({name})" in markdown


def test_analyze_synthetic_export_has_judge_capa_and_majority_vote(tmp_path: Path) -> None:
    export = tmp_path / "export"
    assert main(["build", "--out", str(export)]) == 0
    out = tmp_path / "report"
    args = ["analyze", str(export), "--report", str(out), "--n-boot", "30", "--quiet", "--incomplete", "drop_queries"]
    assert main(args) == 0
    report, markdown = _report(out)
    assert report["synthetic"] and markdown.count("Synthetic data: do not report") == 1
    pooled = next(r for r in report["judge"]["cells"] if r["task"] == "(all)" and r["candidate"] == "(all)")
    assert pooled["n_zero"] > 0 and pooled["n_judged"] + pooled["n_zero"] == pooled["n_cells"]
    assert "capa" in report["similarity"]
    bounds = {(r["task"], r["bound"]) for r in report["bounds"]}
    assert ("gsm8k", "majority_vote") in bounds and ("mbpp", "majority_vote") not in bounds
    assert ("(all)", "judge_best_of_n") in bounds
    assert any("no extractable answer" in item for item in report["skipped"])


def test_report_without_matplotlib_says_the_plots_were_skipped(tmp_path: Path, monkeypatch) -> None:
    import fusionbench.fusion.analysis.plots as plots

    def missing():
        raise ImportError("no matplotlib")

    monkeypatch.setattr(plots, "pyplot", missing)
    data = load_embedded().take(np.arange(300))
    files = write_analysis(analyze(data, AnalysisConfig(n_boot=0)), tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "matplotlib is not installed" in markdown and not list(tmp_path.glob("*.png"))
    assert set(files) == {"json", "markdown"}


def test_bad_data_spec_is_one_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["analyze", "nosuch=path", "--report", str(tmp_path / "r")]) == 1
    assert "unknown data kind" in capsys.readouterr().err.replace("\n", " ")


# ------------------------------------------------------------------------------------------- real data
def test_gsm8k_solutions_majority_vote_and_oracle(shared_data: Path) -> None:
    file = shared_data / "gsm8k" / "example_model_solutions.jsonl"
    data = from_external("gsm8k-solutions", file)
    report = analyze(data, AnalysisConfig(n_boot=20))
    bounds = {r["bound"]: r for r in report["bounds"] if r["task"] == "(all)"}
    labels = []
    for line in file.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        labels.append([item[c]["is_correct"] for c in ("6b_finetuning", "6b_verification", "175b_finetuning",
                                                         "175b_verification")])  # fmt: skip
    assert bounds["oracle"]["value"] == pytest.approx(np.mean([any(row) for row in labels]))
    assert bounds["majority_vote"]["n_queries"] == data.n_queries == 1319
    answers = extract_answers(data)
    assert answers is not None and sum(a is not None for a in answers.answers.ravel()) > 0.95 * answers.answers.size
    assert 0.3 < bounds["majority_vote"]["value"] < bounds["oracle"]["value"]


def test_routellm_mt_bench_judge_is_the_truth(shared_data: Path) -> None:
    data = from_external("routellm-mt_bench", shared_data / "routing" / "routellm" / "routellm" / "evals" / "mt_bench")
    report = analyze(data, AnalysisConfig(n_boot=20))
    assert "judge" not in report and any("identical" in item for item in report["skipped"])
    best_of_n = next(r for r in report["bounds"] if r["bound"] == "judge_best_of_n" and r["task"] == "(all)")
    oracle = next(r for r in report["bounds"] if r["bound"] == "oracle" and r["task"] == "(all)")
    assert best_of_n["value"] == pytest.approx(oracle["value"])  # picking by the grade is the oracle here


def test_docs_show_the_current_report_on_the_embedded_data() -> None:
    """docs/analysis.md holds the embedded report as written: its point values are today's."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "analysis.md").read_text(encoding="utf-8")
    report = analyze(load_embedded(), AnalysisConfig(n_boot=0))
    for row in (r for r in report["bounds"] if r["task"] == "(all)"):
        assert f"{row['value']:.3f} [" in docs, row
    for row in report["leaderboard"]["ranks"]:
        assert f"| {row['rank']} | {row['candidate']} | {row['macro_accuracy']:.3f} [" in docs, row
