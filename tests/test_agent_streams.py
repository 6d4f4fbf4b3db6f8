"""The agent-data streams against the fake: work sessions and items by search on updatedAt,
conversation times by search on createdAt, routing and status labels as full tables, and
attachments per changed conversation (ids from links.self, their conversation added)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime

from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tests.fakes import resource, ts
from tests.samples import selected_catalog, validate

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def run(client, settings, *streams, state=None):
    out = io.StringIO()
    catalog = selected_catalog(*streams)
    sync(client, settings, select_streams(catalog), read_state(state), SingerWriter(out), now=NOW)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def of(messages, kind, stream):
    return [m for m in messages if m["type"] == kind and m.get("stream") == stream]


def test_work_sessions_and_items_are_searched_on_updated_at(fake, client, settings):
    fake.search["work_session"] = [resource("work_session", i, ts(i)) for i in range(7)]
    fake.search["work_item"] = [resource("work_item", 100 + i, ts(i)) for i in range(5)]
    messages = run(client, settings, "work_sessions", "work_items")
    assert len(of(messages, "RECORD", "work_sessions")) == 7
    assert len(of(messages, "RECORD", "work_items")) == 5
    contexts = {body["queryContext"]: body for _, body, _ in fake.requests if body}
    assert contexts["work_session"]["sort"] == [{"work_session_updated_at": "asc"}]
    assert contexts["work_item"]["sort"] == [{"work_item_updated_at": "asc"}]
    assert messages[-1]["value"]["bookmarks"]["work_sessions"] == {"updated_at": ts(6)}


def test_conversation_times_are_searched_and_bookmarked_on_created_at(fake, client, settings):
    times = [resource("conversation_time", i, ts(0), created=ts(10 + i)) for i in range(4)]
    for record in times:
        del record["attributes"]["updatedAt"]  # Kustomer's records have none
        record["attributes"].update(handleTime=42_000, handleAt=record["attributes"]["createdAt"])
    fake.search["conversation_time"] = times
    state = {"bookmarks": {"conversation_times": {"created_at": ts(12)}}}
    one_minute = replace(settings, lookback_seconds=60)  # the look-back reads from ts(11)
    messages = run(client, one_minute, "conversation_times", state=state)
    records = [m["record"] for m in of(messages, "RECORD", "conversation_times")]
    (schema,) = of(messages, "SCHEMA", "conversation_times")
    for record in records:
        validate(record, schema["schema"])
    assert {r["created_at"] for r in records} == {ts(11), ts(12), ts(13)}
    assert records[0]["handle_time"] == 42_000
    (body,) = [b for _, b, _ in fake.requests if b]
    assert body["sort"] == [{"conversation_time_created_at": "asc"}]
    assert "conversation_time_updated_at" not in json.dumps(body)
    assert messages[-1]["value"]["bookmarks"]["conversation_times"] == {"created_at": ts(13)}


def test_routing_labels_are_full_tables_activated_after_a_whole_read(fake, client, settings):
    streams = {
        "routing_statuses": "/v1/routing/statuses",
        "team_routing_settings": "/v1/routing/settings",
        "sub_statuses": "/v1/sub-statuses",
        "snoozes": "/v1/snoozes",
    }
    for n, path in enumerate(streams.values()):
        fake.lists[path] = [resource("x", 10 * n + i, ts(i)) for i in range(3)]
    fake.lists["/v1/snoozes"][0]["attributes"]["value"] = {"hours": 2}
    messages = run(client, settings, *streams)
    for name in streams:
        assert len(of(messages, "RECORD", name)) == 3, name
        (activate,) = of(messages, "ACTIVATE_VERSION", name)
        assert {m["version"] for m in of(messages, "RECORD", name)} == {activate["version"]}
    snooze = of(messages, "RECORD", "snoozes")[0]["record"]
    assert snooze["value"] == '{"hours":2}'  # an object as JSON text: one type per column


def test_attachments_of_changed_conversations_get_their_id_and_conversation(fake, client, settings):
    conversations = [resource("conversation", i, ts(10 * i)) for i in range(3)]
    fake.search["conversation"] = conversations
    for conversation in conversations:
        n = int(conversation["id"], 16)
        attachment = resource("attachment", 500 + n, ts(10 * n), contentType="image/png")
        attachment_id = attachment.pop("id")  # Kustomer's attachments carry none
        attachment["links"] = {"self": f"/v1/messages/m{n}/attachments/{attachment_id}"}
        fake.lists[f"/v1/conversations/{conversation['id']}/attachments"] = [attachment]
    messages = run(client, settings, "attachments")
    records = [m["record"] for m in of(messages, "RECORD", "attachments")]
    (schema,) = of(messages, "SCHEMA", "attachments")
    assert sorted(r["id"] for r in records) == [f"{500 + n:024x}" for n in range(3)]
    for record in records:
        validate(record, schema["schema"])
        assert record["content_type"] == "image/png"
    assert {r["conversation"]["id"] for r in records} == {c["id"] for c in conversations}
    assert messages[-1]["value"]["bookmarks"]["attachments"] == {"created_at": ts(20)}
