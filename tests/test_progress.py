"""Progress lines, Singer metric lines and the run summary; none of them hold record contents."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from datetime import UTC, datetime

from tap_kustomer.progress import StreamProgress
from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tests.fakes import ts
from tests.samples import sample, selected_catalog


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_at_most_every_interval_with_percent_and_time_left(caplog):
    caplog.set_level(logging.INFO)
    clock = Ticks()
    progress = StreamProgress("customers", interval=30, clock=clock)
    clock.now += 10
    progress.page(500, 2000)
    assert "records/s" not in caplog.text  # too early
    clock.now += 20
    progress.page(500, 2000)
    line = next(r.getMessage() for r in caplog.records if "records/s" in r.getMessage())
    assert line == "customers: 1000 records in 2 pages, 33 records/s, 50% of 2000, about 30 s left"
    clock.now += 5
    progress.page(500, None)
    assert sum("records/s" in r.getMessage() for r in caplog.records) == 1
    clock.now += 1
    assert progress.finish() == 36.0
    counted = [m["value"] for m in metric_lines(caplog.text) if m["metric"] == "record_counter"]
    assert counted == [1000, 500]  # the last 500 are flushed when the stream ends


def metric_lines(text: str) -> list[dict]:
    return [
        json.loads(line.split("METRIC: ", 1)[1]) for line in text.splitlines() if "METRIC: " in line
    ]


def test_sync_logs_metrics_and_a_summary_with_requests_retries_and_waits(
    fake, client, settings, rsps, caplog
):
    caplog.set_level(logging.INFO)
    fake.search["customer"] = [sample("customers", i, ts(i)) for i in range(1200)]
    fake.lists["/v1/tags"] = [sample("tags", i, ts(i)) for i in range(30)]
    fake.fail_next = [503, 429]  # one retry and one 429 wait
    settings = dataclasses.replace(settings, progress_interval=1e-9)
    out = io.StringIO()
    catalog = select_streams(selected_catalog("customers", "tags"))
    now = datetime(2025, 3, 1, tzinfo=UTC)  # start_date is within search's two years
    sync(client, settings, catalog, read_state(None), SingerWriter(out), now=now)

    metrics = metric_lines(caplog.text)
    counted = {}
    for m in metrics:
        if m["metric"] == "record_counter":
            counted[m["tags"]["endpoint"]] = counted.get(m["tags"]["endpoint"], 0) + m["value"]
    assert counted == {"customers": 1200, "tags": 30}
    timers = [m for m in metrics if m["metric"] == "http_request_timer"]
    assert len(timers) == len(rsps.calls)
    assert {m["tags"]["http_status_code"] for m in timers} == {200, 429, 503}
    assert all(m["tags"]["endpoint"] in ("/v1/customers/search", "/v1/tags") for m in timers)

    text = caplog.text
    summary = text[text.index("run summary:") :].splitlines()
    rows = {line.split()[2]: line.split()[3:] for line in summary[2:4]}
    search_requests = fake.search_count()
    # records, look-back (a first run re-reads nothing), requests, retries, 429 waits
    assert rows["customers"][:5] == ["1200", "0", str(search_requests), "1", "1"]
    assert rows["tags"][:5] == ["30", "0", "2", "0", "0"]  # the list, then deleted=true
    assert "%" in text and "records/s" in text  # progress lines, with percent done
    assert "c5@example.com" not in text and "Customer 5" not in text  # no record contents


def test_progress_line_says_1_record_and_1_page_in_the_singular(caplog):
    caplog.set_level(logging.INFO)
    clock = Ticks()
    progress = StreamProgress("tags", interval=1, clock=clock)
    clock.now += 1
    progress.page(1, None)
    line = next(r.getMessage() for r in caplog.records if "records/s" in r.getMessage())
    assert line.startswith("tags: 1 record in 1 page, ")
    clock.now += 1
    progress.page(0, None)
    line = [r.getMessage() for r in caplog.records if "records/s" in r.getMessage()][-1]
    assert line.startswith("tags: 1 record in 2 pages, ")


def test_the_summary_counts_what_the_look_back_read_again(fake, client, settings, caplog):
    caplog.set_level(logging.INFO)
    fake.search["customer"] = [sample("customers", i, ts(i)) for i in range(100)]  # a minute apart
    state = read_state({"bookmarks": {"customers": {"updated_at": ts(50)}}})
    now = datetime(2025, 3, 1, tzinfo=UTC)
    out = io.StringIO()
    sync(
        client,
        settings,
        select_streams(selected_catalog("customers")),
        state,
        SingerWriter(out),
        now=now,
    )
    summary = caplog.text[caplog.text.index("run summary:") :].splitlines()
    row = next(line.split()[3:] for line in summary if " customers " in line)
    # Read from 5 minutes before the bookmark: ts(45)..ts(49) are the look-back's re-reads.
    assert row[:2] == ["55", "5"]
    assert "customers: 55 records" in caplog.text
