"""Child processes of the benchmark: the sandbox, and one measured tap run.

A tap run is measured from outside: CPU (user + sys) and peak RSS from ``os.wait4``'s rusage
and wall time around it, all three taken by ``launch.py``, the tap's small parent (see there
why not by the benchmark itself); its stdout is streamed through a counter of RECORD messages
and unique (stream, id) pairs, never held in memory. Request counts come from the sandbox, which
runs in its own process so its CPU is not the tap's.
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
    """``python -m kustomer_sandbox`` in its own process, with its control endpoints."""

    def __init__(self, python: Path, flags: list[str], log_path: Path) -> None:
        self.python = python
        self.flags = flags
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""

    def __enter__(self) -> Sandbox:
        command = [str(self.python), "-m", "kustomer_sandbox", "--port", "0"]
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


LAUNCHER = Path(__file__).with_name("launch.py")
BACKSTOP = 60.0  # seconds past a run's time limit before its launcher itself is ended


def measure(
    command: list[str], env: dict[str, str], stderr_path: Path, time_limit: float | None = None
) -> Measured:
    """Run ``command`` through ``launch.py`` (which reaps it with wait4 and writes its CPU,
    peak RSS and wall time; see there for why) and stream its stdout through an
    :class:`Output`."""
    output = Output()
    result = stderr_path.with_name(stderr_path.name.removesuffix(".stderr.log") + ".rusage.json")
    result.unlink(missing_ok=True)
    launcher = [sys.executable, "-I", str(LAUNCHER), str(result), f"{time_limit or 0:g}", "--"]
    start = time.monotonic()
    output.last_new_record = start
    with open(stderr_path, "wb") as err:
        proc = spawn([*launcher, *command], stdout=subprocess.PIPE, stderr=err, env=env,
                     bufsize=1 << 16)  # fmt: skip
    backstop = threading.Timer(time_limit + BACKSTOP, proc.terminate) if time_limit else None
    if backstop:
        backstop.start()
    _drain(proc.stdout, output)
    proc.wait()
    end = time.monotonic()
    if backstop:
        backstop.cancel()
    if not result.exists():
        raise RuntimeError(f"the launcher wrote no {result} (exit {proc.returncode})")
    usage = json.loads(result.read_text())
    return Measured(
        exit_code=usage["exit_code"],
        killed=usage["killed"],
        wall_s=usage["wall_s"],
        cpu_s=usage["cpu_s"],
        peak_rss_mb=usage["peak_rss_kib"] / 1024,
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


TIMED_OUT_RETRY = "partial answer (meta.timed_out)"  # this tap's retry WARNING for such answers


@dataclass
class TapLog:
    """What this tap's stderr says: timed-out retries and the run summary's look-back column."""

    timed_out_retries: int = 0
    lookback: int | None = None  # None: no summary table (1.1.0, or a run that did not end)


def read_tap_log(path: Path) -> TapLog:
    """Count the retry WARNINGs of partial answers; sum the summary table's look-back column.

    The table (``INFO run summary:``, then a header and one line per stream) is parsed by the
    header's column names, so a column added later does not shift the count.
    """
    out = TapLog()
    names: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if TIMED_OUT_RETRY in line and "retry" in line:
                out.timed_out_retries += 1
            cells = line.split()[1:]  # without the level
            if line.startswith("INFO run summary:"):
                names, out.lookback = [], 0
            elif out.lookback is not None and not names and "look-back" in cells:
                names = line.replace("429 waits", "429-waits").split()[1:]
            elif names:
                # a stream's row: one cell per column, the duration as "1.2 s"
                if len(cells) == len(names) + 1 and cells[-1] == "s":
                    out.lookback += int(cells[names.index("look-back")])
                else:
                    names = []  # the table ended
    return out
