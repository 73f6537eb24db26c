"""The export folder: real ``load_dataset`` on every config, full round trip, determinism, card, filters."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import get_dataset_config_names, load_dataset
from release_factory import release_rows, write_release

import fusionbench
from fusionbench.build import build_export, pipeline
from fusionbench.export import folder
from fusionbench.export.card import read_checksums, sha256_file
from fusionbench.fusionbench_dataset import CONFIG_NAMES, FusionBench
from fusionbench.schema import RELEASE_COLUMNS, TASKS
from fusionbench.synthetic import SAMPLE_DIR

csv.field_size_limit(1 << 30)


def _source_rows() -> list[dict]:
    rows = []
    for path in sorted(Path(SAMPLE_DIR).glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, escapechar="\\"):
                rows.append({**row, "_split": "test" if "test" in path.name else "train", "_file": path.name})
    return rows


def _number(text: str) -> float | None:
    if text.startswith("{"):
        return float(ast.literal_eval(text)["pass@1"])
    return float(text) if text not in ("", "nan") else None


def test_every_config_loads_with_load_dataset(sample_export: Path) -> None:
    assert set(get_dataset_config_names(str(sample_export))) == set(CONFIG_NAMES)
    total = 0
    for task in TASKS:
        dataset = load_dataset(str(sample_export), task)
        assert set(dataset) <= {"train", "test"} and "train" in dataset
        assert set(dataset["train"]["task"]) == {task}
        total += sum(split.num_rows for split in dataset.values())
        features = dataset["train"].features
        assert features["performance"].dtype == "float64" and features["input_tokens"].dtype == "int64"
        assert features["flags"].feature.dtype == "string"
    everything = load_dataset(str(sample_export), "all")
    assert sum(split.num_rows for split in everything.values()) == total
    assert "gpqa" not in set(everything["test"]["task"])  # the release has no GPQA test items
    queries = load_dataset(str(sample_export), "queries")
    assert queries["train"].features["embedding"].feature.dtype == "float32"
    assert sum(queries["train"]["n_rows"]) + sum(queries["test"]["n_rows"]) == total
    models = load_dataset(str(sample_export), "models", split="train")
    assert models.num_rows == 20 and sum(models["n_rows"]) == total
    with pytest.raises(ValueError):
        load_dataset(str(sample_export), "quac")


def test_round_trip_every_source_value_is_in_the_export_typed(sample_export: Path) -> None:
    source = _source_rows()
    assert {tuple(row) for row in source[:1]} and list(source[0])[:18] == list(RELEASE_COLUMNS)
    responses = {}
    for path in sorted((sample_export / "data").glob("*/*.parquet")):
        if path.parent.name not in ("queries", "models"):
            for row in pq.read_table(path).to_pylist():
                key = (row["split"], row["prompt"], row["model"] + ("_think" if row["mode"] == "cot" else ""))
                responses[key] = row
    queries = {
        (row["split"], row["query_id"]): row
        for path in (sample_export / "data" / "queries").glob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    }
    models = {row["model"]: row for row in pq.read_table(next((sample_export / "data/models").glob("*"))).to_pylist()}
    seen = set()
    for row in source:
        key = (row["_split"], row["query"], row["llm"])
        out = responses[key]  # every source row is in the export (exact duplicates collapse to one)
        seen.add(key)
        assert out["task"] == row["task_name"] and out["ground_truth"] == (row["ground_truth"] or None)
        assert out["metric"] == row["metric"] and out["source"] == row["_file"]
        assert out["response"] == (row["response"] or None)
        for ours, theirs in (("input_tokens", "input_tokens_num"), ("output_tokens", "output_tokens_num")):
            assert out[ours] == (int(float(row[theirs])) if row[theirs] else None)
            assert out[ours] is None or isinstance(out[ours], int)
        assert out["input_price"] == _number(row["input_price"]) and out["output_price"] == _number(row["output_price"])
        assert out["performance"] == _number(row["performance"]) and out["judge_score"] == _number(row["llm_judge"])
        cost = _number(row["cost"])
        assert out["cost_usd"] == (None if cost is None else pytest.approx(cost / 1e6))
        query = queries[(row["_split"], out["query_id"])]
        assert row["query"] in (query["prompt_direct"], query["prompt_cot"])
        assert query["task_description"] == row["task_description"] and query["source_task_id"] == (
            row["task_id"] or None
        )
        if row["query_embedding"]:
            values = [float(v) for v in row["query_embedding"].strip("tensor()[] ").replace("]", "").split(",")]
            assert query["embedding"] == pytest.approx(values, abs=1e-6)
        model = models[out["model"]]
        assert model["description"] == row["llm_description"]
    assert len(seen) == len(responses)  # and nothing in the export that was not in the source


def test_two_builds_are_byte_identical(sample_export: Path, tmp_path: Path) -> None:
    again = build_export(None, tmp_path / sample_export.name).out
    first = {p.relative_to(sample_export): p.read_bytes() for p in sample_export.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first.keys() == second.keys() and len(first) > 20
    assert first == second  # shards and card alike


def test_card_states_synthetic_origin_report_defects_and_checksums(sample_export: Path) -> None:
    text = (sample_export / "README.md").read_text()
    assert "This is a synthetic sample" in text and "fusionbench build --source ulab-ai/FusionBench" in text
    for phrase in ("queries with other than 40 rows | 1", "Known defects", "GPQA labels", "gpqa_label_unverified"):
        assert phrase in text
    assert "duplicate (query, model, mode) rows dropped, first kept | 1" in text
    checksums = read_checksums(text)
    shards = {p.relative_to(sample_export).as_posix() for p in sample_export.glob("data/**/*.parquet")}
    assert set(checksums) == shards
    assert all(sha256_file(sample_export / path) == digest for path, digest in checksums.items())
    for column in ("query_id", "cost_usd", "judge_score", "flags", "embedding", "generated_by"):
        assert f"`{column}`" in text


def test_filters_by_model_and_mode_skip_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder, "ROW_GROUP_ROWS", 8)
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k") + release_rows("math"))
    out = build_export([str(source)], tmp_path / "out").out
    filtered = load_dataset(
        str(out), "gsm8k", split="train", filters=[("model", "==", "deepseek-r1"), ("mode", "==", "cot")]
    )
    assert filtered.num_rows == 1 and filtered[0]["model"] == "deepseek-r1" and filtered[0]["mode"] == "cot"
    metadata = pq.ParquetFile(out / "data/gsm8k/train-00000-of-00001.parquet").metadata
    column = metadata.schema.names.index("model")
    stats = [metadata.row_group(i).column(column).statistics for i in range(metadata.num_row_groups)]
    candidates = [s for s in stats if s.min <= "deepseek-r1" <= s.max]
    assert metadata.num_row_groups == 5 and len(candidates) == 1  # the other row groups are never read


def test_builder_and_load_helper(tmp_path: Path, sample_export: Path) -> None:
    builder = FusionBench(config_name="gsm8k", cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    exported = load_dataset(str(sample_export), "gsm8k")
    assert {s: d.num_rows for s, d in dataset.items()} == {s: d.num_rows for s, d in exported.items()}
    cot = fusionbench.load(
        "gsm8k", modes=["cot"], models=["deepseek-r1"], split="train", cache_dir=str(tmp_path / "c2")
    )
    assert set(cot["mode"]) == {"cot"} and set(cot["model"]) == {"deepseek-r1"}
    streamed = fusionbench.load("models", split="train", streaming=True, cache_dir=str(tmp_path / "c3"))
    assert len(list(streamed)) == 20
    with pytest.raises(ValueError, match="unknown config"):
        fusionbench.load("quac")


def test_builder_reads_the_release_files_it_is_given(tmp_path: Path) -> None:
    """``source=`` is honoured: the rows come from the given release CSV (one gsm8k query, 40 rows, a question
    the synthetic sample does not have), not from the default sample; a task absent from the file is refused."""
    source = write_release(tmp_path / "release" / "train.csv", release_rows("gsm8k", performance="0.0"))
    builder = FusionBench(config_name="gsm8k", source=[str(source)], cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    dataset = builder.as_dataset()
    assert list(dataset) == ["train"] and dataset["train"].num_rows == 40
    assert {q.split("\n")[0] for q in dataset["train"]["query"]} >= {"Ann has 3 apples and buys 4. How many now?"}
    assert set(dataset["train"]["performance"]) == {0.0}
    loaded = fusionbench.load("gsm8k", source=str(source), split="train", cache_dir=str(tmp_path / "c2"))
    assert loaded.num_rows == 40 and set(loaded["query_id"]) == set(dataset["train"]["query_id"])
    with pytest.raises(ValueError, match="no rows"):
        math = FusionBench(config_name="math", source=[str(source)], cache_dir=str(tmp_path / "c3"))
        math.download_and_prepare()
        math.as_dataset()


def test_load_filters_and_columns_as_load_dataset_does(tmp_path: Path, sample_export: Path) -> None:
    """fusionbench.load reads through datasets' own Parquet builder: filters and columns, from release files or an
    export folder, give what load_dataset gives on the export."""
    model_filter = [("model", "==", "deepseek-r1"), ("mode", "==", "cot")]
    expected = load_dataset(str(sample_export), "gsm8k", split="train", filters=model_filter)
    from_release = fusionbench.load(
        "gsm8k", split="train", filters=model_filter, columns=["query_id", "model", "mode", "performance"],
        cache_dir=str(tmp_path / "c"),
    )  # fmt: skip
    from_export = fusionbench.load("gsm8k", source=sample_export, split="train", filters=model_filter)
    assert from_release.column_names == ["query_id", "model", "mode", "performance"]
    assert from_release.num_rows == from_export.num_rows == expected.num_rows > 0
    assert set(from_release["model"]) == {"deepseek-r1"} and set(from_release["mode"]) == {"cot"}
    assert sorted(from_release["query_id"]) == sorted(expected["query_id"])
    assert from_export.to_list() == expected.to_list()
    with pytest.raises(ValueError, match="has no column"):
        fusionbench.load("gsm8k", split="train", columns=["no_such_column"], cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="use filters="):
        fusionbench.load("gsm8k", source=sample_export, models=["deepseek-r1"])


def test_cli_build_then_load_dataset_by_name_and_info(tmp_path: Path) -> None:
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "fusionbench", "build", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    assert "synthetic sample" in build.stderr and "rows written" in build.stderr
    script = (
        "from datasets import load_dataset; d = load_dataset('fusionbench', 'gsm8k'); print(json.dumps(d.num_rows))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", "import json; " + script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout.strip().splitlines()[-1])["train"] > 0
    info = subprocess.run(
        [sys.executable, "-m", "fusionbench", "info", "fusionbench"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
    )
    assert info.returncode == 0, info.stderr
    assert "gsm8k" in info.stdout and "deepseek-r1" in info.stdout and "acc cot" in info.stdout
    again = subprocess.run(
        [sys.executable, "-m", "fusionbench", "build", "--quiet"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert again.returncode == 1 and "--overwrite" in again.stderr


def test_a_rebuilt_export_is_not_served_from_a_stale_datasets_cache(tmp_path: Path) -> None:
    """datasets keys its cache on the card's YAML; the card carries each config's size, so new data is seen."""
    out = tmp_path / "fusionbench"
    write_release(tmp_path / "a" / "train.csv", release_rows("gsm8k", performance="1.0"))
    build_export([str(tmp_path / "a")], out)
    assert set(load_dataset(str(out), "gsm8k", split="train")["performance"]) == {1.0}
    write_release(tmp_path / "b" / "train.csv", release_rows("gsm8k", performance="0.0")[:-1])
    build_export([str(tmp_path / "b")], out, overwrite=True)
    reloaded = load_dataset(str(out), "gsm8k", split="train")
    assert reloaded.num_rows == 39 and set(reloaded["performance"]) == {0.0}


def test_spilling_to_disk_gives_the_same_export(sample_export: Path, tmp_path: Path, monkeypatch) -> None:
    """Past the memory budget, converted rows spill to Arrow IPC files; the shards come out identical."""
    from fusionbench.build import ingest

    monkeypatch.setattr(ingest, "MEMORY_BUDGET", 50_000)
    spilled = build_export(None, tmp_path / sample_export.name).out
    files = sorted(p.relative_to(spilled) for p in spilled.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(sample_export) for p in sample_export.rglob("*") if p.is_file())
    assert all((spilled / f).read_bytes() == (sample_export / f).read_bytes() for f in files)


def _write_sample_by_query_halves(tmp_path: Path) -> tuple[list[str], list[str]]:
    """The sample's train rows as one file grouped by task, and as two files (even / odd queries of every task)
    that each run through all tasks, so rows of a task come back after other tasks. Same file name, same rows,
    same order within each query. Returns (grouped sources, interleaved sources)."""
    from fusionbench.prompts import parse

    rows = _source_rows()
    test_file = next(Path(SAMPLE_DIR).glob("*test*.csv"))
    halves: list[list[dict]] = [[], []]
    ordinals: dict[tuple[str, str], int] = {}
    for row in (r for r in rows if r["_split"] == "train"):
        fields = parse(row["task_name"], row["query"])
        key = (row["task_name"], fields.question if fields else row["query"])
        ordinal = ordinals.setdefault(key, sum(k[0] == key[0] for k in ordinals))
        halves[ordinal % 2].append(row)
    grouped = [r for task in TASKS for half in halves for r in half if r["task_name"] == task]
    write_release(tmp_path / "grouped" / "train.csv", grouped)
    for index, half in enumerate(halves):
        write_release(tmp_path / f"half{index}" / "train.csv", half)
    return (
        [str(tmp_path / "grouped" / "train.csv"), str(test_file)],
        [str(tmp_path / "half0" / "train.csv"), str(tmp_path / "half1" / "train.csv"), str(test_file)],
    )


def test_slices_are_written_while_the_release_is_still_read(tmp_path: Path) -> None:
    """Input grouped by task (as the release is): each slice is handed to the writers as the next task starts."""
    grouped, _ = _write_sample_by_query_halves(tmp_path)
    events: list[tuple[str, int, int]] = []
    build_export(grouped, tmp_path / "out", on_progress=lambda *event: events.append(event))
    reads = [event for event in events if event[0] == "read"]
    total = sum(Path(source).stat().st_size for source in grouped)
    assert reads[-1] == ("read", total, total)
    assert [done for _, done, _ in reads] == sorted(done for _, done, _ in reads)  # bytes only go up
    end_of_reading = events.index(reads[-1])
    assert any(stage == "write" for stage, _, _ in events[:end_of_reading])
    assert events[-1][0] == "write" and events[-1][1] == events[-1][2]


def test_input_not_grouped_by_task_gives_the_same_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of a task after other tasks stop the streaming build; it reads again, holding every slice."""
    grouped, interleaved = _write_sample_by_query_halves(tmp_path)
    attempts: list[bool] = []
    real_build = pipeline._build

    def spy(*args, streaming: bool = True, **kwargs):  # records each attempt, runs the real build
        attempts.append(streaming)
        return real_build(*args, streaming=streaming, **kwargs)

    monkeypatch.setattr(pipeline, "_build", spy)
    one = build_export(grouped, tmp_path / "one")
    assert attempts == [True]
    two = build_export(interleaved, tmp_path / "two")
    assert attempts == [True, True, False]
    assert one.report.rows_written == two.report.rows_written > 0
    assert one.report.duplicates_dropped == two.report.duplicates_dropped
    assert one.report.queries_not_40_rows == two.report.queries_not_40_rows
    shards = sorted(p.relative_to(one.out) for p in one.out.glob("data/*/*.parquet"))
    assert shards == sorted(p.relative_to(two.out) for p in two.out.glob("data/*/*.parquet"))
    for shard in shards:
        assert (one.out / shard).read_bytes() == (two.out / shard).read_bytes(), shard


@pytest.mark.parametrize("user_value", [None, "1"])
def test_cli_loads_arrow_without_transparent_huge_pages_unless_told(user_value: str | None) -> None:
    """The command line sets MIMALLOC_ALLOW_THP=0 before pyarrow loads; a value the user set wins. Checked in a
    real interpreter, by asking Arrow's allocator (mimalloc) to print its options."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "mimalloc":
        pytest.skip("this pyarrow build's default allocator is not mimalloc")
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ALLOW_THP"}
    env["MIMALLOC_VERBOSE"] = "1"
    if user_value is not None:
        env["MIMALLOC_ALLOW_THP"] = user_value
    done = subprocess.run(
        [sys.executable, "-m", "fusionbench", "tasks-path"], capture_output=True, text=True, env=env, check=True
    )
    option = next(line for line in done.stderr.splitlines() if "'allow_thp'" in line)
    assert option.split(":")[-1].strip() == ("0" if user_value is None else user_value)


def test_info_by_model_gives_one_line_per_model_summed_over_tasks(sample_export: Path, monkeypatch, capsys) -> None:
    """``info --by model``: one row per model with every task's rows summed; ``--by task`` has a row per (task,
    model). Checked against the shards' own counts, so a CLI that ignores ``--by`` fails."""
    import pyarrow.compute as pc

    from fusionbench.cli import main
    from fusionbench.export.folder import response_shards

    monkeypatch.setenv("COLUMNS", "250")
    rows = pa.concat_tables([pq.read_table(p, columns=["task", "model"]) for p in response_shards(sample_export)])
    per_model = {m["values"]: m["counts"] for m in pc.value_counts(rows["model"]).to_pylist()}
    n_pairs = len({(t, m) for t, m in zip(rows["task"].to_pylist(), rows["model"].to_pylist(), strict=True)})

    def table_rows(*extra: str) -> list[list[str]]:
        assert main(["info", str(sample_export), *extra]) == 0
        lines = [line.strip("│ ").split("│") for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
        return [[cell.strip() for cell in cells] for cells in lines]  # data rows only: the header uses "┃"

    by_model = table_rows("--by", "model")
    assert {cells[0]: int(cells[1].replace(",", "")) for cells in by_model} == per_model
    assert len(table_rows()) == n_pairs > len(by_model)
