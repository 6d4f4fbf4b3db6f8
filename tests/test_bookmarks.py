"""The bookmark rule (bookmarks.py): where a run starts and when its bookmark advances."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from tap_kustomer import bookmarks
from tap_kustomer.streams import STREAMS
from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tests.fakes import resource, ts
from tests.samples import selected_catalog

START_DATE = "2024-01-01T00:00:00.000Z"
SAVED = "2024-06-01T12:00:00.000Z"
SIGNPOST = "2024-06-02T00:00:00.000Z"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def test_a_first_run_starts_at_start_date():
    assert bookmarks.SEARCH.start("", START_DATE, 300) == START_DATE
    assert bookmarks.LIST.start("", START_DATE, 300) == START_DATE


def test_search_starts_lookback_seconds_before_its_bookmark():
    assert bookmarks.SEARCH.start(SAVED, START_DATE, 300) == "2024-06-01T11:55:00.000Z"
    assert bookmarks.EVENTS.start(SAVED, START_DATE, 90) == "2024-06-01T11:58:30.000Z"
    assert bookmarks.SEARCH.start(SAVED, START_DATE, 0) == SAVED  # 0 turns it off


def test_lists_do_not_look_back():
    assert bookmarks.LIST.start(SAVED, START_DATE, 300) == SAVED
    assert bookmarks.AUDIT_LOG.start(SAVED, START_DATE, 300) == SAVED


def test_the_look_back_stops_at_start_date_and_at_year_one():
    assert bookmarks.SEARCH.start(SAVED, "2024-06-01T11:59:00.000Z", 300) == (
        "2024-06-01T11:59:00.000Z"
    )
    early = "0001-01-01T00:01:00.000Z"
    assert bookmarks.SEARCH.start(early, "0001-01-01T00:00:00.000Z", 86400) == (
        "0001-01-01T00:00:00.000Z"
    )


@pytest.mark.parametrize(
    ("read_through", "expected"),
    [
        (None, None),  # the pager cannot vouch for anything yet
        ("", None),
        ("2024-05-01T00:00:00.000Z", None),  # behind the bookmark: never back
        (SAVED, None),  # unchanged
        ("2024-06-01T18:00:00.000Z", "2024-06-01T18:00:00.000Z"),
        ("2024-07-01T00:00:00.000Z", SIGNPOST),  # a clock ahead: capped at the run's start
    ],
)
def test_a_bookmark_only_moves_forward_and_never_past_the_runs_start(read_through, expected):
    assert bookmarks.SEARCH.advance(SAVED, read_through, SIGNPOST) == expected
    assert bookmarks.LIST.advance(SAVED, read_through, SIGNPOST) == expected


def test_events_resume_from_the_created_at_bookmark_earlier_versions_wrote():
    assert bookmarks.EVENTS.key == "published_at"
    assert bookmarks.EVENTS.saved({"created_at": SAVED}) == SAVED
    assert bookmarks.EVENTS.saved({"created_at": "x", "published_at": SAVED}) == SAVED
    assert bookmarks.SEARCH.saved({"created_at": SAVED}) == ""  # not a search stream's key
    assert bookmarks.FULL_TABLE.saved({"updated_at": SAVED}) == ""


def test_a_full_table_has_no_bookmark():
    assert bookmarks.FULL_TABLE.advance("", "2024-06-01T18:00:00.000Z", SIGNPOST) is None


def test_each_streams_catalog_replication_follows_its_rule():
    kinds = {}
    for name, stream in STREAMS.items():
        rule = stream.bookmark
        assert stream.replication_key == rule.key, name
        assert stream.replication_method == ("INCREMENTAL" if rule.key else "FULL_TABLE"), name
        kinds[name] = rule
    assert kinds["customers"] is bookmarks.SEARCH and kinds["users"] is bookmarks.LIST
    assert kinds["tags"] is bookmarks.FULL_TABLE  # read whole anyway: deletes reach targets
    assert kinds["conversation_events"] is bookmarks.EVENTS
    assert kinds["audit_logs"] is bookmarks.AUDIT_LOG and kinds["brands"] is bookmarks.FULL_TABLE


def test_a_state_with_the_former_created_at_key_resumes_events_without_loss(fake, client, settings):
    conversations = [resource("conversation", i, ts(10 * i)) for i in range(6)]
    fake.search["conversation"] = conversations
    for conversation in conversations:
        event = resource("event", int(conversation["id"], 16) + 100, ts(0), ts(0))
        event["attributes"]["publishedAt"] = conversation["attributes"]["updatedAt"]
        fake.lists[f"/v1/conversations/{conversation['id']}/events"] = [event]
    state = {"bookmarks": {"conversation_events": {"created_at": ts(30)}}}  # 2.0.0-dev state
    out = io.StringIO()
    catalog = select_streams(selected_catalog("conversation_events"))
    sync(client, settings, catalog, read_state(state), SingerWriter(out), now=NOW)
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    events = [m["record"] for m in messages if m["type"] == "RECORD"]
    # Every event published since the bookmark (the look-back reads a little more, never less).
    assert {e["published_at"] for e in events} >= {ts(30), ts(40), ts(50)}
    assert messages[-1]["value"]["bookmarks"]["conversation_events"]["published_at"] == ts(50)
    (schema,) = [m for m in messages if m["type"] == "SCHEMA"]
    assert schema["bookmark_properties"] == ["published_at"]
