"""``fusionbench generate --engine ray`` (and ``--data-parallel-size`` > 1): a Ray Data pipeline in local mode.

One Ray session for the module (2 CPUs, no dashboard); the pipeline's replicas run the hf engine on the tiny
offline Llama, or a fault-injecting engine (tests/fault_engine.py) for the failure cases. Skipped, saying why,
where Ray Data is not installed (``pip install 'fusionbench[ray]'``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray Data is not installed: pip install 'fusionbench[ray]'")
pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'fusionbench[ray]'")

from fault_engine import ANSWER, FaultEngine  # noqa: E402
from tiny_model import build_tiny_llama  # noqa: E402

from fusionbench.generation import GenerationSettings, SamplingSettings, generate, read_run, run_queries  # noqa: E402
from fusionbench.generation.engine_ray import RayEngine  # noqa: E402
from fusionbench.generation.engines import make_engine  # noqa: E402
from fusionbench.schema import ROW_KEY  # noqa: E402

NAME = "tiny-llama"
pytestmark = pytest.mark.filterwarnings("ignore:no price sheet given", "ignore::DeprecationWarning")
#: Columns that differ between two runs of the same rows by design.
RUN_SPECIFIC = ["latency_s", "source", "engine"]


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    tests = str(Path(__file__).parent)  # the replicas import fault_engine from here
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama")


def _settings(tiny: Path, out: Path, **changes) -> GenerationSettings:
    base = GenerationSettings(
        model=str(tiny), name=NAME, out=out, engine="ray", ray_engine="hf", tasks=("gsm8k", "natural_qa"),
        split="train", limit=1, sampling=SamplingSettings(temperature=0.0, max_new_tokens=6), batch_size=1,
        progress=False,
    )  # fmt: skip
    return replace(base, **changes)


def _keys(table) -> list[tuple]:
    return list(zip(*(table[c].to_pylist() for c in ROW_KEY), strict=True))


def test_ray_pipeline_writes_the_rows_the_hf_engine_writes(tiny: Path, tmp_path: Path) -> None:
    """Greedy, one request per batch: the same prompts, token counts, responses, scores and schema as hf."""
    direct = _settings(tiny, tmp_path / "hf", engine="hf")
    generate(direct)
    through_ray = _settings(tiny, tmp_path / "ray")
    summary = generate(through_ray)
    assert summary.items_generated == 4 and summary.rows_failed == 0
    expected, got = read_run(direct.out), read_run(through_ray.out)
    assert got.schema == expected.schema
    order = [(k, "ascending") for k in ROW_KEY]
    assert (
        got.sort_by(order).drop_columns(RUN_SPECIFIC).to_pylist()
        == expected.sort_by(order).drop_columns(RUN_SPECIFIC).to_pylist()
    )
    assert set(got["engine"].to_pylist()) == {"ray/hf"} and all(r is not None for r in got["response"].to_pylist())

    # the hf run's folder, resumed through Ray with one more query per task: only the new ones are generated
    more = generate(replace(through_ray, out=direct.out, limit=2))
    assert (more.items_skipped, more.items_generated) == (4, 4)
    rows = read_run(direct.out)
    assert rows.num_rows == len(set(_keys(rows))) == 8
    assert Counter(rows["engine"].to_pylist()) == {"hf": 4, "ray/hf": 4}


def test_failures_inside_the_pipeline_become_rows_and_are_retried(tiny: Path, tmp_path: Path) -> None:
    settings = _settings(tiny, tmp_path / "faults", limit=3, batch_size=1, sampling=SamplingSettings(samples=2))
    queries = run_queries(settings)
    prompts = [q[f"prompt_{m}"] for q in queries for m in settings.modes]
    bad, flaky = {prompts[0], prompts[4]}, {prompts[2]}
    engine = RayEngine(settings, engine_factory=partial(FaultEngine, fail=bad, flaky=flaky, batch=1))
    summary = generate(settings, engine=engine)
    n = len(prompts)
    assert (summary.items_generated, summary.rows_written, summary.rows_failed) == (n, 2 * n, 4)
    rows = read_run(settings.out).to_pylist()
    for row in rows:
        if row["prompt"] in bad:
            assert row["response"] is None and row["finish_reason"] == "error"
            assert "InjectedError: injected failure" in row["error"] and row["performance"] is None
        else:  # the flaky one failed once and was tried again inside its replica
            assert row["response"] == ANSWER and row["error"] is None

    healed = RayEngine(settings, engine_factory=FaultEngine)
    again = generate(settings, engine=healed)
    assert (again.items_generated, again.items_skipped, again.rows_failed) == (2, n - 2, 0)
    assert read_run(settings.out)["error"].null_count == 2 * n


def test_data_parallel_replicas_are_a_ray_actor_pool(tiny: Path, tmp_path: Path) -> None:
    """--data-parallel-size 2 with the hf engine: two replicas (two processes), one writer, no duplicate."""
    settings = _settings(tiny, tmp_path / "dp", engine="hf", ray_engine=None, data_parallel_size=2, limit=3,
                         sampling=SamplingSettings(max_new_tokens=4))  # fmt: skip
    engine = make_engine(settings)
    assert isinstance(engine, RayEngine) and (engine.inner, engine.replicas) == ("hf", 2)
    summary = generate(settings, engine=engine)
    rows = read_run(settings.out)
    assert summary.rows_written == rows.num_rows == len(set(_keys(rows))) == 2 * len(run_queries(settings))
    assert set(rows["engine"].to_pylist()) == {"ray/hf"} and rows["error"].null_count == rows.num_rows


def test_the_vllm_path_builds_its_processor_and_reads_its_rows(tiny: Path, tmp_path: Path) -> None:
    """vLLM is not installed here: ray.data.llm's processor is built (vLLM runs only inside its actors), and the
    rows it returns (one per sample; a failed one with ``__inference_error__``) become one result per request."""
    settings = _settings(tiny, tmp_path / "v", ray_engine="vllm", max_model_len=256,
                         sampling=SamplingSettings(max_new_tokens=6))  # fmt: skip
    engine = RayEngine(settings)
    assert (engine.inner, engine.name, engine.max_prompt_tokens) == ("vllm", "ray/vllm", 255)
    assert engine.vllm_processor() is not None
    rows = [
        {"id": 3, "sample": s, "generated_text": text, "num_generated_tokens": tokens, "num_input_tokens": 40,
         "time_taken_llm": 0.5}
        for s, (text, tokens) in enumerate([("a", 6), ("b", 2)])
    ]  # fmt: skip
    result = engine.vllm_result(3, rows)
    assert [(c.text, c.tokens, c.finish_reason) for c in result.completions] == [("a", 6, "length"), ("b", 2, "stop")]
    assert (result.id, result.prompt_tokens, result.error) == (3, 40, None)
    broken = {**rows[1], "__inference_error__": "ValueError: prompt too long", "num_input_tokens": 0,
              "time_taken_llm": -1}  # fmt: skip
    failed = engine.vllm_result(3, [rows[0], broken])
    assert failed.error == "ray/vllm: ValueError: prompt too long" and failed.latency_s == 0.5
    assert [c.finish_reason for c in failed.completions] == ["error", "error"]
