"""The bookmark rule: where a stream's run starts, and when its bookmark may advance.

Each stream declares one rule (streams.py); sync.py asks it. The pagers only report how far
they have read: a Page's `bookmark` is an updatedAt (or createdAt) before which every record
has been yielded, given only once that is true (a list: when the whole list was read and held
still; search: when every record up to it is written, tie blocks included). The rule turns
that into state: forward only, and never past the run's start (the signpost), so a record
stamped by a clock running ahead is read again, not skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tap_kustomer.timeutil import format_ts


@dataclass(frozen=True)
class BookmarkRule:
    """One kind of stream's bookmark: its state key (None: a full table, no bookmark) and
    whether a run reads again the `lookback_seconds` before it (search shows an update late,
    so a record updated just before the bookmark may not have been searchable last run)."""

    key: str | None
    looks_back: bool = False
    # State keys earlier versions wrote for this bookmark, read when `key` is absent.
    former_keys: tuple[str, ...] = ()

    def saved(self, bookmark: dict[str, Any]) -> str:
        """The bookmark a state holds for this stream ("" if none)."""
        if self.key is None:
            return ""
        for key in (self.key, *self.former_keys):
            if bookmark.get(key):
                return str(bookmark[key])
        return ""

    def start(self, saved: str, start_date: str, lookback_seconds: float) -> str:
        """Where this run reads from: the saved bookmark (less the look-back), or start_date
        on a first run. Never before start_date; the saved bookmark itself never moves back."""
        if not saved:
            return start_date
        if not (self.looks_back and lookback_seconds):
            return saved
        moment = datetime.fromisoformat(saved)
        # Not before datetime.min: a bookmark in year 1 with a long look-back would overflow.
        back = min(moment - datetime.min.replace(tzinfo=UTC), timedelta(seconds=lookback_seconds))
        return max(format_ts(moment - back), start_date)

    def advance(self, saved: str, read_through: str | None, signpost: str) -> str | None:
        """The bookmark after a page the pager has read `read_through`, or None: unchanged."""
        if self.key is None or not read_through or read_through <= saved:
            return None
        return min(read_through, signpost)


SEARCH = BookmarkRule("updated_at", looks_back=True)
LIST = BookmarkRule("updated_at")  # the lists' order is not updatedAt: no look-back helps
AUDIT_LOG = BookmarkRule("created_at")  # entries never change; the server filters createdAt
# Events are immutable and each one updates its conversation, which is read through search:
# every event published before the conversations' updatedAt reached has been emitted. Before
# 2.0.0 this bookmark was written as created_at (its value meant the same).
EVENTS = BookmarkRule("published_at", looks_back=True, former_keys=("created_at",))
# What comes with a message (attachments) is created with it, which updates its conversation.
PER_CONVERSATION = BookmarkRule("created_at", looks_back=True)
# conversation_time documents only conversation_time_created_at for search.
CREATED_SEARCH = BookmarkRule("created_at", looks_back=True)
FULL_TABLE = BookmarkRule(None)
