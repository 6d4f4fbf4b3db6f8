"""Timestamps: Kustomer's canonical form is UTC with milliseconds, e.g. 2016-11-09T02:46:29.789Z.

Bookmarks and search bounds are kept in that one form so they compare correctly as strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DATE_FIRST = re.compile(r"^\d{4}-\d{2}-\d{2}")


def parse_ts(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time or a YYYY-MM-DD date (UTC midnight); None if invalid.

    A date-time without an offset is taken as UTC.
    """
    value = value.strip()
    if not _DATE_FIRST.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def format_ts(value: datetime) -> str:
    """UTC, millisecond precision (truncated, so a bound never moves later), trailing Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def canonical_ts(value: object) -> str | None:
    """Canonical form of a timestamp string (cheap when already canonical); None if invalid."""
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value[10] == "T" and value[19] == "." and value[23] == "Z":
        return value
    parsed = parse_ts(value)
    return format_ts(parsed) if parsed else None
