"""Run-time knobs of the sandbox: rate limiting, fault injection and statistics."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Number = int | float | str  # a setting as JSON or the command line gives it

FAULT_KINDS = ("500", "502", "503", "504", "drop", "slow", "truncate")
FORCE_KINDS = (*FAULT_KINDS, "429", "truncate:length", "truncate:json")


def parse_weights(value: object) -> dict[str, float]:
    """``{"500": 1, ...}`` or ``"500:1,drop:2"`` or a list of kinds -> normalised weights."""
    if value is None or value == "":
        return dict.fromkeys(FAULT_KINDS, 1.0)
    if isinstance(value, str):
        value = _weights_text(value)
    elif isinstance(value, list | tuple):
        value = dict.fromkeys(value, 1.0)
    if not isinstance(value, dict):
        raise ValueError("fault weights must be a mapping, a list or 'kind:weight,...'")
    out = {}
    for kind, w in value.items():
        kind, weight = str(kind), float(w)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if weight < 0:
            raise ValueError("fault weights must be >= 0")
        if weight > 0:
            out[kind] = weight
    if not out:
        raise ValueError("at least one fault kind needs a positive weight")
    return out


def _weights_text(text: str) -> dict[str, float]:
    """``"500:1,drop:2,slow"`` -> {kind: weight}; a kind without a weight weighs 1."""
    out = {}
    for part in text.split(","):
        part = part.strip()
        if part:
            kind, _, w = part.partition(":")
            out[kind.strip()] = float(w) if w.strip() else 1.0
    return out


class RateLimiter:
    """Fixed-window budgets: one org-wide budget for every /v1 request, and a per-token budget
    for the two search endpoints.  Windows are aligned to multiples of ``window_seconds``."""

    def __init__(
        self,
        org_limit: int,
        search_limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
    ):
        self.lock = threading.Lock()
        self.clock = clock
        self.org_limit = 0
        self.search_limit = 0
        self.window = 60.0
        self.configure(org_limit, search_limit, window_seconds)

    def configure(
        self,
        org_limit: Number | None = None,
        search_limit: Number | None = None,
        window_seconds: Number | None = None,
    ) -> None:
        with self.lock:
            if org_limit is not None:
                self.org_limit = int(org_limit)
            if search_limit is not None:
                self.search_limit = int(search_limit)
            if window_seconds is not None:
                if float(window_seconds) <= 0:
                    raise ValueError("window_seconds must be > 0")
                self.window = float(window_seconds)
            self._reset()

    def _reset(self) -> None:
        self.win: int | None = None
        self.org_used = 0
        self.search_used: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self._reset()

    def _roll(self, now: float) -> int:
        w = math.floor(now / self.window)
        if w != self.win:
            self.win = w
            self.org_used = 0
            self.search_used = {}
        return math.ceil((w + 1) * self.window)

    def peek(self, token: str | None = None, search: bool = False) -> dict[str, str]:
        """Headers describing the current state without spending anything."""
        with self.lock:
            reset = self._roll(self.clock())
            return self._headers(token, search, reset)

    def _headers(self, token: str | None, search: bool, reset: int) -> dict[str, str]:
        org_rem = max(0, self.org_limit - self.org_used)
        limit, rem = self.org_limit, org_rem
        if search and token is not None:
            s_rem = max(0, self.search_limit - self.search_used.get(token, 0))
            if s_rem < org_rem or (s_rem == org_rem and self.search_limit < self.org_limit):
                limit, rem = self.search_limit, s_rem
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(rem),
            "x-ratelimit-reset": str(reset),
        }

    def spend(self, token: str, search: bool) -> tuple[bool, dict[str, str], float]:
        """Try to spend one request. Returns (allowed, headers, seconds until reset)."""
        with self.lock:
            now = self.clock()
            reset = self._roll(now)
            ok = self.org_used < self.org_limit
            if ok and search:
                ok = self.search_used.get(token, 0) < self.search_limit
            if ok:
                self.org_used += 1
                if search:
                    self.search_used[token] = self.search_used.get(token, 0) + 1
            return ok, self._headers(token, search, reset), max(0.0, reset - now)

    def state(self) -> dict[str, Any]:
        with self.lock:
            reset = self._roll(self.clock())
            return {
                "org_limit": self.org_limit,
                "search_limit": self.search_limit,
                "window_seconds": self.window,
                "org_used": self.org_used,
                "search_used": dict(self.search_used),
                "reset": reset,
            }


class Faults:
    """Seeded random fault injection plus a queue of forced outcomes."""

    def __init__(
        self,
        seed: int,
        fault_rate: float = 0.0,
        weights: object = None,
        slow_seconds: float = 5.0,
        latency_ms: float = 0.0,
        paths: str | list[str] | None = None,
        retry_after: bool = False,
    ):
        self.lock = threading.Lock()
        self.rng = random.Random(f"{seed}:faults")  # noqa: S311
        self.forced: deque[str] = deque()
        self.fault_rate = 0.0
        self.weights = parse_weights(None)
        self.slow_seconds = 5.0
        self.latency_ms = 0.0
        self.paths: list[str] | None = None
        self.retry_after = False
        self.configure(
            fault_rate=fault_rate,
            weights=weights,
            slow_seconds=slow_seconds,
            latency_ms=latency_ms,
            paths=paths,
            retry_after=retry_after,
        )

    def configure(
        self,
        fault_rate: Number | None = None,
        weights: object = None,
        slow_seconds: Number | None = None,
        latency_ms: Number | None = None,
        paths: str | list[str] | None = None,
        retry_after: object = None,
        force: str | list[str] | None = None,
        burst_429: Number | None = None,
        clear: bool = False,
        **unknown: object,
    ) -> dict[str, Any]:
        """Change the given settings (None = keep); -> the new state."""
        if unknown:
            raise ValueError(f"unknown fault setting(s): {sorted(unknown)}")
        with self.lock:
            if clear:
                self.forced.clear()
            if fault_rate is not None:
                self.fault_rate = _rate(fault_rate)
            if weights is not None:
                self.weights = parse_weights(weights)
            if slow_seconds is not None:
                self.slow_seconds = max(0.0, float(slow_seconds))
            if latency_ms is not None:
                self.latency_ms = max(0.0, float(latency_ms))
            if paths is not None:
                self.paths = _paths(paths)
            if retry_after is not None:
                self.retry_after = bool(retry_after)
            _queue_forced(self.forced, force)
            if burst_429:
                self.forced.extend(["429"] * int(burst_429))
            return self._state()

    def _state(self) -> dict[str, Any]:
        return {
            "fault_rate": self.fault_rate,
            "weights": dict(self.weights),
            "slow_seconds": self.slow_seconds,
            "latency_ms": self.latency_ms,
            "paths": self.paths,
            "retry_after": self.retry_after,
            "forced": list(self.forced),
        }

    def state(self) -> dict[str, Any]:
        with self.lock:
            return self._state()

    def applies(self, path: str) -> bool:
        return self.paths is None or any(path.startswith(p) for p in self.paths)

    def pick(self, path: str) -> tuple[str | None, bool]:
        """(fault kind or None, forced?) for this request: forced queue first, then the rate."""
        with self.lock:
            if not self.applies(path):
                return None, False
            if self.forced:
                return self.forced.popleft(), True
            if self.fault_rate <= 0:
                return None, False
            if self.rng.random() >= self.fault_rate:
                return None, False
            kinds = list(self.weights)
            return self.rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0], False

    def unpick(self, kind: str) -> None:
        with self.lock:
            self.forced.appendleft(kind)

    def truncate_mode(self) -> str:
        with self.lock:
            return "length" if self.rng.random() < 0.5 else "json"


def _rate(value: Number) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError("fault_rate must be between 0 and 1")
    return rate


def _paths(paths: str | list[str]) -> list[str] | None:
    """Path prefixes faults apply to ("a,b" or a list); None = every /v1 path."""
    if isinstance(paths, str):
        paths = [p.strip() for p in paths.split(",") if p.strip()]
    return list(paths) or None


def _queue_forced(queue: deque[str], force: str | list[str] | None) -> None:
    """Append the forced outcomes in order; an unknown one stops there with a ValueError."""
    if not force:
        return
    for kind in [force] if isinstance(force, str) else force:
        if str(kind) not in FORCE_KINDS:
            raise ValueError(f"unknown forced fault {kind!r}; expected one of {FORCE_KINDS}")
        queue.append(str(kind))


class Stats:
    """Request, status, fault and search counters for ``/__sandbox/stats``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests: dict[str, int] = {}
            self.status: dict[str, int] = {}
            self.faults: dict[str, int] = {}
            self.searches: dict[str, int] = {}
            self.rate_limited = 0
            self.records_served = 0
            self.total = 0
            self.updates = 0

    def request(self, endpoint: str) -> None:
        with self.lock:
            self.total += 1
            self.requests[endpoint] = self.requests.get(endpoint, 0) + 1

    def response(self, status: int, records: int = 0) -> None:
        with self.lock:
            key = str(status)
            self.status[key] = self.status.get(key, 0) + 1
            if status == 429:
                self.rate_limited += 1
            self.records_served += records

    def fault(self, kind: str) -> None:
        with self.lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1

    def search(self, ctx: str) -> None:
        with self.lock:
            self.searches[ctx] = self.searches.get(ctx, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total_requests": self.total,
                "requests": dict(sorted(self.requests.items())),
                "status": dict(sorted(self.status.items())),
                "rate_limited": self.rate_limited,
                "faults": dict(sorted(self.faults.items())),
                "faults_injected": sum(self.faults.values()),
                "searches": dict(sorted(self.searches.items())),
                "records_served": self.records_served,
                "updates": self.updates,
                "uptime_seconds": round(time.monotonic() - self.started, 3),
            }
