"""Run the real tap-kustomer CLI against the sandbox and compare with its ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kustomer_sandbox import Sandbox
from kustomer_sandbox.data import CUSTOM_ATTRS

from tap_kustomer.client import BACKOFF_SCALE_VARIABLE
from tap_kustomer.streams import STREAMS, klass_stream_id

EVERYTHING = "2000-01-01T00:00:00Z"  # earlier than any sandbox record
# A retry waits 1, 2, 4, 8, 16 s in a real run; the taps these tests start wait a hundredth of
# that. Each test checks what the retries lead to (the records, the exit code, the last
# STATE), never how long they took.
BACKOFF_SCALE = "0.01"


def tap_env() -> dict[str, str]:
    """The environment of a tap subprocess: this one's, with the retry backoffs shrunk."""
    return {**os.environ, BACKOFF_SCALE_VARIABLE: BACKOFF_SCALE}


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
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, env=tap_env()
    )
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    return collected(done.returncode, messages, done.stderr)


# Sandbox catalog lists read whole by the full-table streams: stream → Dataset.catalog key.
CATALOG_LISTS = {
    "brands": "brands",
    "queues": "queues",
    "slas": "slas",
    "sla_versions": "sla_versions",
    "business_schedules": "schedules",
    "klasses": "klasses",
    "workflows": "workflows",
    "satisfaction_surveys": "satisfaction",
}


def ground_truth(sandbox: Sandbox) -> dict:
    """The sandbox's truth() plus what it does not list: the full-table streams, audit logs,
    custom attribute metadata, and one kobject_<klass> entry per enabled klass.

    Rows of a full-table stream carry `full_table`; audit logs are stamped by `createdAt`.
    """
    truth = sandbox.truth()
    assert sandbox.app is not None
    dataset = sandbox.app.ds
    rows = truth["streams"]
    for stream, key in CATALOG_LISTS.items():
        rows[stream] = [{"id": doc["id"], "full_table": True} for doc in dataset.catalog[key]]
    rows["custom_attribute_metadata"] = [
        {"id": f"{resource}.{name}", "full_table": True}
        for resource, definitions in CUSTOM_ATTRS.items()
        for name in definitions
    ]
    rows["audit_logs"] = [
        {"id": log["id"], "createdAt": log["attributes"]["createdAt"]} for log in dataset.audit_logs
    ]
    for klass in dataset.catalog["klasses"]:
        if klass["attributes"]["status"] == "enabled":
            name = klass["attributes"]["name"]
            rows[klass_stream_id(name)] = [r for r in rows["kobjects"] if r["klass"] == name]
    return truth


def expected_ids(truth: dict, stream: str, since: str = EVERYTHING[:10]) -> set[str]:
    """The records a sync from `since` must emit: every one search or archive search can reach
    (archived notes cannot be), soft-deleted ones included (`include_deleted` is on by default),
    and the whole of each stream the tap reads as a full table."""
    expected = set()
    cls = STREAMS.get(stream)
    whole = cls is not None and cls.replication_method == "FULL_TABLE"
    for row in truth["streams"][stream]:
        stamp = row.get("updatedAt") or row.get("createdAt") or ""
        # archived notes: no archive search reaches them; a deleted conversation's attachments
        # are not read
        reachable = not (stream == "notes" and row.get("archived"))
        reachable = reachable and not (stream == "attachments" and row.get("deleted"))
        if whole or row.get("full_table") or (stamp >= since and reachable):
            expected.add(row["id"])
    return expected


def at_bookmark(truth: dict, stream: str, bookmark: dict, lookback: float = 0) -> set[str]:
    """The records an incremental run reads again: those stamped at the stream's bookmark, or
    within `lookback` seconds before it (search streams' lookback_seconds, default 300)."""
    key, value = next(iter(bookmark.items()))
    field = {"updated_at": "updatedAt", "created_at": "createdAt"}[key]
    since = datetime.fromisoformat(value) - timedelta(seconds=lookback)
    since_ts = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    rows = truth["streams"][stream]
    return {row["id"] for row in rows if since_ts <= (row.get(field) or "") <= value}


def by_default(truth: dict) -> list[str]:
    """The streams of the truth a sync without a catalog reads (not attachments)."""
    return [s for s in truth["streams"] if s not in STREAMS or STREAMS[s].selected_by_default]


def missing_and_extra(truth: dict, run: TapRun, since: str = EVERYTHING[:10]) -> dict[str, tuple]:
    """Per stream of the truth: (ids the tap missed, ids it emitted that it should not have)."""
    report = {}
    synced = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    for stream in truth["streams"]:
        cls = STREAMS.get(stream)
        if stream not in synced and cls is not None and not cls.selected_by_default:
            continue  # attachments: not selected unless a catalog asks for it
        want = expected_ids(truth, stream, since)
        got = set(run.ids(stream))
        if want - got or got - want:
            report[stream] = (sorted(want - got), sorted(got - want))
    return report


def run_tap_killed(
    tmp: Path,
    base_url: str,
    token: str,
    kill_after_lines: int,
    state: dict | None = None,
    catalog: dict | None = None,
) -> TapRun:
    """Start a full sync and SIGKILL it once `kill_after_lines` lines have been read.

    What the tap had already written to the pipe is still read, as a target would; a partly
    written last line is dropped.
    """
    args = tap_command(tmp, base_url, token, state=state, catalog=catalog)
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=tap_env()
    )
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
