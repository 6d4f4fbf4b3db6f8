"""``kustomer-sandbox``: run the local Kustomer API emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .control import FAULT_KINDS

EPILOG = """\
endpoints (all /v1 calls need "Authorization: Bearer <token>"):
  GET  /v1/auth/tokens/current, /v1/users/current
  GET  /v1/{users,teams,tags,shortcuts,customers,conversations,messages,notes,companies}
       [/{id}] - page/pageSize (max 500 users/teams, 100 otherwise), id order
  GET  /v1/customers/{id}/{conversations,messages,notes,klasses/{name}}
  GET  /v1/conversations/{id}/{messages,notes,events,attachments,times}
  GET  /v1/{brands,schedules,workflows,satisfaction,routing/queues,klasses,slas}
  GET  /v1/{routing/statuses,routing/settings,sub-statuses,snoozes}
  GET  /v1/klasses/{name}[/{id}], /v1/slas[/{id}]?versions=all, /v1/metadata/{resource}
  GET  /v1/audit-logs?count=&before=&after=&filter[start]=&filter[end]=
  POST /v1/customers/search?page=&pageSize=, /v1/customers/archive/search

control endpoints (same bearer token, never rate limited or faulted):
  GET  /__sandbox/truth[?stream=customers]   ground truth: id, updatedAt, deleted, archived
  POST /__sandbox/update  {"stream": "customers", "count": 25[, "ids": [...], "delete": true]}
                          {"stream": "tags", "ids": [...], "remove": true}  (hard delete)
  GET  /__sandbox/stats                       request counts, statuses, 429s, faults
  GET|POST /__sandbox/faults  {"fault_rate", "weights", "slow_seconds", "latency_ms",
                               "paths", "retry_after", "force": [...], "burst_429": n, "clear"}
  GET|POST /__sandbox/limits  {"org_limit", "search_limit", "window_seconds", "reset"}
  POST /__sandbox/reset   {"stats": true, "limits": true, "faults": false}
  GET  /__sandbox/config  options, volumes and tie blocks

On start one JSON line is printed to stdout: {"base_url": "http://127.0.0.1:PORT", "token": ...}
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kustomer-sandbox",
        description="Local, deterministic emulator of the Kustomer v1 REST API (loopback only).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    net = p.add_argument_group("network and auth")
    net.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: %(default)s; keep it on loopback)",
    )
    net.add_argument(
        "--port", type=int, default=8765, help="TCP port, 0 picks a free one (default: %(default)s)"
    )
    net.add_argument(
        "--token",
        default="sandbox-token",
        help="bearer token holding every role (default: %(default)s)",
    )
    net.add_argument(
        "--restricted-token",
        default="sandbox-restricted",
        help="bearer token lacking conversation/message/note read roles, so also "
        "conversation_time search; it keeps the routing roles (default: %(default)s)",
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--seed",
        type=int,
        default=1,
        help="RNG seed; same seed+scale+now = byte-identical data (default: %(default)s)",
    )
    data.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiplies the big streams (customers 12000, conversations 6000, "
        "messages 15000, notes 2000, companies 500, kobjects 2500) "
        "(default: %(default)s)",
    )
    data.add_argument(
        "--now",
        default=None,
        help="reference time all generated timestamps are offsets from: ISO 8601 "
        "or epoch seconds (default: the wall clock at start-up)",
    )
    data.add_argument(
        "--tie-block",
        type=int,
        default=1200,
        help="customers sharing one exact updatedAt in the biggest tie block, "
        "capped at 40%% of eligible customers (default: %(default)s)",
    )
    data.add_argument(
        "--compat-1x",
        action="store_true",
        help="serve records singer-io tap-kustomer 1.1.0 can read to the end: no "
        "relationship with data null, no null custom value, shortcuts' payload text as "
        "Draft.js content and without conversation tags (ids, timestamps and ties unchanged)",
    )
    data.add_argument(
        "--horizon-days",
        type=int,
        default=730,
        help="standard search only sees updatedAt newer than now minus this; "
        "older records are archive-search only (default: %(default)s)",
    )
    data.add_argument(
        "--lists-default-deleted",
        choices=("exclude", "include"),
        default="exclude",
        help="GET /v1/users and /v1/tags without a deleted parameter (undocumented): "
        "leave deactivated users and deleted tags out, or include them; deleted=true "
        "returns only those, deleted=false only live ones (default: %(default)s)",
    )
    data.add_argument(
        "--prewarm",
        choices=("background", "sync", "off"),
        default="background",
        help="serialise every record once so first pages are fast (about 5 s "
        "of CPU at scale 1): in a background thread after start-up, "
        "synchronously before the start-up line is printed, or never "
        "(default: %(default)s)",
    )
    srch = p.add_argument_group("search and paging")
    srch.add_argument(
        "--result-window",
        type=int,
        default=10_000,
        help="search requests with page*pageSize above this get a 400 "
        "query_window_exceeded; 0 disables (default: %(default)s)",
    )
    srch.add_argument(
        "--search-max-page-size",
        type=int,
        default=500,
        help="search pageSize is silently clamped to this (default: %(default)s)",
    )
    srch.add_argument(
        "--list-window",
        type=int,
        default=0,
        help="optional cap on page*pageSize for GET lists; 0 = none (default: %(default)s)",
    )
    real = p.add_argument_group(
        "search realism (Elasticsearch behaviours real Kustomer search may show; all off by "
        "default, combinable, random draws seeded from --seed)"
    )
    real.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="serve each search request from a random one of N index copies; each copy orders "
        "records sharing the sort value its own way, so pages of one query are not slices of "
        "one ordering when N > 1 (default: %(default)s = one stable order)",
    )
    real.add_argument(
        "--track-total-hits",
        type=int,
        default=0,
        metavar="N",
        help="when more than N records match, meta.total says N and totalPages, links.next and "
        "links.last are computed from N; deeper pages are still served up to the result "
        "window (default: %(default)s = exact totals)",
    )
    real.add_argument(
        "--timed-out-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of search answers that say meta.timed_out true and leave out 10-50%% "
        "(at least one) of their page's records (default: %(default)s)",
    )
    real.add_argument(
        "--index-lag-seconds",
        type=float,
        default=0.0,
        metavar="S",
        help="each update (POST /__sandbox/update) becomes searchable after its own random "
        "delay in [0, S] s; until then search serves, filters and sorts the previous version "
        "(GET and /__sandbox/truth show the new one at once) (default: %(default)s)",
    )
    rl = p.add_argument_group("rate limits")
    rl.add_argument(
        "--org-limit",
        type=int,
        default=1000,
        help="org-wide requests per window over all tokens (default: %(default)s)",
    )
    rl.add_argument(
        "--search-limit",
        type=int,
        default=100,
        help="search requests per window per token (default: %(default)s)",
    )
    rl.add_argument(
        "--window-seconds",
        type=float,
        default=60.0,
        help="length of the fixed rate-limit window (default: %(default)s)",
    )
    rl.add_argument(
        "--retry-after",
        action="store_true",
        help="also send Retry-After on 429 responses (Kustomer does not document it)",
    )
    fl = p.add_argument_group("faults")
    fl.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay added to every /v1 response (default: %(default)s)",
    )
    fl.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of /v1 requests that fail, drawn from a seeded RNG (default: %(default)s)",
    )
    fl.add_argument(
        "--fault-weights",
        default=None,
        metavar="KIND:W,...",
        help=f"relative weights of the fault kinds {', '.join(FAULT_KINDS)} "
        "(default: all equal). drop = close the socket without a response; "
        "slow = sleep --slow-seconds first; truncate = half a body, either "
        "with a too-large Content-Length or as cut JSON",
    )
    fl.add_argument(
        "--fault-paths",
        default=None,
        metavar="PREFIX,...",
        help="only inject faults on /v1 paths starting with one of these prefixes "
        "(default: every /v1 path)",
    )
    fl.add_argument(
        "--slow-seconds",
        type=float,
        default=5.0,
        help="sleep of the 'slow' fault (default: %(default)s)",
    )
    p.add_argument("--log", action="store_true", help="log every request to stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from . import Sandbox

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sb = Sandbox(**vars(args))
        base_url = sb.start()
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"kustomer-sandbox: {exc}\n")
        return 2
    sys.stdout.write(json.dumps({"base_url": base_url, "token": sb.token}) + "\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
