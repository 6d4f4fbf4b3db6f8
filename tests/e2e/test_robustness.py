"""Nothing lost, nothing leaked: faults, kills, changes during a sync, secrets (sandbox, HTTP)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
from collections import Counter

import pytest
from kustomer_sandbox import Sandbox

from tests.e2e.harness import (
    by_default,
    expected_ids,
    ground_truth,
    missing_and_extra,
    run_tap,
    run_tap_killed,
    tap_command,
    tap_env,
)


def test_random_faults_and_429_bursts_leave_the_record_set_unchanged(tmp_path):
    # 20% of requests fail: 500, 502, 503, 504, dropped, slower than the timeout, truncated.
    with Sandbox(seed=21, scale=0.15, fault_rate=0.2, slow_seconds=2.0, window_seconds=1) as sb:
        truth = ground_truth(sb)
        stop = threading.Event()
        # On top of the random 20%: each kind once, and 429 bursts, one at a time.
        plan = [["500"], ["429"] * 3, ["502"], ["503"], ["429"] * 3, ["504"], ["drop"]]
        plan += [["slow"], ["429"] * 3, ["truncate"]]

        def bursts() -> None:  # the next injection only once the tap has moved on
            queue, served = list(plan), 0
            while queue and not stop.wait(0.2):
                total = sb.stats()["total_requests"]
                if not sb.set_faults()["forced"] and total >= served + 5:
                    sb.set_faults(force=queue.pop(0))
                    served = total

        thread = threading.Thread(target=bursts, daemon=True)
        thread.start()
        try:
            config = {"request_timeout": 1, "page_size": 100}  # more requests, more faults
            run = run_tap(tmp_path, sb.base_url, sb.token, config=config)
        finally:
            stop.set()
            thread.join()
        stats = sb.stats()
    assert run.returncode == 0, run.stderr[-3000:]
    assert missing_and_extra(truth, run) == {}
    assert stats["faults_injected"] >= 0.1 * stats["total_requests"] * 0.8  # ≈ 20% asked
    assert set(stats["faults"]) >= {"500", "502", "503", "504", "drop", "slow", "truncate"}
    assert stats["rate_limited"] > 0


def test_exhausted_retries_exit_nonzero_with_a_valid_last_state(tmp_path):
    with Sandbox(
        seed=22, scale=0.05, fault_rate=1.0, fault_paths="/v1/tags", fault_weights="503:1"
    ) as sb:
        run = run_tap(tmp_path, sb.base_url, sb.token)
    assert run.returncode == 1
    critical = [line for line in run.stderr.splitlines() if line.startswith("CRITICAL")]
    assert len(critical) == 1 and "/v1/tags failed 6 times" in critical[0]
    assert "Traceback" not in run.stderr
    last = run.state
    assert last["currently_syncing"] == "tags"  # a resumed run starts with the failed stream
    done = ["customers", "conversations", "messages", "notes", "kobjects", "users", "teams"]
    assert all(last["bookmarks"][name]["updated_at"] for name in done)


@pytest.fixture(scope="module")
def small_sandbox():
    with Sandbox(seed=23, scale=0.08, window_seconds=1) as sb:
        yield sb


def test_kill_and_resume_loses_nothing(small_sandbox, tmp_path):
    truth = ground_truth(small_sandbox)
    clean = run_tap(tmp_path / "clean", small_sandbox.base_url, small_sandbox.token)
    assert clean.returncode == 0
    lines = len(clean.messages)
    rng = random.Random(2026)
    duplicates = []
    # Eight kills at seeded random lines, one in each eighth of the run's output: every part
    # of the sync (first pages, list streams, full tables, the last STATE) is cut somewhere.
    for trial in range(8):
        kill_at = rng.randint(max(1, trial * lines // 8), (trial + 1) * lines // 8 - 1)
        killed = run_tap_killed(
            tmp_path / f"k{trial}", small_sandbox.base_url, small_sandbox.token, kill_at
        )
        resumed = run_tap(
            tmp_path / f"r{trial}", small_sandbox.base_url, small_sandbox.token, state=killed.state
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        emitted = Counter()
        for run in (killed, resumed):
            for stream in by_default(truth):
                emitted.update((stream, i) for i in run.ids(stream))
        for stream in by_default(truth):
            missing = expected_ids(truth, stream) - {i for s, i in emitted if s == stream}
            assert not missing, f"trial {trial} (killed at line {kill_at}) lost {stream}"
        duplicates.append(sum(n - 1 for n in emitted.values()))
    total = sum(len(v) for v in clean.records.values())
    # Duplicates come from re-reading, for each of the max_workers streams in flight when the
    # kill came, what followed its last STATE: the page being written (at most 500 records),
    # a list read so far (its bookmark moves only at its end: the four lists hold 552), the
    # full tables (always read whole), and records sharing a bookmark: under 30% of this data
    # however the kill falls. A resume from scratch would be 100%.
    assert max(duplicates) <= 0.35 * total, duplicates


def test_records_changed_during_a_sync_arrive_in_that_run_or_the_next(tmp_path):
    with Sandbox(seed=24, scale=0.15, latency_ms=15) as sb:
        changes: list[tuple[str, str, str]] = []  # (stream, id, updatedAt)
        stop = threading.Event()

        def change() -> None:
            while not stop.wait(0.15):
                for stream in ("customers", "conversations", "tags"):
                    result = sb.update(stream, 3)
                    changes.extend((stream, i, result["updatedAt"]) for i in result["ids"])

        thread = threading.Thread(target=change, daemon=True)
        thread.start()
        try:
            first = run_tap(tmp_path / "one", sb.base_url, sb.token)
        finally:
            stop.set()
            thread.join()
        second = run_tap(tmp_path / "two", sb.base_url, sb.token, state=first.state)
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(changes) > 30
    seen: dict[tuple[str, str], str] = {}
    for run in (first, second):
        for stream, records in run.records.items():
            for record in records:
                key = (stream, record["id"])
                seen[key] = max(seen.get(key, ""), record.get("updated_at") or "")
    lost = [c for c in changes if seen.get((c[0], c[1]), "") < c[2]]
    assert lost == []


def test_no_token_in_any_log_and_no_record_contents_at_info(tmp_path, monkeypatch):
    token = "tok-RECOGNISABLE-8d1f2c7b"
    with Sandbox(seed=25, scale=0.05, token=token, fault_rate=0.1, slow_seconds=2.0) as sb:
        truth_run = run_tap(tmp_path / "info", sb.base_url, token, config={"request_timeout": 1})
        monkeypatch.setenv("TAP_KUSTOMER_LOG_LEVEL", "DEBUG")
        debug_run = run_tap(tmp_path / "debug", sb.base_url, token, config={"request_timeout": 1})
    assert truth_run.returncode == debug_run.returncode == 0
    assert "DEBUG" in debug_run.stderr  # it really ran at DEBUG
    for run in (truth_run, debug_run):
        assert token not in run.stderr
        assert token not in "\n".join(str(m) for m in run.messages)
    values = set()
    for stream, records in truth_run.records.items():
        if stream in ("klasses", "custom_attribute_metadata"):
            continue  # definitions, not data: their names are in the paths the tap logs
        for record in records:
            values.update(
                v
                for k, v in record.items()
                if isinstance(v, str)
                and len(v) > 6
                and not v.isalpha()  # single words ("message", "business") are vocabulary
                and k not in ("id", "type", "updated_at", "created_at", "modified_at")
            )
    leaked = [v for v in values if v in truth_run.stderr]
    assert values and leaked == []


def test_sigterm_into_a_full_pipe_ends_on_a_whole_line_and_a_state(small_sandbox, tmp_path):
    """The target reads slowly: the pipe is full and the tap is blocked in the middle of a
    write when SIGTERM comes. Every line read must still be whole, the last one a STATE."""
    args = tap_command(tmp_path, small_sandbox.base_url, small_sandbox.token)
    # Unbuffered: communicate() reads the pipes' descriptors, so nothing may wait in a buffer.
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=tap_env()
    )
    assert process.stdout is not None and process.stderr is not None
    while process.poll() is None and "customers: reading" not in process.stderr.readline().decode():
        pass  # a search stream is writing pages of ~500 KB into a 64 KB pipe nobody reads
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    lines = out.splitlines(keepends=True)
    assert all(line.endswith(b"\n") for line in lines)
    messages = [json.loads(line) for line in lines]
    assert messages[-1]["type"] == "STATE"
    assert process.returncode == 143, err.decode()[-2000:]
