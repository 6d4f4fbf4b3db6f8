"""HTTP to Kustomer: one session, auth, timeouts, retries, rate-limit waits and error mapping.

Nothing here knows about streams: callers get parsed JSON objects or a typed exception.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import itertools
import json
import logging
import os
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3.exceptions

from tap_kustomer import interrupt, jsonio
from tap_kustomer.budget import RequestBudget
from tap_kustomer.config import Settings
from tap_kustomer.errors import (
    AuthError,
    BadRequestError,
    ForbiddenError,
    KustomerAPIError,
    NotFoundError,
    PagingError,
    RateLimitedError,
    RetryableError,
)
from tap_kustomer.progress import log_metric

LOGGER = logging.getLogger(__name__)

JSON = dict[str, Any]
T = TypeVar("T")

# The stream a request is made for (sync sets it per stream thread; submit carries it along).
CURRENT_STREAM: contextvars.ContextVar[str] = contextvars.ContextVar("stream", default="")

# Status → (exception, message). Anything ≥ 500 (and 408) is retried; 429 waits for the budget.
ERRORS: dict[int, tuple[type[KustomerAPIError], str]] = {
    400: (BadRequestError, "Kustomer refused the request as malformed (400)"),
    401: (
        AuthError,
        "Kustomer rejected the API key (401): it is invalid, expired, or was issued for "
        "another region than {base_url} (set 'region' or 'subdomain' in the config)",
    ),
    403: (ForbiddenError, "the API key lacks a role Kustomer requires for this request (403)"),
    404: (NotFoundError, "Kustomer has no such resource (404)"),
    409: (BadRequestError, "Kustomer reported a conflict (409)"),
    422: (BadRequestError, "Kustomer could not process the request (422)"),
}
RETRY_STATUSES = frozenset({408, *range(500, 600)})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 5  # same-origin hops followed; any other redirect is refused
CHUNK = 64 * 1024  # bytes asked of the socket (and of the decoder) per read
DETAIL_CHARS = 80  # an error body's detail is cut to this length before it is logged
_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # no whitespace or control character in a URL
_LOOKS_LIKE_DATA = re.compile(r"[@{}\[\]\"]|\d{6,}")  # an email, JSON, a long number


class Origin(tuple[str, str, int | None]):
    """(scheme, host, port) of a URL; an explicit default port equals none."""

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)  # ValueError for a malformed IPv6 host ("http://[::1")
        scheme = parts.scheme.lower()
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
        host = (parts.hostname or "").lower()
        return cls((scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme)))

    def __str__(self) -> str:
        scheme, host, port = self
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying; the defaults ride out a few minutes of trouble. A 429 is waited
    out (Kustomer's budgets reset every minute) up to the setting max_rate_limit_wait."""

    max_tries: int = 6  # per request, for 5xx / network errors / bad bodies
    max_backoff: float = 60.0  # seconds, longest single backoff sleep
    max_wait: float = 300.0  # seconds, longest single wait for a budget reset


class KustomerClient:
    """A requests.Session bound to one Kustomer org and API key."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = settings.base_url
        # The token goes only here: every URL requested (config, links, redirects) must have
        # this scheme, host and port (config allows http:// only for a loopback base).
        self._origin = Origin.of(settings.base_url)
        self.timeout = settings.request_timeout
        self.max_mb = settings.max_response_mb
        self.max_bytes = int(settings.max_response_mb * 1024 * 1024)
        self.policy = policy or RetryPolicy()
        # Every wait ends at once on SIGINT/SIGTERM (interrupt.py); looked up now, so tests can
        # patch tap_kustomer.interrupt.sleep.
        self._sleep = sleep or interrupt.sleep
        self.budget = RequestBudget(
            settings.api_utilization,
            max_refused_wait=settings.max_rate_limit_wait,
            clock=clock or time.time,
            sleep=self._sleep,
        )
        self.session = requests.Session()
        # A connection per thread: max_workers stream threads and 2 x max_workers request ones.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(10, 3 * settings.max_workers))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        # Request threads: twice the streams, so one stream alone still keeps enough requests
        # in flight to use the search budget at Kustomer's latency (docs/benchmarks.md, 3b).
        self._workers = 2 * max(1, settings.max_workers)
        self._pool: ThreadPoolExecutor | None = None
        # Pages fetched ahead of the one a stream is waiting for, over all streams.
        self.read_ahead = threading.BoundedSemaphore(self._workers)
        self.session.headers.update(
            {
                "Authorization": f"Bearer {settings.api_token}",
                "Accept": "application/json",
                # Encodings whose decoders urllib3 bounds (read1's max_length).
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": settings.user_agent,
            }
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        """GET a path (or a relative link from a response) and return the JSON object."""
        answer: JSON = self.request("GET", path, params=params)
        return answer

    def post(
        self,
        path: str,
        body: JSON,
        params: dict[str, Any] | None = None,
        parse: bool = True,
        check: Callable[[JSON], None] | None = None,
    ) -> Any:
        """POST a JSON body and return the JSON object (its bytes, unparsed, if not `parse`)."""
        return self.request("POST", path, params=params, body=body, parse=parse, check=check)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
        parse: bool = True,
        check: Callable[[JSON], None] | None = None,
    ) -> Any:
        """Send one request, retrying what is transient, and return the parsed JSON object
        (or, if not `parse`, the body's bytes: a page fetched ahead waits in a fifth of the
        memory; `parse` it when it is needed). `check` may refuse a parsed answer with a
        RetryableError (a partial search answer), which is retried like a 5xx."""
        url = self._url(path)
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        delays = _backoff_delays(self.policy.max_backoff)
        search = path.endswith("/search")
        failures = 0
        while True:
            taken = self.budget.acquire(search)
            try:
                answered = False
                try:
                    content = self._attempt(method, url, params, data, headers, search)
                    answered = True
                finally:
                    self.budget.done(taken, answered)
                if not parse:
                    return content
                payload = self.parse(content)
                if check is not None:
                    check(payload)
                return payload
            except RateLimitedError as exc:
                fallback = next(delays)
                delay = self.budget.refused(
                    exc.headers or {}, search, fallback, self.policy.max_wait
                )
                self._count("rate_limit_waits")
                LOGGER.warning(
                    "%s %s: rate limited (429); waiting %.1f s", method, _shown(path), delay
                )
                self._sleep(delay)
            except RetryableError as exc:
                failures += 1
                if failures >= self.policy.max_tries:
                    raise RetryableError(
                        f"{method} {_shown(path)} failed {failures} times; last error: {exc}",
                        exc.status,
                    ) from None
                delay = next(delays)
                self._count("retries")
                LOGGER.warning(
                    "%s %s failed (%s); retry %d of %d in %.1f s",
                    method,
                    _shown(path),
                    exc,
                    failures,
                    self.policy.max_tries - 1,
                    delay,
                )
                self._sleep(delay)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run a request function on the client's request threads (2 x max_workers),
        counted for the stream that asked."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="request")
        return self._pool.submit(contextvars.copy_context().run, fn, *args)

    def counts(self, stream: str) -> Counter[str]:
        """A stream's "requests" (attempts), "retries" and "rate_limit_waits" so far."""
        with self._lock:
            return Counter(self._counts[stream])

    def count_retry(self) -> None:
        """Count a retry made by a caller (a page fetched ahead that must be asked for again)."""
        self._count("retries")

    def _count(self, counter: str) -> None:
        with self._lock:
            self._counts[CURRENT_STREAM.get()][counter] += 1

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        data: str | None,
        headers: dict[str, str] | None,
        search: bool,
    ) -> bytes:
        self._count("requests")
        LOGGER.debug("%s %s %s", method, _shown(url), params or "")
        started = time.monotonic()
        # request_timeout bounds the whole request, first byte to last: the connect and read
        # timeouts bound each wait, and this deadline the body however slowly it trickles.
        deadline = started + self.timeout
        sent = (url, params, data)  # what an error detail must not echo (only read on an error)
        hops = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,  # each hop is checked here (the token's origin)
                    stream=True,  # the body is read below, up to max_response_mb
                )
            except requests.Timeout:
                self._timer(url, started, None)
                raise RetryableError(f"no answer within {self.timeout:g} s") from None
            except requests.RequestException as exc:
                self._timer(url, started, None)
                raise RetryableError(f"connection problem ({exc.__class__.__name__})") from None
            status = response.status_code
            if not (300 <= status < 400 and status != 304):
                break
            response.close()
            self._timer(url, started, status)
            url = self._redirect(method, url, status, response.headers.get("Location"))
            hops += 1
            if hops > MAX_REDIRECTS:
                raise KustomerAPIError(f"{method} {_shown(url)}: more than {MAX_REDIRECTS} "
                                       "redirects; stopping", status)  # fmt: skip
            if status in (301, 302, 303) and method != "GET":
                method, data, headers = "GET", None, None  # as requests (and browsers) do
            params = None  # the Location holds the whole query
        try:
            if status == 429 or status in RETRY_STATUSES:
                content = b""  # the body is not needed: do not wait for it
            else:
                content = self._read_body(response, method, url, deadline)
        finally:
            response.close()
        self._timer(url, started, status)
        if status == 429:
            error = RateLimitedError("rate limited", 429)
            error.headers = response.headers
            raise error
        self.budget.observe(response.headers, search)
        if status >= 400:
            self._raise_error(method, url, status, content, sent)
        return content

    def _raise_error(
        self, method: str, url: str, status: int, content: bytes, sent: tuple[Any, ...]
    ) -> NoReturn:
        """The exception for an error answer: a 5xx is retryable; others carry Kustomer's
        detail when it cannot be record content (`sent`: the request's url, params, body)."""
        if status in RETRY_STATUSES:
            raise RetryableError(f"HTTP {status}", status)
        exc_type, template = ERRORS.get(status, (KustomerAPIError, "HTTP {status}"))
        detail, full = _error_detail(content, _request_values(*sent))
        if full:
            LOGGER.debug("%s %s: HTTP %d, Kustomer said: %s", method, _shown(url), status, full)
        message = template.format(base_url=self.base_url, status=status)
        raise exc_type(f"{message}: {detail}" if detail else message, status, detail)

    def _redirect(self, method: str, url: str, status: int, location: str | None) -> str:
        """The next hop of a redirect, if it stays on the configured origin; else an error
        naming where it pointed (the token is never sent there, not even without it)."""
        if not location:
            raise KustomerAPIError(
                f"{method} {_shown(url)}: HTTP {status} without a Location header "
                "(a redirect to nowhere, not an answer)",
                status,
            )
        try:
            target = urljoin(url, location)
            foreign = self._foreign(target)
        except ValueError:
            raise KustomerAPIError(
                f"{method} {_shown(url)}: HTTP {status} redirects to a malformed URL", status
            ) from None
        if foreign is not None:
            raise KustomerAPIError(
                f"{method} {_shown(url)}: HTTP {status} redirects to another host, port or "
                f"scheme ({foreign}); not followed: the API token goes only to {self._origin}",
                status,
            )
        return target

    def _read_body(self, response: requests.Response, method: str, url: str,
                   deadline: float) -> bytes:  # fmt: skip
        """The decoded body, read in chunks: at most max_response_mb of it (after gzip), and
        all of it before the request's deadline."""
        raw = response.raw
        body = bytearray()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RetryableError(
                        f"no complete answer within {self.timeout:g} s (request_timeout)"
                    )
                _socket_timeout(raw, min(left, self.timeout))
                chunk = raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > self.max_bytes:
                    raise KustomerAPIError(
                        f"{method} {_shown(url)}: the answer is larger than max_response_mb "
                        f"({self.max_mb:g} MB, after decompression); stopped "
                        "reading it (raise max_response_mb if such a page is genuine)"
                    )
        except urllib3.exceptions.ReadTimeoutError:
            raise RetryableError(f"no answer within {self.timeout:g} s") from None
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise RetryableError(f"connection problem ({exc.__class__.__name__})") from None
        return bytes(body)

    @staticmethod
    def parse(content: bytes) -> JSON:
        """A successful answer's JSON object; a body cut short or garbled is worth a retry."""
        try:
            payload = jsonio.loads(content)  # orjson, or a lenient reader (jsonio.py)
        except ValueError:
            raise RetryableError("HTTP 200 with a body that is not valid JSON") from None
        if not isinstance(payload, dict):
            raise RetryableError("HTTP 200 with JSON that is not an object")
        return payload

    @staticmethod
    def _timer(url: str, started: float, status: int | None) -> None:
        """Singer's http_request_timer metric for one attempt."""
        tags = {
            "endpoint": _shown(url),
            "http_status_code": status,
            "status": "succeeded" if status is not None and status < 400 else "failed",
        }
        log_metric("timer", "http_request_timer", round(time.monotonic() - started, 3), tags)

    def _url(self, path: Any) -> str:
        """The URL of a path or link. An absolute link must have the configured scheme, host
        and port (an explicit default port equals none): the token must go nowhere else."""
        if not isinstance(path, str):
            raise PagingError(
                f"Kustomer returned a link that is not a string ({type(path).__name__})"
            )
        if _CONTROL.search(path):
            raise PagingError(f"Kustomer returned a malformed link: {_shown(path)!r}")
        try:
            parts = urlsplit(path)
            absolute = bool(parts.scheme or parts.netloc)
            foreign = self._foreign(path) if absolute else None
        except ValueError:
            raise PagingError("Kustomer returned a malformed link (its host or port)") from None
        if not absolute:
            return self.base_url + (path if path.startswith("/") else "/" + path)
        if foreign is not None:
            raise PagingError(
                f"Kustomer returned a link to another host, port or scheme ({foreign}); "
                f"the API token goes only to {self._origin}"
            )
        return path

    def _foreign(self, url: str) -> Origin | None:
        """The origin of an absolute URL the token must not go to (another scheme, host or
        port, or one carrying a user name); None if it is ours. ValueError if malformed."""
        origin = Origin.of(url)
        return origin if origin != self._origin or "@" in urlsplit(url).netloc else None

    def close(self) -> None:
        """Stop the worker threads and release the connection pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.session.close()


# Test-only: the end-to-end tests shrink every retry delay by this factor, so a test of six
# failing tries does not sleep 31 s. It is not a setting; users never need it.
BACKOFF_SCALE_VARIABLE = "TAP_KUSTOMER_TEST_BACKOFF_SCALE"


def _backoff_delays(max_value: float) -> Iterator[float]:
    """Seconds before each retry: 1, 2, 4, 8 ... each at most `max_value`."""
    try:
        scale = float(os.environ.get(BACKOFF_SCALE_VARIABLE, "1"))
    except ValueError:
        scale = 1.0
    return (min(2.0**n, max_value) * scale for n in itertools.count())


def _error_detail(content: bytes, echo: frozenset[str] = frozenset()) -> tuple[str, str]:
    """What an error body (either documented errors[] shape) may show in the log, and its
    whole message for DEBUG only. Kustomer's code and title are kept; the detail is cut to
    DETAIL_CHARS, and left out if it could be record content: if it echoes a value of the
    request (`echo`), or looks like an email, JSON or a long number."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict):
        labels = [str(first[k]) for k in ("code", "title") if isinstance(first.get(k), str | int)]
        said = next((first[k] for k in ("detail", "message") if isinstance(first.get(k), str)), "")
    else:
        labels = []
        said = next((body[k] for k in ("message", "error") if isinstance(body.get(k), str)), "")
    labels = [_printable(label)[:DETAIL_CHARS] for label in labels if label]
    shown = _printable(said)[:DETAIL_CHARS]
    if shown and (_LOOKS_LIKE_DATA.search(said) or any(v in said for v in echo)):
        shown = ""  # it may be record content: DEBUG only
    kept = ", ".join(dict.fromkeys(label for label in labels if label != shown))
    if shown:
        shown += "…" if len(said) > DETAIL_CHARS else ""
        kept = f"{kept}: {shown}" if kept else shown
    return kept, _printable(said)[:300]


def _printable(text: str) -> str:
    """One line of text: control characters become spaces."""
    return _CONTROL.sub(" ", text).strip() if text else ""


def _request_values(url: str, params: dict[str, Any] | None, data: str | None) -> frozenset[str]:
    """The values a request carried (query and JSON body), 3 characters or longer: an error
    detail holding one of them echoes request data."""
    values: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= 3:
                values.add(text)

    walk(params)
    with contextlib.suppress(ValueError):
        for pair in urlsplit(url).query.split("&"):
            walk(pair.partition("=")[2])
    if data is not None:
        with contextlib.suppress(ValueError, RecursionError):
            walk(json.loads(data))
    return frozenset(values)


def _socket_timeout(raw: Any, seconds: float) -> None:
    """Bound the next socket read by what is left of the request's deadline (the socket is
    urllib3's; without one, e.g. in tests, the deadline is still checked between reads)."""
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


def _shown(url: str) -> str:
    """A URL for logs: the path only (the query may carry filters, never secrets)."""
    parts = urlsplit(url)
    return parts.path or url
