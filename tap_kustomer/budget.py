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
foreseen. Each bucket's window is as long as the headers show (the farthest reset they have
named), so a server with 1-s windows is used every second, not once a minute.

A header that is not a finite number, or names a reset more than MAX_AHEAD away, is garbage:
it is ignored (one WARNING per header), and the tap falls back to its own backoff.

Waiting out 429s is bounded: the seconds one bucket spends refused, since it last let a request
through, add up against `max_refused_wait` (setting max_rate_limit_wait). Past it the run stops
(RateLimitWaitExceeded), so a key that is refused for good does not hold a scheduler's lock
forever. The waits the budget plans itself, to stay within its allowance, do not count: they
always end at a reset.
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
from tap_kustomer.errors import RateLimitWaitExceeded

LOGGER = logging.getLogger(__name__)

SEARCH_LIMIT = 100  # searches per window per API key (Kustomer's documented figure)
ORG_LIMIT = 300  # the smallest plan's org budget, until a response names the real one
WINDOW = 60.0  # seconds, until the headers show the real window
MAX_AHEAD = 3600.0  # seconds; a reset or Retry-After farther away is garbage
MAX_COUNT = 1e9  # a limit or remaining count above this is garbage
EPOCH_FROM = 1_000_000_000  # a reset above this is epoch seconds, below it seconds from now


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
    span: float = 0.0  # the farthest reset (seconds ahead) an answer has named
    refused_for: float = 0.0  # seconds waited out after 429s since a request got through

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

    def follow(self, ahead: float) -> None:
        """A reset `ahead` seconds away: the window is at least that long. Windows opened from
        now on last the farthest reset seen (at least 1 s), not the documented minute."""
        if ahead > self.span:
            self.span = ahead
            self.window = min(max(1.0, ahead), MAX_AHEAD)

    def take(self) -> None:
        self.used += 1
        self.in_flight += 1
        if self.left is not None:
            self.left -= 1

    def learn(
        self, limit: int | None, remaining: int | None, reset: float | None, now: float
    ) -> None:
        """What a response's headers say about this budget."""
        if reset is not None:
            if reset <= now:  # an answer from a window that has already ended: nothing to learn
                return
            self.follow(reset - now)
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
        max_refused_wait: float = math.inf,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.max_refused_wait = max_refused_wait  # seconds; see the module's docstring
        self._clock = clock
        self._sleep = sleep or interrupt.sleep  # a signal ends the wait (interrupt.py)
        self._lock = threading.Lock()
        self.search = Bucket("search", SEARCH_LIMIT)
        self.org = Bucket("org", ORG_LIMIT, share=utilization / 100)
        self.waits = 0  # times a request had to wait for the budget
        self._garbage: set[str] = set()  # headers already warned about

    def _buckets(self, search: bool) -> tuple[Bucket, ...]:
        if not search:
            return (self.org,)
        # Until an answer names the org's limit, searches alone cannot overspend its assumed
        # share (the key's 100 a minute is below the smallest plan's 150), so they do not wait
        # on a guess: a search-only start would otherwise stall on a 60-s window of its own.
        if not self.org.learned and self.search.allowance <= self.org.allowance:
            return (self.search,)
        return (self.org, self.search)

    def try_acquire(self, search: bool) -> tuple[tuple[Bucket, ...] | None, float]:
        """Count one more request if it may start now: (its buckets, 0); else (None, the
        seconds to wait before asking again)."""
        with self._lock:
            now = self._clock()
            buckets = self._buckets(search)
            delay = max(b.wait(now) for b in buckets)
            if delay > 0:
                return None, delay
            for bucket in buckets:
                bucket.take()
            return buckets, 0.0

    def acquire(self, search: bool) -> tuple[Bucket, ...]:
        """Block until one more request may start, then count it; the buckets it counts in
        (give them back to `done`)."""
        logged = False
        while True:
            buckets, delay = self.try_acquire(search)
            if buckets is not None:
                return buckets
            if not logged:
                with self._lock:
                    self.waits += 1
                LOGGER.info("Kustomer request budget spent; waiting %.1f s for it to reset", delay)
                logged = True
            self._sleep(delay)

    def done(self, buckets: tuple[Bucket, ...], answered: bool = False) -> None:
        """After a request's answer (or failure): it is no longer in flight. An answer that
        was not a 429 (`answered`) shows its buckets let a request through."""
        with self._lock:
            for bucket in buckets:
                bucket.in_flight = max(0, bucket.in_flight - 1)
                if answered:
                    bucket.refused_for = 0.0

    def observe(self, headers: Any, search: bool) -> None:
        """Learn from a response's x-ratelimit-* headers (garbage ones are ignored)."""
        with self._lock:
            now = self._clock()
            limit = self._count(headers, "x-ratelimit-limit")
            remaining = self._count(headers, "x-ratelimit-remaining")
            reset = self._reset(headers, now)
            if limit is None and remaining is None:
                return
            bucket = self._bucket_for(limit, search)
            bucket.learn(limit, remaining, reset, now)

    def refused(
        self, headers: Any, search: bool, fallback: float, longest: float = math.inf
    ) -> float:
        """A 429: pause the budget it names until its reset; the seconds to wait (at most
        `longest`). RateLimitWaitExceeded if that wait would take the budget's refused time
        past max_refused_wait."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket_for(self._count(headers, "x-ratelimit-limit"), search)
            bucket.learned = True  # a refusal is the real budget speaking, whatever its limit
            reset = self._reset(headers, now)
            if reset is not None and reset > now:
                bucket.follow(reset - now)
            times = [t for t in (reset, self._retry_after(headers, now)) if t]
            until = max(times) if times else now + fallback
            until = max(until, now)
            bucket.paused_until = max(bucket.paused_until, until)
            bucket.used, bucket.left = bucket.allowance, 0  # spent until it resets
            bucket.resets_at = bucket.paused_until
            delay = min(until - now, longest)
            if bucket.refused_for + delay > self.max_refused_wait:
                raise RateLimitWaitExceeded(
                    f"Kustomer kept refusing requests (429) on the {bucket.name} budget: the tap "
                    f"waited {bucket.refused_for:.0f} s without one getting through, and the "
                    f"next wait ({delay:.0f} s) would pass max_rate_limit_wait "
                    f"({self.max_refused_wait:g} s). The last STATE is valid: run again later "
                    "(another integration may be using the org's budget), or raise "
                    "max_rate_limit_wait"
                )
            bucket.refused_for += delay
            return delay

    def _count(self, headers: Any, name: str) -> int | None:
        """A limit or remaining count; None if absent or garbage."""
        value = headers.get(name)
        if value is None or value == "":
            return None
        number = _finite(value)
        if number is None or not 0 <= number <= MAX_COUNT:
            self._ignore(name, value, "is not a count")
            return None
        return int(number)

    def _reset(self, headers: Any, now: float) -> float | None:
        return self._moment(headers, "x-ratelimit-reset", reset_time, now)

    def _retry_after(self, headers: Any, now: float) -> float | None:
        return self._moment(headers, "Retry-After", retry_after, now)

    def _moment(
        self, headers: Any, name: str, read: Callable[[Any, float], float | None], now: float
    ) -> float | None:
        """The time a header names (x-ratelimit-reset, Retry-After); None if absent or
        garbage (not a time, or more than MAX_AHEAD away)."""
        value = headers.get(name)
        if value is None or value == "":
            return None
        moment = read(headers, now)
        if moment is None:
            self._ignore(name, value, "is not a time (seconds, epoch seconds or a date)")
            return None
        if moment > now + MAX_AHEAD:
            self._ignore(name, value, "names a time over an hour away")
            return None
        return moment

    def _ignore(self, name: str, value: Any, why: str) -> None:
        """One WARNING per header name; the value is ignored."""
        if name not in self._garbage:
            self._garbage.add(name)
            LOGGER.warning(
                "ignoring Kustomer's %s header %.40r: it %s; the tap keeps to its own budget "
                "and backoff (warned once per header)",
                name,
                str(value),
                why,
            )

    def _bucket_for(self, limit: int | None, search: bool) -> Bucket:
        """The budget a response's headers describe: a search answer naming a limit no larger
        than the search budget describes that; anything else, the org's."""
        if search and (limit is None or limit <= SEARCH_LIMIT):
            return self.search
        return self.org


def _finite(value: Any) -> float | None:
    """A header's number, if it is a finite one ("nan", "inf", "1e999" and words are not)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def reset_time(headers: Any, now: float) -> float | None:
    """x-ratelimit-reset is UTC epoch seconds; small values are read as seconds from now."""
    value = _finite(headers.get("x-ratelimit-reset"))
    if value is None or value < 0:
        return None
    return value if value > EPOCH_FROM else now + value


def retry_after(headers: Any, now: float) -> float | None:
    """Retry-After, in seconds or as an HTTP date."""
    value = headers.get("Retry-After")
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return now + max(seconds, 0.0)
    try:
        return parsedate_to_datetime(str(value)).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
