"""Pre-sorted record views so searches are bisects, not scans."""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from operator import attrgetter

from .data import ROUTING_STREAMS, Dataset, Rec

INF = float("inf")


class View:
    """Records sorted by (``attr``, id) with a parallel list of keys for ``bisect``."""

    __slots__ = ("attr", "keys", "recs")

    def __init__(self, recs: Iterable[Rec], attr: str, ordered: bool = False):
        """``ordered``: ``recs`` already come sorted by (``attr``, id)."""
        self.attr = attr
        self.recs: list[Rec] = list(recs) if ordered else sorted(recs, key=attrgetter(attr, "id"))
        self.keys: list[int] = [getattr(r, attr) for r in self.recs]

    def __len__(self) -> int:
        return len(self.keys)

    def remove(self, rec: Rec, key: int) -> None:
        keys, recs = self.keys, self.recs
        i = bisect_left(keys, key)
        n = len(keys)
        while i < n and keys[i] == key:
            if recs[i] is rec:
                del keys[i]
                del recs[i]
                return
            i += 1
        # not found under that key (should not happen) - fall back to a scan
        for i, r in enumerate(recs):  # pragma: no cover - defensive
            if r is rec:
                del keys[i]
                del recs[i]
                return

    def insert(self, rec: Rec) -> None:
        key = getattr(rec, self.attr)
        i = bisect_right(self.keys, key)
        self.keys.insert(i, key)
        self.recs.insert(i, rec)

    def bounds(
        self, lo: float = -INF, lo_incl: bool = True, hi: float = INF, hi_incl: bool = True
    ) -> tuple[int, int]:
        keys = self.keys
        i = bisect_left(keys, lo) if lo_incl else bisect_right(keys, lo)
        j = bisect_right(keys, hi) if hi_incl else bisect_left(keys, hi)
        return i, max(i, j)


class ContextIndex:
    """All views for one search ``queryContext`` (e.g. ``customer`` or ``kobject_order``)."""

    def __init__(
        self, name: str, prefix: str, stream: str, recs: list[Rec], klass: str | None = None
    ):
        self.name = name
        self.prefix = prefix
        self.stream = stream
        self.klass = klass
        self.version = 0
        self.views: dict[tuple[str, bool], View] = {}
        for attr in ("updated", "created"):
            full = View(recs, attr)
            # the live view: the full one's order without the deleted (no second sort)
            live = (r for r in full.recs if not r.deleted)
            self.views[(attr, True)] = full
            self.views[(attr, False)] = View(live, attr, ordered=True)

    def contains(self, rec: Rec) -> bool:
        return rec.stream == self.stream and (self.klass is None or rec.klass == self.klass)

    def view(self, attr: str, include_deleted: bool) -> View:
        return self.views[(attr, include_deleted)]

    def replace(self, old: Rec, new: Rec) -> None:
        """Swap the object search sees for one record (index lag); bumps ``version``."""
        for (attr, with_deleted), view in self.views.items():
            if with_deleted or not old.deleted:
                view.remove(old, getattr(old, attr))
            if with_deleted or not new.deleted:
                view.insert(new)
        self.version += 1


def snapshot(rec: Rec) -> Rec:
    """A frozen copy of ``rec``'s current version (same id, fields and cached bytes)."""
    copy = Rec(rec.stream, rec.idx)
    for name in Rec.__slots__:
        setattr(copy, name, getattr(rec, name))
    return copy


class Indexes:
    """Search indexes for every context plus id-ordered lists for GET endpoints."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.contexts: dict[str, ContextIndex] = {}
        # Index lag: what search currently sees of a lagged record (absent = the live Rec) and
        # a heap of (visible_at_ms, seq, live rec, snapshot of the new version) not yet applied.
        self.shown: dict[int, Rec] = {}
        self.pending: list[tuple[int, int, Rec, Rec]] = []
        self._seq = 0
        for ctx, stream in (
            ("customer", "customers"),
            ("conversation", "conversations"),
            ("message", "messages"),
            ("note", "notes"),
            ("company", "companies"),
            ("kobject", "kobjects"),
            ("work_session", "work_sessions"),
            ("work_item", "work_items"),
            ("conversation_time", "conversation_times"),
        ):
            self.contexts[ctx] = ContextIndex(ctx, ctx, stream, ds.streams[stream])
        for k in ds.catalog["klasses"]:
            name = k["attributes"]["name"]
            recs = [r for r in ds.streams["kobjects"] if r.klass == name]
            self.contexts["kobject_" + name] = ContextIndex(
                "kobject_" + name, "kobject", "kobjects", recs, klass=name
            )
        # GET lists: id order; soft-deleted search-stream records are not listed
        self.lists: dict[str, list[Rec]] = {}
        for stream, recs in ds.streams.items():
            if stream in ROUTING_STREAMS:
                continue  # search only, no GET list
            keep = (
                recs
                if stream in ("users", "teams", "tags", "shortcuts")
                else [r for r in recs if not r.deleted]
            )
            self.lists[stream] = sorted(keep, key=lambda r: r.id)
        for k in ds.catalog["klasses"]:
            name = k["attributes"]["name"]
            self.lists["klass:" + name] = [r for r in self.lists["kobjects"] if r.klass == name]

    def remove(self, rec: Rec) -> None:
        """Take a list record out of its GET list (a hard delete; the caller holds the lock)."""
        lst = self.lists.get(rec.stream)
        if lst is not None and rec in lst:
            lst.remove(rec)

    def contexts_of(self, rec: Rec) -> list[ContextIndex]:
        return [c for c in self.contexts.values() if c.contains(rec)]

    # All mutations happen with ``ds.lock`` held by the caller.
    def touch_lagged(
        self, rec: Rec, new_updated: int, visible_at: int, delete: bool = False
    ) -> None:
        """Update the live record now; search keeps its previous version until ``visible_at``.

        Search views hold frozen snapshots for lagged records, so the live ``rec`` can change
        (GET-by-id, lists, truth) while search still filters, sorts and serialises the old one.
        """
        ctxs = self.contexts_of(rec)
        key = id(rec)
        if key not in self.shown:
            frozen = snapshot(rec)
            for c in ctxs:
                c.replace(rec, frozen)
            self.shown[key] = frozen
        was_deleted = rec.deleted
        rec.updated = new_updated
        rec.modified = new_updated
        if delete:
            rec.deleted = True
            rec.deleted_at = new_updated
        rec.rev += 1
        self._unlist(rec, delete and not was_deleted)
        self._seq += 1
        heapq.heappush(self.pending, (visible_at, self._seq, rec, snapshot(rec)))

    def refresh(self, now_ms: int) -> None:
        """Make every pending update whose delay has passed searchable (caller holds the lock).

        Per record the newest version that is due wins: an older update that comes due after a
        newer one of the same record changes nothing (``rev`` only grows).
        """
        pending = self.pending
        while pending and pending[0][0] <= now_ms:
            _, _, rec, new = heapq.heappop(pending)
            cur = self.shown[id(rec)]
            if new.rev <= cur.rev:
                continue
            for c in self.contexts_of(rec):
                c.replace(cur, new)
            self.shown[id(rec)] = new

    def touch(
        self, rec: Rec, new_updated: int, new_modified: int | None = None, delete: bool = False
    ) -> None:
        ctxs = self.contexts_of(rec)
        old = rec.updated
        for c in ctxs:
            c.views[("updated", True)].remove(rec, old)
            if not rec.deleted:
                c.views[("updated", False)].remove(rec, old)
            if delete and not rec.deleted:
                c.views[("created", False)].remove(rec, rec.created)
        was_deleted = rec.deleted
        rec.updated = new_updated
        rec.modified = new_updated if new_modified is None else new_modified
        if delete:
            rec.deleted = True
            rec.deleted_at = new_updated
        rec.rev += 1  # written last: invalidates the serialised caches
        for c in ctxs:
            c.views[("updated", True)].insert(rec)
            if not rec.deleted:
                c.views[("updated", False)].insert(rec)
            c.version += 1
        self._unlist(rec, delete and not was_deleted)

    def _unlist(self, rec: Rec, newly_deleted: bool) -> None:
        """GET lists hide soft-deleted search-stream records at once (no lag there)."""
        if (
            newly_deleted
            and rec.stream in self.lists
            and rec.stream not in ("users", "teams", "tags", "shortcuts")
        ):
            lst = self.lists[rec.stream]
            i = bisect_left([r.id for r in lst], rec.id)
            if i < len(lst) and lst[i] is rec:
                del lst[i]
            if rec.stream == "kobjects":
                kl = self.lists.get(f"klass:{rec.klass}")
                if kl is not None and rec in kl:
                    kl.remove(rec)
