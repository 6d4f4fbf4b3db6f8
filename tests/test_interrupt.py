"""SIGINT and SIGTERM end a budget wait, a 429 wait or a retry's backoff at once, on any
thread, with one CRITICAL line, exit 128 + the signal, and a valid STATE as the last line.

The tap runs as a subprocess against a loopback server whose answers make it wait a minute;
the signal comes as soon as the tap says it is waiting. No test sleeps: each waits for a line.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tap_kustomer import interrupt
from tests.fakes import resource, ts
from tests.samples import selected_catalog

Answer = tuple[int, dict[str, str], Any]


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[str], Answer]], str]]:
    """serve(answer) → base URL; answer(path) gives (status, headers, JSON body)."""
    servers: list[ThreadingHTTPServer] = []

    def serve(answer: Callable[[str], Answer]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = answer(self.path.split("?", 1)[0])
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield serve
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def tap_until(tmp_path: Path, base_url: str, stream: str, waiting: str, signum: int):
    """Run the tap on one stream; send `signum` once stderr shows `waiting`; its results."""
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps({"api_token": "t", "base_url": base_url, "start_date": ts(0)}))
    catalog.write_text(json.dumps(selected_catalog(stream)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_kustomer", "--config", config, "--catalog", catalog],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err: list[str] = []
    try:
        for line in process.stderr:
            err.append(line)
            if waiting in line:
                process.send_signal(signum)
                break
        else:
            pytest.fail("the tap never waited:\n" + "".join(err))
        # A bound, not a measurement: the wait is a minute, so only the signal ends it in time.
        out, rest = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    return process.returncode, out, "".join(err) + rest


def assert_clean_stop(code: int, out: str, err: str, signum: int) -> None:
    assert code == 128 + signum, err
    assert "Traceback" not in err
    critical = [line for line in err.splitlines() if line.startswith("CRITICAL")]
    assert len(critical) == 1 and "interrupted" in critical[0], err
    assert signal.Signals(signum).name in critical[0]
    messages = [json.loads(line) for line in out.splitlines()]  # whole lines only
    assert messages and messages[-1]["type"] == "STATE", out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_429_wait(tmp_path, server, signum):
    base = server(lambda path: (429, {"Retry-After": "60"}, {"errors": [{"status": "429"}]}))
    result = tap_until(tmp_path, base, "tags", "rate limited (429); waiting", signum)
    assert_clean_stop(*result, signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_a_budget_wait(tmp_path, server, signum):
    spent = {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "0"}

    def answer(path: str) -> Answer:
        headers = {**spent, "x-ratelimit-reset": str(int(time.time()) + 60)}
        tags = [resource("tag", i, ts(i)) for i in range(3)]
        return 200, headers, {"data": tags, "links": {"next": "/v1/tags?page=2"}, "meta": {}}

    base = server(answer)
    code, out, err = tap_until(tmp_path, base, "tags", "request budget spent; waiting", signum)
    assert_clean_stop(code, out, err, signum)
    assert any(json.loads(line)["type"] == "RECORD" for line in out.splitlines())


def test_a_signal_ends_a_backoff_wait_of_a_search(tmp_path, server):
    base = server(lambda path: (503, {}, {"errors": [{"status": "503"}]}))
    result = tap_until(tmp_path, base, "customers", "retry 3 of 5 in 4.0 s", signal.SIGINT)
    assert_clean_stop(*result, signal.SIGINT)


def test_sleep_on_another_thread_ends_when_the_run_is_stopped():
    interrupt.STOP.clear()
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            interrupt.sleep(60)
        except KeyboardInterrupt as exc:
            raised.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    interrupt.STOP.set()
    thread.join(timeout=10)
    interrupt.STOP.clear()
    assert not thread.is_alive() and isinstance(raised[0], interrupt.Interrupted)


def test_signals_are_handled_only_during_a_run_and_stop_is_reset():
    before = signal.getsignal(signal.SIGTERM)
    interrupt.STOP.set()
    with interrupt.signals_stop_the_run():
        assert not interrupt.STOP.is_set()
        assert signal.getsignal(signal.SIGTERM) is not before
        interrupt.sleep(0)  # returns: nothing stopped the run
    assert signal.getsignal(signal.SIGTERM) is before
