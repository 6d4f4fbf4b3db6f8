"""Timestamps: Kustomer's canonical form is UTC with milliseconds, e.g. 2016-11-09T02:46:29.789Z.

Bookmarks and search bounds are kept in that one form so they compare correctly as strings:
the year is always four digits (0001 to 9999, zero-padded: `%Y` does not pad years below 1000
on glibc, and "999-…" would sort after every "2…" date).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DATE_FIRST = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_ts(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time or a YYYY-MM-DD date (UTC midnight), in UTC; None if invalid
    or if its UTC time falls outside the years 0001 to 9999.

    A date-time without an offset is taken as UTC.
    """
    value = value.strip()
    if not _DATE_FIRST.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        return None


def format_ts(value: datetime) -> str:
    """UTC, millisecond precision (truncated, so a bound never moves later), trailing Z, the
    year zero-padded to four digits."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}."
        f"{v.microsecond // 1000:03d}Z"
    )


def canonical_ts(value: object) -> str | None:
    """Canonical form of a timestamp string (cheap when already canonical); None if invalid."""
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z":
        return value
    parsed = parse_ts(value)
    return format_ts(parsed) if parsed else None
