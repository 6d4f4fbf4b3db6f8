"""The ``/v1`` endpoints: a route table and one small handler per endpoint.

A route's path pattern names its variable segments (``customers/{id}/klasses/{name}``); the
same pattern, prefixed with the method and ``/v1/``, is the endpoint name counted in
``/__sandbox/stats``.  Handlers get the app, the request and, in order, the route's fixed
arguments and the path's variable segments.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from .data import ORG_ID, Rec
from .gen.base import Doc
from .responses import HTTPError, Response, bad_request, jsonapi_error, not_found, simple_error
from .roles import ALL_ROLES, ROLES, search_role
from .search import Query, SearchError
from .util import DAY_MS, dumps, fmt_ms, parse_timestamp

if TYPE_CHECKING:
    from .server import App

T = TypeVar("T")

LIST_MAX = {"users": 500, "teams": 500}
DEFAULT_LIST_MAX = 100
# GET lists of these streams include soft-deleted records, and GET-by-id serves them
WITH_DELETED = ("users", "teams", "tags", "shortcuts")


@dataclass
class Request:
    query: dict[str, str]  # last value of each query parameter
    body: bytes
    roles: frozenset[str]


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # path after /v1/, e.g. "customers/{id}/messages"
    role: str | None  # key of ROLES the token needs; "" or None = none
    handler: Handler
    args: tuple[str, ...] = ()  # fixed arguments passed before the path's variable segments
    tail: bool = False  # also match any deeper path

    @property
    def endpoint(self) -> str:
        return f"{self.method} /v1/{self.pattern}"

    def regex(self) -> re.Pattern[str]:
        body = re.sub(r"\\\{\w+\\\}", "([^/]+)", re.escape(self.pattern))
        return re.compile(body + ("(?:/.*)?" if self.tail else ""))


# --------------------------------------------------------------------------- paging helpers
def int_param(q: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise HTTPError(
            bad_request(f"{name} must be an integer", "invalid_parameter", {"parameter": name})
        ) from None
    if v < minimum:
        raise HTTPError(
            bad_request(f"{name} must be >= {minimum}", "invalid_parameter", {"parameter": name})
        )
    return v


def list_page(
    app: App,
    q: dict[str, str],
    path: str,
    items: Sequence[T],
    to_bytes: Callable[[T], bytes],
    max_size: int = DEFAULT_LIST_MAX,
    totals: bool = False,
    keep: tuple[str, ...] = ("sort",),
    shape: str = "",
) -> Response:
    """One page of a GET list: ``page``/``pageSize`` paging, links keeping the ``keep`` params.

    ``shape`` follows an OAS example: ``"empty_meta"`` serves ``"meta": {}`` (conversation
    events and attachments), ``"no_links"`` no page ``links`` (satisfaction surveys)."""
    page = int_param(q, "page", 1)
    size = min(int_param(q, "pageSize", 100), max_size)
    lw = app.opts.list_window
    if lw and page * size > lw:
        raise HTTPError(
            bad_request(
                f"Result window is too large, page * pageSize must be less than or equal to: "
                f"[{lw}] but was [{page * size}]",
                "query_window_exceeded",
            )
        )
    total = len(items)
    start = (page - 1) * size
    chunk = items[start : start + size]
    extra = "".join(f"&{k}={quote(str(q[k]), safe='')}" for k in keep if k in q)

    def link(p: int) -> str:
        return f"{path}?page={p}&pageSize={size}{extra}"

    links: dict[str, str | None] = {
        "self": link(page),
        "first": link(1),
        "prev": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if start + size < total else None,
    }
    meta = {} if shape == "empty_meta" else {"page": page, "pageSize": size}
    if totals:
        links["last"] = link(max(1, math.ceil(total / size)))
        meta["total"] = total
        meta["totalPages"] = math.ceil(total / size)
    page_links = b"" if shape == "no_links" else b',"links":' + dumps(links)
    body = (
        b'{"data":['
        + b",".join(to_bytes(x) for x in chunk)
        + b"]"
        + page_links
        + b',"meta":'
        + dumps(meta)
        + b"}"
    )
    return Response(200, body, records=len(chunk))


def single(data: bytes, included: list[bytes] | None = None) -> Response:
    body = b'{"data":' + data
    if included is not None:
        body += b',"included":[' + b",".join(included) + b"]"
    return Response(200, body + b"}", records=1)


def rec_or_404(app: App, stream: str, rid: str, allow_deleted: bool = False) -> Rec:
    rec = app.ds.by_id[stream].get(rid)
    if rec is None or (rec.deleted and not allow_deleted):
        raise HTTPError(not_found(f"{stream[:-1]} {rid} not found"))
    return rec


def _flag(q: dict[str, str], name: str) -> bool | None:
    """A ``true``/``false`` query parameter; None when absent or anything else."""
    value = q.get(name)
    return value == "true" if value in ("true", "false") else None


# --------------------------------------------------------------------------- handlers
def get_token(app: App, req: Request) -> Response:
    data = {
        "type": "token",
        "id": "5f" + "0" * 22,
        "attributes": {
            "name": "sandbox" if req.roles is ALL_ROLES else "sandbox-restricted",
            "roles": sorted(req.roles),
            "userType": "machine",
            "org": ORG_ID,
            "createdAt": fmt_ms(app.now_ms - 30 * DAY_MS),
        },
    }
    return single(dumps(data))


def get_current_user(app: App, req: Request) -> Response:
    machine = next(r for r in app.ds.streams["users"] if r.idx % 20 == 7)
    return single(app.doc(machine))


def get_list(app: App, req: Request, stream: str) -> Response:
    q = req.query
    items = app.idx.lists[stream]
    if stream in ("tags", "users"):
        items = _by_deleted(app, items, _flag(q, "deleted"))
    if stream == "users":
        items = _users(items, q)
    if stream in ("conversations", "messages") and q.get("sort") == "desc":
        items = items[::-1]
    return list_page(
        app,
        q,
        f"/v1/{stream}",
        items,
        app.doc,
        LIST_MAX.get(stream, DEFAULT_LIST_MAX),
        totals=stream == "customers",
        keep=("sort", "deleted", "userType"),
    )


def _by_deleted(app: App, items: list[Rec], deleted: bool | None) -> list[Rec]:
    """``deleted=true``: only deactivated/deleted rows; ``false``: only live ones; no parameter:
    undocumented, the ``lists_default_deleted`` option decides (``exclude`` by default)."""
    if deleted is None:
        if app.opts.lists_default_deleted == "include":
            return items
        deleted = False
    return [r for r in items if r.deleted == deleted]


def _users(items: list[Rec], q: dict[str, str]) -> list[Rec]:
    if q.get("userType"):
        machine = q["userType"] == "machine"
        items = [r for r in items if (r.idx % 20 == 7) == machine]
    return [] if q.get("pending") == "true" else items


def get_record(app: App, req: Request, stream: str, rid: str) -> Response:
    if stream == "conversations" and "," in rid:
        recs = [rec_or_404(app, stream, i) for i in rid.split(",") if i]
        body = b'{"data":[' + b",".join(app.doc(r) for r in recs) + b"]}"
        return Response(200, body, records=len(recs))
    allow = stream in WITH_DELETED
    return single(app.doc(rec_or_404(app, stream, rid, allow_deleted=allow)))


def get_children(app: App, req: Request, parent_stream: str, relation: str, pid: str) -> Response:
    """``/v1/{parent_stream}/{pid}/{relation}`` (e.g. customers/<id>/notes), id order."""
    rec_or_404(app, parent_stream, pid)
    key = f"{parent_stream[:-1]}.{relation}"
    items = [r for r in app.ds.children.get((key, pid), []) if not r.deleted]
    return list_page(app, req.query, f"/v1/{parent_stream}/{pid}/{relation}", items, app.doc)


def get_customer_kobjects(app: App, req: Request, pid: str, name: str) -> Response:
    rec_or_404(app, "customers", pid)
    _klass(app, name)
    items = [r for r in app.ds.children.get((f"customer.klass.{name}", pid), []) if not r.deleted]
    return list_page(app, req.query, f"/v1/customers/{pid}/klasses/{name}", items, app.doc)


def get_gone(app: App, req: Request, *_ids: str) -> Response:
    return not_found("This endpoint is deprecated")


def get_events(app: App, req: Request, cid: str) -> Response:
    q = req.query
    events = app.ds.conversation_events(rec_or_404(app, "conversations", cid))
    if q.get("sort") == "desc":
        events = events[::-1]
    if q.get("name"):
        events = [e for e in events if e["attributes"]["name"] == q["name"]]
    path = f"/v1/conversations/{cid}/events"
    return list_page(app, q, path, events, dumps, keep=("sort", "name"), shape="empty_meta")


def get_attachments(app: App, req: Request, cid: str) -> Response:
    items = app.ds.conversation_attachments(rec_or_404(app, "conversations", cid))
    path = f"/v1/conversations/{cid}/attachments"
    return list_page(app, req.query, path, items, dumps, shape="empty_meta")


def get_catalog(app: App, req: Request, key: str, path: str) -> Response:
    items = app.ds.catalog[key]
    enabled = _flag(req.query, "enabled")
    if key == "workflows" and enabled is not None:
        items = [d for d in items if d["attributes"]["enabled"] == enabled]
    shape = "no_links" if key == "satisfaction" else ""
    return list_page(app, req.query, path, items, app.cat_doc, keep=("enabled",), shape=shape)


def get_catalog_item(app: App, req: Request, key: str, rid: str) -> Response:
    for d in app.ds.catalog[key]:
        if d["id"] == rid or (rid == "default" and d["attributes"].get("default")):
            return single(app.cat_doc(d))
    raise HTTPError(not_found(f"{key} {rid} not found"))


def get_klasses(app: App, req: Request) -> Response:
    status = req.query.get("status", "enabled")
    items = app.ds.catalog["klasses"]
    if status in ("enabled", "disabled"):
        items = [k for k in items if k["attributes"]["status"] == status]
    return list_page(app, req.query, "/v1/klasses", items, app.cat_doc, keep=("status",))


def _klass(app: App, name: str) -> Doc:
    for k in app.ds.catalog["klasses"]:
        if k["attributes"]["name"] == name:
            return k
    raise HTTPError(not_found(f"klass {name} not found"))


def get_kobjects(app: App, req: Request, name: str) -> Response:
    q = req.query
    _klass(app, name)
    items = app.idx.lists.get("klass:" + name, [])
    if q.get("fromDate"):
        ms = parse_timestamp(q["fromDate"])
        if ms is None:
            raise HTTPError(
                bad_request(
                    "fromDate must be an ISO 8601 date-time",
                    "invalid_parameter",
                    {"parameter": "fromDate"},
                )
            )
        items = [r for r in items if r.updated >= ms]
    return list_page(app, q, f"/v1/klasses/{name}", items, app.doc, keep=("fromDate",))


def get_kobject(app: App, req: Request, name: str, rid: str) -> Response:
    _klass(app, name)
    rec = app.ds.by_id["kobjects"].get(rid)
    if rec is None or rec.klass != name or rec.deleted:
        raise HTTPError(not_found(f"kobject {rid} not found"))
    return single(app.doc(rec))


def _versions_of(app: App, sla_ids: set[str]) -> list[Doc]:
    versions = app.ds.catalog["sla_versions"]
    return [v for v in versions if v["relationships"]["sla"]["data"]["id"] in sla_ids]


def get_slas(app: App, req: Request) -> Response:
    slas = app.ds.catalog["slas"]
    resp = list_page(app, req.query, "/v1/slas", slas, app.cat_doc, keep=("versions",))
    if req.query.get("versions") == "all":
        inc = [app.cat_doc(v) for v in _versions_of(app, {s["id"] for s in slas})]
        resp.body = resp.body[:-1] + b',"included":[' + b",".join(inc) + b"]}"
    return resp


def get_sla(app: App, req: Request, sid: str) -> Response:
    sla = next((s for s in app.ds.catalog["slas"] if s["id"] == sid), None)
    if sla is None:
        raise HTTPError(not_found(f"sla {sid} not found"))
    mine = _versions_of(app, {sid})
    if req.query.get("versions") != "all":
        current = sla["attributes"]["currentVersion"]
        mine = [v for v in mine if v["attributes"]["version"] == current]
    return single(app.cat_doc(sla), [app.cat_doc(v) for v in mine])


def get_metadata(app: App, req: Request, resource: str) -> Response:
    doc = app.ds.metadata_doc(resource)
    if doc is None:
        raise HTTPError(not_found(f"metadata for {resource} not found"))
    return single(dumps(doc))


AUDIT_FILTERS = ("start", "end", "objectType", "objectId", "userId")


def get_audit_logs(app: App, req: Request) -> Response:
    """Cursor paging: ``before`` (older than a log), ``after`` (newer than one), newest first."""
    q = req.query
    count = min(int_param(q, "count", 100), 1000)
    flt = {key: q[f"filter[{key}]"] for key in AUDIT_FILTERS if q.get(f"filter[{key}]")}
    logs = _filter_audit_logs(app.ds.audit_logs, flt)
    before, after = q.get("before"), q.get("after")
    pool, page = _audit_page(app, logs, count, before, after)
    # like the OAS GetAuditLogs example: the links carry count and a cursor, not the filters
    # (a client that follows them without its filters gets unfiltered pages)
    base = "/v1/audit-logs?" + urlencode({"count": count})
    first_i = logs.index(page[0]) if page else 0
    last_i = logs.index(page[-1]) if page else 0
    cursor = f"&before={before}" if before else f"&after={after}" if after else ""
    links = {
        "self": base + cursor,
        "first": base,
        "prev": f"{base}&after={page[0]['id']}" if page and first_i > 0 else None,
        "next": f"{base}&before={page[-1]['id']}" if page and last_i < len(logs) - 1 else None,
    }
    meta = {"count": len(page), "total": len(logs), "cursorCount": len(pool)}
    data = [{k: v for k, v in d.items() if k != "_created"} for d in page]
    body = (
        b'{"data":' + dumps(data) + b',"links":' + dumps(links) + b',"meta":' + dumps(meta) + b"}"
    )
    return Response(200, body, records=len(page))


def _filter_audit_logs(logs: list[Doc], flt: dict[str, str]) -> list[Doc]:
    if "start" in flt or "end" in flt:
        lo = parse_timestamp(flt["start"]) if "start" in flt else -math.inf
        hi = parse_timestamp(flt["end"]) if "end" in flt else math.inf
        if lo is None or hi is None:
            raise HTTPError(
                bad_request("filter[start]/filter[end] must be ISO 8601", "invalid_parameter")
            )
        logs = [d for d in logs if lo <= d["_created"] <= hi]
    for key in ("objectType", "objectId", "userId"):
        if key in flt:
            logs = [d for d in logs if d["attributes"][key] == flt[key]]
    return logs


def _audit_page(
    app: App, logs: list[Doc], count: int, before: str | None, after: str | None
) -> tuple[list[Doc], list[Doc]]:
    """(the logs on the cursor's side, the page of them) for a ``before``/``after`` cursor."""
    if not before and not after:
        return logs, logs[:count]
    name, cursor = ("before", before) if before else ("after", after)
    by_id = {d["id"]: d for d in app.ds.audit_logs}
    if cursor not in by_id:
        raise HTTPError(
            bad_request(f"unknown cursor in {name}", "invalid_parameter", {"parameter": name})
        )
    k = (by_id[cursor]["_created"], cursor)
    keys = [(d["_created"], d["id"]) for d in logs]
    if before:
        pos = next((i for i, x in enumerate(keys) if x < k), len(logs))
        return logs[pos:], logs[pos : pos + count]
    pos = next((i for i, x in enumerate(keys) if x <= k), len(logs))
    pool = logs[:pos]
    return pool, pool[max(0, len(pool) - count) :]


def post_search(app: App, req: Request, kind: str) -> Response:
    """``kind`` is "standard" or "archive"."""
    archive = kind == "archive"
    q = req.query
    page = int_param(q, "page", 1)
    size = min(int_param(q, "pageSize", 100), app.opts.search_max_page_size)
    try:
        body = json.loads(req.body.decode("utf-8")) if req.body.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return simple_error(400, "bad_request", f"Invalid JSON in request body: {exc}")
    try:
        query = app.engine.parse(body, archive)
    except SearchError as exc:
        return bad_request(exc.detail, exc.code, {"pointer": exc.pointer} if exc.pointer else None)
    refused = _search_refused(app, req, query, page * size)
    if refused is not None:
        return refused
    return _search_answer(app, query, page, size, q.get("idsOnly") == "true")


def _search_refused(app: App, req: Request, query: Query, depth: int) -> Response | None:
    """403 without the context's roles, 400 past the result window; None when served."""
    need = ROLES[search_role(query.ctx)]
    if not req.roles.intersection(need):
        return simple_error(
            403,
            "forbidden",
            f"Forbidden: searching queryContext {query.ctx} requires one of {', '.join(need)}",
        )
    app.stats.search(("archive:" if query.archive else "") + query.ctx)
    window = app.opts.result_window
    if window and depth > window:
        return jsonapi_error(
            400,
            "query_window_exceeded",
            "Bad Request",
            f"Result window is too large, page * pageSize must be less than or equal "
            f"to: [{window}] but was [{depth}]. Narrow the query (for example "
            f"with a {query.prefix}_updated_at range) instead of paging deeper.",
            {"parameter": "page"},
        )
    return None


def _search_answer(app: App, query: Query, page: int, size: int, ids_only: bool) -> Response:
    # One answer is one snapshot, as an Elasticsearch response is: an update landing between
    # sorting and serialising would otherwise serve a page out of its own order.
    with app.ds.lock:
        entry = app.engine.matches(query)
        total = len(entry.keys)
        replica = app.pick_replica()
        recs = app.engine.page(entry, query.desc, (page - 1) * size, page * size, replica)
        recs, timed_out = app.drop_timed_out(recs)
        parts = _search_parts(app, query, recs, ids_only)
    cap = app.opts.track_total_hits
    if cap and total > cap:
        total = cap  # Elasticsearch counts exactly only up to track_total_hits
    total_pages = math.ceil(total / size)
    base = "/v1/customers/archive/search" if query.archive else "/v1/customers/search"
    extra = "&idsOnly=true" if ids_only else ""

    def link(p: int) -> str:
        return f"{base}?page={p}&pageSize={size}{extra}"

    links = {
        "self": link(page),
        "first": link(1),
        "prev": link(page - 1) if page > 1 else None,
        # like Kustomer: next is emitted even when it lies beyond the window
        "next": link(page + 1) if page < total_pages else None,
        "last": link(max(1, total_pages)),
    }
    meta: dict[str, Any] = {
        "pageSize": size,
        "page": page,
        "total": total,
        "totalPages": total_pages,
        "aggregations": {},
        "timed_out": timed_out,
    }
    body = (
        b'{"data":['
        + b",".join(parts)
        + b'],"meta":'
        + dumps(meta)
        + b',"links":'
        + dumps(links)
        + b"}"
    )
    return Response(200, body, records=len(parts))


def _search_parts(app: App, query: Query, recs: list[Rec], ids_only: bool) -> list[bytes]:
    """The serialised resources of a search page."""
    if ids_only:
        return [dumps({"type": app.ds.type_of(r), "id": r.id}) for r in recs]
    if query.archive:
        return [app.ds.archive_bytes(r) for r in recs]
    return [app.ds.doc_bytes(r) for r in recs]


# --------------------------------------------------------------------------- the table
# Record streams: (GET list and GET-by-id) -> role key.
RECORD_STREAMS = {
    "users": "user",
    "teams": "team",
    "tags": "tag",
    "shortcuts": "shortcut",
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "notes": "note",
    "companies": "company",
}
# Static resources: path -> (role key, catalog key).
CATALOG_PATHS = {
    "brands": ("brand", "brands"),
    "schedules": ("schedule", "schedules"),
    "workflows": ("workflow", "workflows"),
    "satisfaction": ("satisfaction", "satisfaction"),
    "routing/queues": ("queue", "queues"),
    "routing/statuses": ("routing_status", "routing_statuses"),
    "routing/settings": ("routing", "team_routing_settings"),
    "sub-statuses": ("sub_status", "sub_statuses"),
    "snoozes": ("snooze", "snoozes"),
}


def _build_routes() -> list[Route]:
    routes = [
        Route("POST", "customers/search", "search", post_search, ("standard",)),
        Route("POST", "customers/archive/search", "search", post_search, ("archive",)),
        Route("GET", "auth/tokens/current", "", get_token),
        Route("GET", "users/current", "current_user", get_current_user),
    ]
    for stream, role in RECORD_STREAMS.items():
        routes.append(Route("GET", stream, role, get_list, (stream,)))
        routes.append(Route("GET", stream + "/{id}", role, get_record, (stream,)))
    for relation in ("conversations", "messages", "notes"):
        pattern = "customers/{id}/" + relation
        routes.append(Route("GET", pattern, relation[:-1], get_children, ("customers", relation)))
    routes.append(Route("GET", "customers/{id}/klasses/{name}", "kobject", get_customer_kobjects))
    routes.append(Route("GET", "customers/{id}/events", "event", get_gone, tail=True))
    for relation, role in (("messages", "message"), ("notes", "note"), ("times", "conversation")):
        pattern = "conversations/{id}/" + relation
        routes.append(Route("GET", pattern, role, get_children, ("conversations", relation)))
    routes += [
        Route("GET", "conversations/{id}/events", "event", get_events),
        Route("GET", "conversations/{id}/attachments", "attachment", get_attachments),
    ]
    for path, (role, key) in CATALOG_PATHS.items():
        routes.append(Route("GET", path, role, get_catalog, (key, "/v1/" + path)))
        routes.append(Route("GET", path + "/{id}", role, get_catalog_item, (key,)))
    return [
        *routes,
        Route("GET", "klasses", "klass", get_klasses),
        Route("GET", "klasses/{name}", "klass", get_kobjects),
        Route("GET", "klasses/{name}/{id}", "kobject", get_kobject),
        Route("GET", "slas", "sla", get_slas),
        Route("GET", "slas/{id}", "sla", get_sla),
        Route("GET", "metadata/{resource}", "metadata", get_metadata),
        Route("GET", "audit-logs", "audit_logs", get_audit_logs),
    ]


ROUTES = [(route, route.regex()) for route in _build_routes()]


@dataclass(frozen=True)
class Match:
    endpoint: str  # for the stats, e.g. "GET /v1/customers/{id}"
    role: str | None
    handler: Handler | None  # None: no such endpoint (404 once the request is admitted)
    args: tuple[str, ...] = ()


def route(method: str, parts: list[str]) -> Match:
    """The endpoint for ``method`` and the path segments after ``/v1``."""
    path = "/".join(parts)
    for r, regex in ROUTES:
        if r.method == method:
            m = regex.fullmatch(path)
            if m is not None:
                return Match(r.endpoint, r.role, r.handler, r.args + m.groups())
    if method != "GET":
        return Match(f"{method} /v1/{path}", None, None)
    return Match(f"GET /v1/{parts[0]}/..." if parts else "GET /v1", None, None)
