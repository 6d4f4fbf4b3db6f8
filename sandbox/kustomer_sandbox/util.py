"""Small helpers shared by the sandbox modules: time formatting/parsing, JSON, ids."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000

# Reference epoch (seconds) used for the time-looking prefix of generated ids.  Ids are derived
# from a record's *offset* from "now" (which is deterministic), never from the wall clock.
ID_REF_EPOCH = 0x68000000


_DAY_PREFIX: dict[int, str] = {}


_FMT_CACHE: dict[int, str] = {}


def fmt_ms(ms: int) -> str:
    """Epoch milliseconds -> ``2025-03-01T12:00:00.123Z`` (memoised)."""
    out = _FMT_CACHE.get(ms)
    if out is None:
        out = _fmt_ms(ms)
        if len(_FMT_CACHE) > 400_000:
            _FMT_CACHE.clear()
        _FMT_CACHE[ms] = out
    return out


def _fmt_ms(ms: int) -> str:
    day, rem = divmod(int(ms), DAY_MS)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
        if len(_DAY_PREFIX) < 100_000:
            _DAY_PREFIX[day] = prefix
    sec, milli = divmod(rem, 1000)
    hh, sec = divmod(sec, 3600)
    mm, sec = divmod(sec, 60)
    return f"{prefix}{hh:02d}:{mm:02d}:{sec:02d}.{milli:03d}Z"


def fmt_ms_offset(ms: int, offset_minutes: int) -> str:
    """Epoch ms -> ISO 8601 with an explicit UTC offset and no fraction (``...-05:00``)."""
    dt = datetime.fromtimestamp(ms / 1000, UTC) + timedelta(minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hh, mm = divmod(abs(offset_minutes), 60)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hh:02d}:{mm:02d}"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_now(value: str | int | float | None) -> int:
    """Parse the ``now`` option: ISO timestamp, epoch seconds or ``None`` (wall clock)."""
    if value is None or value == "":
        return wall_ms()
    if isinstance(value, int | float):
        v = float(value)
        return int(v if v > 1e11 else v * 1000)
    text = str(value).strip()
    try:
        v = float(text)
    except ValueError:
        pass
    else:
        return int(v if v > 1e11 else v * 1000)
    ms = parse_timestamp(text)
    if ms is None:
        raise ValueError(f"cannot parse now={value!r}")
    return int(ms)


def parse_timestamp(text: str) -> float | None:
    """Full ISO 8601 timestamp -> epoch ms (float, keeps microseconds). Naive means UTC."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp() * 1000.0


def parse_local_date(text: str, tz: str | None) -> tuple[float, float] | None:
    """``YYYY-MM-DD`` -> (start_ms, end_ms_exclusive) of that day in time zone ``tz``."""
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        return None
    zone = get_zone(tz)
    start = datetime(d.year, d.month, d.day, tzinfo=zone)
    nxt = d + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return start.timestamp() * 1000.0, end.timestamp() * 1000.0


_ZONES: dict[str, tzinfo] = {}


def get_zone(tz: str | None) -> tzinfo:
    if not tz or tz.upper() in ("GMT", "UTC", "Z", "ETC/UTC", "ETC/GMT"):
        return UTC
    zone = _ZONES.get(tz)
    if zone is None:
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timeZone {tz!r}") from exc
        _ZONES[tz] = zone
    return zone


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def sha1(data: bytes) -> hashlib._Hash:
    return hashlib.sha1(data, usedforsecurity=False)


def make_id(rng: random.Random, offset_ms: int) -> str:
    """24-hex ObjectId-like id: 8 hex of a time-looking prefix (from the deterministic offset),
    then 16 random hex from the seeded ``rng``."""
    prefix = max(0, ID_REF_EPOCH - offset_ms // 1000)
    return f"{prefix:08x}{rng.getrandbits(64):016x}"


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: generation allocates some 10^5 long-lived objects
    and no cycles, and repeated full collections over the growing heap cost ~20 % of it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
