"""HTTP to Kustomer: one session, auth, timeouts, retries, rate-limit waits and error mapping.

Nothing here knows about streams: callers get parsed JSON objects or a typed exception.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import backoff
import requests

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
    """Bounds on retrying; the defaults ride out a few minutes of trouble."""

    max_tries: int = 6  # per request, for 5xx / network errors / bad bodies
    max_backoff: float = 60.0  # seconds, longest single backoff sleep
    max_rate_limit_waits: int = 30  # per request, 429 answers waited out
    max_wait: float = 300.0  # seconds, longest single wait for a budget reset


class RateBudget:
    """What Kustomer's x-ratelimit-* headers say about the request budget left."""

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self.remaining: int | None = None
        self.reset_at: float | None = None  # epoch seconds

    def observe(self, headers: Any) -> None:
        """Remember the budget reported by a response."""
        remaining = _to_float(headers.get("x-ratelimit-remaining"))
        self.remaining = None if remaining is None else int(remaining)
        self.reset_at = _reset_time(headers, self._clock())

    def wait_if_spent(self, max_wait: float) -> None:
        """Before a request: if the last response said the budget is spent, wait for the reset."""
        if self.remaining is not None and self.remaining <= 0 and self.reset_at is not None:
            delay = min(self.reset_at - self._clock(), max_wait)
            if delay > 0:
                LOGGER.info("Kustomer request budget spent; waiting %.1f s for it to reset", delay)
                self._sleep(delay)
            self.remaining = None

    def delay_after_429(self, headers: Any) -> float | None:
        """Seconds to wait after a 429, from x-ratelimit-reset or Retry-After (the later)."""
        now = self._clock()
        times = [t for t in (_reset_time(headers, now), _retry_after(headers, now)) if t]
        return max(max(times) - now, 0.0) if times else None


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
        self._sleep = sleep or time.sleep  # looked up now, so tests can patch time.sleep
        self.budget = RateBudget(clock or time.time, self._sleep)
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {settings.api_token}",
                "Accept": "application/json",
                "User-Agent": settings.user_agent,
            }
        )
        self.request_count = 0  # attempts, retries included
        self.retry_count = 0
        self.rate_limit_wait_count = 0

    def get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        """GET a path (or a relative link from a response) and return the JSON object."""
        return self.request("GET", path, params=params)

    def post(self, path: str, body: JSON, params: dict[str, Any] | None = None) -> JSON:
        """POST a JSON body and return the JSON object."""
        return self.request("POST", path, params=params, body=body)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
    ) -> JSON:
        """Send one request, retrying what is transient, and return the parsed JSON object."""
        url = self._url(path)
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        delays = _backoff_delays(self.policy.max_backoff)
        failures = rate_limit_waits = 0
        while True:
            self.budget.wait_if_spent(self.policy.max_wait)
            try:
                return self._attempt(method, url, params, data, headers)
            except RateLimitedError as exc:
                rate_limit_waits += 1
                if rate_limit_waits > self.policy.max_rate_limit_waits:
                    raise RateLimitedError(
                        f"{method} {_shown(path)}: still rate limited (429) after "
                        f"{self.policy.max_rate_limit_waits} waits; try again later",
                        429,
                    ) from None
                delay = exc.wait if exc.wait is not None else next(delays)
                delay = min(delay, self.policy.max_wait)
                self.rate_limit_wait_count += 1
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
                self.retry_count += 1
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

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        data: str | None,
        headers: dict[str, str] | None,
    ) -> JSON:
        self.request_count += 1
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
        self.budget.observe(response.headers)
        if status == 429:
            error = RateLimitedError("rate limited", 429)
            error.wait = self.budget.delay_after_429(response.headers)
            raise error
        if status in RETRY_STATUSES:
            raise RetryableError(f"HTTP {status}", status)
        if status >= 400:
            exc_type, template = ERRORS.get(status, (KustomerAPIError, "HTTP {status}"))
            detail = _error_detail(content)
            message = template.format(base_url=self.base_url, status=status)
            raise exc_type(f"{message}: {detail}" if detail else message, status, detail)
        try:
            payload = json.loads(content)
        except ValueError:
            raise RetryableError(f"HTTP {status} with a body that is not valid JSON") from None
        if not isinstance(payload, dict):
            raise RetryableError(f"HTTP {status} with JSON that is not an object")
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
        """Release the connection pool."""
        self.session.close()


def _backoff_delays(max_value: float) -> Iterator[float]:
    delays = backoff.expo(base=2, factor=1, max_value=max_value)
    next(delays)  # backoff's generators are primed with a None first value
    return delays


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _reset_time(headers: Any, now: float) -> float | None:
    """x-ratelimit-reset is UTC epoch seconds; small values are read as seconds from now."""
    value = _to_float(headers.get("x-ratelimit-reset"))
    if value is None or value < 0:
        return None
    return value if value > 1_000_000_000 else now + value


def _retry_after(headers: Any, now: float) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    seconds = _to_float(value)
    if seconds is not None:
        return now + max(seconds, 0.0)
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


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
