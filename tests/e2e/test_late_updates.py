"""End to end against a sandbox whose search shows each update late, as Kustomer's
Elasticsearch does (search-realism.md): the look-back reads them in the next run, and without
it they are lost. Every run is compared with the sandbox's ground truth."""

from __future__ import annotations

import threading
import time

import pytest
from kustomer_sandbox import Sandbox

from tests.e2e.harness import expected_ids, ground_truth, run_tap

STREAMS = ("customers", "conversations", "messages")
UNLIMITED = {"org_limit": 10**9, "search_limit": 10**9}


@pytest.fixture(scope="module")
def changing_runs(tmp_path_factory) -> tuple[dict, dict]:
    """Records change before and during a first run while search indexes each update up to
    3 s late; once the lag has passed, two second runs from the first one's state: with the
    default look-back (300 s) and with lookback_seconds 0. Returns the truth after the changes
    and the runs. (A first run has no bookmark to look back from: one serves both.)

    The lag must outlast the first run (about 2 s here): its bookmark stops at its start, so
    what it can miss are the updates made in the lag before it that search still hides when
    the run reaches them. With a 1 s lag they are all visible by then, and nothing is lost
    even without the look-back."""
    tmp_path = tmp_path_factory.mktemp("late")
    lag = 3.0
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
            first = run_tap(tmp_path / "one", sb.base_url, sb.token)
        finally:
            stop.set()
            thread.join()
        truth = ground_truth(sb)
        time.sleep(lag)  # every update is searchable now
        runs = {"first": first}
        for name, config in (("default", {}), ("no look-back", {"lookback_seconds": 0})):
            runs[name] = run_tap(
                tmp_path / name, sb.base_url, sb.token, config=config, state=first.state
            )
    assert all(run.returncode == 0 for run in runs.values()), {
        name: run.stderr[-1500:] for name, run in runs.items()
    }
    return truth, runs


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


def test_updates_indexed_late_arrive_in_the_next_run(changing_runs):
    truth, runs = changing_runs
    assert stale(truth, [runs["first"], runs["default"]]) == {}
    assert "look-back" in runs["default"].stderr  # the re-read overlap is in the summary


def test_without_the_look_back_late_updates_are_lost(changing_runs):
    """Proves the test above can fail: lookback_seconds 0 is the planted "lookback ignored"."""
    truth, runs = changing_runs
    assert stale(truth, [runs["first"], runs["no look-back"]]) != {}
