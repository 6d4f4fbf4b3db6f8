"""Sandbox: routing and time objects (work sessions, work items, conversation times, routing
statuses, team routing settings, sub-statuses, snoozes), attachments, conversation events,
users/tags deleted lists, audit-log links, multi references and hard deletes. Offline."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kustomer_sandbox import Sandbox, main
from kustomer_sandbox.util import ID_REF_EPOCH

NOW = "2025-06-01T12:00:00.000Z"
SEARCH = "/v1/customers/search"
ARCHIVE = "/v1/customers/archive/search"


def ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


@pytest.fixture(scope="module")
def sb():
    with Sandbox(
        seed=5, scale=1.0, now=NOW, org_limit=10**6, search_limit=10**6, prewarm=False
    ) as box:
        yield box


@pytest.fixture(scope="module")
def truth(sb):
    return sb.truth()["streams"]


class Client:
    def __init__(self, sb: Sandbox, token: str):
        self.base = sb.base_url
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str) -> requests.Response:
        return self.s.get(self.base + path, timeout=30)

    def post(self, path: str, body: object) -> requests.Response:
        return self.s.post(self.base + path, json=body, timeout=30)

    def search(self, body: dict, page: int = 1, size: int = 100) -> dict:
        r = self.post(f"{SEARCH}?page={page}&pageSize={size}", body)
        assert r.status_code == 200, r.text[:300]
        return r.json()

    def all_pages(self, body: dict, size: int = 500) -> list[dict]:
        out, page = [], 1
        while True:
            doc = self.search(body, page, size)
            out.extend(doc["data"])
            if not doc["links"]["next"]:
                return out
            page += 1


@pytest.fixture(scope="module")
def http(sb):
    c = Client(sb, sb.token)
    yield c
    c.s.close()


def conversations_by_id(sb: Sandbox) -> dict:
    return {r.id: r for r in sb._app().ds.streams["conversations"]}


# --------------------------------------------------------------------------- search contexts
@pytest.mark.parametrize(
    ("ctx", "stream", "field"),
    [
        ("work_item", "work_items", "updated"),
        ("conversation_time", "conversation_times", "created"),
        ("work_session", "work_sessions", "updated"),
    ],
)
def test_routing_contexts_page_exactly_through_their_tie_blocks(http, truth, ctx, stream, field):
    rows = truth[stream]
    key = f"{field}At"
    biggest = Counter(r[key] for r in rows).most_common(1)[0]
    if stream != "work_sessions":  # a tie block larger than one 500-record page
        assert biggest[1] > 500
    attr = f"{ctx}_{field}_at"
    body = {"queryContext": ctx, "and": [{attr: {"gte": biggest[0]}}], "sort": [{attr: "asc"}]}
    got = http.all_pages(body)
    want = sorted(r["id"] for r in rows if ms(r[key]) >= ms(biggest[0]))
    ids = [d["id"] for d in got]
    assert len(ids) == len(set(ids)) and sorted(ids) == want
    times = [ms(d["attributes"]["createdAt" if field == "created" else "updatedAt"]) for d in got]
    assert times == sorted(times)
    assert {d["type"] for d in got} == {ctx}


def test_conversation_time_has_no_updated_at_anywhere(http, truth):
    rows = truth["conversation_times"]
    assert rows and all("updatedAt" not in r for r in rows)
    bad_criteria = {
        "queryContext": "conversation_time",
        "and": [{"conversation_time_updated_at": {"gte": "2025-01-01T00:00:00Z"}}],
    }
    unknown = {
        "queryContext": "conversation_time",
        "and": [{"conversation_time_whatever": {"gte": "2025-01-01T00:00:00Z"}}],
    }
    a, b = http.post(SEARCH, bad_criteria), http.post(SEARCH, unknown)
    assert a.status_code == b.status_code == 400
    assert a.json()["errors"][0]["code"] == b.json()["errors"][0]["code"] == "invalid_attribute"
    bad_sort = {
        "queryContext": "conversation_time",
        "sort": [{"conversation_time_updated_at": "asc"}],
    }
    unknown_sort = {
        "queryContext": "conversation_time",
        "sort": [{"conversation_time_x_at": "asc"}],
    }
    a, b = http.post(SEARCH, bad_sort), http.post(SEARCH, unknown_sort)
    assert a.status_code == b.status_code == 400
    assert a.json()["errors"][0]["code"] == b.json()["errors"][0]["code"] == "invalid_sort"
    # default order: newest createdAt first; documents carry no updatedAt
    doc = http.search({"queryContext": "conversation_time"}, size=50)
    created = [ms(d["attributes"]["createdAt"]) for d in doc["data"]]
    assert created == sorted(created, reverse=True) and doc["meta"]["total"] == len(rows)
    assert all("updatedAt" not in d["attributes"] for d in doc["data"])
    conv = rows[0]["conversationId"]
    by_conv = http.search(
        {
            "queryContext": "conversation_time",
            "and": [{"conversation_time_conversation_id": {"equals": conv}}],
        }
    )
    assert {d["id"] for d in by_conv["data"]} == {
        r["id"] for r in rows if r["conversationId"] == conv
    }


def test_archive_search_rejects_the_routing_contexts(http):
    for ctx in ("work_session", "work_item", "conversation_time", "note"):
        r = http.post(ARCHIVE, {"queryContext": ctx})
        assert r.status_code == 400, ctx
        assert r.json()["errors"][0]["code"] == "invalid_query_context"


def test_routing_records_stay_inside_the_search_horizon(sb, truth):
    now = ms(NOW)
    for stream in ("work_sessions", "work_items", "conversation_times"):
        rows = truth[stream]
        assert rows and not any(r["archived"] or r["deleted"] for r in rows)
        oldest = min(ms(r["createdAt"]) for r in rows)
        assert now - oldest < 730 * 86_400_000
    sessions = truth["work_sessions"]
    assert min(ms(r["createdAt"]) for r in sessions) > now - 32 * 86_400_000


def test_work_items_follow_their_conversations(sb, http, truth):
    convs = conversations_by_id(sb)
    per_conv = Counter(r["conversationId"] for r in truth["work_items"])
    assert set(per_conv.values()) == {1, 2, 3}
    assert 6_000 < len(truth["work_items"]) < 11_000  # scale 1.0
    sample = http.search({"queryContext": "work_item"}, size=200)["data"]
    app = sb._app()
    for d in sample:
        cid = d["relationships"]["conversation"]["data"]["id"]
        conv_doc = app.ds.build_doc(convs[cid])
        assert conv_doc["relationships"]["queue"]["data"] is not None  # routed to a queue
        assert d["relationships"]["resource"]["data"]["id"] == cid
        assert d["relationships"]["queue"]["data"]["id"] in app.ds.queue_ids
        attrs = d["attributes"]
        assert attrs["status"] in ("queued", "routed", "assigned", "completed")
        if attrs["status"] == "completed":
            rev = attrs["lastRevision"]
            order = [rev[k] for k in ("queuedAt", "routedAt", "acceptedAt", "completedAt")]
            assert [ms(x) for x in order] == sorted(ms(x) for x in order)
            assert attrs["handle"]["time"] >= 0 and attrs["ivr"]["time"] >= 0
    # every conversation with a queue has work items unless it is archive-only
    queued = [
        c
        for c in list(convs.values())[:400]
        if not c.archived and app.ds.build_doc(c)["relationships"]["queue"]["data"] is not None
    ]
    assert queued and all(c.id in per_conv for c in queued)


def test_conversation_times_belong_to_conversations_with_agent_replies(sb, truth):
    app = sb._app()
    per_conv = Counter(r["conversationId"] for r in truth["conversation_times"])
    assert set(per_conv.values()) == {1, 2}
    for cid in list(per_conv)[:300]:
        assert app.ds.msg_counts[cid][1] > 0  # outbound messages
    rec = app.ds.streams["conversation_times"][0]
    doc = app.ds.build_doc(rec)
    attrs = doc["attributes"]
    assert list(attrs)[:7] == [
        "createdAt",
        "createdByTeams",
        "assignedUsers",
        "assignedTeams",
        "handleAt",
        "handleTime",
        "channels",
    ]
    assert set(doc["relationships"]) == {"org", "customer", "conversation", "createdBy"}
    assert doc["links"]["self"] == f"/v1/conversations/times/{rec.id}"


def test_conversation_times_per_conversation_endpoint(http, truth):
    cid = truth["conversation_times"][0]["conversationId"]
    doc = http.get(f"/v1/conversations/{cid}/times").json()
    assert {d["id"] for d in doc["data"]} == {
        r["id"] for r in truth["conversation_times"] if r["conversationId"] == cid
    }


def test_work_sessions_of_agents_with_routing_status_ids(sb, http, truth):
    app = sb._app()
    users = {u.id: u for u in app.ds.streams["users"]}
    status_ids = {d["id"] for d in http.get("/v1/routing/statuses").json()["data"]}
    docs = http.all_pages({"queryContext": "work_session"})
    assert len(docs) == len(truth["work_sessions"]) > 1500
    for d in docs[:300]:
        user = users[d["relationships"]["user"]["data"]["id"]]
        assert not user.deleted and user.idx % 20 != 7  # a person, not an API key
        assert d["relationships"]["status"]["data"]["id"] in status_ids
        assert {h["status"] for h in d["attributes"]["statusHistory"]} <= status_ids
        a = d["attributes"]
        assert a["active"] is (a["signedOutAt"] is None)
        assert min(a["timeAvailable"], a["timeUnavailable"], a["timeBusy"]) >= 0
    assert any(d["attributes"]["active"] for d in docs)


def test_routing_searches_need_their_roles(sb):
    restricted = Client(sb, sb.restricted_token)
    r = restricted.post(SEARCH, {"queryContext": "conversation_time"})
    assert r.status_code == 403  # no conversation read role
    for ctx in ("work_item", "work_session"):
        assert restricted.post(SEARCH, {"queryContext": ctx}).status_code == 200
    assert restricted.get("/v1/routing/statuses").status_code == 200


# --------------------------------------------------------------------------- static lists
def test_routing_lists_are_paginated_lists(http, truth, sb):
    for path, stream in (
        ("/v1/routing/statuses", "routing_statuses"),
        ("/v1/routing/settings", "team_routing_settings"),
        ("/v1/sub-statuses", "sub_statuses"),
        ("/v1/snoozes", "snoozes"),
    ):
        doc = http.get(path + "?pageSize=3").json()
        assert doc["meta"] == {"page": 1, "pageSize": 3}
        assert doc["links"]["self"] == f"{path}?page=1&pageSize=3" and doc["links"]["prev"] is None
        assert doc["links"]["next"] == f"{path}?page=2&pageSize=3"
        full = http.get(path).json()["data"]
        assert [d["id"] for d in full] == [r["id"] for r in truth[stream]]
    settings = http.get("/v1/routing/settings").json()["data"]
    teams = {t.id for t in sb._app().ds.streams["teams"] if not t.deleted}
    queues = set(sb._app().ds.queue_ids)
    assert {s["id"] for s in settings} == teams
    for s in settings:
        assert s["relationships"]["team"]["data"]["id"] == s["id"]
        assert 1 <= len(s["attributes"]["queues"]) <= 10
        assert set(s["attributes"]["queues"]) <= queues
    statuses = http.get("/v1/routing/statuses").json()["data"]
    assert {"available", "busy", "unavailable"} <= {s["attributes"]["statusType"] for s in statuses}
    subs = http.get("/v1/sub-statuses").json()["data"]
    assert {s["attributes"]["parentStatus"] for s in subs} == {"open", "snoozed", "done"}
    snoozes = http.get("/v1/snoozes").json()["data"]
    kinds = {s["attributes"]["type"]: s["attributes"]["value"] for s in snoozes}
    assert isinstance(kinds["relative"], int) and isinstance(kinds["dynamic"], dict)


# --------------------------------------------------------------------------- attachments
def test_attachments_follow_the_oas_shape_and_the_truth(sb, http, truth):
    rows = truth["attachments"]
    live = [r for r in rows if not r["deleted"]]
    assert len(live) > 500
    cid = live[0]["conversationId"]
    items = http.get(f"/v1/conversations/{cid}/attachments").json()["data"]
    want = {r["id"]: r for r in rows if r["conversationId"] == cid}
    assert items and len(items) == len(want)
    msgs = {m.id: m for m in sb._app().ds.children[("conversation.messages", cid)]}
    for a in items:
        assert "id" not in a  # the documented quirk
        parts = a["links"]["self"].split("/")
        assert parts[:4] == ["", "v1", "messages", parts[3]] and parts[4] == "attachments"
        row = want[parts[5]]
        mid = a["relationships"]["message"]["data"]["id"]
        assert mid == parts[3] == row["messageId"] and mid in msgs
        assert set(a["attributes"]) >= {"name", "contentType", "contentLength", "createdAt"}
        assert a["attributes"]["createdAt"] == row["createdAt"]
        assert a["relationships"]["org"]["data"]["type"] == "org"


# --------------------------------------------------------------------------- events
def test_events_publish_at_their_own_time_and_mirror_the_conversation(sb, http):
    app = sb._app()
    now = ms(NOW)
    convs = [c for c in app.ds.streams["conversations"] if not c.deleted][:60]
    for c in convs:
        conv = http.get(f"/v1/conversations/{c.id}").json()["data"]["attributes"]
        events = http.get(f"/v1/conversations/{c.id}/events").json()["data"]
        assert events
        for e in events:
            a = e["attributes"]
            assert a["createdAt"] == conv["createdAt"]
            assert a["updatedAt"] == conv["updatedAt"] and a["modifiedAt"] == conv["modifiedAt"]
            published = ms(a["publishedAt"])
            assert ms(conv["createdAt"]) <= published <= ms(conv["updatedAt"])
            assert int(e["id"][:8], 16) == ID_REF_EPOCH - (now - published) // 1000
        assert events[-1]["attributes"]["publishedAt"] == conv["updatedAt"] or len(events) == 1


# --------------------------------------------------------------------------- lists, audit, meta
def test_users_and_tags_deleted_parameter_and_default(http, truth):
    for stream, size in (("users", 500), ("tags", 100)):
        rows = truth[stream]
        dead = {r["id"] for r in rows if r["deleted"]}
        assert 0.02 * len(rows) < len(dead) < 0.1 * len(rows)

        def ids(query: str, stream: str = stream, size: int = size) -> set[str]:
            out, path = set(), f"/v1/{stream}?pageSize={size}{query}"
            while path:
                doc = http.get(path).json()
                out |= {d["id"] for d in doc["data"]}
                path = doc["links"]["next"]
            return out

        assert ids("&deleted=true") == dead
        assert ids("&deleted=false") == {r["id"] for r in rows} - dead
        assert ids("") == {r["id"] for r in rows} - dead  # default: exclude
    user = http.get("/v1/users?deleted=true").json()["data"][0]["attributes"]
    assert user["deleted"] is True and user["deletedAt"]


def test_lists_default_deleted_include_option(capsys):
    with Sandbox(seed=2, scale=0.05, prewarm=False, lists_default_deleted="include") as box:
        c = Client(box, box.token)
        rows = box.truth("tags")["streams"]["tags"]
        got = c.get("/v1/tags?pageSize=100").json()["data"]
        got += c.get("/v1/tags?page=2&pageSize=100").json()["data"]
        assert len(got) == len(rows) and any(r["deleted"] for r in rows)
    with pytest.raises(ValueError, match="lists_default_deleted"):
        Sandbox(seed=2, scale=0.05, lists_default_deleted="maybe").start()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--lists-default-deleted" in capsys.readouterr().out


def test_audit_log_links_carry_only_count_and_cursor(http):
    for query in (
        "count=20",
        "count=20&filter[start]=2025-04-01T00:00:00Z&filter[objectType]=user",
    ):
        doc = http.get(f"/v1/audit-logs?{query}").json()
        nxt = parse_qs(urlsplit(doc["links"]["next"]).query)
        assert set(nxt) == {"count", "before"} and nxt["count"] == ["20"]
        assert nxt["before"] == [doc["data"][-1]["id"]]
        assert "filter" not in doc["links"]["first"]
    filtered = http.get("/v1/audit-logs?count=1000&filter[objectType]=user").json()["data"]
    assert filtered and {d["attributes"]["objectType"] for d in filtered} == {"user"}
    plain = http.get(f"/v1/audit-logs?count=1000&before={filtered[0]['id']}").json()["data"]
    assert len({d["attributes"]["objectType"] for d in plain}) > 1  # no filter without the param


def test_customer_orders_id_is_a_multi_reference(sb, http):
    meta = http.get("/v1/metadata/customer").json()["data"]["attributes"]["properties"]
    assert meta["ordersId"]["multi"] is True and meta["ordersId"]["target"] == "kobject.order"
    assert meta["ordersId"]["type"] == "id"
    app = sb._app()
    shapes = Counter()
    for rec in app.ds.streams["customers"][:1500]:
        value = app.ds.build_doc(rec)["attributes"]["custom"].get("ordersId", "absent")
        orders = {k.id for k in app.ds.children.get(("customer.klass.order", rec.id), ())}
        shapes[type(value).__name__ if value != "absent" else "absent"] += 1
        if isinstance(value, list):
            assert set(value) == orders
        elif value != "absent":
            assert value in orders
    assert shapes["list"] and shapes["str"] and shapes["absent"]


# --------------------------------------------------------------------------- control
def test_remove_is_a_hard_delete_of_list_records():
    with Sandbox(seed=3, scale=0.05, prewarm=False, now=NOW) as box:
        c = Client(box, box.token)
        tags = box.truth("tags")["streams"]["tags"]
        gone = [tags[0]["id"], tags[5]["id"]]
        r = c.post("/__sandbox/update", {"stream": "tags", "ids": gone, "remove": True})
        assert r.status_code == 200 and r.json()["removed"] is True
        after = {t["id"] for t in box.truth("tags")["streams"]["tags"]}
        assert not after & set(gone) and len(after) == len(tags) - 2
        listed = {
            d["id"] for p in (1, 2) for d in c.get(f"/v1/tags?page={p}&deleted=true").json()["data"]
        }
        listed |= {d["id"] for p in (1, 2) for d in c.get(f"/v1/tags?page={p}").json()["data"]}
        assert not listed & set(gone)
        assert c.get(f"/v1/tags/{gone[0]}").status_code == 404
        snooze = box.truth("snoozes")["streams"]["snoozes"][0]["id"]
        box.remove("snoozes", [snooze])
        assert snooze not in {d["id"] for d in c.get("/v1/snoozes").json()["data"]}
        assert snooze not in {r["id"] for r in box.truth("snoozes")["streams"]["snoozes"]}
        bad = c.post("/__sandbox/update", {"stream": "customers", "ids": ["x"], "remove": True})
        assert bad.status_code == 400


def test_update_moves_work_sessions_and_items_to_now():
    with Sandbox(seed=3, scale=0.05, prewarm=False, now=NOW) as box:
        c = Client(box, box.token)
        for stream, ctx in (("work_sessions", "work_session"), ("work_items", "work_item")):
            moved = box.update(stream, count=3)
            ids = set(moved["ids"])
            assert len(ids) == 3
            rows = {r["id"]: r for r in box.truth(stream)["streams"][stream]}
            assert all(rows[i]["updatedAt"] == moved["updatedAt"] for i in ids)
            top = c.search({"queryContext": ctx}, size=3)["data"]  # updated_at desc
            assert {d["id"] for d in top} == ids
        r = c.post("/__sandbox/update", {"stream": "conversation_times", "count": 1})
        assert r.status_code == 400


def test_routing_volumes_scale_and_are_deterministic(truth):
    with Sandbox(seed=5, scale=0.2, now=NOW, prewarm=False) as small:
        t1 = small.truth()["streams"]
    with Sandbox(seed=5, scale=0.2, now=NOW, prewarm=False) as again:
        t2 = again.truth()["streams"]
    for stream in ("work_sessions", "work_items", "conversation_times", "attachments"):
        assert t1[stream] == t2[stream]
        assert 0 < len(t1[stream]) < 0.5 * len(truth[stream])
