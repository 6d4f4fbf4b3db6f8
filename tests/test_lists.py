"""List streams: deactivated users and deleted tags, page sizes, the audit log's cursor, and a
full table's ACTIVATE_VERSION (only after a whole read)."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tap_kustomer.streams import STREAMS
from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tests.fakes import BASE, resource, ts
from tests.samples import selected_catalog

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def run(client, settings, *streams, state=None):
    out = io.StringIO()
    catalog = select_streams(selected_catalog(*streams))
    sync(client, settings, catalog, read_state(state), SingerWriter(out), now=NOW)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def records(messages, stream):
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


@pytest.mark.parametrize("default_lists_deleted", [False, True])
@pytest.mark.parametrize(("stream", "kind"), [("users", "user"), ("tags", "tag")])
def test_deactivated_users_and_deleted_tags_arrive_flagged_whatever_the_default(
    fake, client, settings, stream, kind, default_lists_deleted
):
    path = STREAMS[stream].path
    fake.lists[path] = [resource(kind, i, ts(i)) for i in range(3)]
    fake.deleted[path] = [resource(kind, 10 + i, ts(i)) for i in range(2)]  # no deleted flag
    fake.default_lists_deleted = default_lists_deleted
    got = {r["id"]: r for r in records(run(client, settings, stream), stream)}
    assert len(got) == 5  # each once, though the default list may hold the deleted ones too
    assert {i for i, r in got.items() if r.get("deleted")} == {f"{10 + i:024x}" for i in range(2)}
    assert [p for p, _, params in fake.requests if params.get("deleted") == "true"] == [path]


def test_users_and_teams_are_read_500_a_page(fake, client, settings):
    fake.list_max = 500
    fake.lists["/v1/users"] = [resource("user", i, ts(i)) for i in range(300)]
    fake.lists["/v1/teams"] = [resource("team", i, ts(i)) for i in range(300)]
    run(client, settings, "users", "teams")
    sizes = {(path, params.get("pageSize")) for path, _, params in fake.requests}
    assert sizes == {("/v1/users", "500"), ("/v1/teams", "500")}
    assert len(fake.requests) == 3  # one page each, and one for deactivated users


AUDIT = re.compile(re.escape(BASE + "/v1/audit-logs") + r"(\?.*)?$")


def test_the_audit_log_cursor_keeps_the_date_filters(rsps, client, settings):
    """Kustomer's links.next carries count and before only (the OAS example): a run that
    followed it as it is would read the whole log, not what is newer than its bookmark."""
    asked: list[dict[str, list[str]]] = []
    entries = [resource("audit_log", i, ts(i), ts(i)) for i in range(4)]

    def answer(request):
        query = parse_qs(urlsplit(request.url).query)
        asked.append(query)
        if "before" not in query:
            body = {"data": entries[2:], "links": {"next": "/v1/audit-logs?count=1000&before=x"}}
        else:
            body = {"data": entries[:2], "links": {"next": None}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.GET, AUDIT, answer)
    state = {"bookmarks": {"audit_logs": {"created_at": ts(1)}}}
    messages = run(client, settings, "audit_logs", state=state)
    assert len(asked) == 2
    for query in asked:
        assert query["filter[start]"] == [ts(1)] and "filter[end]" in query
    assert asked[1]["before"] == ["x"] and asked[1]["count"] == ["1000"]  # the cursor, kept
    assert sorted(r["id"] for r in records(messages, "audit_logs")) == [
        f"{i:024x}" for i in (1, 2, 3)
    ]


def test_a_full_table_read_whole_is_activated_and_one_that_never_holds_still_is_not(
    fake, client, settings, monkeypatch, caplog
):
    fake.lists["/v1/tags"] = [resource("tag", i, ts(i)) for i in range(250)]
    messages = run(client, settings, "tags")
    (activate,) = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert {m["version"] for m in messages if m["type"] == "RECORD"} == {activate["version"]}

    count = fake._count

    def shifting(request):  # a tag disappears after every first page: no two reads agree
        count(request)
        path, _, params = request
        if path == "/v1/tags" and params.get("page") == "2" and "deleted" not in params:
            fake.lists["/v1/tags"].pop(0)

    monkeypatch.setattr(fake, "_count", shifting)
    with caplog.at_level(logging.WARNING):
        messages = run(client, settings, "tags")
    assert not [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert "(a full table sends no ACTIVATE_VERSION)" in caplog.text
    assert records(messages, "tags")  # what was read is still emitted (targets upsert)


def test_403_messages_name_the_roles_kustomers_docs_give():
    shortcuts = STREAMS["shortcuts"].roles
    for role in (
        "org.permission.shortcut.read",
        "org.user.content.shortcut.read",
        "org.user.shortcut.read",
        "org.admin.content.shortcut.read",
        "org.admin.shortcut.read",
    ):
        assert role in shortcuts
    assert "org.permission.queue.read or org.permission.routing.read" in STREAMS["queues"].roles
    assert "org.admin.search.read" in STREAMS["customers"].roles
