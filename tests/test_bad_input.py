"""Bad input, table-driven: every case ends in one clear line (or a WARNING and a graceful skip).

Never a traceback, never anything but Singer messages on stdout, and never a corrupt or
regressed bookmark. Config, catalog and state problems exit 2 before any request. Server
misbehaviour is played by a scripted HTTP server on loopback (real HTTP, the tap's whole
client stack), since the sandbox never answers that badly; it exits 1 or skips.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tap_kustomer.cli import main
from tests.fakes import resource
from tests.samples import selected_catalog

_dumps = json.dumps  # the scripted server's `json=` argument shadows the module
API = "https://api.kustomerapp.com"
SEARCH = f"{API}/v1/customers/search"
RECENT = (datetime.now(UTC) - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
GOOD = {"api_token": "tok-abc", "start_date": RECENT}  # within search's two years: no archive
FUTURE = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
MISSING = object()  # "no such file"
# Records are updated after GOOD's start_date (the pager refuses records outside the range it
# asked for), at whole minutes after this.
T0 = (datetime.now(UTC) - timedelta(days=100)).replace(second=0, microsecond=0)


def ts(minutes: float) -> str:
    """A canonical timestamp `minutes` after T0."""
    value = T0 + timedelta(minutes=minutes)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass
class Case:
    name: str
    code: int
    message: str  # expected in the CRITICAL line (or in a WARNING when code is 0)
    config: Any = field(default_factory=lambda: dict(GOOD))
    catalog: Any = None
    state: Any = None
    server: Callable[[ScriptedServer], None] | None = None
    absent: str = ""  # never in stderr (e.g. record data an error body echoes)
    bom: bool = False  # the config file starts with a UTF-8 byte-order mark


def page(records: list, next_link: str | None = None) -> dict:
    return {"data": records, "links": {"next": next_link}, "meta": {}}


def customers(n: int = 3, start: int = 0) -> list[dict]:
    return [resource("customer", i, ts(i)) for i in range(start, start + n)]


class ScriptedServer:
    """Answers each (method, path) with its scripted responses in turn, repeating the last.

    Its `get`/`post` take the arguments `responses` does, so the cases read the same.
    """

    def __init__(self) -> None:
        self.scripts: dict[tuple[str, str], list[tuple[int, str, bytes, dict]]] = {}
        self.calls: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                server.calls.append((self.command, path))
                script = server.scripts.get((self.command, path))
                script = script or [(404, "text/plain", b"", {})]
                status, content_type, body, headers = (
                    script.pop(0) if len(script) > 1 else script[0]
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, method: str, url: str, json: Any = None, body: str | None = None,
            status: int = 200, content_type: str = "application/json",
            headers: dict[str, str] | None = None) -> None:  # fmt: skip
        payload = (body if body is not None else _dumps(json)).encode()
        path = url.replace(API, "").split("?", 1)[0]
        script = (status, content_type, payload, headers or {})
        self.scripts.setdefault((method, path), []).append(script)

    def get(self, url: str, **kwargs: Any) -> None:
        self.add("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> None:
        self.add("POST", url, **kwargs)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    thread = threading.Thread(
        target=scripted.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield scripted
    scripted.httpd.shutdown()
    scripted.httpd.server_close()


def search_then(rsps: ScriptedServer, *bodies: Any, status: int = 200,
                headers: dict[str, str] | None = None) -> None:  # fmt: skip
    for body in bodies:
        if isinstance(body, str):
            rsps.post(SEARCH, body=body, status=status, content_type="text/html", headers=headers)
        else:
            rsps.post(SEARCH, json=body, status=status, headers=headers)


def tags_linking_to(next_link: Any) -> Callable[[ScriptedServer], None]:
    return lambda r: r.get(f"{API}/v1/tags", json=page([resource("tag", 1, ts(1))], next_link))


CUSTOMERS_ONLY = selected_catalog("customers")
CATALOG_WITH_CUSTOMERS_AND_TAGS = selected_catalog("customers", "tags")

CASES = [
    # -- config ------------------------------------------------------------------------------
    Case("config file missing", 2, "does not exist", config=MISSING),
    Case("config not JSON", 2, "not valid JSON", config="{nope"),
    Case("config not an object", 2, "must be a JSON object", config=[1, 2]),
    Case("config missing token", 2, "missing 'api_token'", config={"start_date": "2024-01-01"}),
    Case("config empty token", 2, "non-empty string", config={"api_token": "  "}),
    Case("config token not text", 2, "non-empty string", config={"api_token": 12}),
    Case("config bad start_date", 2, "not an RFC 3339", config={**GOOD, "start_date": "yesterday"}),
    Case("config start_date type", 2, "must be a string", config={**GOOD, "start_date": 20240101}),
    Case("config start_date future", 2, "in the future", config={**GOOD, "start_date": FUTURE}),
    Case(
        "config unknown region", 2, "'region' 'mars' is unknown", config={**GOOD, "region": "mars"}
    ),
    Case(
        "config http elsewhere", 2, "not loopback", config={**GOOD, "base_url": "http://10.1.2.3"}
    ),
    Case("config not a url", 2, "must be an https:// URL", config={**GOOD, "base_url": "ftp://x"}),
    Case("config two hosts", 2, "set only one", config={**GOOD, "region": "eu", "subdomain": "a"}),
    Case(
        "config bad subdomain", 2, "not a valid Kustomer org", config={**GOOD, "subdomain": "a b"}
    ),
    Case("config page size zero", 2, "'page_size' 0", config={**GOOD, "page_size": 0}),
    Case("config page size text", 2, "'page_size'", config={**GOOD, "page_size": "many"}),
    Case("config page size float", 2, "'page_size'", config={**GOOD, "page_size": 2.5}),
    Case("config negative timeout", 2, "'request_timeout'", config={**GOOD, "request_timeout": -1}),
    Case("config max_workers zero", 2, "'max_workers' 0", config={**GOOD, "max_workers": 0}),
    Case("config max_workers huge", 2, "from 1 to 32", config={**GOOD, "max_workers": 500}),
    Case("config utilization 0", 2, "'api_utilization' 0", config={**GOOD, "api_utilization": 0}),
    Case("config utilization 150", 2, "at most 100", config={**GOOD, "api_utilization": 150}),
    Case(
        "config user_agent type",
        2,
        "'user_agent' must be a string",
        config={**GOOD, "user_agent": 5},
    ),
    Case(
        "config include_deleted",
        2,
        "'include_deleted' must be true or false",
        config={**GOOD, "include_deleted": "maybe"},
    ),
    Case(
        "config record_format",
        2,
        "'record_format' 'raw' is unknown",
        config={**GOOD, "record_format": "raw"},
    ),
    Case(
        "config token with €",
        2,
        "not ASCII (such as '€')",
        config={**GOOD, "api_token": "t€k"},
        absent="t€k",
    ),
    Case(
        "config token with a line break",
        2,
        "a line break",
        absent="tok\nX",
        config={**GOOD, "api_token": "tok\nX-Evil: 1"},
    ),
    Case(
        "config api_key with a space",
        2,
        "config 'api_key' holds a space",
        config={"api_key": "tok abc", "start_date": RECENT},
    ),
    Case(
        "config timeout Infinity",
        2,
        "'request_timeout' inf must be a number above 0 and at most 3600",
        config='{"api_token": "t", "request_timeout": Infinity}',
    ),
    Case("config timeout 1e308", 2, "at most 3600", config={**GOOD, "request_timeout": 1e308}),
    Case(
        "config timeout NaN",
        2,
        "'request_timeout'",
        config='{"api_token": "t", "request_timeout": NaN}',
    ),
    Case(
        "config progress 1e308",
        2,
        "'progress_interval'",
        config={**GOOD, "progress_interval": 1e308},
    ),
    Case(
        "config lookback 1e308", 2, "'lookback_seconds'", config={**GOOD, "lookback_seconds": 1e308}
    ),
    Case(
        "config max_response_mb 0", 2, "'max_response_mb' 0", config={**GOOD, "max_response_mb": 0}
    ),
    Case(
        "config max_response_mb text",
        2,
        "'max_response_mb'",
        config={**GOOD, "max_response_mb": "lots"},
    ),
    Case(
        "config user_agent line break",
        2,
        "'user_agent' must be printable ASCII",
        config={**GOOD, "user_agent": "me\r\nX-Evil: 1"},
    ),
    Case(
        "config base_url bad IPv6", 2, "is malformed", config={**GOOD, "base_url": "https://[::1"}
    ),
    Case(
        "config base_url bad port",
        2,
        "is malformed",
        config={**GOOD, "base_url": "https://api.kustomerapp.com:99999"},
    ),
    Case(
        "config base_url with a user",
        2,
        "user name",
        config={**GOOD, "base_url": "https://me@api.kustomerapp.com"},
    ),
    Case(
        "config with a byte-order mark",
        0,
        "",
        bom=True,
        catalog=selected_catalog("customers"),
        server=lambda r: search_then(r, page(customers())),
    ),
    # -- catalog -----------------------------------------------------------------------------
    Case("catalog not JSON", 2, "catalog file", catalog="{"),
    Case("catalog not an object", 2, "'streams' list", catalog=[1]),
    Case("catalog streams not a list", 2, "'streams' list", catalog={"streams": {}}),
    Case(
        "catalog unknown stream",
        2,
        "does not have",
        catalog={
            "streams": [
                {
                    "tap_stream_id": "invoices",
                    "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                }
            ]
        },
    ),
    Case(
        "catalog stream without metadata",
        0,
        "has no metadata",
        catalog={"streams": [{"tap_stream_id": "customers", "schema": {}}]},
    ),
    Case(
        "catalog selects a field that does not exist",
        0,
        "which its schema does not have",
        catalog={
            "streams": [
                {
                    **CUSTOMERS_ONLY["streams"][0],
                    "metadata": [
                        *CUSTOMERS_ONLY["streams"][0]["metadata"],
                        {"breadcrumb": ["properties", "shoe_size"], "metadata": {"selected": True}},
                    ],
                }
            ]
        },
        server=lambda r: search_then(r, page(customers())),
    ),
    # -- state -------------------------------------------------------------------------------
    Case("state not JSON", 2, "state file", state="["),
    Case("state not an object", 2, "state must be a JSON object", state=[1]),
    Case("state bookmarks a list", 2, "'bookmarks' must be an object", state={"bookmarks": []}),
    Case(
        "state bookmark not a date",
        2,
        "not a date-time",
        state={"bookmarks": {"customers": {"updated_at": "soon"}}},
    ),
    Case(
        "state bookmark a number",
        2,
        "must be an object or a date-time",
        state={"bookmarks": {"customers": 5}},
    ),
    Case(
        "state currently_syncing not text",
        2,
        "'currently_syncing'",
        state={"bookmarks": {}, "currently_syncing": 3},
    ),
    Case(
        "state unknown stream is kept",
        0,
        "",
        catalog=CUSTOMERS_ONLY,
        state={"bookmarks": {"invoices": {"updated_at": ts(0)}}},
        server=lambda r: search_then(r, page(customers())),
    ),
    Case(
        "state in tap-kustomer 1.x shape",
        0,
        "",
        catalog=CUSTOMERS_ONLY,
        state={
            "bookmarks": {"customers": ts(1)[:19] + ".000000Z"},
            "currently_syncing": None,
        },
        server=lambda r: search_then(r, page(customers(2, 1))),
    ),
    # -- server ------------------------------------------------------------------------------
    Case(
        "server HTML error page",
        1,
        "failed 6 times",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, "<html><h1>502 Bad Gateway</h1></html>", status=502),
    ),
    Case(
        "server 200 with a non-JSON body",
        1,
        "not valid JSON",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, "<html>maintenance</html>"),
    ),
    Case(
        "server JSON without data",
        1,
        "no 'data' list",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, {"meta": {"page": 1}}),
    ),
    Case(
        "server links.next to the same page forever",
        1,
        "already read",
        catalog=selected_catalog("tags"),
        server=lambda r: r.get(
            f"{API}/v1/tags", json=page([resource("tag", 1, ts(1))], "/v1/tags?page=1")
        ),
    ),
    Case(
        "server records without ids",
        0,
        "skipped 2 records without an id",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(
            r, page([*customers(), {"type": "customer", "attributes": {}}, {"id": None}])
        ),
    ),
    Case(
        "server updatedAt of the wrong type",
        1,
        "has no valid updatedAt",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(
            r, page([{"type": "customer", "id": "a", "attributes": {"updatedAt": 1700000000}}])
        ),
    ),
    Case(
        "server attributes of unexpected types pass through",
        0,
        "",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(
            r,
            page(
                [
                    {
                        **resource("customer", 1, ts(1)),
                        "attributes": {"updatedAt": ts(1), "custom": "oops", "tags": "t1"},
                        "relationships": {"org": {"data": None}, "x": "junk"},
                    }
                ]
            ),
        ),
    ),
    Case(
        "server 401 mid-run",
        1,
        "rejected the API key",
        config={**GOOD, "page_size": 3},  # a full first page: the pager asks for more
        catalog=CUSTOMERS_ONLY,
        state={"bookmarks": {"customers": {"updated_at": ts(0)}}},
        server=lambda r: (
            search_then(r, page(customers(3), "/v1/customers/search?page=2")),
            search_then(r, {"errors": [{"status": "401", "title": "Unauthorized"}]}, status=401),
        ),
    ),
    Case(
        "server 403 on one stream",
        0,
        "org.permission.customer.read",
        catalog=CATALOG_WITH_CUSTOMERS_AND_TAGS,
        server=lambda r: (
            search_then(r, {"errors": [{"code": "forbidden", "message": "no"}]}, status=403),
            r.get(f"{API}/v1/tags", json=page([resource("tag", 1, ts(1))])),
        ),
    ),
    Case(
        "server links.next a number",
        1,
        "link that is not a string (int)",
        catalog=selected_catalog("tags"),
        server=tags_linking_to(12),
    ),
    Case(
        "server links.next bad IPv6",
        1,
        "malformed link",
        catalog=selected_catalog("tags"),
        server=tags_linking_to("http://[::1/v1/tags?page=2"),
    ),
    Case(
        "server links.next another scheme",
        1,
        "another host, port or scheme (https://127",
        catalog=selected_catalog("tags"),
        server=lambda r: tags_linking_to(r.url.replace("http:", "https:") + "/v1/tags?p=2")(r),
    ),
    Case(
        "server 302 without Location",
        1,
        "HTTP 302 without a Location",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, page(customers()), status=302),
    ),
    Case(
        "server redirect to another host",
        1,
        "redirects to another host, port or scheme (https://evil.example:443)",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(
            r, page(customers()), status=307, headers={"Location": "https://evil.example/v1/x"}
        ),
    ),
    Case(
        "server refusing every search past max_rate_limit_wait",
        1,
        "on the search budget: the tap waited 0 s without one getting through, and the next "
        "wait (60 s) would pass max_rate_limit_wait (30 s)",
        config={**GOOD, "max_rate_limit_wait": 30},
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, {}, status=429, headers={"Retry-After": "60"}),
    ),
    Case(
        "server 429 with a reset of 1e12",
        0,
        "ignoring Kustomer's x-ratelimit-reset header",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: (
            search_then(r, {}, status=429, headers={"x-ratelimit-reset": "1e12"}),
            search_then(r, page(customers())),
        ),
    ),
    Case(
        "server limit inf and reset nan",
        0,
        "ignoring Kustomer's x-ratelimit-limit header",
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(
            r,
            page(customers()),
            headers={
                "x-ratelimit-limit": "inf",
                "x-ratelimit-remaining": "nan",
                "x-ratelimit-reset": "nan",
            },
        ),
    ),
    Case(
        "server answer above max_response_mb",
        1,
        "larger than max_response_mb (0.01 MB",
        config={**GOOD, "max_response_mb": 0.01},
        catalog=CUSTOMERS_ONLY,
        server=lambda r: search_then(r, page(customers(100))),
    ),
    Case(
        "server 400 echoing record data",
        1,
        "malformed (400): bad_request, Bad Request",
        catalog=CUSTOMERS_ONLY,
        absent="jane@example.com",
        server=lambda r: search_then(
            r,
            {
                "errors": [
                    {
                        "code": "bad_request",
                        "title": "Bad Request",
                        "detail": 'customer "jane@example.com" {"phone": "555"} is invalid',
                    }
                ]
            },
            status=400,
        ),
    ),
]


def write(tmp_path, name: str, content: Any, bom: bool = False) -> list[str]:
    if content is None:
        return []
    path = tmp_path / f"{name}.json"
    if content is not MISSING:
        text = content if isinstance(content, str) else json.dumps(content)
        path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return [f"--{name}", str(path)]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, server, monkeypatch):
    monkeypatch.setattr("tap_kustomer.interrupt.sleep", lambda seconds: None)  # no real waits
    config = case.config
    if case.server:
        case.server(server)
        config = {**config, "base_url": server.url}
    argv = [
        *write(tmp_path, "config", config, case.bom),
        *write(tmp_path, "catalog", case.catalog),
        *write(tmp_path, "state", case.state),
    ]
    code = main(argv)
    out, err = capsys.readouterr()

    assert code == case.code, err
    assert "Traceback" not in err and "unexpected" not in err
    assert not case.absent or case.absent not in err
    critical = [line for line in err.splitlines() if line.startswith("CRITICAL")]
    if case.code:
        assert len(critical) == 1 and case.message in critical[0], err
    else:
        assert not critical, err
        warnings = [line for line in err.splitlines() if line.startswith("WARNING")]
        assert not case.message or any(case.message in line for line in warnings), err
    messages = [json.loads(line) for line in out.splitlines()]  # only Singer messages
    assert {m["type"] for m in messages} <= {"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION"}
    if case.code == 2:
        assert out == "" and server.calls == []  # nothing was asked of Kustomer
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    for value in states:  # valid, and never behind the state we were given
        assert isinstance(value["bookmarks"], dict)
        for stream, given in ((case.state or {}).get("bookmarks") or {}).items():
            given = given if isinstance(given, str) else given["updated_at"]
            assert value["bookmarks"][stream]["updated_at"] >= given[:23]
