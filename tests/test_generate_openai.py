"""``fusionbench generate --engine openai`` against a real local OpenAI-compatible server on 127.0.0.1.

The test server answers ``/v1/chat/completions`` with a text and usage counts (reasoning tokens included), keeps
requests open a little so the concurrency cap shows, and injects 429 and 500 answers (retried) and 400 answers
(not retried) on chosen prompts. What it saw (attempts per prompt, request bodies, the most requests in flight)
is what the tests check.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from loopback import serving

from fusionbench.generation import GenerationSettings, SamplingSettings, generate, read_run, run_queries
from fusionbench.generation.chat_client import ChatClient
from fusionbench.generation.engine_openai import OpenAIEngine
from fusionbench.generation.judge import OpenAIJudge

SERVED = "served-model"
pytestmark = pytest.mark.filterwarnings("ignore:no price sheet given")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.attempts: Counter[str] = Counter()
        self.bodies: list[dict] = []
        self.headers_seen: list[dict] = []
        self.throttled: set[str] = set()  # 429 on the first attempt
        self.broken_once: set[str] = set()  # 500 on the first attempt
        self.broken: set[str] = set()  # 500 always
        self.refused: set[str] = set()  # 400 always (as vLLM answers a prompt longer than its context)
        self.delay = 0.05

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            server.attempts[prompt] += 1
            attempt = server.attempts[prompt]
            server.bodies.append(body)
            server.headers_seen.append(dict(self.headers))
        try:
            time.sleep(server.delay)
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": "no such route"}})
            if prompt in server.refused:
                return self._send(400, {"error": {"message": "This model's maximum context length is 64 tokens"}})
            if prompt in server.broken or (prompt in server.broken_once and attempt == 1):
                return self._send(500, {"error": {"message": "engine dead"}})
            if prompt in server.throttled and attempt == 1:
                return self._send(429, {"error": {"message": "slow down"}})
            words = len(prompt.split())
            reply = {
                "choices": [{"message": {"role": "assistant", "content": f"reply {body['seed']}"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": words, "completion_tokens": 7, "total_tokens": words + 7,
                          "completion_tokens_details": {"reasoning_tokens": 3}},
            }  # fmt: skip
            return self._send(200, reply)
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture
def server():
    with serving(Server()) as httpd:
        yield httpd


def _settings(server: Server, out: Path, **changes) -> GenerationSettings:
    base = GenerationSettings(
        model=SERVED, name="served", out=out, engine="openai", base_url=server.url, tasks=("gsm8k", "natural_qa"),
        split="train", limit=3, sampling=SamplingSettings(max_new_tokens=16, samples=2, seed=5), concurrency=3,
        max_retries=2, batch_size=4, progress=False,
    )  # fmt: skip
    return replace(base, **changes)


def _prompts(settings: GenerationSettings) -> list[str]:
    return [q[f"prompt_{m}"] for q in run_queries(settings) for m in settings.modes]


def test_rows_usage_concurrency_cap_and_retries(server: Server, tmp_path: Path) -> None:
    settings = _settings(server, tmp_path / "run")
    prompts = _prompts(settings)  # 2 tasks x up to 3 queries x 2 modes; 2 samples each
    n = len(prompts)
    assert n >= 8
    server.throttled, server.broken_once = {prompts[0]}, {prompts[5]}
    summary = generate(settings)
    assert (summary.items_generated, summary.rows_written, summary.rows_failed) == (n, 2 * n, 0)
    assert server.max_in_flight == 3  # the cap, and used
    # one HTTP request per sample; the 429 and the 500 were retried once each (first sample only)
    assert sum(server.attempts.values()) == 2 * n + 2 and server.attempts[prompts[0]] == 3
    assert server.attempts[prompts[5]] == 3 and all(server.attempts[p] == 2 for p in prompts[1:5])
    for body in server.bodies:
        assert body["model"] == SERVED and body["n"] == 1 and body["max_tokens"] == 16
        assert body["temperature"] == 0.2 and body["top_p"] == 0.7
    rows = read_run(settings.out).to_pylist()
    assert len(rows) == 2 * n
    seeds = Counter()
    for row in rows:
        assert row["input_tokens"] == len(row["prompt"].split())  # the server's usage, per request
        assert row["output_tokens"] == 7 and row["reasoning_tokens"] == 3 and row["finish_reason"] == "stop"
        assert row["engine"] == "openai" and row["token_counter"] == f"{SERVED} (server usage)"
        assert row["response"].startswith("reply ") and row["performance"] is not None and row["error"] is None
        seeds[(row["query_id"], row["mode"], row["response"])] += 1
    assert set(seeds.values()) == {1}  # each sample of a request has its own seed


def test_failed_requests_are_rows_and_a_rerun_retries_exactly_those(server: Server, tmp_path: Path) -> None:
    settings = _settings(server, tmp_path / "run", tasks=("gsm8k",), limit=2, sampling=SamplingSettings(samples=1))
    prompts = _prompts(settings)
    server.refused, server.broken = {prompts[0]}, {prompts[3]}
    summary = generate(settings)
    assert summary.rows_failed == 2 and summary.items_generated == 4
    assert server.attempts[prompts[0]] == 1  # a 400 is not retried
    assert server.attempts[prompts[3]] == 3  # a 500 is, max_retries times
    failed = {r["prompt"]: r for r in read_run(settings.out).to_pylist() if r["error"]}
    assert set(failed) == {prompts[0], prompts[3]}
    assert "HTTP 400: This model's maximum context length" in failed[prompts[0]]["error"]
    assert "HTTP 500: engine dead (after 3 attempts)" in failed[prompts[3]]["error"]
    for row in failed.values():
        assert row["response"] is None and row["performance"] is None and row["finish_reason"] == "error"

    server.refused, server.broken = set(), set()
    server.attempts.clear()
    again = generate(settings)
    assert set(server.attempts) == {prompts[0], prompts[3]} and again.rows_failed == 0
    rows = read_run(settings.out)
    assert rows.num_rows == 4 and rows["error"].null_count == 4


def test_the_cli_sends_the_key_from_the_named_variable(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from fusionbench.cli import main

    monkeypatch.setenv("MY_KEY", "sk-test")
    out = tmp_path / "cli"
    argv = ["generate", "--engine", "openai", "--model", SERVED, "--name", "served", "--out", str(out),
            "--base-url", server.url, "--api-key-env", "MY_KEY", "--tasks", "natural_qa", "--limit", "1",
            "--modes", "direct", "--concurrency", "2", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert {h.get("Authorization") for h in server.headers_seen} == {"Bearer sk-test"}
    assert read_run(out).num_rows == 1
    settings = _settings(server, out)
    with pytest.raises(ValueError, match="needs --base-url"):
        replace(settings, base_url=None)


def test_the_judge_and_generation_share_one_client(server: Server, tmp_path: Path) -> None:
    engine = OpenAIEngine(_settings(server, tmp_path / "x"))
    assert isinstance(engine.client, ChatClient) and issubclass(OpenAIJudge, ChatClient)
    reply = engine.client.chat("hello", seed=1)
    assert (reply.content, reply.prompt_tokens, reply.completion_tokens, reply.reasoning_tokens) == ("reply 1", 1, 7, 3)
