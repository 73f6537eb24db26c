"""The OpenAI-compatible client of the judge job: its concurrency cap and exponential backoff, measured against a
real local HTTP server on 127.0.0.1 (the intervals and the in-flight count are what the server saw)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from loopback import serving

from fusionbench.generation.judge import OpenAIJudge

SLOW_S = 0.3


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.arrivals: dict[str, list[float]] = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            arrivals = server.arrivals.setdefault(prompt, [])
            arrivals.append(time.monotonic())
            attempt = len(arrivals)
        try:
            if prompt.startswith("flaky") and attempt <= 3:  # three 500s, then an answer
                self.send_response(500)
                self.end_headers()
                return
            time.sleep(SLOW_S if prompt.startswith("slow") else 0)
            reply = json.dumps({"choices": [{"message": {"content": f"<answer>1.0</answer> {prompt}"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture
def server():
    with serving(Server()) as httpd:
        yield httpd


def _url(server: Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_no_more_than_the_cap_in_flight_and_the_cap_is_used(server: Server) -> None:
    judge = OpenAIJudge("judge-x", _url(server), concurrency=3, max_retries=0)
    replies = judge.complete([f"slow {i}" for i in range(12)])
    assert replies == [f"<answer>1.0</answer> slow {i}" for i in range(12)]  # in input order
    assert server.max_in_flight == 3


def test_retries_back_off_exponentially(server: Server) -> None:
    backoff = 0.2
    judge = OpenAIJudge("judge-x", _url(server), concurrency=1, max_retries=4, backoff=backoff)
    assert judge.complete(["flaky 1"]) == ["<answer>1.0</answer> flaky 1"]
    times = server.arrivals["flaky 1"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4  # three failures, then the answer
    for attempt, gap in enumerate(gaps):  # backoff * 2**attempt, jittered up by at most a quarter
        assert backoff * 2**attempt <= gap < backoff * 2**attempt * 1.25 + 0.5, gaps


def test_a_call_that_never_succeeds_gives_none_after_its_retries(server: Server) -> None:
    judge = OpenAIJudge("judge-x", _url(server), concurrency=2, max_retries=2, backoff=0.01)
    assert judge.complete(["flaky 2", "fine"]) == [None, "<answer>1.0</answer> fine"]
    assert len(server.arrivals["flaky 2"]) == 3  # 1 + max_retries, then given up (null, never 0)
    assert judge.last_errors and "HTTP 500" in judge.last_errors[-1]
