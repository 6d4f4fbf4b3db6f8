"""Run the real tap-kustomer CLI against the sandbox and compare with its ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_kustomer.streams import STREAMS, ListStream

EVERYTHING = "2000-01-01T00:00:00Z"  # earlier than any sandbox record


@dataclass
class TapRun:
    """What one run of the tap printed."""

    returncode: int
    messages: list[dict]
    stderr: str
    records: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def state(self) -> dict | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else None

    def ids(self, stream: str) -> list[str]:
        return [r["id"] for r in self.records.get(stream, [])]


def tap_command(
    tmp: Path,
    base_url: str,
    token: str,
    *,
    catalog: dict | None = None,
    state: dict | None = None,
    config: dict[str, Any] | None = None,
    tap_code: str | None = None,
) -> list[str]:
    """Write the files a run needs into `tmp`; the command line that runs the tap on them."""
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "config.json"
    settings = {"api_token": token, "base_url": base_url, "start_date": EVERYTHING}
    config_path.write_text(json.dumps({**settings, **(config or {})}))
    args = ["--config", str(config_path)]
    for name, content in (("catalog", catalog), ("state", state)):
        if content is not None:
            path = tmp / f"{name}.json"
            path.write_text(json.dumps(content))
            args += [f"--{name}", str(path)]
    if tap_code:
        return [sys.executable, "-c", tap_code, *args]
    return [sys.executable, "-m", "tap_kustomer", *args]


def collected(returncode: int, messages: list[dict], stderr: str) -> TapRun:
    """A TapRun with its records grouped by stream."""
    run = TapRun(returncode, messages, stderr)
    for message in messages:
        if message["type"] == "RECORD":
            run.records.setdefault(message["stream"], []).append(message["record"])
    return run


def run_tap(tmp: Path, base_url: str, token: str, *, timeout: float = 600, **files: Any) -> TapRun:
    """Run `python -m tap_kustomer` (or `tap_code`, a script that ends by running the CLI)."""
    command = tap_command(tmp, base_url, token, **files)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    return collected(done.returncode, messages, done.stderr)


def expected_ids(truth: dict, stream: str, since: str = EVERYTHING[:10]) -> set[str]:
    """The records a sync from `since` must emit: every one search can reach (not archive-only),
    soft-deleted ones included (`include_deleted` is on by default)."""
    rows = truth["streams"][stream]
    is_list = issubclass(STREAMS[stream], ListStream)
    return {
        row["id"]
        for row in rows
        if row["updatedAt"] >= since and (is_list or not row.get("archived"))
    }


def missing_and_extra(truth: dict, run: TapRun, since: str = EVERYTHING[:10]) -> dict[str, tuple]:
    """Per stream: (ids the tap missed, ids it emitted that it should not have)."""
    report = {}
    for stream in STREAMS:
        want = expected_ids(truth, stream, since)
        got = set(run.ids(stream))
        if want - got or got - want:
            report[stream] = (sorted(want - got), sorted(got - want))
    return report


def run_tap_killed(
    tmp: Path, base_url: str, token: str, kill_after_lines: int, state: dict | None = None
) -> TapRun:
    """Start a full sync and SIGKILL it once `kill_after_lines` lines have been read.

    What the tap had already written to the pipe is still read, as a target would; a partly
    written last line is dropped.
    """
    args = tap_command(tmp, base_url, token, state=state)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    lines: list[bytes] = []
    for line in process.stdout:
        lines.append(line)
        if len(lines) >= kill_after_lines:
            process.kill()
            break
    lines.extend(process.stdout.read().splitlines(keepends=True))
    process.wait()
    complete = [line for line in lines if line.endswith(b"\n")]
    messages = []
    for line in complete:
        try:
            messages.append(json.loads(line))
        except ValueError:  # a line cut by the kill
            break
    return collected(process.returncode, messages, "")
