"""Tests of the local Kustomer API emulator (kustomer_sandbox). Offline: loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from kustomer_sandbox import Sandbox, main
from kustomer_sandbox.data import CUSTOM_ATTRS

NOW = "2025-06-01T12:00:00.000Z"
SEARCH = "/v1/customers/search"
ARCHIVE = "/v1/customers/archive/search"


def ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def body(ctx="customer", gte=None, lte=None, gt=None, lt=None, sort="asc", **extra):
    crit = []
    for op, value in (("gte", gte), ("lte", lte), ("gt", gt), ("lt", lt)):
        if value is not None:
            crit.append({f"{ctx.split('_')[0]}_updated_at": {op: value}})
    b = {"queryContext": ctx, "and": crit, "or": []}
    if sort:
        b["sort"] = [{f"{ctx.split('_')[0]}_updated_at": sort}]
    b.update(extra)
    return b


@pytest.fixture(scope="module")
def sb():
    with Sandbox(
        seed=7, scale=1.0, now=NOW, org_limit=10**6, search_limit=10**6, prewarm=False
    ) as box:
        yield box


@pytest.fixture(scope="module")
def http(sb):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {sb.token}"
    base = sb.base_url

    class Client:
        session = s

        def get(self, path, **kw):
            return s.get(base + path, timeout=30, **kw)

        def post(self, path, json=None, **kw):
            return s.post(base + path, json=json, timeout=30, **kw)

        def search(self, b, page=1, size=100, archive=False):
            r = s.post(
                f"{base}{ARCHIVE if archive else SEARCH}?page={page}&pageSize={size}",
                json=b,
                timeout=30,
            )
            assert r.status_code == 200, r.text[:500]
            return r.json()

    yield Client()
    s.close()


@pytest.fixture(scope="module")
def truth(sb):
    return sb.truth()


def biggest_tie(rows) -> str:
    return Counter(r["updatedAt"] for r in rows).most_common(1)[0][0]


def live_standard(rows):
    return [r for r in rows if not r["deleted"] and not r["archived"]]


# --------------------------------------------------------------------------- auth and roles
def test_missing_and_unknown_token_get_401_jsonapi_body(sb):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = requests.get(f"{sb.base_url}/v1/customers", headers=headers, timeout=10)
        assert r.status_code == 401
        err = r.json()["errors"][0]
        assert err["status"] == "401" and err["code"] == "unauthorized"
        assert err["title"] == "Unauthorized" and err["detail"]
        assert "x-ratelimit-limit" in r.headers


def test_tokens_current_works_for_both_tokens(sb):
    for token in (sb.token, sb.restricted_token):
        r = requests.get(
            f"{sb.base_url}/v1/auth/tokens/current",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 200
        assert r.json()["data"]["type"] == "token"


def test_restricted_token_gets_403_in_the_other_error_shape(sb):
    h = {"Authorization": f"Bearer {sb.restricted_token}"}
    for ctx, role in (
        ("conversation", "org.permission.conversation.read"),
        ("message", "org.permission.message.read"),
        ("note", "org.permission.note.read"),
    ):
        r = requests.post(f"{sb.base_url}{SEARCH}", json=body(ctx), headers=h, timeout=10)
        assert r.status_code == 403
        err = r.json()["errors"][0]
        assert err["code"] == "forbidden" and err["meta"] == {}
        assert role in err["message"] and role.replace("permission", "user") in err["message"]
        assert "status" not in err
    for path in ("/v1/conversations", "/v1/messages", "/v1/notes"):
        r = requests.get(sb.base_url + path, headers=h, timeout=10)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "forbidden"
    ok = requests.post(
        f"{sb.base_url}{SEARCH}?pageSize=1", json=body("customer"), headers=h, timeout=10
    )
    assert ok.status_code == 200
    assert requests.get(f"{sb.base_url}/v1/tags", headers=h, timeout=10).status_code == 200


# --------------------------------------------------------------------------- GET lists
def test_list_paging_links_clamping_and_end(http, truth):
    tags = [t for t in truth["streams"]["tags"] if not t["deleted"]]  # default: left out
    assert len(tags) > 150
    got, path, pages = [], "/v1/tags?pageSize=100", 0
    first = http.get(path).json()
    assert first["links"]["prev"] is None
    assert first["meta"] == {"page": 1, "pageSize": 100}
    while path:
        doc = http.get(path).json()
        got.extend(d["id"] for d in doc["data"])
        path = doc["links"]["next"]
        pages += 1
        assert path is None or path.startswith("/v1/tags?page=")
    assert pages == (len(tags) + 99) // 100
    assert got == [t["id"] for t in tags]  # id ascending, deleted tags left out by default
    assert got == sorted(got)

    clamped = http.get("/v1/tags?pageSize=500").json()
    assert clamped["meta"]["pageSize"] == 100 and len(clamped["data"]) == 100
    past = http.get("/v1/tags?page=50").json()
    assert past["data"] == [] and past["links"]["next"] is None

    users = http.get("/v1/users?pageSize=1000").json()
    assert users["meta"]["pageSize"] == 500
    assert len(users["data"]) == len([u for u in truth["streams"]["users"] if not u["deleted"]])
    assert users["links"]["next"] is None

    shortcuts = http.get("/v1/shortcuts").json()
    assert len(shortcuts["data"]) == 100 and shortcuts["links"]["next"].endswith(
        "page=2&pageSize=100"
    )
    assert len(truth["streams"]["shortcuts"]) >= 150


def test_customers_list_has_totals_and_last(http, truth):
    doc = http.get("/v1/customers?page=2&pageSize=100").json()
    live = [c for c in truth["streams"]["customers"] if not c["deleted"]]
    assert doc["meta"]["total"] == len(live)
    assert doc["meta"]["totalPages"] == (len(live) + 99) // 100
    assert doc["links"]["last"] == f"/v1/customers?page={doc['meta']['totalPages']}&pageSize=100"
    assert doc["links"]["prev"] == "/v1/customers?page=1&pageSize=100"
    assert [d["id"] for d in doc["data"]] == [c["id"] for c in live[100:200]]
    conv = http.get("/v1/conversations").json()
    assert "total" not in conv["meta"] and "last" not in conv["links"]


def test_record_shapes_and_quirks(http):
    c = http.get("/v1/customers?pageSize=5").json()["data"][0]
    a = c["attributes"]
    for key in ("name", "displayName", "emails", "phones", "conversationCounts", "custom", "rev"):
        assert key in a
    assert c["links"]["self"] == f"/v1/customers/{c['id']}"
    assert set(c["relationships"]["messages"]) == {"links"}
    assert len(c["id"]) == 24 and set(c["id"]) <= set("0123456789abcdef")
    assert a["updatedAt"].endswith("Z") and len(a["updatedAt"]) == 24

    msgs = http.get("/v1/messages?pageSize=100").json()["data"]
    assert {m["relationships"]["customer"]["data"]["type"] for m in msgs} == {"customers"}
    assert any(m["relationships"]["createdBy"]["data"] is None for m in msgs)
    shapes = {type(m["attributes"]["meta"].get("to")).__name__ for m in msgs}
    assert {"str", "dict", "list"} <= shapes

    convs = http.get("/v1/conversations?pageSize=100").json()["data"]
    assert any(v["relationships"]["queue"]["data"] is None for v in convs)
    assert all("sla" in v["relationships"] and "slaVersion" in v["relationships"] for v in convs)

    orders = http.get("/v1/klasses/order?pageSize=100").json()["data"]
    assert orders[0]["type"] == "kobject.order"
    assert orders[0]["relationships"]["klass"] == {
        "link": "/v1/klasses/order",
        "data": {"type": "klass", "id": "order"},
    }
    # an order's custom orderNumberStr, when set, is the number in its title
    numbered = [o for o in orders if o["attributes"]["custom"].get("orderNumberStr")]
    assert numbered
    for o in numbered:
        assert o["attributes"]["title"] == f"Order {o['attributes']['custom']['orderNumberStr']}"
    assert set().union(*(o["attributes"]["custom"] for o in orders)) <= set(
        CUSTOM_ATTRS["kobject.order"]
    )


def test_metadata_describes_the_custom_keys(http):
    for resource in ("customer", "conversation", "message", "company", "kobject.ecomm-return"):
        doc = http.get(f"/v1/metadata/{resource}").json()["data"]
        assert doc["type"] == "metadata" and doc["id"] == resource
        assert set(doc["attributes"]["properties"]) == set(CUSTOM_ATTRS[resource])
    cust = http.get("/v1/customers?pageSize=100").json()["data"]
    seen = set().union(*(c["attributes"]["custom"] for c in cust))
    assert seen <= set(CUSTOM_ATTRS["customer"]) and "totalSpentNum" in seen
    assert http.get("/v1/metadata/nothing").status_code == 404


def test_small_catalog_endpoints(http):
    for path in (
        "/v1/brands",
        "/v1/routing/queues",
        "/v1/schedules",
        "/v1/workflows",
        "/v1/teams",
    ):
        doc = http.get(path).json()
        assert doc["data"] and doc["links"]["prev"] is None, path
    surveys = http.get("/v1/satisfaction").json()  # OAS GetSatisfaction: no links
    assert surveys["data"] and "links" not in surveys and surveys["meta"]["page"] == 1
    assert not any("links" in d for d in surveys["data"])
    klasses = http.get("/v1/klasses").json()["data"]
    assert {k["attributes"]["name"] for k in klasses} == {"order", "ecomm-return"}
    slas = http.get("/v1/slas?versions=all").json()
    assert slas["included"] and {v["type"] for v in slas["included"]} == {"sla_version"}
    conv_id = http.get("/v1/conversations?pageSize=1").json()["data"][0]["id"]
    events = http.get(f"/v1/conversations/{conv_id}/events").json()
    assert events["data"][0]["attributes"]["name"].startswith("kustomer.conversation.")


def test_audit_logs_cursor_paging(http):
    first = http.get("/v1/audit-logs?count=5000").json()
    assert first["meta"]["count"] == 1000 and first["links"]["prev"] is None
    total = first["meta"]["total"]
    seen, path = [], "/v1/audit-logs?count=700"
    while path:
        doc = http.get(path).json()
        seen.extend(d["id"] for d in doc["data"])
        path = doc["links"]["next"]
    assert len(seen) == len(set(seen)) == total
    stamps = [
        d["attributes"]["createdAt"] for d in http.get("/v1/audit-logs?count=50").json()["data"]
    ]
    assert stamps == sorted(stamps, reverse=True)
    mid = http.get(f"/v1/audit-logs?count=10&before={seen[100]}").json()
    assert [d["id"] for d in mid["data"]] == seen[101:111]
    back = http.get(f"/v1/audit-logs?count=10&after={seen[111]}").json()
    assert [d["id"] for d in back["data"]] == seen[101:111]


# --------------------------------------------------------------------------- search
def test_search_range_operators_match_the_truth(http, truth):
    rows = live_standard(truth["streams"]["customers"])
    biggest = biggest_tie(rows)
    t = ms(biggest)
    tie = sum(ms(r["updatedAt"]) == t for r in rows)
    assert tie > 500  # the tie block is bigger than the largest search page
    expect = {
        "gte": sum(ms(r["updatedAt"]) >= t for r in rows),
        "gt": sum(ms(r["updatedAt"]) > t for r in rows),
        "lte": sum(ms(r["updatedAt"]) <= t for r in rows),
        "lt": sum(ms(r["updatedAt"]) < t for r in rows),
    }
    assert expect["gte"] - expect["gt"] == tie
    for op, n in expect.items():
        doc = http.search(body(**{op: biggest}), size=1)
        assert doc["meta"]["total"] == n, op
    # date-only values are whole UTC days; other timestamp spellings work too
    day = biggest[:10]
    in_day = sum(r["updatedAt"][:10] == day for r in rows)
    assert http.search(body(gte=day, lte=day), size=1)["meta"]["total"] == in_day
    alt = biggest.replace("Z", "000+00:00")
    assert http.search(body(gte=alt, lte=alt), size=1)["meta"]["total"] == tie


def test_search_sort_asc_desc_and_meta(http):
    doc = http.search(body(gte="2024-01-01"), size=500)
    stamps = [d["attributes"]["updatedAt"] for d in doc["data"]]
    assert stamps == sorted(stamps)
    assert doc["meta"]["pageSize"] == 500 and doc["meta"]["timed_out"] is False
    assert doc["meta"]["aggregations"] == {}
    assert doc["links"]["self"] == f"{SEARCH}?page=1&pageSize=500"
    assert doc["links"]["prev"] is None and doc["links"]["next"] == f"{SEARCH}?page=2&pageSize=500"
    desc = http.search(body(gte="2024-01-01", sort="desc"), size=200)
    stamps = [d["attributes"]["updatedAt"] for d in desc["data"]]
    assert stamps == sorted(stamps, reverse=True)
    clamped = http.search(body(gte="2024-01-01"), size=2000)
    assert clamped["meta"]["pageSize"] == 500 and len(clamped["data"]) == 500


def test_ties_are_stable_within_a_query_and_reshuffled_between_queries(http, truth):
    rows = live_standard(truth["streams"]["customers"])
    top = biggest_tie(rows)
    tie_ids = {r["id"] for r in rows if r["updatedAt"] == top}
    q1 = body(gte=top, lte=top)
    pages = [http.search(q1, page=p, size=500)["data"] for p in (1, 2, 3)]
    order1 = [d["id"] for page in pages for d in page]
    assert len(order1) == len(tie_ids) and set(order1) == tie_ids
    again = [d["id"] for p in (1, 2, 3) for d in http.search(q1, page=p, size=500)["data"]]
    assert again == order1  # stable for one query, any page
    q2 = body(gte=iso(ms(top) - 1), lte=top)  # same records, different query
    order2 = [d["id"] for p in (1, 2, 3) for d in http.search(q2, page=p, size=500)["data"]]
    assert set(order2) == tie_ids and order2 != order1
    # ids are not the tie-breaker
    assert order1 != sorted(order1)


def test_result_window_400_while_links_next_points_past_it(http, truth):
    rows = live_standard(truth["streams"]["customers"])
    assert len(rows) > 10_000
    q = body(gte="2000-01-01")
    last = http.search(q, page=100, size=100)
    assert last["meta"]["total"] == len(rows)
    assert last["links"]["next"] == f"{SEARCH}?page=101&pageSize=100"
    r = http.post(f"{SEARCH}?page=101&pageSize=100", json=q)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["status"] == "400" and err["code"] == "query_window_exceeded"
    assert err["title"] == "Bad Request" and "Result window is too large" in err["detail"]
    big = http.search(q, page=20, size=500)
    assert big["links"]["next"] == f"{SEARCH}?page=21&pageSize=500"
    assert http.post(f"{SEARCH}?page=21&pageSize=500", json=q).status_code == 400


def test_include_deleted(http, truth):
    rows = [r for r in truth["streams"]["customers"] if not r["archived"]]
    deleted = {r["id"] for r in rows if r["deleted"]}
    assert deleted
    base = http.search(body(gte="2000-01-01"), size=1)["meta"]["total"]
    withdel = http.search(body(gte="2000-01-01", includeDeleted=True), size=1)["meta"]["total"]
    assert base == len(rows) - len(deleted) and withdel == len(rows)
    q = {
        "queryContext": "customer",
        "includeDeleted": True,
        "and": [{"customer_deleted": {"equals": True}}],
    }
    doc = http.search(q, size=500)
    assert {d["id"] for d in doc["data"]} == deleted
    assert all(d["attributes"]["deleted"] is True for d in doc["data"])
    notes = http.search(body("note", includeDeleted=True, gte="2000-01-01"), size=500)
    assert any(d["attributes"]["deletedAt"] for d in notes["data"] if d["attributes"]["deleted"])


def test_two_year_horizon_and_archive_search(http, truth):
    for stream, ctx in (("customers", "customer"), ("conversations", "conversation")):
        rows = truth["streams"][stream]
        archived = {r["id"] for r in rows if r["archived"] and not r["deleted"]}
        assert 0.03 * len(rows) < len(archived) < 0.08 * len(rows)
        horizon = truth["horizon"]
        oldest = http.search(body(ctx, gte="2000-01-01"), size=1)["data"][0]
        assert oldest["attributes"]["updatedAt"] >= horizon
        assert http.search(body(ctx, lt=horizon), size=1)["meta"]["total"] == 0
        got = []
        page = 1
        while True:
            doc = http.search(body(ctx, gte="2000-01-01"), page=page, size=500, archive=True)
            got.extend(doc["data"])
            if not doc["links"]["next"]:
                break
            page += 1
        assert {d["id"] for d in got} == archived
        attrs = got[0]["attributes"]
        assert "custom" not in attrs and {"createdAt", "updatedAt", "deleted"} <= set(attrs)
        if ctx == "customer":
            assert {"name", "emails"} <= set(attrs)
    r = http.post(ARCHIVE, json=body("note"))
    assert r.status_code == 400


def test_other_contexts_and_nested_criteria(http, truth):
    ret = http.search(body("kobject_ecomm-return", gte="2000-01-01"), size=100)
    assert ret["data"] and {d["type"] for d in ret["data"]} == {"kobject.ecomm-return"}
    kobj = http.search(body("kobject", gte="2000-01-01"), size=500)
    assert {d["type"] for d in kobj["data"]} == {"kobject.order", "kobject.ecomm-return"}
    rows = live_standard(truth["streams"]["customers"])
    a, b = rows[0], rows[1]
    q = {
        "queryContext": "customer",
        "and": [
            {"or": [{"customer_id": {"equals": a["id"]}}, {"customer_id": {"equals": b["id"]}}]}
        ],
        "not": {"customer_id": {"equals": b["id"]}},
        "sort": {"customer_created_at": "desc"},
    }
    assert [d["id"] for d in http.search(q)["data"]] == [a["id"]]
    q = {"queryContext": "customer", "and": [{"customer_id": {"in": [a["id"], b["id"]]}}]}
    assert http.search(q)["meta"]["total"] == 2


def test_ids_only(http):
    doc = http.post(f"{SEARCH}?pageSize=3&idsOnly=true", json=body(gte="2024-01-01")).json()
    assert [set(d) for d in doc["data"]] == [{"type", "id"}] * 3
    assert doc["links"]["next"].endswith("&idsOnly=true")


def test_search_validation_errors(http):
    bad_key = http.post(SEARCH, json={"queryContext": "customer", "page": 2})
    assert bad_key.status_code == 400 and bad_key.json()["errors"][0]["status"] == "400"
    for ctx in ("widgets", "kobject_nope"):
        r = http.post(SEARCH, json={"queryContext": ctx})
        assert r.status_code == 400, ctx
    r = http.post(SEARCH, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "bad_request"
    r = http.post(SEARCH, json={"queryContext": "customer", "sort": [{"customer_name": "asc"}]})
    assert r.status_code == 400
    r = http.post(
        SEARCH, json={"queryContext": "customer", "and": [{"customer_updated_at": {"gte": "soon"}}]}
    )
    assert r.status_code == 400


def test_search_pages_are_served_from_the_serialised_documents(sb, http):
    q = body(gte="2024-06-01")
    first = http.post(f"{SEARCH}?page=2&pageSize=500", json=q)
    ids = [d["id"] for d in first.json()["data"]]
    customers = sb.app.ds.by_id["customers"]
    cached = [customers[i].cache for i in ids]
    assert len(ids) == 500 and None not in cached  # each record serialised once...
    again = http.post(f"{SEARCH}?page=2&pageSize=500", json=q)
    assert again.content == first.content
    assert all(customers[i].cache is c for i, c in zip(ids, cached, strict=True))  # ...and reused


# --------------------------------------------------------------------------- rate limits
def test_rate_limit_headers_and_429():
    with Sandbox(
        seed=3, scale=0.02, org_limit=6, search_limit=3, window_seconds=10**6, prewarm=False
    ) as box:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {box.token}"
        url = box.base_url
        r = s.get(f"{url}/v1/tags", timeout=10)
        assert r.headers["x-ratelimit-limit"] == "6"
        assert r.headers["x-ratelimit-remaining"] == "5"
        reset = int(r.headers["x-ratelimit-reset"])
        assert time.time() < reset <= time.time() + 10**6
        rems = []
        for _ in range(3):
            r = s.post(f"{url}{SEARCH}", json=body(), timeout=10)
            assert r.status_code == 200
            assert r.headers["x-ratelimit-limit"] == "3"  # the tighter budget
            rems.append(r.headers["x-ratelimit-remaining"])
        assert rems == ["2", "1", "0"]
        r = s.post(f"{url}{SEARCH}", json=body(), timeout=10)
        assert r.status_code == 429
        assert r.json()["errors"][0]["status"] == "429"
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert "Retry-After" not in r.headers
        # the restricted token has its own search budget, but shares the org budget
        h = {"Authorization": f"Bearer {box.restricted_token}"}
        assert s.post(f"{url}{SEARCH}", json=body(), headers=h, timeout=10).status_code == 200
        assert s.get(f"{url}/v1/tags", timeout=10).status_code == 200  # 6th of 6
        r = s.get(f"{url}/v1/tags", timeout=10)
        assert r.status_code == 429 and r.headers["x-ratelimit-remaining"] == "0"
        box.set_faults(retry_after=True)
        r = s.get(f"{url}/v1/tags", timeout=10)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 10**6
        # control endpoints are never rate limited
        assert s.get(f"{url}/__sandbox/stats", timeout=10).json()["rate_limited"] == 3
        box.set_limits(org_limit=100, search_limit=100)
        box.set_faults(burst_429=2)
        codes = [s.get(f"{url}/v1/tags", timeout=10).status_code for _ in range(3)]
        assert codes == [429, 429, 200]
        s.close()


# --------------------------------------------------------------------------- faults
def test_each_fault_kind_is_reachable():
    with Sandbox(seed=5, scale=0.02, slow_seconds=0.3, prewarm=False) as box:
        url = box.base_url
        h = {"Authorization": f"Bearer {box.token}"}

        def get():
            return requests.get(f"{url}/v1/tags", headers=h, timeout=10)

        box.set_faults(force=["500", "502", "503", "504"])
        r = get()
        assert r.status_code == 500 and r.json()["errors"][0]["status"] == "500"
        r = get()
        assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
        r = get()
        assert r.status_code == 503 and r.json()["errors"][0]["code"] == "service_unavailable"
        assert get().status_code == 504
        box.set_faults(force=["drop"])
        with pytest.raises(requests.ConnectionError):
            get()
        box.set_faults(force=["slow"])
        t0 = time.perf_counter()
        assert get().status_code == 200
        assert time.perf_counter() - t0 >= 0.3
        box.set_faults(force=["truncate:length"])
        with pytest.raises(requests.RequestException):
            get()
        box.set_faults(force=["truncate:json"])
        r = get()
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        assert get().status_code == 200
        # faults can be limited to some paths
        box.set_faults(paths=[SEARCH], force=["503"])
        assert get().status_code == 200
        r = requests.post(f"{url}{SEARCH}", json=body(), headers=h, timeout=10)
        assert r.status_code == 503
        box.set_faults(paths=["/v1"])
        # random faults: every kind shows up at fault_rate 1
        box.reset()
        box.set_faults(fault_rate=1.0, slow_seconds=0.0)
        for _ in range(80):
            with contextlib.suppress(requests.RequestException):
                get()
        faults = box.stats()["faults"]
        assert set(faults) == {"500", "502", "503", "504", "drop", "slow", "truncate"}
        assert sum(faults.values()) == 80
        box.set_faults(fault_rate=0.0, latency_ms=150)
        t0 = time.perf_counter()
        assert get().status_code == 200
        assert time.perf_counter() - t0 >= 0.15
        assert (
            requests.get(f"{url}/__sandbox/faults", headers=h, timeout=10).json()["latency_ms"]
            == 150
        )


# --------------------------------------------------------------------------- control
def test_update_moves_records_to_now_and_truth_follows():
    with Sandbox(seed=9, scale=0.05, prewarm=False) as box:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {box.token}"
        url = box.base_url
        before = {r["id"]: r for r in box.truth("customers")["streams"]["customers"]}
        ids = box.update_random("customers", 25)
        assert len(set(ids)) == 25
        after = {r["id"]: r for r in box.truth("customers")["streams"]["customers"]}
        stamps = {after[i]["updatedAt"] for i in ids}
        assert len(stamps) == 1
        (stamp,) = stamps
        assert all(before[i]["updatedAt"] < stamp for i in ids)
        assert all(not after[i]["archived"] for i in ids)
        doc = s.post(f"{url}{SEARCH}?pageSize=100", json=body(gte=stamp), timeout=10).json()
        assert {d["id"] for d in doc["data"]} == set(ids)
        d0 = doc["data"][0]["attributes"]
        assert d0["updatedAt"] == stamp and d0["modifiedAt"] == stamp
        r = s.post(
            f"{url}/__sandbox/update", json={"stream": "conversations", "count": 5}, timeout=10
        )
        upd = r.json()
        assert len(upd["ids"]) == 5 and upd["updatedAt"] >= stamp
        tr = s.get(f"{url}/__sandbox/truth?stream=conversations", timeout=10).json()
        rows = {x["id"]: x for x in tr["streams"]["conversations"]}
        assert all(rows[i]["updatedAt"] == upd["updatedAt"] for i in upd["ids"])
        # soft delete through the control endpoint: gone from search unless includeDeleted
        victim = ids[0]
        s.post(
            f"{url}/__sandbox/update",
            json={"stream": "customers", "ids": [victim], "delete": True},
            timeout=10,
        )
        q = {"queryContext": "customer", "and": [{"customer_id": {"equals": victim}}]}
        assert s.post(f"{url}{SEARCH}", json=q, timeout=10).json()["meta"]["total"] == 0
        q["includeDeleted"] = True
        assert s.post(f"{url}{SEARCH}", json=q, timeout=10).json()["meta"]["total"] == 1
        assert s.get(f"{url}/v1/customers/{victim}", timeout=10).status_code == 404
        stats = s.get(f"{url}/__sandbox/stats", timeout=10).json()
        assert stats["requests"]["POST /v1/customers/search"] >= 3
        assert (
            s.post(f"{url}/__sandbox/update", json={"stream": "nope"}, timeout=10).status_code
            == 400
        )
        s.close()


def test_same_seed_same_data_different_seed_different_ids():
    opts = {"scale": 0.03, "now": NOW, "prewarm": False}
    with (
        Sandbox(seed=11, **opts) as a,
        Sandbox(seed=11, **opts) as b,
        Sandbox(seed=12, **opts) as c,
    ):
        ta, tb, tc = a.truth(), b.truth(), c.truth()
        assert ta["streams"] == tb["streams"]
        assert [r["id"] for r in ta["streams"]["customers"]] != [
            r["id"] for r in tc["streams"]["customers"]
        ]
        h = {"Authorization": "Bearer sandbox-token"}
        for path in ("/v1/customers?page=2", "/v1/conversations", "/v1/klasses/order"):
            ra = requests.get(a.base_url + path, headers=h, timeout=10).content
            rb = requests.get(b.base_url + path, headers=h, timeout=10).content
            assert ra == rb
    # with the wall clock as "now", ids and counts still do not change
    with Sandbox(seed=11, scale=0.03, prewarm=False) as d:
        td = d.truth()
        assert [r["id"] for r in td["streams"]["messages"]] == [
            r["id"] for r in ta["streams"]["messages"]
        ]
        assert [r["deleted"] for r in td["streams"]["notes"]] == [
            r["deleted"] for r in ta["streams"]["notes"]
        ]


# --------------------------------------------------------------------------- CLI
def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for opt in (
        "--host",
        "--port",
        "--token",
        "--restricted-token",
        "--seed",
        "--scale",
        "--now",
        "--org-limit",
        "--search-limit",
        "--window-seconds",
        "--latency-ms",
        "--fault-rate",
        "--fault-weights",
        "--fault-paths",
        "--slow-seconds",
        "--retry-after",
        "--tie-block",
        "--result-window",
        "--search-max-page-size",
        "--list-window",
        "--horizon-days",
        "--index-lag-seconds",
        "--prewarm",
        "--log",
        "/__sandbox/truth",
    ):
        assert opt in out, opt


def test_cli_prints_one_line_and_exits_0_on_sigterm():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kustomer_sandbox",
            "--port",
            "0",
            "--scale",
            "0.02",
            "--prewarm",
            "off",
            "--token",
            "cli-token",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=root,
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["token"] == "cli-token" and info["base_url"].startswith("http://127.0.0.1:")
        r = requests.get(
            info["base_url"] + "/v1/auth/tokens/current",
            headers={"Authorization": "Bearer cli-token"},
            timeout=10,
        )
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_now_option_sets_the_clock(truth):
    now = datetime.fromisoformat(truth["now"])
    start = datetime.fromisoformat(NOW)
    assert start <= now < start + timedelta(minutes=5)
    assert ms(truth["horizon"]) == ms(truth["now"]) - 730 * 86_400_000


# --------------------------------------------------------------------------- compat_1x
def _null_relationships(records):
    return [
        (r["type"], name)
        for r in records
        for name, rel in r.get("relationships", {}).items()
        if isinstance(rel, dict) and "data" in rel and rel["data"] is None
    ]


def test_compat_1x_serves_what_tap_kustomer_1_1_0_can_read(http):
    paths = (
        "/v1/customers?pageSize=100",
        "/v1/conversations?pageSize=100",
        "/v1/messages?pageSize=100",
        "/v1/klasses/order?pageSize=100",
        "/v1/users?pageSize=500",
        "/v1/shortcuts?pageSize=100",
    )
    default = {p: http.get(p).json()["data"] for p in paths}
    # the default data keeps the quirks 1.1.0 aborts on (behaviour unchanged)
    assert _null_relationships([r for recs in default.values() for r in recs])
    orders = default["/v1/klasses/order?pageSize=100"]
    assert any(v is None for o in orders for v in o["attributes"]["custom"].values())
    cuts = default["/v1/shortcuts?pageSize=100"]
    assert all(isinstance(s["attributes"]["payload"]["text"], str) for s in cuts)
    assert all(isinstance(s["attributes"]["conversation"]["tags"], list) for s in cuts)

    opts = {"seed": 7, "scale": 1.0, "now": NOW, "prewarm": False}
    with Sandbox(compat_1x=True, **opts) as box:
        h = {"Authorization": f"Bearer {box.token}"}
        compat = {
            p: requests.get(box.base_url + p, headers=h, timeout=30).json()["data"] for p in paths
        }
        hits = requests.post(
            f"{box.base_url}{SEARCH}?pageSize=100",
            json=body("message", sort="asc"),
            headers=h,
            timeout=30,
        ).json()["data"]
        assert box.config()["options"]["compat_1x"] is True
    records = [r for recs in compat.values() for r in recs] + hits
    assert records and not _null_relationships(records)
    for r in records:
        assert None not in r["attributes"].get("custom", {}).values()
    for path, recs in default.items():  # same records, ids and timestamps
        assert [(r["id"], r["attributes"]["updatedAt"]) for r in compat[path]] == [
            (r["id"], r["attributes"]["updatedAt"]) for r in recs
        ]
    by_id = {s["id"]: s for s in cuts}
    for s in compat["/v1/shortcuts?pageSize=100"]:
        text = s["attributes"]["payload"]["text"]
        assert text["entityMap"] == {}
        assert [b["text"] for b in text["blocks"]] == [
            by_id[s["id"]]["attributes"]["payload"]["text"]
        ]
        assert "tags" not in s["attributes"]["conversation"]
    msg = compat["/v1/messages?pageSize=100"]
    inbound = next(m for m in msg if "data" not in m["relationships"].get("createdBy", {}))
    assert inbound["relationships"]["customer"]["data"]["type"] == "customers"


def test_cli_compat_1x_option(capsys):
    from kustomer_sandbox.cli import build_parser

    assert build_parser().parse_args([]).compat_1x is False
    assert build_parser().parse_args(["--compat-1x"]).compat_1x is True
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--compat-1x" in capsys.readouterr().out
