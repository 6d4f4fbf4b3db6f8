"""The run's request budget, shared by every stream and thread.

Kustomer meters two budgets (see README, "Rate limits"):

- search: 100 requests per minute per API key. It belongs to this key, so the tap uses all of it.
- org: 300 to 2,000 requests per minute (by plan) shared by every key and every agent of the
  org. The tap takes `api_utilization` percent of it, so the app and other integrations keep
  the rest.

Each budget is a `Bucket`: how many requests the tap may start before its window resets. The
buckets start from Kustomer's documented figures and learn the real ones from every response's
`x-ratelimit-limit`, `-remaining` and `-reset` headers; a 429 pauses the bucket until the
reset it names. A request waits here before it is sent, never after a refusal it could have
foreseen.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from tap_kustomer import interrupt

LOGGER = logging.getLogger(__name__)

SEARCH_LIMIT = 100  # searches per window per API key (Kustomer's documented figure)
ORG_LIMIT = 300  # the smallest plan's org budget, until a response names the real one
WINDOW = 60.0  # seconds


@dataclass
class Bucket:
    """One budget: `limit` requests per window, of which the tap takes `share`."""

    name: str
    limit: int
    share: float = 1.0
    window: float = WINDOW
    used: int = 0  # requests this tap started in the current window
    in_flight: int = 0  # requests started and not answered yet
    left: int | None = None  # what the server last said is left for everyone, less ours since
    resets_at: float | None = None  # epoch seconds; None: no window open yet
    paused_until: float = 0.0  # after a 429
    learned: bool = False  # an answer has named the real limit

    @property
    def allowance(self) -> int:
        """Requests the tap may start per window."""
        return max(1, math.floor(self.limit * self.share))

    def roll(self, now: float) -> None:
        """Open a new window when the current one has reset."""
        if self.resets_at is None or now >= self.resets_at:
            # Requests still in flight may reach the server after its reset: count them in the
            # new window, so the tap never sends the window's last request one too many.
            self.used, self.left = self.in_flight, None
            self.resets_at = now + self.window

    def wait(self, now: float) -> float:
        """Seconds until this bucket lets one more request start (0: now)."""
        if now < self.paused_until:
            return self.paused_until - now
        self.roll(now)
        if self.used < self.allowance and (self.left is None or self.left > 0):
            return 0.0
        return max(self.resets_at - now, 0.0) if self.resets_at is not None else 0.0

    def take(self) -> None:
        self.used += 1
        self.in_flight += 1
        if self.left is not None:
            self.left -= 1

    def learn(self, limit: int | None, remaining: int | None, reset: float | None, now: float):
        """What a response's headers say about this budget."""
        if reset is not None:
            if reset <= now:  # an answer from a window that has already ended: nothing to learn
                return
            if self.resets_at is not None and reset > self.resets_at + 1:
                self.used, self.left = self.in_flight, None  # the server is in a later window
            self.resets_at = reset
        if limit is not None and limit > 0:
            self.limit, self.learned = limit, True
        if remaining is None:
            return
        if limit is not None and self.share >= 1:  # all ours: count what the server counted
            self.used = max(self.used, limit - remaining)
        else:  # shared: never more than the server says is left for everyone
            self.left = remaining if self.left is None else min(self.left, remaining)


class RequestBudget:
    """Both budgets, thread-safe. `acquire` before each request, `observe` after it."""

    def __init__(
        self,
        utilization: float = 50.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep or interrupt.sleep  # a signal ends the wait (interrupt.py)
        self._lock = threading.Lock()
        self.search = Bucket("search", SEARCH_LIMIT)
        self.org = Bucket("org", ORG_LIMIT, share=utilization / 100)
        self.waits = 0  # times a request had to wait for the budget

    def _buckets(self, search: bool) -> tuple[Bucket, ...]:
        if not search:
            return (self.org,)
        # Until an answer names the org's limit, searches alone cannot overspend its assumed
        # share (the key's 100 a minute is below the smallest plan's 150), so they do not wait
        # on a guess: a search-only start would otherwise stall on a 60-s window of its own.
        if not self.org.learned and self.search.allowance <= self.org.allowance:
            return (self.search,)
        return (self.org, self.search)

    def acquire(self, search: bool) -> tuple[Bucket, ...]:
        """Block until one more request may start, then count it; the buckets it counts in
        (give them back to `done`)."""
        logged = False
        while True:
            with self._lock:
                now = self._clock()
                buckets = self._buckets(search)
                delay = max(b.wait(now) for b in buckets)
                if delay <= 0:
                    for bucket in buckets:
                        bucket.take()
                    return buckets
                if not logged:
                    self.waits += 1
            if not logged:
                LOGGER.info("Kustomer request budget spent; waiting %.1f s for it to reset", delay)
                logged = True
            self._sleep(delay)

    def done(self, buckets: tuple[Bucket, ...]) -> None:
        """After a request's answer (or failure): it is no longer in flight."""
        with self._lock:
            for bucket in buckets:
                bucket.in_flight = max(0, bucket.in_flight - 1)

    def observe(self, headers: Any, search: bool) -> None:
        """Learn from a response's x-ratelimit-* headers."""
        limit = _to_int(headers.get("x-ratelimit-limit"))
        remaining = _to_int(headers.get("x-ratelimit-remaining"))
        if limit is None and remaining is None:
            return
        with self._lock:
            now = self._clock()
            bucket = self._bucket_for(limit, search)
            bucket.learn(limit, remaining, reset_time(headers, now), now)

    def refused(self, headers: Any, search: bool, fallback: float) -> float:
        """A 429: pause the budget it names until its reset; the seconds to wait."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket_for(_to_int(headers.get("x-ratelimit-limit")), search)
            bucket.learned = True  # a refusal is the real budget speaking, whatever its limit
            times = [t for t in (reset_time(headers, now), retry_after(headers, now)) if t]
            until = max(times) if times else now + fallback
            until = max(until, now)
            bucket.paused_until = max(bucket.paused_until, until)
            bucket.used, bucket.left = bucket.allowance, 0  # spent until it resets
            bucket.resets_at = bucket.paused_until
            return until - now

    def _bucket_for(self, limit: int | None, search: bool) -> Bucket:
        """The budget a response's headers describe: a search answer naming a limit no larger
        than the search budget describes that; anything else, the org's."""
        if search and (limit is None or limit <= SEARCH_LIMIT):
            return self.search
        return self.org


def _to_int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def reset_time(headers: Any, now: float) -> float | None:
    """x-ratelimit-reset is UTC epoch seconds; small values are read as seconds from now."""
    try:
        value = float(headers.get("x-ratelimit-reset"))
    except (TypeError, ValueError):
        return None
    if value < 0:
        return None
    return value if value > 1_000_000_000 else now + value


def retry_after(headers: Any, now: float) -> float | None:
    """Retry-After, in seconds or as an HTTP date."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return now + max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
