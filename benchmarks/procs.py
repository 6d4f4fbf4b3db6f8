"""Child processes of the benchmark: the sandbox, and one measured tap run.

A tap run is measured from outside: CPU (user + sys) and peak RSS from ``os.wait4``'s rusage,
wall time around it, and its stdout streamed through a counter of RECORD messages and unique
(stream, id) pairs, never held in memory. Request counts come from the sandbox, which runs in
its own process so its CPU is not the tap's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SANDBOX_START_TIMEOUT = 300.0  # seconds; scale 3 needs about 20 s of generation and warm-up


def log(message: str) -> None:
    """A progress line on stderr, stamped with the wall clock."""
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def spawn(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a local program of the benchmark (venv tools, never a shell)."""
    return subprocess.Popen(command, **kwargs)  # noqa: S603 - fixed local commands


class Sandbox:
    """``python -m tap_kustomer.sandbox`` in its own process, with its control endpoints."""

    def __init__(self, python: Path, flags: list[str], log_path: Path) -> None:
        self.python = python
        self.flags = flags
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""

    def __enter__(self) -> Sandbox:
        command = [str(self.python), "-m", "tap_kustomer.sandbox", "--port", "0"]
        command += ["--prewarm", "sync", *self.flags]
        with open(self.log_path, "wb") as err:
            self.proc = spawn(command, stdout=subprocess.PIPE, stderr=err)
        watchdog = threading.Timer(SANDBOX_START_TIMEOUT, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline() if self.proc.stdout else b""
        finally:
            watchdog.cancel()
        if not line:
            self.__exit__()
            raise RuntimeError(f"the sandbox did not start: see {self.log_path}")
        info = json.loads(line)
        self.base_url, self.token = info["base_url"], info["token"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def call(self, method: str, path: str, payload: dict | None = None) -> dict:
        """One control request (``/__sandbox/...``): never rate limited, faulted or counted."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the loopback sandbox
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())

    def reset(self) -> None:
        """Zero the request statistics and the rate-limit windows' spending."""
        self.call("POST", "/__sandbox/reset", {"stats": True, "limits": True, "faults": False})

    def stats(self) -> dict:
        return self.call("GET", "/__sandbox/stats")

    def config(self) -> dict:
        return self.call("GET", "/__sandbox/config")

    def unthrottle(self, budget: int) -> None:
        """No added latency and budgets nobody reaches, from now on."""
        self.call("POST", "/__sandbox/faults", {"latency_ms": 0})
        limits = {"org_limit": budget, "search_limit": budget, "reset": True}
        self.call("POST", "/__sandbox/limits", limits)


@dataclass
class Output:
    """What a tap printed, counted line by line."""

    records: Counter[str] = field(default_factory=Counter)
    unique: dict[str, set[str]] = field(default_factory=dict)
    last_state: dict | None = None
    last_new_record: float = 0.0  # monotonic time of the last record not seen before

    def feed(self, line: bytes) -> None:
        if b'"RECORD"' not in line[:64] and b'"STATE"' not in line[:64]:
            return
        message = json.loads(line)
        kind = message.get("type")
        if kind == "STATE":
            self.last_state = message.get("value")
        elif kind == "RECORD":
            stream = message["stream"]
            self.records[stream] += 1
            seen = self.unique.setdefault(stream, set())
            key = str(message["record"].get("id"))
            if key not in seen:
                seen.add(key)
                self.last_new_record = time.monotonic()

    def unique_counts(self) -> dict[str, int]:
        return {stream: len(ids) for stream, ids in self.unique.items()}


@dataclass
class Measured:
    """One tap process: its exit, resources and output counts."""

    exit_code: int
    killed: bool
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output: Output
    stalled_s: float  # seconds since the last new record when it ended
    stderr_tail: list[str]


def measure(
    command: list[str], env: dict[str, str], stderr_path: Path, time_limit: float | None = None
) -> Measured:
    """Run ``command``, stream its stdout through an :class:`Output`, and reap it with wait4."""
    output = Output()
    killed = threading.Event()
    start = time.monotonic()
    output.last_new_record = start
    with open(stderr_path, "wb") as err:
        proc = spawn(command, stdout=subprocess.PIPE, stderr=err, env=env, bufsize=1 << 16)

    def stop() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(time_limit, stop) if time_limit else None
    if timer:
        timer.start()
    _drain(proc.stdout, output)
    if timer:
        timer.cancel()
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(
        exit_code=proc.returncode,
        killed=killed.is_set(),
        wall_s=end - start,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
        output=output,
        stalled_s=end - output.last_new_record,
        stderr_tail=_tail(stderr_path, 400),
    )


def _drain(stream: IO[bytes] | None, output: Output) -> None:
    if stream is None:
        return
    with stream:
        for line in stream:
            output.feed(line)


def _tail(path: Path, lines: int) -> list[str]:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 200_000))
        text = f.read().decode("utf-8", "replace")
    return text.splitlines()[-lines:]
