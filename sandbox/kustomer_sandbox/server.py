"""HTTP layer of the sandbox: options, the app (data, indexes, search, limits, faults, stats),
the ``/v1`` entry point (auth, budgets, faults; endpoints are in :mod:`.routes`), the
``/__sandbox/*`` control endpoints and the socket server."""

from __future__ import annotations

import contextlib
import json
import math
import random
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .control import Faults, RateLimiter, Stats
from .data import ALL_STREAMS, ROUTING_STREAMS, SEARCH_STREAMS, Dataset, Rec
from .gen.base import Doc
from .gen.routing import STATIC_LISTS
from .index import Indexes
from .responses import (
    STATUS_TEXT,
    HTTPError,
    Response,
    jsonapi_error,
    not_found,
    simple_error,
)
from .roles import ALL_ROLES, RESTRICTED_ROLES, ROLES
from .routes import Match, Request, route
from .search import SearchEngine
from .util import DAY_MS, dumps, fmt_ms, parse_now, paused_gc, wall_ms


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
    fault_weights: object = None  # see control.parse_weights
    fault_paths: str | list[str] | None = None
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
    lists_default_deleted: str = "exclude"  # users/tags lists without ?deleted=: or "include"
    log: bool = False

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# --------------------------------------------------------------------------- application
class App:
    """Everything except the socket: data, indexes, search, limits, faults, stats."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.now_ms = parse_now(opts.now)
        self.t0 = time.monotonic_ns()
        self._check_realism(opts)
        with paused_gc():
            self.ds = Dataset(
                seed=opts.seed,
                scale=opts.scale,
                now_ms=self.now_ms,
                tie_block=opts.tie_block,
                compat_1x=opts.compat_1x,
            )
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
        self.warm_stop = threading.Event()
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
        if opts.lists_default_deleted not in ("exclude", "include"):
            raise ValueError("lists_default_deleted must be exclude or include")

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

    def prewarm(self, background: bool = True) -> threading.Thread | None:
        """Serialise every record once so first pages are fast (about 5 s of CPU at scale 1)."""

        def run(pause: bool) -> None:
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
                *ROUTING_STREAMS,
            )
            for stream in order:
                for i, rec in enumerate(self.ds.streams[stream]):
                    if self.warm_stop.is_set():
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
    def truth(self, stream: str | None = None) -> dict[str, Any]:
        names = TRUTH_STREAMS if stream is None else (stream,)
        for name in names:
            if name not in TRUTH_STREAMS:
                raise KeyError(name)
        now = self.clock_ms()
        horizon = now - self.opts.horizon_days * DAY_MS
        out = {}
        with self.ds.lock:
            for name in names:
                if name == "attachments":
                    out[name] = self._attachment_truth(horizon)
                elif name in STATIC_LISTS:
                    out[name] = [_static_truth(d) for d in self.ds.catalog[name]]
                else:
                    recs = sorted(self.ds.streams[name], key=lambda x: x.id)
                    out[name] = [_rec_truth(r, horizon) for r in recs]
        return {"streams": out, "now": fmt_ms(now), "horizon": fmt_ms(horizon)}

    def _attachment_truth(self, horizon: int) -> list[dict[str, Any]]:
        """Each conversation's attachments: id from links.self; deleted/archived = the
        conversation's (GET .../attachments of a deleted conversation is a 404)."""
        rows = []
        for conv in self.ds.streams["conversations"]:
            for a in self.ds.conversation_attachments(conv):
                rows.append(
                    {
                        "id": a["links"]["self"].rsplit("/", 1)[1],
                        "createdAt": a["attributes"]["createdAt"],
                        "deleted": bool(conv.deleted),
                        "archived": conv.updated < horizon,
                        "conversationId": conv.id,
                        "messageId": a["relationships"]["message"]["data"]["id"],
                    }
                )
        return sorted(rows, key=lambda r: r["id"])

    def update(
        self,
        stream: str,
        count: int | None = None,
        ids: list[str] | None = None,
        delete: bool = False,
        remove: bool = False,
    ) -> dict[str, Any]:
        if remove:
            return self.remove(stream, ids or [])
        if stream not in self.ds.streams:
            raise ValueError(f"unknown stream {stream!r}; expected one of {list(ALL_STREAMS)}")
        if stream == "conversation_times":
            raise ValueError("conversation_times have no updatedAt and cannot be updated")
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

    def remove(self, stream: str, ids: list[str]) -> dict[str, Any]:
        """Hard delete: the records leave the lists, GET-by-id and the truth (no trace)."""
        if stream not in REMOVABLE:
            raise ValueError(f"remove works on {sorted(REMOVABLE)}, not {stream!r}")
        if not ids:
            raise ValueError("remove needs ids")
        with self.ds.lock:
            if stream in STATIC_LISTS:
                docs = self.ds.catalog[stream]
                missing = [i for i in ids if all(d["id"] != i for d in docs)]
                if missing:
                    raise ValueError(f"unknown {stream} id(s): {missing[:5]}")
                docs[:] = [d for d in docs if d["id"] not in set(ids)]
            else:
                by_id = self.ds.by_id[stream]
                missing = [i for i in ids if i not in by_id]
                if missing:
                    raise ValueError(f"unknown {stream} id(s): {missing[:5]}")
                for rid in ids:
                    rec = by_id.pop(rid)
                    self.ds.streams[stream].remove(rec)
                    self.idx.remove(rec)
            self.stats.updates += len(ids)
        return {"stream": stream, "ids": list(ids), "removed": True}

    # ------------------------------------------------------------------ helpers
    def doc(self, rec: Rec) -> bytes:
        return self.ds.doc_bytes(rec)

    def cat_doc(self, doc: Doc) -> bytes:
        key = id(doc)
        b = self.catalog_bytes.get(key)
        if b is None:
            b = dumps(doc)
            self.catalog_bytes[key] = b
        return b

    # ------------------------------------------------------------------ /v1 entry point
    def handle_v1(
        self, method: str, path: str, query: str, headers: Message, raw: bytes
    ) -> tuple[Response | None, str | None]:
        """-> (Response | None, fault kind | None)."""
        match = route(method, [p for p in path.split("/")[2:] if p])
        self.stats.request(match.endpoint)
        token = bearer_token(headers)
        roles = self.tokens.get(token) if token else None
        if not token or roles is None:
            return self._unauthorized(token), None
        is_search = match.role == "search"
        fault, forced = self.faults.pick(path)
        if fault == "429":  # forced "429 burst": no budget spent
            return self._burst_429(token, is_search), None
        ok, rl, wait = self.limiter.spend(token, is_search)
        if not ok:
            if fault and forced:
                self.faults.unpick(fault)  # keep the forced fault for the next request
            return self._too_many(rl, wait), None
        if fault:
            self.stats.fault(fault)
            if fault in ("500", "502", "503", "504", "drop"):
                return self._failed(fault, rl)
            if fault == "slow":
                time.sleep(self.faults.slow_seconds)
        if self.faults.latency_ms > 0:
            time.sleep(self.faults.latency_ms / 1000.0)
        resp = self._serve(match, method, path, Request(parse_query(query), raw, roles))
        resp.headers.update(rl)
        if fault and fault.startswith("truncate"):
            return resp, "truncate:" + (fault.partition(":")[2] or self.faults.truncate_mode())
        return resp, None

    def _serve(self, match: Match, method: str, path: str, req: Request) -> Response:
        if match.handler is None:
            return not_found(f"No route for {method} {path}")
        if match.role and not req.roles.intersection(ROLES[match.role]):
            need = ROLES[match.role]
            return simple_error(
                403, "forbidden", f"Forbidden: {method} {path} requires one of {', '.join(need)}"
            )
        try:
            return match.handler(self, req, *match.args)
        except HTTPError as exc:
            return exc.response

    def _unauthorized(self, token: str | None) -> Response:
        detail = (
            "Missing or invalid API key"
            if token
            else ("Missing Authorization: Bearer <API key> header")
        )
        resp = jsonapi_error(401, "unauthorized", "Unauthorized", detail)
        resp.headers.update(self.limiter.peek(None, False))
        return resp

    def _burst_429(self, token: str, is_search: bool) -> Response:
        self.stats.fault("429")
        rl = self.limiter.peek(token, is_search)
        rl["x-ratelimit-remaining"] = "0"
        return self._too_many(rl, int(rl["x-ratelimit-reset"]) - time.time())

    def _failed(self, fault: str, rl: dict[str, str]) -> tuple[Response | None, str | None]:
        """A 5xx answer, or no answer at all for "drop"."""
        if fault == "drop":
            return None, "drop"
        resp = self._fault_response(int(fault))
        resp.headers.update(rl)
        return resp, None

    def _too_many(self, rl: dict[str, str], wait: float) -> Response:
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
    def handle_control(
        self, method: str, path: str, query: str, headers: Message, raw: bytes
    ) -> Response:
        if bearer_token(headers) not in self.tokens:
            return jsonapi_error(401, "unauthorized", "Unauthorized", "Missing or invalid token")
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return simple_error(400, "bad_request", f"Invalid JSON: {exc}")
        if not isinstance(body, dict):
            return simple_error(400, "bad_request", "body must be a JSON object")
        handler = CONTROL_ROUTES.get((method, path[len("/__sandbox/") :].strip("/")))
        if handler is None:
            return not_found(f"No control endpoint {method} {path}")
        try:
            return handler(self, parse_query(query), body)
        except (TypeError, ValueError) as exc:
            return simple_error(400, "bad_request", str(exc))

    def _control_truth(self, q: dict[str, str], body: Doc) -> Response:
        try:
            return Response(200, dumps(self.truth(q.get("stream") or None)))
        except KeyError as exc:
            return not_found(f"unknown stream {exc.args[0]!r}")

    def _control_update(self, q: dict[str, str], body: Doc) -> Response:
        stream, count, ids = body.get("stream", ""), body.get("count"), body.get("ids")
        delete, remove = bool(body.get("delete")), bool(body.get("remove"))
        return Response(200, dumps(self.update(stream, count, ids, delete, remove)))

    def _control_stats(self, q: dict[str, str], body: Doc) -> Response:
        return Response(200, dumps(self.stats_dict()))

    def _control_faults(self, q: dict[str, str], body: Doc) -> Response:
        return Response(200, dumps(self.faults.state()))

    def _control_set_faults(self, q: dict[str, str], body: Doc) -> Response:
        return Response(200, dumps(self.faults.configure(**body)))

    def _control_limits(self, q: dict[str, str], body: Doc) -> Response:
        return Response(200, dumps(self.limiter.state()))

    def _control_set_limits(self, q: dict[str, str], body: Doc) -> Response:
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

    def _control_reset(self, q: dict[str, str], body: Doc) -> Response:
        self.reset(**body)
        return Response(200, b'{"ok":true}')

    def _control_config(self, q: dict[str, str], body: Doc) -> Response:
        return Response(200, dumps(self.config_dict()))

    def reset(self, stats: bool = True, limits: bool = True, faults: bool = False) -> None:
        if stats:
            self.stats.reset()
        if limits:
            self.limiter.reset()
        if faults:
            self.faults.configure(fault_rate=0.0, clear=True)

    def stats_dict(self) -> dict[str, Any]:
        out = self.stats.snapshot()
        out["limits"] = self.limiter.state()
        out["fault_settings"] = self.faults.state()
        return out

    def config_dict(self) -> dict[str, Any]:
        opts = asdict(self.opts)
        opts["now"] = fmt_ms(self.now_ms)
        volumes = {s: len(r) for s, r in self.ds.streams.items()}
        volumes.update({s: len(self.ds.catalog[s]) for s in STATIC_LISTS})
        return {
            "options": opts,
            "volumes": volumes,
            "tie_blocks": self.ds.tie_blocks,
            "klasses": [k["attributes"]["name"] for k in self.ds.catalog["klasses"]],
        }


# /__sandbox/truth streams: the records, the static routing lists and the attachments
TRUTH_STREAMS = (*ALL_STREAMS, *STATIC_LISTS, "attachments")
REMOVABLE = frozenset(("users", "teams", "tags", "shortcuts", *STATIC_LISTS))
# streams whose truth rows say whether standard search still sees them
HORIZON_STREAMS = frozenset((*SEARCH_STREAMS, *ROUTING_STREAMS))


def _rec_truth(r: Rec, horizon: int) -> dict[str, Any]:
    row: dict[str, Any] = {"id": r.id}
    if r.stream != "conversation_times":  # they have no updatedAt
        row["updatedAt"] = fmt_ms(r.updated)
    row["createdAt"] = fmt_ms(r.created)
    row["deleted"] = bool(r.deleted)
    row["archived"] = r.stream in HORIZON_STREAMS and r.updated < horizon
    if r.stream == "kobjects":
        row["klass"] = r.klass
    if r.stream in ("work_items", "conversation_times") and r.conversation is not None:
        row["conversationId"] = r.conversation.id
    return row


def _static_truth(d: Doc) -> dict[str, Any]:
    attrs = d["attributes"]
    return {
        "id": d["id"],
        "updatedAt": attrs["updatedAt"],
        "createdAt": attrs["createdAt"],
        "deleted": False,
        "archived": False,
    }


ControlHandler = Callable[[App, dict[str, str], Doc], Response]
# (method, name after /__sandbox/) -> handler
CONTROL_ROUTES: dict[tuple[str, str], ControlHandler] = {
    ("GET", "truth"): App._control_truth,
    ("POST", "update"): App._control_update,
    ("GET", "stats"): App._control_stats,
    ("GET", "faults"): App._control_faults,
    ("POST", "faults"): App._control_set_faults,
    ("GET", "limits"): App._control_limits,
    ("POST", "limits"): App._control_set_limits,
    ("POST", "reset"): App._control_reset,
    ("GET", "config"): App._control_config,
}


def bearer_token(headers: Message) -> str | None:
    auth = headers.get("Authorization") or ""
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


def parse_query(query: str) -> dict[str, str]:
    """The last value of each query parameter."""
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


# --------------------------------------------------------------------------- HTTP plumbing
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kustomer-sandbox/1.0"
    disable_nagle_algorithm = True
    max_body = 10 * 1024 * 1024

    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.opts.log:
            sys.stderr.write(f"sandbox: {self.address_string()} - {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        n = int(length)
        if n > self.max_body:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def _dispatch(self, method: str) -> None:
        app = self.server.app
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

    def _write(self, resp: Response) -> None:
        try:
            self.wfile.write(self._head(resp, len(resp.body)) + resp.body)
        except OSError:
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _truncated(self, resp: Response, mode: str) -> None:
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

    def __init__(self, addr: tuple[str, int], app: App):
        self.app = app
        self.active: set[socket.socket] = set()
        self.active_lock = threading.Lock()
        super().__init__(addr, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.active_lock:
            self.active.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.active_lock:
            self.active.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every open keep-alive connection (used by ``stop()``)."""
        with self.active_lock:
            socks = list(self.active)
            self.active.clear()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        if self.app.opts.log:
            super().handle_error(request, client_address)


__all__ = ["App", "Options", "Server", "wall_ms"]
