"""End to end against a sandbox whose search shows each update late, as Kustomer's
Elasticsearch does (search-realism.md): the look-back reads them in the next run, and without
it they are lost. Every run is compared with the sandbox's ground truth."""

from __future__ import annotations

import threading
import time

from kustomer_sandbox import Sandbox

from tests.e2e.harness import expected_ids, ground_truth, run_tap

STREAMS = ("customers", "conversations", "messages")
UNLIMITED = {"org_limit": 10**9, "search_limit": 10**9}


def changing_runs(tmp_path, lookback: float | None) -> tuple[dict, list]:
    """Records change before and during a first run while search indexes each update up to
    3 s late; a second run, from the first one's state, starts once the lag has passed.
    Returns the truth after the changes and both runs.

    The lag must outlast the first run (about 2 s here): its bookmark stops at its start, so
    what it can miss are the updates made in the lag before it that search still hides when
    the run reaches them. With a 1 s lag they are all visible by then, and nothing is lost
    even without the look-back."""
    lag = 3.0
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
