"""The judge job against a real local OpenAI-compatible HTTP server on 127.0.0.1.

The server answers well-formed, malformed and failing replies (a transient 500 then success, and a
permanent 503), so retries, null-not-zero failures, resume and the write-back are all exercised.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from datasets import load_dataset

from fusionbench.export.push import verify_export
from fusionbench.generation.judge import OpenAIJudge, judge_target, prompt_hash
from fusionbench.metrics.judge import judge_prompt


def _kind(prompt: str) -> int:
    return int(hashlib.md5(prompt.encode()).hexdigest(), 16) % 4


class JudgeServer(ThreadingHTTPServer):
    calls: Counter
    headers_seen: list


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        self.server.headers_seen.append(self.headers.get("Authorization"))
        self.server.calls[prompt] += 1
        kind = _kind(prompt)
        if kind == 3 or (kind == 2 and self.server.calls[prompt] == 1):
            self.send_response(503 if kind == 3 else 500)
            self.end_headers()
            return
        content = {0: "Good reasoning. <answer>0.8</answer>", 1: "The response is fine.", 2: "<answer>30%</answer>"}
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": content[kind]}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture
def server():
    httpd = JudgeServer(("127.0.0.1", 0), Handler)
    httpd.calls, httpd.headers_seen = Counter(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_judge_job_retries_counts_failures_as_null_resumes_and_writes_back(
    server, sample_export: Path, tmp_path: Path
) -> None:
    export = Path(shutil.copytree(sample_export, tmp_path / "fusionbench"))
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    judge = OpenAIJudge("judge-x", url, api_key="sk-local-test", concurrency=4, max_retries=2, backoff=0.001)

    first = judge_target(export, judge, limit=100)  # interrupted job: 100 rows, nothing written back yet
    assert first.judged + first.unparseable + first.failed == 100
    assert "judge_output" not in load_dataset(str(export), "gsm8k", split="train").column_names

    rest = judge_target(export, judge)  # resumes: the first 100 are not sent again
    assert rest.already_judged == 100
    with_response = rest.rows - rest.no_response
    assert rest.judged + rest.unparseable + rest.failed == with_response - 100
    assert sum(server.calls.values()) <= 3 * with_response  # at most 1 + max_retries calls per row
    assert all(n >= 2 for prompt, n in server.calls.items() if _kind(prompt) == 2)  # the transient 500 was retried
    assert set(server.headers_seen) == {"Bearer sk-local-test"}
    assert rest.failed > 0 and rest.unparseable > 0 and rest.errors and "HTTP 503" in rest.errors[0]

    verify_export(export)
    rows = load_dataset(str(export), "all", split="train")
    judged = [r for r in rows if r["response"] is not None]
    assert all(r["judge_model"] == "judge-x" for r in judged)
    expected = {0: 0.8, 1: None, 2: 0.3, 3: None}
    for row in judged[:200]:
        prompt = judge_prompt(row["prompt"], row["response"], row["ground_truth"] or "")
        assert row["judge_prompt_hash"] == prompt_hash(prompt)
        assert row["judge_score"] == expected[_kind(prompt)]  # a failure is null, never 0.0
        assert (row["judge_output"] is None) == (_kind(prompt) == 3)


def test_cli_judge_reads_the_key_from_the_environment_and_never_prints_it(
    server, sample_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from fusionbench.cli import main

    export = Path(shutil.copytree(sample_export, tmp_path / "fusionbench"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-" + "very-secret" * 3)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    argv = ["judge", str(export), "--judge-model", "judge-x", "--base-url", url, "--max-retries", "0", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "very-secret" not in printed.out + printed.err and "judged" in printed.err
    assert set(server.headers_seen) == {"Bearer sk-" + "very-secret" * 3}
    assert main(["judge", str(export), "--judge-model", "judge-x", "--quiet"]) == 2  # no URL given


def test_local_hf_judge_on_the_tiny_model(sample_export: Path, tmp_path: Path) -> None:
    """--engine hf: a local model judges through the generation engine; its gibberish is unparseable -> null."""
    from tiny_model import build_tiny_llama

    from fusionbench.cli import main

    export = Path(shutil.copytree(sample_export, tmp_path / "fusionbench"))
    model = build_tiny_llama(tmp_path / "tiny")
    argv = ["judge", str(export), "--engine", "hf", "--judge-model", str(model), "--max-tokens", "4"]
    assert main([*argv, "--limit", "6", "--quiet"]) == 0
    (part,) = tmp_path.glob(".fusionbench.judge-*/part-*.parquet")  # the work folder beside the export
    import pyarrow.parquet as pq

    results = pq.read_table(part).to_pylist()
    assert len(results) == 6 and all(r["judge_model"] == str(model) for r in results)
    assert all(r["judge_output"] is not None for r in results)
    assert all((r["judge_score"] is None) == (r["status"] == "unparseable") for r in results)
