"""Progress you can watch: periodic per-stream lines, Singer metric lines, an end-of-run summary.

Only counts, rates and stream names are logged: never record contents, never the token.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

LOGGER = logging.getLogger("tap_kustomer")


def log_metric(kind: str, name: str, value: float, tags: Mapping[str, object]) -> None:
    """A Singer metric line, `INFO METRIC: {"type", "metric", "value", "tags"}` (the Singer
    spec's metrics convention, as singer-python's `metrics.log` writes it)."""
    point = {"type": kind, "metric": name, "value": value, "tags": tags}
    LOGGER.info("METRIC: %s", json.dumps(point))


def plural(count: int, noun: str) -> str:
    """A count and its noun, singular for exactly one: 1 record, 2 records, 0 pages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass
class StreamProgress:
    """Counts for one stream; logs a progress line at most every `interval` seconds."""

    stream: str
    interval: float
    clock: Callable[[], float] = time.monotonic
    records: int = 0
    pages: int = 0
    total: int | None = None  # records Kustomer said match, when it says (search meta.total)
    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    relisted: int = 0  # records older than the stream's bookmark, read again by the look-back
    started: float = field(init=False)
    _last_log: float = field(init=False)
    _last_count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.started = self._last_log = self.clock()

    def page(self, records: int, total: int | None) -> None:
        """Count a page; log progress when the interval has passed."""
        self.records += records
        self.pages += 1
        if total is not None and self.total is None:
            self.total = total
        now = self.clock()
        if now - self._last_log >= self.interval:
            self._log(now)

    def _log(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.records / elapsed
        line = (
            f"{self.stream}: {plural(self.records, 'record')} in {plural(self.pages, 'page')}, "
            f"{rate:.0f} records/s"
        )
        if self.total:
            done = min(self.records / self.total, 1.0)
            left = (self.total - self.records) / rate if rate and done < 1 else 0.0
            line += f", {done:.0%} of {self.total}, about {left:.0f} s left"
        LOGGER.info("%s", line)
        self._count(now)

    def _count(self, now: float) -> None:
        log_metric("counter", "record_counter", self.records - self._last_count,
                   {"endpoint": self.stream})  # fmt: skip
        self._last_count, self._last_log = self.records, now

    def finish(self) -> float:
        """Flush the record counter; return the stream's duration in seconds."""
        now = self.clock()
        self._count(now)
        return now - self.started


def log_summary(rows: list[tuple[StreamProgress, float]]) -> None:
    """The end-of-run table: per stream records (and how many of them the look-back read
    again), requests, retries, 429 waits, duration."""
    if not rows:
        return
    header = ("stream", "records", "look-back", "requests", "retries", "429 waits", "duration")
    table: list[tuple[object, ...]] = [header]
    for p, seconds in rows:
        counts = (p.records, p.relisted, p.requests, p.retries, p.rate_limit_waits)
        table.append((p.stream, *counts, f"{seconds:.1f} s"))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    LOGGER.info("run summary:")
    for row in table:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in
                 enumerate(zip(row, widths, strict=True))]  # fmt: skip
        LOGGER.info("  %s", "  ".join(cells))
