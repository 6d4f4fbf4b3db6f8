"""HTTP layer of the sandbox: routing, auth/roles, paging, search, rate limits, faults and the
``/__sandbox/*`` control endpoints."""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .control import Faults, RateLimiter, Stats
from .data import ALL_STREAMS, ORG_ID, SEARCH_STREAMS, Dataset, Rec
from .index import Indexes
from .search import SearchEngine, SearchError
from .util import DAY_MS, dumps, fmt_ms, parse_now, parse_timestamp, wall_ms


# --------------------------------------------------------------------------- options
@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 0
    token: str = "sandbox-token"  # noqa: S105 - a fake server's fixed test token
    restricted_token: str = "sandbox-restricted"  # noqa: S105
    seed: int = 1
    scale: float = 1.0
    now: str | int | float | None = None
    org_limit: int = 1000
    search_limit: int = 100
    window_seconds: float = 60.0
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_weights: object = None
    fault_paths: object = None
    slow_seconds: float = 5.0
    retry_after: bool = False
    tie_block: int = 1200
    compat_1x: bool = False
    result_window: int = 10_000
    search_max_page_size: int = 500
    list_window: int = 0
    horizon_days: int = 730
    index_lag_seconds: float = 0.0  # each update searchable after U(0, this) seconds
    replicas: int = 1  # search copies, each ordering ties its own way
    track_total_hits: int = 0  # cap of meta.total (0 = exact)
    timed_out_rate: float = 0.0  # share of search answers that are partial, timed_out: true
    prewarm: bool | str = True  # True/"background", False/"off", "sync"
    log: bool = False

    @classmethod
    def names(cls):
        return [f.name for f in fields(cls)]


# --------------------------------------------------------------------------- roles
def _roles(obj: str, *extra: str) -> tuple[str, ...]:
    return (f"org.permission.{obj}.read", f"org.user.{obj}.read", *extra)


ROLES = {
    "search": (
        "org.permission.search.create",
        "org.permission.search.update",
        "org.permission.search_global.create",
        "org.permission.search_preview.create",
        "org.user.search.read",
        "org.admin.search.read",
    ),
    "customer": _roles("customer"),
    "conversation": _roles("conversation"),
    "message": _roles("message"),
    "note": _roles("note"),
    "company": _roles("company"),
    "klass": _roles("klass", "org.admin.klass.read"),
    "kobject": _roles("kobject", "org.permission.kobject.kobject_*.read"),
    "metadata": _roles("metadata", "org.admin.metadata.read"),
    "event": _roles("event"),
    "attachment": _roles("attachment"),
    "brand": _roles("brand", "org.admin.brand.read"),
    "schedule": _roles("schedule", "org.admin.schedule.read"),
    "satisfaction": _roles("satisfaction"),
    "sla": _roles("sla"),
    "audit_logs": _roles("audit_logs"),
    "queue": ("org.permission.queue.read", "org.permission.routing.read", "org.user.routing.read"),
    "workflow": ("org.permission.workflow.read", "org.admin.workflow.read"),
    "user": ("org.permission.user.read", "org.user.read", "org.admin.read", "org.user"),
    "team": ("org.permission.team.read", "org.user.read", "org.admin.read", "org.user"),
    "tag": ("org.permission.tag.read", "org.user.read", "org.admin.read", "org.user"),
    "shortcut": ("org.permission.shortcut.read", "org.user.read", "org.admin.read", "org.user"),
    "current_user": ("org.user",),
}
ALL_ROLES = frozenset(r for rs in ROLES.values() for r in rs)
RESTRICTED_ROLES = (
    ALL_ROLES - set(ROLES["conversation"]) - set(ROLES["message"]) - set(ROLES["note"])
)

CTX_ROLE = {
    "customer": "customer",
    "conversation": "conversation",
    "message": "message",
    "note": "note",
    "company": "company",
    "conversation_time": "conversation",
    "work_session": "search",
    "work_item": "search",
}

LIST_MAX = {"users": 500, "teams": 500}
DEFAULT_LIST_MAX = 100


# --------------------------------------------------------------------------- responses
class Response:
    __slots__ = ("body", "ctype", "headers", "records", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        headers: dict | None = None,
        records: int = 0,
        ctype: str = "application/json; charset=utf-8",
    ):
        self.status, self.body, self.headers, self.records = status, body, headers or {}, records
        self.ctype = ctype


def jsonapi_error(status: int, code: str, title: str, detail: str, source=None) -> Response:
    err = {"status": str(status), "code": code, "title": title, "detail": detail}
    if source:
        err["source"] = source
    return Response(status, dumps({"errors": [err]}))


def simple_error(status: int, code: str, message: str) -> Response:
    """The other documented error shape: ``{errors: [{code, message, meta}]}``."""
    return Response(status, dumps({"errors": [{"code": code, "message": message, "meta": {}}]}))


def not_found(detail: str = "Resource not found") -> Response:
    return jsonapi_error(404, "not_found", "Not Found", detail)


def bad_request(detail: str, code: str = "bad_request", source=None) -> Response:
    return jsonapi_error(400, code, "Bad Request", detail, source)


class HTTPError(Exception):
    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------- application
class App:
    """Everything except the socket: data, indexes, search, limits, faults, stats."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.now_ms = parse_now(opts.now)
        self.t0 = time.monotonic_ns()
        self.ds = Dataset(
            seed=opts.seed,
            scale=opts.scale,
            now_ms=self.now_ms,
            tie_block=opts.tie_block,
            compat_1x=opts.compat_1x,
        )
        self._check_realism(opts)
        self.idx = Indexes(self.ds)
        lagged = opts.index_lag_seconds > 0
        self.engine = SearchEngine(self.idx, self.horizon_ms, self.clock_ms if lagged else None)
        self.limiter = RateLimiter(opts.org_limit, opts.search_limit, opts.window_seconds)
        self.faults = Faults(
            opts.seed,
            opts.fault_rate,
            opts.fault_weights,
            opts.slow_seconds,
            opts.latency_ms,
            opts.fault_paths,
            opts.retry_after,
        )
        self.stats = Stats()
        self.update_rng = random.Random(f"{opts.seed}:updates")  # noqa: S311
        # search realism: one RNG per behaviour so turning one on does not change another's
        # draws; one lock because the handler threads draw concurrently
        self.lag_rng = random.Random(f"{opts.seed}:index-lag")  # noqa: S311
        self.replica_rng = random.Random(f"{opts.seed}:replicas")  # noqa: S311
        self.timeout_rng = random.Random(f"{opts.seed}:timed-out")  # noqa: S311
        self.realism_lock = threading.Lock()
        self.tokens = {opts.token: ALL_ROLES, opts.restricted_token: RESTRICTED_ROLES}
        self.catalog_bytes: dict[int, bytes] = {}
        self._warm_stop = threading.Event()
        self.warm_done = threading.Event()

    # -- clock
    def clock_ms(self) -> int:
        return self.now_ms + (time.monotonic_ns() - self.t0) // 1_000_000

    def horizon_ms(self) -> int:
        return self.clock_ms() - self.opts.horizon_days * DAY_MS

    @staticmethod
    def _check_realism(opts: Options) -> None:
        if isinstance(opts.replicas, bool) or not isinstance(opts.replicas, int):
            raise ValueError("replicas must be an integer >= 1")
        if opts.replicas < 1:
            raise ValueError("replicas must be >= 1")
        if isinstance(opts.track_total_hits, bool) or not isinstance(opts.track_total_hits, int):
            raise ValueError("track_total_hits must be an integer >= 0")
        if opts.track_total_hits < 0:
            raise ValueError("track_total_hits must be >= 0 (0 = exact totals)")
        if not 0.0 <= float(opts.timed_out_rate) <= 1.0:
            raise ValueError("timed_out_rate must be between 0 and 1")
        if not float(opts.index_lag_seconds) >= 0.0:
            raise ValueError("index_lag_seconds must be >= 0")

    # -- search realism draws (seeded, so a run is reproducible given the same request order)
    def pick_replica(self) -> int:
        n = self.opts.replicas
        if n <= 1:
            return 0
        with self.realism_lock:
            return self.replica_rng.randrange(n)

    def drop_timed_out(self, recs: list[Rec]) -> tuple[list[Rec], bool]:
        """-> (records kept, timed_out): a timed-out answer loses 10-50 % of its page, >= 1."""
        rate = self.opts.timed_out_rate
        if not rate:
            return recs, False
        with self.realism_lock:
            g = self.timeout_rng
            if g.random() >= rate:
                return recs, False
            if not recs:
                return recs, True
            n = max(1, round(len(recs) * g.uniform(0.1, 0.5)))
            drop = set(g.sample(range(len(recs)), n))
        return [r for i, r in enumerate(recs) if i not in drop], True

    # -- warm-up
    def prewarm_mode(self) -> str:
        v = self.opts.prewarm
        if isinstance(v, str):
            v = v.strip().lower()
            if v in ("sync", "background", "off"):
                return v
            if v in ("1", "true", "yes", "on"):
                return "background"
            if v in ("0", "false", "no", "none", ""):
                return "off"
            raise ValueError(f"prewarm must be off, background or sync, not {v!r}")
        return "background" if v else "off"

    def prewarm(self, background: bool = True):
        """Serialise every record once so first pages are fast (about 5 s of CPU at scale 1)."""

        def run(pause):
            self.warm_done.clear()
            order = (
                "customers",
                "conversations",
                "messages",
                "notes",
                "kobjects",
                "companies",
                "users",
                "teams",
                "tags",
                "shortcuts",
            )
            for stream in order:
                for i, rec in enumerate(self.ds.streams[stream]):
                    if self._warm_stop.is_set():
                        return
                    self.ds.doc_bytes(rec)
                    if rec.archived:
                        self.ds.archive_bytes(rec)
                    if pause and i % 200 == 199:
                        time.sleep(0.001)
            self.warm_done.set()

        if not background:
            run(False)
            return None
        t = threading.Thread(target=run, args=(True,), name="sandbox-prewarm", daemon=True)
        t.start()
        return t

    # -- truth / updates (also used by the Python API)
    def truth(self, stream: str | None = None) -> dict:
        names = ALL_STREAMS if stream is None else [stream]
        for name in names:
            if name not in self.ds.streams:
                raise KeyError(name)
        now = self.clock_ms()
        horizon = now - self.opts.horizon_days * DAY_MS
        out = {}
        with self.ds.lock:
            for name in names:
                rows = []
                for r in sorted(self.ds.streams[name], key=lambda x: x.id):
                    row = {
                        "id": r.id,
                        "updatedAt": fmt_ms(r.updated),
                        "createdAt": fmt_ms(r.created),
                        "deleted": bool(r.deleted),
                        "archived": name in SEARCH_STREAMS and r.updated < horizon,
                    }
                    if name == "kobjects":
                        row["klass"] = r.klass
                    rows.append(row)
                out[name] = rows
        return {"streams": out, "now": fmt_ms(now), "horizon": fmt_ms(horizon)}

    def update(self, stream: str, count: int | None = None, ids=None, delete: bool = False) -> dict:
        if stream not in self.ds.streams:
            raise ValueError(f"unknown stream {stream!r}; expected one of {list(ALL_STREAMS)}")
        with self.ds.lock:
            recs = self.ds.streams[stream]
            if ids:
                by_id = self.ds.by_id[stream]
                missing = [i for i in ids if i not in by_id]
                if missing:
                    raise ValueError(f"unknown {stream} id(s): {missing[:5]}")
                chosen = [by_id[i] for i in ids]
            else:
                n = int(count or 0)
                if n < 0:
                    raise ValueError("count must be >= 0")
                candidates = [r for r in recs if not r.deleted]
                chosen = self.update_rng.sample(candidates, min(n, len(candidates)))
            ts = self.clock_ms()
            lag_ms = float(self.opts.index_lag_seconds) * 1000
            for rec in chosen:
                if lag_ms > 0:
                    # each update gets its own refresh delay, so a later update of one record
                    # can become searchable before an earlier one of another
                    visible_at = ts + round(self.lag_rng.uniform(0, lag_ms))
                    self.idx.touch_lagged(rec, ts, visible_at, delete=delete)
                else:
                    self.idx.touch(rec, ts, delete=delete)
            self.stats.updates += len(chosen)
        return {
            "stream": stream,
            "ids": [r.id for r in chosen],
            "updatedAt": fmt_ms(ts),
            "deleted": bool(delete),
        }

    # ------------------------------------------------------------------ helpers
    def doc(self, rec: Rec) -> bytes:
        return self.ds.doc_bytes(rec)

    def cat_doc(self, doc: dict) -> bytes:
        key = id(doc)
        b = self.catalog_bytes.get(key)
        if b is None:
            b = dumps(doc)
            self.catalog_bytes[key] = b
        return b

    @staticmethod
    def int_param(q: dict, name: str, default: int, minimum: int = 1) -> int:
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
                bad_request(
                    f"{name} must be >= {minimum}", "invalid_parameter", {"parameter": name}
                )
            )
        return v

    def list_page(
        self,
        q: dict,
        path: str,
        items: list,
        to_bytes,
        max_size: int,
        totals: bool = False,
        keep=("sort",),
    ) -> Response:
        page = self.int_param(q, "page", 1)
        size = min(self.int_param(q, "pageSize", 100), max_size)
        lw = self.opts.list_window
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

        def link(p):
            return f"{path}?page={p}&pageSize={size}{extra}"

        last_page = max(1, math.ceil(total / size))
        links = {
            "self": link(page),
            "first": link(1),
            "prev": link(page - 1) if page > 1 else None,
            "next": link(page + 1) if start + size < total else None,
        }
        meta = {"page": page, "pageSize": size}
        if totals:
            links["last"] = link(last_page)
            meta["total"] = total
            meta["totalPages"] = math.ceil(total / size)
        body = (
            b'{"data":['
            + b",".join(to_bytes(x) for x in chunk)
            + b'],"links":'
            + dumps(links)
            + b',"meta":'
            + dumps(meta)
            + b"}"
        )
        return Response(200, body, records=len(chunk))

    def single(self, data: bytes, included: list[bytes] | None = None) -> Response:
        body = b'{"data":' + data
        if included is not None:
            body += b',"included":[' + b",".join(included) + b"]"
        return Response(200, body + b"}", records=1)

    def rec_or_404(self, stream: str, rid: str, allow_deleted: bool = False) -> Rec:
        rec = self.ds.by_id[stream].get(rid)
        if rec is None or (rec.deleted and not allow_deleted):
            raise HTTPError(not_found(f"{stream[:-1]} {rid} not found"))
        return rec

    # ------------------------------------------------------------------ routing
    def route(self, method: str, parts: list[str]) -> tuple[str, str | None, object]:
        """-> (endpoint template, role key, handler(q, body, roles, token) -> Response)."""
        p = parts
        n = len(p)
        if method == "POST":
            if p == ["customers", "search"]:
                return "POST /v1/customers/search", "search", self.h_search(False)
            if p == ["customers", "archive", "search"]:
                return "POST /v1/customers/archive/search", "search", self.h_search(True)
            return f"POST /v1/{'/'.join(p)}", None, None
        if method != "GET":
            return f"{method} /v1/{'/'.join(p)}", None, None
        if n == 0:
            return "GET /v1", None, None
        head = p[0]
        if p == ["auth", "tokens", "current"]:
            return "GET /v1/auth/tokens/current", "", self.h_token
        if p == ["users", "current"]:
            return "GET /v1/users/current", "current_user", self.h_current_user
        simple = {
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
        if head in simple:
            role = simple[head]
            if n == 1:
                return f"GET /v1/{head}", role, self.h_list(head)
            if n == 2:
                return f"GET /v1/{head}/{{id}}", role, self.h_get(head, p[1])
            if head == "customers" and n >= 3:
                sub = p[2]
                if sub in ("conversations", "messages", "notes") and n == 3:
                    return (
                        f"GET /v1/customers/{{id}}/{sub}",
                        sub[:-1],
                        self.h_children("customers", p[1], "customer." + sub),
                    )
                if sub == "klasses" and n == 4:
                    return (
                        "GET /v1/customers/{id}/klasses/{name}",
                        "kobject",
                        self.h_children("customers", p[1], "customer.klass." + p[3]),
                    )
                if sub == "events":
                    return "GET /v1/customers/{id}/events", "event", self.h_gone
            if head == "conversations" and n == 3:
                sub = p[2]
                if sub in ("messages", "notes"):
                    return (
                        f"GET /v1/conversations/{{id}}/{sub}",
                        sub[:-1],
                        self.h_children("conversations", p[1], "conversation." + sub),
                    )
                if sub == "events":
                    return "GET /v1/conversations/{id}/events", "event", self.h_events(p[1])
                if sub == "attachments":
                    return (
                        "GET /v1/conversations/{id}/attachments",
                        "attachment",
                        self.h_attachments(p[1]),
                    )
            return f"GET /v1/{head}/...", None, None
        catalog = {
            "brands": ("brand", "brands"),
            "schedules": ("schedule", "schedules"),
            "workflows": ("workflow", "workflows"),
            "satisfaction": ("satisfaction", "satisfaction"),
        }
        if head in catalog:
            role, key = catalog[head]
            if n == 1:
                return f"GET /v1/{head}", role, self.h_catalog(key, f"/v1/{head}")
            if n == 2:
                return f"GET /v1/{head}/{{id}}", role, self.h_catalog_get(key, p[1])
        if head == "routing" and n >= 2 and p[1] == "queues":
            if n == 2:
                return (
                    "GET /v1/routing/queues",
                    "queue",
                    self.h_catalog("queues", "/v1/routing/queues"),
                )
            if n == 3:
                return "GET /v1/routing/queues/{id}", "queue", self.h_catalog_get("queues", p[2])
        if head == "klasses":
            if n == 1:
                return "GET /v1/klasses", "klass", self.h_klasses
            if n == 2:
                return "GET /v1/klasses/{name}", "klass", self.h_kobjects(p[1])
            if n == 3:
                return "GET /v1/klasses/{name}/{id}", "kobject", self.h_kobject(p[1], p[2])
        if head == "slas":
            if n == 1:
                return "GET /v1/slas", "sla", self.h_slas(None)
            if n == 2:
                return "GET /v1/slas/{id}", "sla", self.h_slas(p[1])
        if head == "metadata" and n == 2:
            return "GET /v1/metadata/{resource}", "metadata", self.h_metadata(p[1])
        if head == "audit-logs" and n == 1:
            return "GET /v1/audit-logs", "audit_logs", self.h_audit
        return f"GET /v1/{head}/...", None, None

    # ------------------------------------------------------------------ handlers
    def h_token(self, q, body, roles, token):
        data = {
            "type": "token",
            "id": "5f" + "0" * 22,
            "attributes": {
                "name": "sandbox" if roles is ALL_ROLES else "sandbox-restricted",
                "roles": sorted(roles),
                "userType": "machine",
                "org": ORG_ID,
                "createdAt": fmt_ms(self.now_ms - 30 * DAY_MS),
            },
        }
        return self.single(dumps(data))

    def h_current_user(self, q, body, roles, token):
        machine = next(r for r in self.ds.streams["users"] if r.idx % 20 == 7)
        return self.single(self.doc(machine))

    def h_list(self, stream):
        path = f"/v1/{stream}"
        max_size = LIST_MAX.get(stream, DEFAULT_LIST_MAX)

        def handler(q, body, roles, token):
            items = self.idx.lists[stream]
            if stream == "tags" and q.get("deleted") in ("true", "false"):
                want = q["deleted"] == "true"
                items = [r for r in items if r.deleted == want]
            if stream == "users":
                if q.get("deleted") in ("true", "false"):
                    want = q["deleted"] == "true"
                    items = [r for r in items if r.deleted == want]
                if q.get("userType"):
                    ut = q["userType"]
                    items = [r for r in items if (r.idx % 20 == 7) == (ut == "machine")]
                if q.get("pending") == "true":
                    items = []
            if stream in ("conversations", "messages") and q.get("sort") == "desc":
                items = items[::-1]
            return self.list_page(
                q,
                path,
                items,
                self.doc,
                max_size,
                totals=stream == "customers",
                keep=("sort", "deleted", "userType"),
            )

        return handler

    def h_get(self, stream, rid):
        def handler(q, body, roles, token):
            if stream == "conversations" and "," in rid:
                ids = [i for i in rid.split(",") if i]
                recs = [self.rec_or_404(stream, i) for i in ids]
                body_ = b'{"data":[' + b",".join(self.doc(r) for r in recs) + b"]}"
                return Response(200, body_, records=len(recs))
            allow = stream in ("users", "teams", "tags", "shortcuts")
            return self.single(self.doc(self.rec_or_404(stream, rid, allow_deleted=allow)))

        return handler

    def h_children(self, parent_stream, pid, key):
        def handler(q, body, roles, token):
            self.rec_or_404(parent_stream, pid)
            if key.startswith("customer.klass."):
                klass = key.rsplit(".", 1)[1]
                if klass not in {k["attributes"]["name"] for k in self.ds.catalog["klasses"]}:
                    raise HTTPError(not_found(f"klass {klass} not found"))
            items = [r for r in self.ds.children.get((key, pid), []) if not r.deleted]
            return self.list_page(
                q,
                f"/v1/{parent_stream}/{pid}/{key.split('.', 1)[1]}".replace("klass.", "klasses/"),
                items,
                self.doc,
                DEFAULT_LIST_MAX,
            )

        return handler

    def h_gone(self, q, body, roles, token):
        return not_found("This endpoint is deprecated")

    def h_events(self, cid):
        def handler(q, body, roles, token):
            conv = self.rec_or_404("conversations", cid)
            events = self.ds.conversation_events(conv)
            if q.get("sort") == "desc":
                events = events[::-1]
            if q.get("name"):
                events = [e for e in events if e["attributes"]["name"] == q["name"]]
            return self.list_page(
                q,
                f"/v1/conversations/{cid}/events",
                events,
                dumps,
                DEFAULT_LIST_MAX,
                keep=("sort", "name"),
            )

        return handler

    def h_attachments(self, cid):
        def handler(q, body, roles, token):
            conv = self.rec_or_404("conversations", cid)
            g = random.Random(f"{self.opts.seed}:attachments:{conv.idx}")  # noqa: S311
            msgs = self.ds.children.get(("conversation.messages", cid), [])
            items = []
            if msgs and g.random() < 0.25:
                for k in range(g.randrange(1, 3)):
                    m = msgs[g.randrange(len(msgs))]
                    aid = f"{m.id[:8]}{g.getrandbits(64):016x}"
                    ctype, ext = g.choice(
                        (("image/png", "png"), ("application/pdf", "pdf"), ("image/jpeg", "jpg"))
                    )
                    items.append(
                        {
                            # official quirk: no top-level id, only inside links.self
                            "type": "attachment",
                            "attributes": {
                                "name": f"attachment-{k + 1}.{ext}",
                                "contentType": ctype,
                                "contentLength": g.randrange(1_000, 2_000_000),
                                "redacted": False,
                            },
                            "relationships": {"message": {"data": {"type": "message", "id": m.id}}},
                            "links": {
                                "self": f"/v1/attachments/{aid}",
                                "related": f"https://files.example/{aid}?X-Amz-Expires=600",
                            },
                        }
                    )
            return self.list_page(
                q, f"/v1/conversations/{cid}/attachments", items, dumps, DEFAULT_LIST_MAX
            )

        return handler

    def h_catalog(self, key, path):
        def handler(q, body, roles, token):
            items = self.ds.catalog[key]
            if key == "workflows" and q.get("enabled") in ("true", "false"):
                want = q["enabled"] == "true"
                items = [d for d in items if d["attributes"]["enabled"] == want]
            return self.list_page(q, path, items, self.cat_doc, DEFAULT_LIST_MAX, keep=("enabled",))

        return handler

    def h_catalog_get(self, key, rid):
        def handler(q, body, roles, token):
            for d in self.ds.catalog[key]:
                if d["id"] == rid or (rid == "default" and d["attributes"].get("default")):
                    return self.single(self.cat_doc(d))
            raise HTTPError(not_found(f"{key} {rid} not found"))

        return handler

    def h_klasses(self, q, body, roles, token):
        status = q.get("status", "enabled")
        items = self.ds.catalog["klasses"]
        if status in ("enabled", "disabled"):
            items = [k for k in items if k["attributes"]["status"] == status]
        return self.list_page(
            q, "/v1/klasses", items, self.cat_doc, DEFAULT_LIST_MAX, keep=("status",)
        )

    def _klass(self, name):
        for k in self.ds.catalog["klasses"]:
            if k["attributes"]["name"] == name:
                return k
        raise HTTPError(not_found(f"klass {name} not found"))

    def h_kobjects(self, name):
        def handler(q, body, roles, token):
            self._klass(name)
            items = self.idx.lists.get("klass:" + name, [])
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
            return self.list_page(
                q, f"/v1/klasses/{name}", items, self.doc, DEFAULT_LIST_MAX, keep=("fromDate",)
            )

        return handler

    def h_kobject(self, name, rid):
        def handler(q, body, roles, token):
            self._klass(name)
            rec = self.ds.by_id["kobjects"].get(rid)
            if rec is None or rec.klass != name or rec.deleted:
                raise HTTPError(not_found(f"kobject {rid} not found"))
            return self.single(self.doc(rec))

        return handler

    def h_slas(self, sid):
        def handler(q, body, roles, token):
            versions = q.get("versions")
            slas = self.ds.catalog["slas"]
            vers = self.ds.catalog["sla_versions"]
            if sid is not None:
                sla = next((s for s in slas if s["id"] == sid), None)
                if sla is None:
                    raise HTTPError(not_found(f"sla {sid} not found"))
                mine = [v for v in vers if v["relationships"]["sla"]["data"]["id"] == sid]
                if versions == "all":
                    inc = mine
                else:
                    cur = sla["attributes"]["currentVersion"]
                    inc = [v for v in mine if v["attributes"]["version"] == cur]
                return self.single(self.cat_doc(sla), [self.cat_doc(v) for v in inc])
            resp = self.list_page(
                q, "/v1/slas", slas, self.cat_doc, DEFAULT_LIST_MAX, keep=("versions",)
            )
            if versions == "all":
                page_ids = {s["id"] for s in slas}
                inc = [
                    self.cat_doc(v)
                    for v in vers
                    if v["relationships"]["sla"]["data"]["id"] in page_ids
                ]
                resp.body = resp.body[:-1] + b',"included":[' + b",".join(inc) + b"]}"
            return resp

        return handler

    def h_metadata(self, resource):
        def handler(q, body, roles, token):
            doc = self.ds.metadata_doc(resource)
            if doc is None:
                raise HTTPError(not_found(f"metadata for {resource} not found"))
            return self.single(dumps(doc))

        return handler

    def h_audit(self, q, body, roles, token):
        count = min(self.int_param(q, "count", 100), 1000)
        logs = self.ds.audit_logs  # newest first
        flt = {}
        for key in ("start", "end", "objectType", "objectId", "userId"):
            v = q.get(f"filter[{key}]")
            if v:
                flt[key] = v
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
        total = len(logs)
        keys = [(d["_created"], d["id"]) for d in logs]
        before, after = q.get("before"), q.get("after")
        by_id = {d["id"]: d for d in self.ds.audit_logs}
        if before:
            if before not in by_id:
                raise HTTPError(
                    bad_request(
                        "unknown cursor in before", "invalid_parameter", {"parameter": "before"}
                    )
                )
            k = (by_id[before]["_created"], before)
            pos = next((i for i, x in enumerate(keys) if x < k), total)
            pool = logs[pos:]
            page = pool[:count]
        elif after:
            if after not in by_id:
                raise HTTPError(
                    bad_request(
                        "unknown cursor in after", "invalid_parameter", {"parameter": "after"}
                    )
                )
            k = (by_id[after]["_created"], after)
            pos = next((i for i, x in enumerate(keys) if x <= k), total)
            pool = logs[:pos]
            page = pool[max(0, len(pool) - count) :]
        else:
            pool = logs
            page = logs[:count]
        params = {"count": count}
        for key, v in flt.items():
            params[f"filter[{key}]"] = v
        base = "/v1/audit-logs?" + urlencode(params)
        first_i = logs.index(page[0]) if page else 0
        last_i = logs.index(page[-1]) if page else 0
        links = {
            "self": base + (f"&before={before}" if before else f"&after={after}" if after else ""),
            "first": base,
            "prev": f"{base}&after={page[0]['id']}" if page and first_i > 0 else None,
            "next": f"{base}&before={page[-1]['id']}" if page and last_i < total - 1 else None,
        }
        meta = {"count": len(page), "total": total, "cursorCount": len(pool)}
        data = [{k: v for k, v in d.items() if k != "_created"} for d in page]
        body = (
            b'{"data":'
            + dumps(data)
            + b',"links":'
            + dumps(links)
            + b',"meta":'
            + dumps(meta)
            + b"}"
        )
        return Response(200, body, records=len(page))

    def h_search(self, archive: bool):
        base = "/v1/customers/archive/search" if archive else "/v1/customers/search"

        def handler(q, raw, roles, token):
            page = self.int_param(q, "page", 1)
            size = min(self.int_param(q, "pageSize", 100), self.opts.search_max_page_size)
            ids_only = q.get("idsOnly") == "true"
            try:
                body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return simple_error(400, "bad_request", f"Invalid JSON in request body: {exc}")
            try:
                query = self.engine.parse(body, archive)
            except SearchError as exc:
                src = {"pointer": exc.pointer} if exc.pointer else None
                return bad_request(exc.detail, exc.code, src)
            ctx = query.ctx
            role_key = "kobject" if ctx.startswith("kobject") else CTX_ROLE.get(ctx, "search")
            need = ROLES[role_key]
            if not roles.intersection(need):
                return simple_error(
                    403,
                    "forbidden",
                    f"Forbidden: searching queryContext {ctx} requires one of {', '.join(need)}",
                )
            self.stats.search(("archive:" if archive else "") + ctx)
            window = self.opts.result_window
            if window and page * size > window:
                return jsonapi_error(
                    400,
                    "query_window_exceeded",
                    "Bad Request",
                    f"Result window is too large, page * pageSize must be less than or equal "
                    f"to: [{window}] but was [{page * size}]. Narrow the query (for example "
                    f"with a {query.prefix}_updated_at range) instead of paging deeper.",
                    {"parameter": "page"},
                )
            entry = self.engine.matches(query)
            total = len(entry.keys)
            cap = self.opts.track_total_hits
            if cap and total > cap:
                total = cap  # Elasticsearch counts exactly only up to track_total_hits
            replica = self.pick_replica()
            recs = self.engine.page(entry, query.desc, (page - 1) * size, page * size, replica)
            recs, timed_out = self.drop_timed_out(recs)
            if ids_only:
                parts = [dumps({"type": self.ds.type_of(r), "id": r.id}) for r in recs]
            elif archive:
                parts = [self.ds.archive_bytes(r) for r in recs]
            else:
                parts = [self.ds.doc_bytes(r) for r in recs]
            total_pages = math.ceil(total / size)
            extra = "&idsOnly=true" if ids_only else ""

            def link(p):
                return f"{base}?page={p}&pageSize={size}{extra}"

            links = {
                "self": link(page),
                "first": link(1),
                "prev": link(page - 1) if page > 1 else None,
                # like Kustomer: next is emitted even when it lies beyond the window
                "next": link(page + 1) if page < total_pages else None,
                "last": link(max(1, total_pages)),
            }
            meta = {
                "pageSize": size,
                "page": page,
                "total": total,
                "totalPages": total_pages,
                "aggregations": {},
                "timed_out": timed_out,
            }
            body_ = (
                b'{"data":['
                + b",".join(parts)
                + b'],"meta":'
                + dumps(meta)
                + b',"links":'
                + dumps(links)
                + b"}"
            )
            return Response(200, body_, records=len(parts))

        return handler

    # ------------------------------------------------------------------ /v1 entry point
    def handle_v1(self, method: str, path: str, query: str, headers, raw: bytes):
        """-> (Response | None, fault kind | None)."""
        parts = [p for p in path.split("/")[2:] if p]
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        endpoint, role_key, handler = self.route(method, parts)
        self.stats.request(endpoint)
        is_search = role_key == "search"
        token = None
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        roles = self.tokens.get(token) if token else None
        if roles is None:
            resp = jsonapi_error(
                401,
                "unauthorized",
                "Unauthorized",
                "Missing or invalid API key"
                if token
                else "Missing Authorization: Bearer <API key> header",
            )
            resp.headers.update(self.limiter.peek(None, False))
            return resp, None
        fault, forced = self.faults.pick(path)
        if fault == "429":  # forced "429 burst": no budget spent
            self.stats.fault("429")
            rl = self.limiter.peek(token, is_search)
            rl["x-ratelimit-remaining"] = "0"
            return self._too_many(rl, int(rl["x-ratelimit-reset"]) - time.time()), None
        ok, rl, wait = self.limiter.spend(token, is_search)
        if not ok:
            if fault and forced:
                self.faults.unpick(fault)  # keep the forced fault for the next request
            return self._too_many(rl, wait), None
        if fault:
            self.stats.fault(fault)
            if fault in ("500", "502", "503", "504"):
                resp = self._fault_response(int(fault))
                resp.headers.update(rl)
                return resp, None
            if fault == "drop":
                return None, "drop"
            if fault == "slow":
                time.sleep(self.faults.slow_seconds)
        lat = self.faults.latency_ms
        if lat > 0:
            time.sleep(lat / 1000.0)
        try:
            if handler is None:
                resp = not_found(f"No route for {method} {path}")
            elif role_key and not roles.intersection(ROLES[role_key]):
                need = ROLES[role_key]
                resp = simple_error(
                    403,
                    "forbidden",
                    f"Forbidden: {method} {path} requires one of {', '.join(need)}",
                )
            else:
                resp = handler(q, raw, roles, token)
        except HTTPError as exc:
            resp = exc.response
        resp.headers.update(rl)
        if fault and fault.startswith("truncate"):
            mode = fault.partition(":")[2] or self.faults.truncate_mode()
            return resp, "truncate:" + mode
        return resp, None

    def _too_many(self, rl: dict, wait: float) -> Response:
        resp = jsonapi_error(
            429,
            "too_many_requests",
            "Too Many Requests",
            "API rate limit exceeded; retry after x-ratelimit-reset",
        )
        resp.headers.update(rl)
        if self.faults.retry_after:
            resp.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return resp

    @staticmethod
    def _fault_response(status: int) -> Response:
        if status == 500:
            return jsonapi_error(
                500,
                "internal_server_error",
                "Internal Server Error",
                "An unexpected error occurred (sandbox fault)",
            )
        if status == 503:
            return simple_error(
                503, "service_unavailable", "Service temporarily unavailable (sandbox fault)"
            )
        text = STATUS_TEXT[status]
        html = (
            f"<html><head><title>{status} {text}</title></head><body><center><h1>"
            f"{status} {text}</h1></center></body></html>\n"
        ).encode()
        return Response(status, html, ctype="text/html")

    # ------------------------------------------------------------------ control endpoints
    def handle_control(self, method: str, path: str, query: str, headers, raw: bytes):
        auth = headers.get("Authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if token not in self.tokens:
            return jsonapi_error(401, "unauthorized", "Unauthorized", "Missing or invalid token")
        q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        name = path[len("/__sandbox/") :].strip("/")
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return simple_error(400, "bad_request", f"Invalid JSON: {exc}")
        if not isinstance(body, dict):
            return simple_error(400, "bad_request", "body must be a JSON object")
        try:
            if name == "truth" and method == "GET":
                try:
                    return Response(200, dumps(self.truth(q.get("stream") or None)))
                except KeyError as exc:
                    return not_found(f"unknown stream {exc.args[0]!r}")
            if name == "update" and method == "POST":
                return Response(
                    200,
                    dumps(
                        self.update(
                            body.get("stream", ""),
                            body.get("count"),
                            body.get("ids"),
                            bool(body.get("delete", False)),
                        )
                    ),
                )
            if name == "stats" and method == "GET":
                return Response(200, dumps(self.stats_dict()))
            if name == "faults" and method == "GET":
                return Response(200, dumps(self.faults.state()))
            if name == "faults" and method == "POST":
                return Response(200, dumps(self.faults.configure(**body)))
            if name == "limits" and method == "GET":
                return Response(200, dumps(self.limiter.state()))
            if name == "limits" and method == "POST":
                if body.pop("reset", False):
                    self.limiter.reset()
                self.limiter.configure(
                    body.pop("org_limit", None),
                    body.pop("search_limit", None),
                    body.pop("window_seconds", None),
                )
                if body:
                    raise ValueError(f"unknown limit setting(s): {sorted(body)}")
                return Response(200, dumps(self.limiter.state()))
            if name == "reset" and method == "POST":
                self.reset(**body)
                return Response(200, b'{"ok":true}')
            if name == "config" and method == "GET":
                return Response(200, dumps(self.config_dict()))
        except (TypeError, ValueError) as exc:
            return simple_error(400, "bad_request", str(exc))
        return not_found(f"No control endpoint {method} {path}")

    def reset(self, stats: bool = True, limits: bool = True, faults: bool = False):
        if stats:
            self.stats.reset()
        if limits:
            self.limiter.reset()
        if faults:
            self.faults.configure(fault_rate=0.0, clear=True)

    def stats_dict(self) -> dict:
        out = self.stats.snapshot()
        out["limits"] = self.limiter.state()
        out["fault_settings"] = self.faults.state()
        return out

    def config_dict(self) -> dict:
        opts = asdict(self.opts)
        opts["now"] = fmt_ms(self.now_ms)
        volumes = {s: len(r) for s, r in self.ds.streams.items()}
        return {
            "options": opts,
            "volumes": volumes,
            "tie_blocks": self.ds.tie_blocks,
            "klasses": [k["attributes"]["name"] for k in self.ds.catalog["klasses"]],
        }


# --------------------------------------------------------------------------- HTTP plumbing
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kustomer-sandbox/1.0"
    disable_nagle_algorithm = True
    max_body = 10 * 1024 * 1024

    def log_message(self, format, *args):
        if self.server.app.opts.log:
            sys.stderr.write(f"sandbox: {self.address_string()} - {format % args}\n")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        n = int(length)
        if n > self.max_body:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def _dispatch(self, method: str):
        app: App = self.server.app
        t0 = time.perf_counter()
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._write(
                Response(
                    413,
                    b'{"errors":[{"code":"payload_too_large",'
                    b'"message":"request body too large","meta":{}}]}',
                )
            )
            return
        split = urlsplit(self.path)
        path = split.path
        fault = None
        try:
            if path == "/v1" or path.startswith("/v1/"):
                resp, fault = app.handle_v1(method, path, split.query, self.headers, raw)
            elif path.startswith("/__sandbox/"):
                resp = app.handle_control(method, path, split.query, self.headers, raw)
            else:
                resp = not_found(f"No route for {method} {path}")
        except Exception as exc:  # pragma: no cover - keeps the connection usable
            app.stats.fault("internal_error")
            resp = jsonapi_error(
                500,
                "internal_server_error",
                "Internal Server Error",
                f"sandbox bug: {type(exc).__name__}: {exc}",
            )
            if app.opts.log:
                import traceback

                traceback.print_exc()
        if fault == "drop":
            app.stats.response(0)
            self._drop()
            return
        if resp is not None:
            app.stats.response(resp.status, resp.records)
            if fault and fault.startswith("truncate"):
                self._truncated(resp, fault.partition(":")[2])
            else:
                self._write(resp)
        if app.opts.log:
            sys.stderr.write(
                f"sandbox: {method} {self.path} -> "
                f"{resp.status if resp else fault} "
                f"{(time.perf_counter() - t0) * 1000:.1f}ms\n"
            )

    def _head(self, resp: Response, length: int) -> bytes:
        lines = [
            f"HTTP/1.1 {resp.status} {STATUS_TEXT.get(resp.status, 'Status')}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {resp.ctype}",
            f"Content-Length: {length}",
        ]
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write(self, resp: Response):
        try:
            self.wfile.write(self._head(resp, len(resp.body)) + resp.body)
        except OSError:
            self.close_connection = True

    def _drop(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _truncated(self, resp: Response, mode: str):
        body = resp.body
        cut = body[: max(1, len(body) // 2)]
        self.close_connection = True
        try:
            if mode == "json":  # honest Content-Length, but the JSON stops half-way
                self.wfile.write(self._head(resp, len(cut)) + cut)
            else:  # announces the full length and hangs up half-way
                self.wfile.write(self._head(resp, len(body)) + cut)
                self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, app: App):
        self.app = app
        self.active: set = set()
        self.active_lock = threading.Lock()
        super().__init__(addr, Handler)

    def process_request(self, request, client_address):
        with self.active_lock:
            self.active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.active_lock:
            self.active.discard(request)
        super().shutdown_request(request)

    def close_connections(self):
        """Hang up on every open keep-alive connection (used by ``stop()``)."""
        with self.active_lock:
            socks = list(self.active)
            self.active.clear()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        if self.app.opts.log:
            super().handle_error(request, client_address)


__all__ = ["App", "Options", "Server", "wall_ms"]
