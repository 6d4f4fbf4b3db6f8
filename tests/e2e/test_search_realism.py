"""End to end against a sandbox that answers like the Elasticsearch behind Kustomer search
(search-realism.md): ties ordered per request, totals capped at 10,000, partial answers,
updates indexed late. Every run is compared with the sandbox's ground truth."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from kustomer_sandbox import Sandbox

from tests.e2e.harness import expected_ids, ground_truth, run_tap, run_tap_killed
from tests.samples import selected_catalog

STREAMS = ("customers", "conversations", "messages")
UNLIMITED = {"org_limit": 10**9, "search_limit": 10**9}
MODES = {
    "replicas": {"replicas": 3},
    "capped totals": {"track_total_hits": 10_000},
    "partial answers": {"timed_out_rate": 0.05},
    "all at once": {"replicas": 3, "track_total_hits": 10_000, "timed_out_rate": 0.05},
}


@pytest.mark.parametrize("mode", MODES)
def test_full_sync_equals_the_ground_truth(mode, tmp_path):
    # Scale 1: 12,000 customers (more than 10,000 match), a 1,200-customer tie block.
    with Sandbox(seed=31, **UNLIMITED, **MODES[mode]) as sb:
        truth = ground_truth(sb)
        run = run_tap(tmp_path, sb.base_url, sb.token, catalog=selected_catalog(*STREAMS))
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in STREAMS:
        assert set(run.ids(stream)) == expected_ids(truth, stream), stream
        assert max(Counter(run.ids(stream)).values()) == 1, stream  # once per run
    assert sum(len(expected_ids(truth, s)) for s in STREAMS) > 30_000


def test_kill_and_resume_under_shuffled_ties_loses_nothing(tmp_path):
    with Sandbox(seed=32, scale=0.3, replicas=3, **UNLIMITED) as sb:
        truth = ground_truth(sb)
        catalog = selected_catalog(*STREAMS)
        clean = run_tap(tmp_path / "clean", sb.base_url, sb.token, catalog=catalog)
        assert clean.returncode == 0, clean.stderr[-2000:]
        lines = len(clean.messages)
        for trial, kill_at in enumerate((lines // 7, lines // 3, lines // 2, 4 * lines // 5)):
            killed = run_tap_killed(
                tmp_path / f"k{trial}", sb.base_url, sb.token, kill_at, catalog=catalog
            )
            resumed = run_tap(
                tmp_path / f"r{trial}", sb.base_url, sb.token, catalog=catalog, state=killed.state
            )
            assert resumed.returncode == 0, resumed.stderr[-2000:]
            for stream in STREAMS:
                emitted = set(killed.ids(stream)) | set(resumed.ids(stream))
                assert expected_ids(truth, stream) <= emitted, (trial, stream)


def changing_runs(tmp_path, lookback: float | None) -> tuple[dict, list]:
    """Records change before and during a first run while search indexes each update up to
    1 s late (well within the 300 s look-back); a second run, from the first one's state,
    starts once the lag has passed.
    Returns the truth after the changes and both runs."""
    lag = 1.0
    config = {} if lookback is None else {"lookback_seconds": lookback}
    with Sandbox(seed=33, scale=0.15, latency_ms=10, index_lag_seconds=lag, **UNLIMITED) as sb:
        stop = threading.Event()

        def change() -> None:
            while not stop.wait(0.05):
                for stream in STREAMS:
                    sb.update(stream, 2)

        thread = threading.Thread(target=change, daemon=True)
        thread.start()
        try:
            time.sleep(lag)  # updates made before the run that search shows only later
            first = run_tap(tmp_path / "one", sb.base_url, sb.token, config=config)
        finally:
            stop.set()
            thread.join()
        truth = ground_truth(sb)
        time.sleep(lag)  # every update is searchable now
        second = run_tap(tmp_path / "two", sb.base_url, sb.token, config=config, state=first.state)
    assert first.returncode == second.returncode == 0, (first.stderr[-1500:], second.stderr)
    return truth, [first, second]


def stale(truth: dict, runs: list) -> dict[str, int]:
    """Per stream, records whose latest version neither run emitted."""
    newest: dict[tuple[str, str], str] = {}
    for run in runs:
        for stream, records in run.records.items():
            for record in records:
                key = (stream, record["id"])
                newest[key] = max(newest.get(key, ""), record.get("updated_at") or "")
    report = {}
    for stream in STREAMS:
        rows = truth["streams"][stream]
        behind = [r for r in rows if newest.get((stream, r["id"]), "") < r["updatedAt"]]
        reachable = [r for r in behind if r["id"] in expected_ids(truth, stream)]
        if reachable:
            report[stream] = len(reachable)
    return report


def test_updates_indexed_late_arrive_in_the_next_run(tmp_path):
    truth, runs = changing_runs(tmp_path, lookback=None)  # the default: 300 s
    assert stale(truth, runs) == {}
    assert "look-back" in runs[1].stderr  # the re-read overlap is reported in the summary


def test_without_the_look_back_late_updates_are_lost(tmp_path):
    """Proves the test above can fail: lookback_seconds 0 is the planted "lookback ignored"."""
    truth, runs = changing_runs(tmp_path, lookback=0)
    assert stale(truth, runs) != {}
