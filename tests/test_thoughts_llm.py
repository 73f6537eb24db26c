"""The LLM summariser of ``fusionbench thoughts build``: a real OpenAI-compatible HTTP server on 127.0.0.1 that
fails, times out and recovers (retries, concurrency cap, null-and-counted failures, resume), and the tiny
offline Llama through the hf engine."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.compute as pc
import pytest

from fusionbench.fusion.thoughts import apply_templates, build_templates, read_prompts, read_templates
from fusionbench.fusion.thoughts.prompts import SUMMARIZER_PROMPT_SHA256, summarizer_question
from fusionbench.generation.chat_client import ChatClient
from fusionbench.generation.thoughts import LLMSummarizer, make_summarizer

CONCURRENCY = 3
TIMEOUT = 0.4


def _kind(prompt: str) -> int:
    """0: answers; 1: a 500 first, then answers; 2: too slow the first time (a client timeout); 3: a 503 while
    the server is broken; 4: a blank reply."""
    return int(hashlib.md5(prompt.encode()).hexdigest(), 16) % 5


class SummaryServer(ThreadingHTTPServer):
    calls: Counter
    bodies: list
    broken: bool
    in_flight: int
    max_in_flight: int
    lock: threading.Lock


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        with server.lock:
            server.calls[prompt] += 1
            server.bodies.append(body)
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            attempt = server.calls[prompt]
        time.sleep(0.02)  # long enough for requests to overlap
        with server.lock:  # before any reply: the client cannot send its next request until it has one
            server.in_flight -= 1
        kind = _kind(prompt)
        if (kind == 1 and attempt == 1) or (kind == 3 and server.broken):
            self.send_response(500 if kind == 1 else 503)
            self.end_headers()
            return
        if kind == 2 and attempt == 1:
            time.sleep(TIMEOUT * 3)  # the client gives up first and retries
        question = prompt.split("Question: ", 1)[1].split("\n", 1)[0]
        content = "   " if kind == 4 else f"  Template for {question[:40]}: reason, then answer.  "
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and closed the connection
            pass


@pytest.fixture
def server():
    httpd = SummaryServer(("127.0.0.1", 0), Handler)
    httpd.calls, httpd.bodies, httpd.broken = Counter(), [], True
    httpd.in_flight = httpd.max_in_flight = 0
    httpd.lock = threading.Lock()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _summarizer(server: SummaryServer) -> LLMSummarizer:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    chat = ChatClient("summariser-x", url, concurrency=CONCURRENCY, max_retries=2, backoff=0.001, timeout=TIMEOUT,
                      max_tokens=1024, temperature=0.2)  # fmt: skip
    return LLMSummarizer(chat)


def test_failures_and_timeouts_are_retried_then_null_and_counted_and_resume_fills_them(
    server: SummaryServer, sample_export: Path, tmp_path: Path
) -> None:
    out = tmp_path / "templates"
    first = build_templates(sample_export, out, _summarizer(server), batch_size=8)
    table = read_templates(out).table
    rows = table.to_pylist()
    by_prompt = {summarizer_question(r["task"], r["question"]): r for r in rows}
    seen = {}  # query id -> the server's behaviour for its prompt (which holds the question and the solutions)
    for prompt in server.calls:
        question = prompt.split("Question: ", 1)[1].split("\n\nHere are ", 1)[0]
        seen[by_prompt[question]["query_id"]] = _kind(prompt)
    assert set(seen) == {r["query_id"] for r in rows}
    broken = {q for q, k in seen.items() if k == 3}
    blank = {q for q, k in seen.items() if k == 4}
    assert broken and blank and {1, 2} <= set(seen.values())  # every failure kind occurred
    assert first.complete and first.failed == len(broken) and first.empty == len(blank)
    assert first.summarized == len(rows) - len(broken) - len(blank) == first.templates
    for row in rows:
        if row["query_id"] in broken:
            assert row["template"] is None and row["status"] == "failed" and "HTTP 503" in row["error"]
        elif row["query_id"] in blank:
            assert row["template"] is None and row["status"] == "empty"
        else:
            assert row["status"] == "ok" and row["template"].startswith("Template for ")  # stripped
        assert row["summarizer_model"] == "summariser-x" and row["prompt_hash"] == SUMMARIZER_PROMPT_SHA256
    attempts = {k: [n for p, n in server.calls.items() if _kind(p) == k] for k in range(5)}
    assert set(attempts[0]) == {1} and set(attempts[1]) == {2} and set(attempts[2]) == {2}
    assert set(attempts[3]) == {3}  # one call and max_retries=2 retries, then null
    assert server.max_in_flight <= CONCURRENCY and server.max_in_flight > 1
    body = server.bodies[0]
    assert body["model"] == "summariser-x" and body["max_tokens"] == 1024 and body["temperature"] == 0.2
    assert body["messages"][0]["content"] in server.calls and len(body["messages"]) == 1

    applied = apply_templates(out, sample_export, tmp_path / "prompts", k=1)
    assert applied.null_templates == len(broken) + len(blank)  # failed summaries are never retrieved
    failed_ids = broken | blank
    assert not failed_ids & {q for ids in read_prompts(tmp_path / "prompts").table["retrieved_query_ids"].to_pylist()
                             for q in ids or []}  # fmt: skip

    server.broken = False
    sent_before = sum(server.calls.values())
    again = build_templates(sample_export, out, _summarizer(server), batch_size=8)
    assert again.already_done == len(rows) - len(broken) - len(blank)
    assert sum(server.calls.values()) - sent_before == len(broken) + len(blank)  # only the nulls are sent again
    assert again.summarized == len(broken) and again.empty == len(blank) and again.failed == 0
    table = read_templates(out).table
    assert pc.sum(pc.equal(table["status"], "ok")).as_py() == len(rows) - len(blank)
    assert read_templates(out).manifest["counts"]["null_templates"] == len(blank)


def test_cli_build_with_the_openai_engine_reads_the_key_from_the_environment(
    server: SummaryServer, sample_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from fusionbench.cli import main

    server.broken = False
    monkeypatch.setenv("SUMMARY_KEY", "sk-" + "hidden" * 4)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    argv = ["thoughts", "build", "--data", str(sample_export), "--out", str(tmp_path / "t"), "--summarizer-engine",
            "openai", "--summarizer-model", "summariser-x", "--base-url", url, "--api-key-env", "SUMMARY_KEY",
            "--tasks", "gsm8k,math", "--timeout", str(TIMEOUT), "--max-retries", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "hidden" not in printed.out + printed.err and "templates" in printed.err
    assert set(read_templates(tmp_path / "t").table["task"].to_pylist()) == {"gsm8k", "math"}
    assert main(["thoughts", "build", "--data", str(sample_export), "--out", str(tmp_path / "u"),
                 "--summarizer-engine", "openai", "--summarizer-model", "m", "--quiet"]) == 1  # fmt: skip
    assert "base URL" in capsys.readouterr().err


def test_make_summarizer_validates() -> None:
    assert make_summarizer("extractive").model == "extractive:first-sentence"
    with pytest.raises(ValueError, match="needs a model"):
        make_summarizer("vllm")
    with pytest.raises(ValueError, match="unknown summariser engine"):
        make_summarizer("gpt", "m")


def test_hf_summarizer_on_the_tiny_model(sample_export: Path, tmp_path: Path) -> None:
    """The local engine path: FusionFactory's prompt through the tiny Llama's chat template (its output is
    gibberish; the plumbing is what is checked)."""
    from tiny_model import build_tiny_llama

    from fusionbench.cli import main

    model = build_tiny_llama(tmp_path / "tiny")
    out = tmp_path / "t"
    argv = ["thoughts", "build", "--data", str(sample_export), "--out", str(out), "--summarizer-engine", "hf",
            "--summarizer-model", str(model), "--tasks", "gsm8k,boolq", "--queries-per-task", "1",
            "--max-tokens", "6", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    table = read_templates(out).table.to_pylist()
    assert [r["task"] for r in table] == ["gsm8k", "boolq"]
    for row in table:
        assert row["summarizer_model"] == str(model) and row["prompt_hash"] == SUMMARIZER_PROMPT_SHA256
        assert row["status"] in ("ok", "empty") and (row["template"] is None) == (row["status"] == "empty")
        assert row["template"] is None or row["template"] == row["template"].strip()
