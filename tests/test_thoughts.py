"""Thought level, data in and data out: FusionFactory's prompts (golden), selection, the extractive build,
resume, apply's retrieval and exclusions, and templates from OpenAI's real GSM8K solutions."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fusionbench import catalog
from fusionbench.fusion.thoughts import (
    EmbeddingDimensionError,
    ExtractiveSummarizer,
    SelectionSettings,
    TemplatesIncompleteError,
    TemplatesSettingsError,
    apply_templates,
    build_templates,
    from_routing_data,
    read_prompts,
    read_templates,
    resolve_pool,
    select_responses,
    small_models,
)
from fusionbench.fusion.thoughts import prompts as tp
from fusionbench.fusion.thoughts.selection import ROW_COLUMNS
from fusionbench.fusion.thoughts.sources import read_queries
from fusionbench.fusion.thoughts.summarizers import first_sentence

# ------------------------------------------------------------------ FusionFactory's prompts, byte for byte
# The expected texts below are written out by hand from FusionFactory's two construction functions
# (thought_level/get_thought_prompt.py process_query_chunk, thought_level/thought_template_gen.py
# generate_thought_template_prompt) applied to these inputs.
FF_THOUGHT_PROMPT = (
    "Here are some similar questions and guidelines in how to solve them:\n\n"
    "Question1: What is 2 + 3?\n\n"
    "Thought Template 1: Add the two numbers.\n\n"
    "Question2: What is 10 - 4?\n\n"
    "Thought Template 2: Subtract; answer with the number.\n\n"
    "Now, please solve the following question:\n\n"
    "What is 7 + 8?\n\n"
    " Use the thought templates above as guidance. Reason step by step. And provide the final answer! "
    "The final answer should be enclosed in <answer> and </answer> tags."
)
EXAMPLES = [("What is 2 + 3?", "Add the two numbers."), ("What is 10 - 4?", "Subtract; answer with the number.")]


def test_thought_prompt_is_fusionfactorys_with_answer_tags_and_differs_only_by_that_sentence() -> None:
    with_tags = tp.thought_prompt("What is 7 + 8?", EXAMPLES, answer_tags=True)
    assert with_tags == FF_THOUGHT_PROMPT
    without = tp.thought_prompt("What is 7 + 8?", EXAMPLES)
    assert with_tags == without + " The final answer should be enclosed in <answer> and </answer> tags."
    assert "<answer>" not in without and without.endswith("And provide the final answer!")
    assert tp.THOUGHT_PROMPT_SHA256[True] != tp.THOUGHT_PROMPT_SHA256[False]


def test_summarizer_prompt_is_fusionfactorys_with_its_truncation() -> None:
    long = "x" * 1001
    expected = (
        "Given this question and example solutions, extract a concise thought template that captures the effective "
        "reasoning pattern and can serve as guidance:\n\nQuestion: Q?\n\nHere are 2 high-performing solutions:\n"
        "Solution 1:\nshort one\n\n"
        f"Solution 2:\n{'x' * 1000}... [truncated]\n\n"
        "Create a concise and clear thought template (1-5 sentences total) focusing on:\n\n"
        "1. Core Task Summarization: Identify the core problem type and general appraoch needed (in one very "
        "concise sentence)\n"
        "2. Reasoning Step: Give a clear chain of thought that can help model address this problem (1-3 sentences)\n"
        "2. Answer Template: What is the prefered answer format / structure for the given query (1 sentence) \n\n"
        "Your template should be specific enough to guide similar problems but general enough to work across "
        "variations. Use 1-2 sentences for straightforward problems and 3-5 sentences for complex ones.\n\n"
        "Thought Template:"
    )
    assert tp.summarizer_prompt("Q?", ["short one", long]) == expected
    assert tp.summarizer_prompt("Q?", ["x" * 1000]).count("[truncated]") == 0  # exactly 1,000 is kept whole
    pieces = (tp.SUMMARIZER_HEAD, tp.SUMMARIZER_SOLUTION, tp.SUMMARIZER_TAIL, tp.TRUNCATION_MARK)
    assert hashlib.sha256("\x00".join(pieces).encode()).hexdigest() == tp.SUMMARIZER_PROMPT_SHA256


def test_summarizer_question_is_fusionfactorys_normalised_query() -> None:
    assert tp.summarizer_question("gsm8k", "\n   Question: 1+1?\n   Let's think step by step\n   ") == "Question: 1+1?"
    assert tp.summarizer_question("gsm8k", "  Is it?  LET'S THINK STEP BY STEP.") == "Is it?"
    assert tp.summarizer_question("boolq", "A\n\n   B\n  lets think step by step.\n ") == "A B"


# ------------------------------------------------------------------ selection
def _rows(cells: list[tuple]) -> pa.Table:
    names = ["query_id", "task", "model", "mode", "sample", "performance", "judge_score", "cost_usd", "response"]
    table = pa.Table.from_pylist([dict(zip(names, c, strict=True)) for c in cells])
    return table.cast(
        pa.schema([(n, pa.int32() if n == "sample" else table.schema.field(n).type) for n in names]), safe=False
    )


NAN = float("nan")
CELLS = [  # query q1: A..G; q2: nothing correct; q3: only a model outside the pool is correct
    ("q1", "gsm8k", "A", "direct", 0, 1.0, 0.5, 0.3, "a"),
    ("q1", "gsm8k", "B", "cot", 0, 1.0, 0.9, 0.1, "b"),
    ("q1", "gsm8k", "C", "direct", 0, 0.0, 1.0, 0.0, "c (wrong)"),
    ("q1", "gsm8k", "D", "direct", 0, 1.0, NAN, 0.2, "d"),
    ("q1", "gsm8k", "E", "cot", 0, 0.5, 0.95, 0.05, "e (partly right code)"),
    ("q1", "gsm8k", "F", "direct", 0, 1.0, 0.7, NAN, "f"),
    ("q1", "gsm8k", "G", "direct", 0, 0.2, 0.99, 0.01, "g"),
    ("q1", "gsm8k", "H", "direct", 0, 1.0, 1.0, 0.0, "   "),  # right but blank: never a source
    ("q2", "gsm8k", "A", "direct", 0, 0.0, 0.9, 0.1, "wrong"),
    ("q2", "gsm8k", "B", "direct", 0, None, 0.9, 0.1, "unscored"),
    ("q3", "math", "Z", "direct", 0, 1.0, 0.9, 0.1, "outside the pool"),
    ("q3", "math", "A", "direct", 0, 0.0, 0.9, 0.1, "wrong"),
]


def _models(table: pa.Table, selection) -> dict[str, list[str]]:
    model = table["model"].to_pylist()
    return {q: [model[r] for r in rows.tolist()] for q, rows in zip(selection.query_ids, selection.rows, strict=True)}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("perf", ["B", "D", "A"]),  # performance desc, cost asc; F's missing cost sorts after A's 0.3
        ("judge", ["G", "E", "B"]),  # judge desc; D's missing judge would be last
        ("hybrid", ["E", "B", "F"]),  # top 5 by perf (B D A F E), then by judge
    ],
)
def test_selection_orders_keeps_only_correct_rows_and_counts_skips(strategy: str, expected: list[str]) -> None:
    table = _rows(CELLS)
    pool = ("A", "B", "C", "D", "E", "F", "G", "H", "Y")
    chosen = select_responses(table, SelectionSettings(strategy, top_n=3, stage1=5, pool=pool))
    assert _models(table, chosen) == {"q1": expected}
    assert (chosen.queries, chosen.no_correct, chosen.absent_models) == (3, 2, ["Y"])
    assert dict(chosen.by_task["gsm8k"]) == {"queries": 2, "selected": 1, "no_correct": 1}
    assert dict(chosen.by_task["math"]) == {"queries": 1, "no_correct": 1}


def test_selection_does_not_depend_on_row_order_and_groups_both_modes() -> None:
    ties = [("q", "gsm8k", m, mode, 0, 1.0, 0.5, 0.1, m) for m in ("m3", "m1", "m2") for mode in ("direct", "cot")]
    table = _rows(ties)
    settings = SelectionSettings("perf", top_n=3, pool=None)
    first = _models(table, select_responses(table, settings))
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    assert _models(shuffled, select_responses(shuffled, settings)) == first == {"q": ["m1", "m1", "m2"]}
    modes = table["mode"].to_pylist()
    rows = select_responses(table, settings).rows[0].tolist()
    assert [modes[r] for r in rows[:2]] == ["cot", "direct"]  # both modes of m1, tie broken by mode name


def test_pools_and_settings_are_validated() -> None:
    assert len(small_models()) == 10 and all(catalog.models()[m].size_b <= 12 for m in small_models())
    assert resolve_pool("all") is None and resolve_pool("a, b,a") == ("a", "b")
    with pytest.raises(ValueError, match="pool is empty"):
        resolve_pool(" , ")
    with pytest.raises(ValueError, match="unknown selection"):
        SelectionSettings("best")
    with pytest.raises(ValueError, match="stage1 >= top_n"):
        SelectionSettings("hybrid", top_n=6, stage1=5)
    with pytest.raises(ValueError, match="lack the columns"):
        select_responses(_rows(CELLS).drop_columns(["judge_score"]), SelectionSettings())


def test_first_sentence() -> None:
    assert first_sentence("  \n The total is 3.5 m. So the answer is 3.5.") == "The total is 3.5 m."
    assert first_sentence("x = 2\ny = 3") == "x = 2" and first_sentence("Why? Because.") == "Why?"
    assert first_sentence("a" * 500) == "a" * 400


# ------------------------------------------------------------------ the build on the sample export
@pytest.fixture(scope="module")
def templates(sample_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("thoughts") / "templates"
    report = build_templates(sample_export, out, ExtractiveSummarizer())
    assert report.complete and report.templates == report.selected > 0 and report.failed == 0
    return out


def _train_rows(export: Path) -> list[dict]:
    shards = sorted(export.glob("data/*/train-*.parquet"))
    return [r for s in shards if s.parent.name not in ("queries", "models") for r in pq.read_table(s).to_pylist()]


def test_templates_come_from_correct_small_model_responses(templates: Path, sample_export: Path) -> None:
    built = read_templates(templates)
    rows = _train_rows(sample_export)
    small = set(small_models())
    by_cell = {(r["query_id"], f"{r['model']}/{r['mode']}"): r for r in rows}
    correct = {r["query_id"] for r in rows if r["model"] in small and (r["performance"] or 0) > 0 and r["response"]}
    assert set(built.table["query_id"].to_pylist()) == correct
    queries = {q["query_id"]: q for q in read_queries(sample_export, "train").to_pylist()}
    for template in built.table.to_pylist():
        sources = [by_cell[(template["query_id"], s)] for s in template["sources"]]
        assert len(sources) == min(3, sum(1 for (q, _), r in by_cell.items() if q == template["query_id"]
                                          and r["model"] in small and (r["performance"] or 0) > 0))  # fmt: skip
        assert all(s["model"] in small and s["performance"] > 0 for s in sources)
        sentences = dict.fromkeys(first_sentence(s["response"]) for s in sources)
        assert template["template"] == " ".join(s for s in sentences if s)
        query = queries[template["query_id"]]
        assert template["split"] == "train" and template["question"] == query["prompt_direct"]
        assert template["embedding"] == pytest.approx(query["embedding"])
        assert template["summarizer_model"] == "extractive:first-sentence" and template["prompt_hash"] is None
        assert template["selection"] == "hybrid(stage1=5,top_n=3)/small" and template["status"] == "ok"
    counts = built.manifest["counts"]
    assert counts["queries"] == len(queries) and counts["no_correct_response"] == len(queries) - len(correct)
    assert built.fingerprint and built.name == f"templates@{built.fingerprint}"
    assert "templates" in (templates / "README.md").read_text()


def test_an_interrupted_build_resumes_and_other_settings_are_refused(sample_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "templates"
    first = build_templates(sample_export, out, ExtractiveSummarizer(), limit=5, batch_size=2)
    assert (first.summarized, first.complete) == (5, False) and len(list((out / "parts").glob("*.parquet"))) == 3
    with pytest.raises(TemplatesIncompleteError, match="not finished"):
        read_templates(out)
    rest = build_templates(sample_export, out, ExtractiveSummarizer())
    assert rest.already_done == 5 and rest.summarized == rest.selected - 5 and rest.complete
    again = build_templates(sample_export, out, ExtractiveSummarizer())
    assert again.summarized == 0 and again.already_done == again.selected
    with pytest.raises(TemplatesSettingsError, match="selection: 'hybrid"):
        build_templates(sample_export, out, ExtractiveSummarizer(), selection="perf")
    with pytest.raises(ValueError, match="built from the train split"):
        build_templates(sample_export, tmp_path / "t2", ExtractiveSummarizer(), split="test")
    with pytest.raises(ValueError, match="none of the pool's models"):
        build_templates(sample_export, tmp_path / "t3", ExtractiveSummarizer(), pool="gpt-9,gpt-10")


def test_queries_per_task_and_pool_all(sample_export: Path, tmp_path: Path) -> None:
    report = build_templates(sample_export, tmp_path / "t", ExtractiveSummarizer(), pool="all", queries_per_task=1)
    table = read_templates(tmp_path / "t").table
    tasks = table["task"].to_pylist()
    assert len(tasks) == len(set(tasks)) == report.templates  # one per task, the first by query id
    for task in set(tasks):
        ids = sorted(q["query_id"] for q in read_queries(sample_export, "train", [task]).to_pylist())
        assert table.filter(pc.equal(table["task"], task))["query_id"][0].as_py() in ids[:2]


# ------------------------------------------------------------------ apply
def test_apply_retrieves_the_nearest_same_task_templates(templates: Path, sample_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    report = apply_templates(templates, sample_export, out, k=2)
    prompts = read_prompts(out)
    table = prompts.table.to_pylist()
    built = {t["query_id"]: t for t in read_templates(templates).table.to_pylist()}
    assert report.queries == len(table) and prompts.split == "test"
    for row in table:
        same_task = [t for t in built.values() if t["task"] == row["task"]]
        if not same_task:
            assert row["prompt_thought"] is None
            continue
        vectors = np.array([t["embedding"] for t in same_task])
        cosine = (
            vectors @ np.array(row["embedding"]) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(row["embedding"])
        )
        best = [same_task[i]["query_id"] for i in np.argsort(-cosine, kind="stable")[:2]]
        assert row["retrieved_query_ids"] == best
        assert row["retrieved_similarities"] == pytest.approx(sorted(cosine, reverse=True)[:2], abs=1e-5)
        examples = [(built[q]["question"], built[q]["template"]) for q in best]
        assert row["prompt_thought"] == tp.thought_prompt(row["prompt_direct"], examples)
        assert row["templates_fingerprint"] == read_templates(templates).fingerprint
    assert report.with_prompt == sum(r["prompt_thought"] is not None for r in table) > 0
    manifest = prompts.manifest
    assert manifest["answer_tags"] is False and manifest["thought_prompt_sha256"] == tp.THOUGHT_PROMPT_SHA256[False]
    assert manifest["retrieval"] == {"k": 2, "same_task": True, "prompt_mode": "direct",
                                     "featurizer": {"kind": "stored", "column": "embedding", "dim": 768}}  # fmt: skip
    with pytest.raises(FileExistsError, match="overwrite"):
        apply_templates(templates, sample_export, out)
    tagged = apply_templates(templates, sample_export, out, k=1, answer_tags=True, overwrite=True)
    rows = [r for r in read_prompts(out).table.to_pylist() if r["prompt_thought"]]
    assert tagged.with_prompt == len(rows) and all(r["prompt_thought"].endswith("</answer> tags.") for r in rows)


def test_apply_never_retrieves_the_query_itself_or_its_text(
    templates: Path, sample_export: Path, tmp_path: Path
) -> None:
    """The release has queries in both splits: such a query must not be guided by its own template."""
    train = read_queries(sample_export, "train")
    as_test = train.set_column(train.schema.get_field_index("split"), "split", pa.array(["test"] * train.num_rows))
    twin = as_test.slice(0, 1).to_pylist()[0] | {
        "query_id": "twin-of-the-first",
        "query": "  " + train["query"][0].as_py().upper(),
    }
    queries = pa.concat_tables([as_test, pa.Table.from_pylist([twin], schema=as_test.schema)])
    report = apply_templates(templates, queries, tmp_path / "p", k=3)
    built = read_templates(templates).table
    texts = dict(zip(built["query_id"].to_pylist(), built["query"].to_pylist(), strict=True))
    for row in read_prompts(tmp_path / "p").table.to_pylist():
        for retrieved in row["retrieved_query_ids"] or []:
            assert retrieved != row["query_id"]
            assert " ".join(texts[retrieved].casefold().split()) != " ".join(row["query"].casefold().split())
    own = len(set(train["query_id"].to_pylist()) & set(texts))
    assert report.excluded_self == own and report.excluded_same_text >= 1  # the twin's text is a template's


def test_apply_refuses_same_split_templates_and_other_dimensions(templates: Path, sample_export: Path,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    with pytest.raises(ValueError, match="built from the 'train' split, the split being augmented"):
        apply_templates(templates, sample_export, tmp_path / "a", split="train")
    test = read_queries(sample_export, "test")
    small = test.set_column(test.schema.get_field_index("embedding"), "embedding",
                            pa.array([[0.1, 0.2, 0.3, 0.4]] * test.num_rows, pa.list_(pa.float32())))  # fmt: skip
    with pytest.raises(EmbeddingDimensionError, match="768-d query embeddings but the queries of table 4-d"):
        apply_templates(templates, small, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    missing = test.set_column(test.schema.get_field_index("embedding"), "embedding",
                              pa.array([None] + [test["embedding"][i].as_py() for i in range(1, test.num_rows)],
                                       pa.list_(pa.float32())))  # fmt: skip
    report = apply_templates(templates, missing, tmp_path / "c", k=1)
    assert report.no_embedding == 1 and read_prompts(tmp_path / "c").table["prompt_thought"][0].as_py() is None
    tfidf = apply_templates(templates, small, tmp_path / "d", k=1, featurizer="tfidf", same_task=False)
    assert tfidf.with_prompt == test.num_rows  # any task: every query gets one
    assert read_prompts(tmp_path / "d").manifest["retrieval"]["featurizer"]["kind"] == "tfidf"


# ------------------------------------------------------------------ real data: OpenAI's GSM8K solutions
def test_templates_from_real_gsm8k_solutions(shared_data: Path, tmp_path: Path) -> None:
    """OpenAI's GPT-3 solutions (with is_correct) as the top responses; the file is GSM8K's test set, so its first
    1,000 problems play the train split (the templates) and the other 319 the queries they guide."""
    from fusionbench.fusion.converters import from_external
    from fusionbench.prompts import QueryFields, render

    folder = shared_data / "gsm8k"
    data = from_external("gsm8k-solutions", folder, with_responses=True)
    train = data.take(np.arange(1000))
    train = dataclasses.replace(train, splits=np.array(["train"] * 1000, dtype=object))
    report = build_templates(from_routing_data(train), tmp_path / "t", ExtractiveSummarizer(), pool="all",
                             selection="perf", top_n=2)  # fmt: skip
    lines = [json.loads(line) for line in (folder / "example_model_solutions.jsonl").open()][:1000]
    columns = {"6b_finetuning": "gpt-3-6b-finetuning", "6b_verification": "gpt-3-6b-verification",
               "175b_finetuning": "gpt-3-175b-finetuning", "175b_verification": "gpt-3-175b-verification"}  # fmt: skip
    right = {line["question"]: sorted(m for c, m in columns.items() if line[c]["is_correct"]) for line in lines}
    solutions = {(line["question"], m): line[c]["solution"] for line in lines for c, m in columns.items()}
    assert report.templates == sum(bool(models) for models in right.values()) == 685
    assert report.no_correct == 1000 - 685
    for template in read_templates(tmp_path / "t").table.to_pylist():
        models = [s.removesuffix("/direct") for s in template["sources"]]
        assert models == right[template["query"]][:2]  # all score 1, no costs: ties broken by model name
        sentences = dict.fromkeys(first_sentence(solutions[(template["query"], m)]) for m in models)
        assert template["template"] == " ".join(s for s in sentences if s)
    held_out = data.take(np.arange(1000, data.n_queries))
    queries = pa.table({
        "query_id": held_out.query_ids.astype(str), "task": held_out.tasks.astype(str),
        "split": ["test"] * held_out.n_queries, "query": held_out.texts.tolist(),
        "prompt_direct": [render("gsm8k", QueryFields(q), "direct") for q in held_out.texts],
    })  # fmt: skip
    applied = apply_templates(tmp_path / "t", queries, tmp_path / "p", k=3, featurizer="tfidf")
    assert applied.with_prompt == held_out.n_queries == 319
    for row in read_prompts(tmp_path / "p").table.to_pylist():
        sims = row["retrieved_similarities"]
        assert len(sims) == 3 and sims == sorted(sims, reverse=True) and all(0 <= s <= 1 + 1e-6 for s in sims)
        assert row["prompt_thought"].endswith(row["prompt_direct"] + tp.THOUGHT_TAIL)
        assert not math.isnan(sims[0])


def test_row_columns_are_what_an_export_has(sample_export: Path) -> None:
    shard = next(p for p in sample_export.glob("data/gsm8k/train-*.parquet"))
    assert set(ROW_COLUMNS) <= set(pq.read_schema(shard).names)


def test_a_split_without_any_correct_response_gives_an_empty_finished_table(tmp_path: Path) -> None:
    from fusionbench.fusion.data import RoutingData

    data = RoutingData.from_arrays(
        np.zeros((3, 2)), query_ids=["a", "b", "c"], tasks=["gsm8k"] * 3, texts=["x?", "y?", "z?"],
        splits=["train"] * 3, responses=np.array([["wrong"] * 2] * 3, dtype=object),
    )  # fmt: skip
    report = build_templates(from_routing_data(data), tmp_path / "t", ExtractiveSummarizer(), pool="all")
    assert (report.queries, report.no_correct, report.selected, report.complete) == (3, 3, 0, True)
    assert read_templates(tmp_path / "t").table.num_rows == 0


def test_two_builds_cannot_write_one_templates_folder(tmp_path: Path) -> None:
    from fusionbench.fusion.thoughts import TemplatesLockedError
    from fusionbench.fusion.thoughts.store import TemplateStore

    with TemplateStore(tmp_path / "t"), pytest.raises(TemplatesLockedError, match="another fusionbench thoughts"):
        TemplateStore(tmp_path / "t")
    TemplateStore(tmp_path / "t").close()  # released with the first
