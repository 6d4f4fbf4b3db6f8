"""HTTP to Kustomer: one session, auth, timeouts, retries, rate-limit waits and error mapping.

Nothing here knows about streams: callers get parsed JSON objects or a typed exception.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import backoff
import orjson
import requests
import requests.adapters

from tap_kustomer import interrupt
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


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying; the defaults ride out a few minutes of trouble. A 429 is always
    waited out (Kustomer's budgets reset every minute), never turned into a failure."""

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
        self._host = urlsplit(settings.base_url).netloc
        self.timeout = settings.request_timeout
        self.policy = policy or RetryPolicy()
        # Every wait ends at once on SIGINT/SIGTERM (interrupt.py); looked up now, so tests can
        # patch tap_kustomer.interrupt.sleep.
        self._sleep = sleep or interrupt.sleep
        self.budget = RequestBudget(
            settings.api_utilization, clock=clock or time.time, sleep=self._sleep
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
                "User-Agent": settings.user_agent,
            }
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        """GET a path (or a relative link from a response) and return the JSON object."""
        return self.request("GET", path, params=params)

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
                try:
                    content = self._attempt(method, url, params, data, headers, search)
                finally:
                    self.budget.done(taken)
                if not parse:
                    return content
                payload = self.parse(content)
                if check is not None:
                    check(payload)
                return payload
            except RateLimitedError as exc:
                delay = self.budget.refused(exc.headers or {}, search, next(delays))
                delay = min(delay, self.policy.max_wait)
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
        try:
            response = self.session.request(
                method, url, params=params, data=data, headers=headers, timeout=self.timeout
            )
            content = response.content  # read the whole body inside the try: it may be cut
        except requests.Timeout:
            self._timer(url, started, None)
            raise RetryableError(f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            self._timer(url, started, None)
            raise RetryableError(f"connection problem ({exc.__class__.__name__})") from None
        status = response.status_code
        self._timer(url, started, status)
        if status == 429:
            error = RateLimitedError("rate limited", 429)
            error.headers = response.headers
            raise error
        self.budget.observe(response.headers, search)
        if status in RETRY_STATUSES:
            raise RetryableError(f"HTTP {status}", status)
        if status >= 400:
            exc_type, template = ERRORS.get(status, (KustomerAPIError, "HTTP {status}"))
            detail = _error_detail(content)
            message = template.format(base_url=self.base_url, status=status)
            raise exc_type(f"{message}: {detail}" if detail else message, status, detail)
        return content

    @staticmethod
    def parse(content: bytes) -> JSON:
        """A successful answer's JSON object; a body cut short or garbled is worth a retry."""
        try:
            payload = orjson.loads(content)
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

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # An absolute link must stay on our host: the token must not go anywhere else.
            if urlsplit(path).netloc != self._host:
                raise PagingError(f"Kustomer returned a link to another host: {_shown(path)}")
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def close(self) -> None:
        """Stop the worker threads and release the connection pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self.session.close()


def _backoff_delays(max_value: float) -> Iterator[float]:
    delays = backoff.expo(base=2, factor=1, max_value=max_value)
    next(delays)  # backoff's generators are primed with a None first value
    return delays


def _error_detail(content: bytes) -> str:
    """The message of a Kustomer error body (either documented errors[] shape), if any."""
    try:
        body = json.loads(content)
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        parts = [str(first[k]) for k in ("detail", "message", "title", "code") if first.get(k)]
        return (parts[0] if parts else "")[:300]
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return body[key][:300]
    return ""


def _shown(url: str) -> str:
    """A URL for logs: the path only (the query may carry filters, never secrets)."""
    parts = urlsplit(url)
    return parts.path or url
