"""Hostile or broken servers on loopback (issue 16): the token never leaves TLS or its host,
redirects are not followed off the configured origin, and every answer is bounded in time and
size. Each test has a server of its own; the https ones use a throwaway CA (openssl CLI) that
the tap trusts through REQUESTS_CA_BUNDLE, as the attack did. TLS verification stays on.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tap_kustomer.client import KustomerClient, RetryPolicy
from tap_kustomer.config import load_settings
from tap_kustomer.errors import KustomerAPIError, PagingError, RetryableError
from tests.conftest import TOKEN
from tests.fakes import resource
from tests.samples import selected_catalog

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
RSS_LIMIT_MB = 300
RECENT = (datetime.now(UTC) - timedelta(days=100)).replace(microsecond=0)


# -- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a certificate for localhost and 127.0.0.1 that it signed."""
    where = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=where, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=tap-kustomer test CA")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (where / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sign = ["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "ext.cnf"]
    openssl("x509", "-req", "-in", "server.csr", *sign, "-out", "server.pem", "-days", "2")
    return {"ca": where / "ca.pem", "cert": where / "server.pem", "key": where / "server.key"}


Route = Callable[[BaseHTTPRequestHandler], None]


class Server(ThreadingHTTPServer):
    """A loopback server answering each path with its route, and noting every request:
    (scheme it arrived over, method, path, whether it carried an Authorization header).

    With a TLS context it speaks https and plain http on the same port (it looks at the
    first byte), so a link that keeps the host and port but drops to http:// is caught
    arriving in clear text."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, str, bool]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
                path = self.path.split("?", 1)[0]
                server.seen.append((scheme, self.command, path, "Authorization" in self.headers))
                route = server.routes.get(path)
                if route is None:
                    json_answer(self, {"errors": [{"title": "Not Found"}]}, 404)
                else:
                    route(self)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.context is not None:
            sock.settimeout(5)
            if sock.recv(1, socket.MSG_PEEK) == b"\x16":  # a TLS handshake begins
                sock = self.context.wrap_socket(sock, server_side=True)
            sock.settimeout(None)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the tap hanging up on an endless answer is the point, not a failure

    def url(self, scheme: str = "", host: str = "localhost") -> str:
        scheme = scheme or ("https" if self.context else "http")
        return f"{scheme}://{host}:{self.port}"

    def clear_text_token(self) -> bool:
        return any(scheme == "http" and auth for scheme, _, _, auth in self.seen)


def json_answer(handler: BaseHTTPRequestHandler, body: Any, status: int = 200,
                headers: dict[str, str] | None = None) -> None:  # fmt: skip
    payload = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


@contextlib.contextmanager
def serving(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def https(tls, monkeypatch) -> Iterator[Server]:
    """An https server (and plain http on its port) that the tap trusts via the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["cert"], tls["key"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls["ca"]))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with serving(context) as server:
        yield server


@pytest.fixture
def plain() -> Iterator[Server]:
    """Another server, plain http on another port: the place a hostile link points to."""
    with serving() as server:
        yield server


def client_for(base_url: str, **config: Any) -> KustomerClient:
    settings = load_settings({"api_token": TOKEN, "base_url": base_url, **config})
    return KustomerClient(settings, sleep=lambda s: None, policy=RetryPolicy(max_tries=1))


def tags_page(next_link: str | None) -> Route:
    return lambda h: json_answer(
        h, {"data": [resource("tag", 1, "2025-01-01T00:00:00.000Z")], "links": {"next": next_link}}
    )


def redirect(status: int, location: str | None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        if location is not None:
            handler.send_header("Location", location)
        body = json.dumps({"data": [resource("tag", 9, "2025-01-01T00:00:00.000Z")]}).encode()
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


# -- the token stays on TLS and on its host -------------------------------------------------


def test_the_https_server_is_trusted_and_the_token_sent_over_tls(https):
    https.routes["/v1/tags"] = tags_page(None)
    client = client_for(https.url())
    assert client.get("/v1/tags")["data"][0]["type"] == "tag"
    assert https.seen == [("https", "GET", "/v1/tags", True)]
    assert client.session.verify is True  # the test CA comes from REQUESTS_CA_BUNDLE


def test_a_link_to_plain_http_on_the_same_host_and_port_is_refused(https):
    """The attack: base https://host, links.next http://host/… (same netloc). Before, the
    token went out in clear text."""
    link = https.url("http") + "/v1/tags?page=2"
    https.routes["/v1/tags"] = tags_page(link)
    client = client_for(https.url())
    first = client.get("/v1/tags")
    with pytest.raises(PagingError, match=r"another host, port or scheme \(http://localhost"):
        client.get(first["links"]["next"])
    assert not https.clear_text_token()
    assert [s[:3] for s in https.seen] == [("https", "GET", "/v1/tags")]


@pytest.mark.parametrize(
    "where",
    [
        "plain http on another port",
        "https on another port",
        "another name for the host",
    ],
)
def test_a_link_to_another_origin_is_refused_before_any_request(https, plain, where):
    link = {
        "plain http on another port": plain.url("http"),
        "https on another port": plain.url("https"),
        "another name for the host": https.url(host="127.0.0.1"),
    }[where] + "/v1/tags?page=2"
    https.routes["/v1/tags"] = tags_page(link)
    client = client_for(https.url())
    with pytest.raises(PagingError, match="another host, port or scheme"):
        client.get(client.get("/v1/tags")["links"]["next"])
    assert plain.seen == [] and len(https.seen) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["plain http, same port", "plain http, another port"])
def test_a_redirect_off_the_origin_is_not_followed(https, plain, status, where):
    """Before, requests followed it (without the token) and its records were accepted."""
    target = https.url("http") if where == "plain http, same port" else plain.url()
    https.routes["/v1/tags"] = redirect(status, target + "/v1/tags")
    plain.routes["/v1/tags"] = tags_page(None)
    client = client_for(https.url())
    with pytest.raises(KustomerAPIError, match=rf"HTTP {status} redirects to another host") as e:
        client.get("/v1/tags")
    assert f":{https.port if 'same' in where else plain.port}" in str(e.value)
    assert plain.seen == [] and [s[0] for s in https.seen] == ["https"]


def test_a_redirect_within_the_origin_is_followed(https):
    https.routes["/v1/tags"] = redirect(307, "/v1/tags2")
    https.routes["/v1/tags2"] = tags_page(None)
    assert client_for(https.url()).get("/v1/tags")["data"]
    assert [s[2] for s in https.seen] == ["/v1/tags", "/v1/tags2"]
    assert all(s[0] == "https" and s[3] for s in https.seen)


def test_a_redirect_without_location_is_an_error_not_an_answer(https):
    """Before, a 302 without Location counted as success, and its body as the page."""
    https.routes["/v1/tags"] = redirect(302, None)
    with pytest.raises(KustomerAPIError, match="HTTP 302 without a Location header"):
        client_for(https.url()).get("/v1/tags")


def test_an_explicit_default_port_is_the_same_origin(rsps):
    """Before, https://api.kustomerapp.com:443/… was refused as another host."""
    client = client_for("https://api.kustomerapp.com")
    rsps.get("https://api.kustomerapp.com:443/v1/tags", json={"data": []})
    assert client.get("https://api.kustomerapp.com:443/v1/tags?page=2") == {"data": []}
    explicit = client_for("https://api.kustomerapp.com:443")
    rsps.get("https://api.kustomerapp.com/v1/tags", json={"data": []})
    assert explicit.get("https://api.kustomerapp.com/v1/tags?page=2") == {"data": []}
    with pytest.raises(PagingError, match="another host"):
        client.get("https://api.kustomerapp.com:8443/v1/tags")
    with pytest.raises(PagingError, match="another host"):
        client.get("http://api.kustomerapp.com:443/v1/tags")


@pytest.mark.parametrize(
    ("link", "message"),
    [
        (12, "not a string (int)"),
        (["/v1/tags"], "not a string (list)"),
        ({"href": "/v1/tags"}, "not a string (dict)"),
        ("http://[::1", "malformed link"),
        ("https://api.kustomerapp.com:99999/v1/tags", "malformed link"),
        ("https://api.kustomerapp.com:port/v1/tags", "malformed link"),
        ("/v1/tags\r\nX-Injected: 1", "malformed link"),
        ("https://user:pw@api.kustomerapp.com/v1/tags", "another host"),
        ("//evil.example/v1/tags", "another host"),
        ("HTTP://api.kustomerapp.com/v1/tags", "another host"),
    ],
)
def test_odd_links_are_refused_with_a_clear_error(rsps, link, message):
    """Before: AttributeError or ValueError, "unexpected … please report it"."""
    with pytest.raises(PagingError, match=re.escape(message)):
        client_for("https://api.kustomerapp.com").get(link)
    assert len(rsps.calls) == 0


# -- bounded time ---------------------------------------------------------------------------


def trickle(chunked: bool) -> Route:
    """A body of 200 bytes, one byte every 0.1 s (each read waits far less than the timeout)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", "200")
        handler.end_headers()
        server = handler.server
        with contextlib.suppress(OSError):
            for _ in range(200):
                if server.stop.wait(0.1):  # type: ignore[attr-defined]
                    return
                handler.wfile.write(b"1\r\n \r\n" if chunked else b" ")
                handler.wfile.flush()

    return route


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_trickling_body_fails_within_request_timeout(plain, chunked):
    """Before, request_timeout bounded each socket read, so one byte every 0.1 s never timed
    out: this answer took 20 s (one byte every 2 s would take hours)."""
    plain.routes["/v1/tags"] = trickle(chunked)
    client = client_for(plain.url(), request_timeout=1)
    outcome: list[BaseException | None] = []

    def request() -> None:
        try:
            client.get("/v1/tags")
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    thread.join(5)  # a bound, not a measurement: the trickle alone lasts 20 s
    assert not thread.is_alive(), "the request was still reading after 5 s"
    assert isinstance(outcome[0], RetryableError), outcome
    assert "within 1 s" in str(outcome[0])  # the deadline, not a read timeout, ended it


# -- bounded size ---------------------------------------------------------------------------


def test_an_answer_larger_than_max_response_mb_is_refused(plain):
    records = [resource("customer", i, "2025-01-01T00:00:00.000Z") for i in range(6000)]
    plain.routes["/v1/tags"] = lambda h: json_answer(h, {"data": records})
    client = client_for(plain.url(), max_response_mb=1)
    with pytest.raises(KustomerAPIError, match=r"larger than max_response_mb \(1 MB"):
        client.get("/v1/tags")
    assert client_for(plain.url(), max_response_mb=64).get("/v1/tags")["data"]


def test_a_gzip_answer_is_bounded_after_decompression(plain):
    body = gzip.compress(b" " * (3 * MB))  # 3 KB on the wire
    plain.routes["/v1/tags"] = lambda h: raw_answer(h, body, {"Content-Encoding": "gzip"})
    with pytest.raises(KustomerAPIError, match="after decompression"):
        client_for(plain.url(), max_response_mb=2).get("/v1/tags")


def test_a_small_gzip_answer_is_read(plain):
    body = gzip.compress(json.dumps({"data": [1, 2]}).encode())
    plain.routes["/v1/tags"] = lambda h: raw_answer(h, body, {"Content-Encoding": "gzip"})
    assert client_for(plain.url()).get("/v1/tags") == {"data": [1, 2]}


def test_the_tap_asks_only_for_encodings_it_bounds(plain):
    plain.routes["/v1/tags"] = lambda h: json_answer(h, {"data": [h.headers["Accept-Encoding"]]})
    assert client_for(plain.url()).get("/v1/tags") == {"data": ["gzip, deflate"]}


def raw_answer(handler: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def gzip_bomb() -> bytes:
    """2.5 MB of gzip that inflates to 2.5 GB: 25 members of 100 MB of spaces each."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * MB
    member = b"".join(squeeze.compress(block) for _ in range(100)) + squeeze.flush()
    return member * 25


def endless_chunks(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b" " * (256 * 1024)
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with contextlib.suppress(OSError):
        handler.wfile.write(b'9\r\n{"data":[\r\n')
        while not handler.server.stop.is_set():  # type: ignore[attr-defined]
            handler.wfile.write(frame)


def a_million_records(handler: BaseHTTPRequestHandler) -> None:
    """One page of 1,000,000 real-looking customers (100 were asked for), streamed."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    stamp = (RECENT + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def frame(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    with contextlib.suppress(OSError):
        handler.wfile.write(frame(b'{"data":['))
        batch = 1000
        for start in range(0, 1_000_000, batch):
            if handler.server.stop.is_set():  # type: ignore[attr-defined]
                return
            records = ",".join(
                json.dumps(resource("customer", i, stamp, name=f"Customer {i}", email=f"c{i}@x"))
                for i in range(start, start + batch)
            )
            handler.wfile.write(frame((b"," if start else b"") + records.encode()))
        handler.wfile.write(frame(b'],"links":{"next":null},"meta":{"total":1000000}}'))
        handler.wfile.write(b"0\r\n\r\n")


RSS_WRAPPER = """
import atexit, sys
def peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write("MAXRSS_KB %s\\n" % kb)
atexit.register(peak)
from tap_kustomer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_tap_measuring_rss(tmp_path: Path, base_url: str) -> tuple[int, str, float]:
    """Sync customers from `base_url` in a child process: its exit code, stderr and peak RSS
    in MB. A child passing RSS_LIMIT_MB is killed (before, these attacks took 2.5 to 3 GB)."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "api_token": TOKEN, "base_url": base_url, "page_size": 100,
        "start_date": RECENT.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }))  # fmt: skip
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(selected_catalog("customers")))
    child = subprocess.Popen(
        [sys.executable, "-c", RSS_WRAPPER, "--config", str(config), "--catalog", str(catalog)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TAP_KUSTOMER_LOG_LEVEL": "INFO"},
    )
    peak, deadline = 0.0, time.monotonic() + 60
    while child.poll() is None:
        with contextlib.suppress(OSError, ValueError, IndexError):  # gone, or a zombie
            status = Path(f"/proc/{child.pid}/status").read_text()
            rss = int(status.split("VmRSS:", 1)[1].split()[0]) / 1024
            peak = max(peak, rss)
            if rss > RSS_LIMIT_MB or time.monotonic() > deadline:
                child.kill()
        time.sleep(0.02)
    err = child.stderr.read() if child.stderr else ""
    for line in err.splitlines():
        if line.startswith("MAXRSS_KB "):
            peak = max(peak, int(line.split()[1]) / 1024)
    return child.returncode, err, peak


@pytest.mark.parametrize("attack", ["gzip bomb", "endless chunked body", "1e6-record page"])
def test_memory_stays_bounded_under_hostile_answers(tmp_path, plain, attack):
    if attack == "gzip bomb":
        bomb = gzip_bomb()
        assert 2 * MB < len(bomb) < 3 * MB
        route: Route = lambda h: raw_answer(h, bomb, {"Content-Encoding": "gzip"})  # noqa: E731
    else:
        route = endless_chunks if attack == "endless chunked body" else a_million_records
    plain.routes["/v1/customers/search"] = route
    code, err, peak = run_tap_measuring_rss(tmp_path, plain.url())
    sys.stderr.write(f"{attack}: peak RSS {peak:.0f} MB\n")  # shown with pytest -s
    assert peak < RSS_LIMIT_MB, f"{attack}: peak RSS {peak:.0f} MB\n{err[-2000:]}"
    critical = [line for line in err.splitlines() if line.startswith("CRITICAL")]
    assert code == 1 and len(critical) == 1, err[-2000:]
    assert "larger than max_response_mb (64 MB" in critical[0]
    assert "Traceback" not in err
