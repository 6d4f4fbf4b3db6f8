"""The two pagers: exact search paging over Kustomer search, and links.next paging over lists.

Kustomer search runs on Elasticsearch, and the search pager assumes no more of it than that
engine promises (README, "Guarantees"):

- results come sorted ascending by `<context>_updated_at`, the one sort the tap asks for (a
  page out of that order stops the stream);
- range criteria on `<context>_updated_at` and `<context>_created_at` are applied exactly;
- one answer is one snapshot: its page holds the records at its positions of the query;
- a `meta.total` below 10,000 is exact for what was indexed when it was answered;
- an update is searchable within `lookback_seconds` of being made.

It no longer assumes that records sharing an `updatedAt` come back in the same order from two
requests (even two pages of one query), that a total of 10,000 or more is exact, that links,
`totalPages` or `meta.pageSize` tell where a query ends, that a 200 answer is complete
(`meta.timed_out`; the client retries those), or that search shows an update at once.

How it reads every record updated in [start, end]:

1. Steps. Page 1 of `updated_at >= lower` holds the query's smallest records, so every value
   on it but the last is complete whatever the tie order or total; the next step starts at
   that last value and drops the ids already emitted at it. The newest `lookback_seconds`
   (above `settled`), where updates still being indexed may move records within the query,
   are read this way only.
2. Chunks. Below `settled` records can only leave a query (an update moves them past `end`),
   and a query with an exact total is read by page number, pages fetched ahead in parallel.
   A record that leaves changes the total: at the first page whose total differs the chunk
   stops and a step restarts at the last value read. Each chunk's upper bound is sized from
   the density read so far, so that its total stays below the 10,000 where totals are exact.
   The last chunk leaves its last, partial page to the step that reads the newest records.
3. Tie blocks. Pages of one query may order a block of records sharing an `updatedAt`
   differently, so a block that crosses a page boundary is checked (as many distinct ids as
   positions). A block that fails the check, or fills a step's whole page, is read on its
   own: in one page if it fits, else split into `created_at` ranges (criteria, not a sort)
   that each fit. Records sharing both timestamps beyond a page are read by page number
   until the block's exact total has been seen, or the stream stops with an error.

An answer holding records outside the range asked for stops the stream: a server that
ignores its criteria would otherwise be paged forever.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tap_kustomer.client import JSON, KustomerClient
from tap_kustomer.errors import PagingError, RetryableError
from tap_kustomer.timeutil import canonical_ts, format_ts

LOGGER = logging.getLogger(__name__)

SEARCH_PATH = "/v1/customers/search"
SEARCH_WINDOW = 10_000  # a query reaches its first 10,000 results; totals from here are "at least"
CHUNK_FILL = 0.8  # a chunk aims at 8,000 records, so that its total stays exact
BLOCK_ROUNDS = 10  # reads of a block sharing both timestamps (orders vary) before giving up
LIST_READS = 4  # reads of a multi-page list until two in a row agree (ListPager)
_LINKED_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # an id, not a word such as "attachments"


@dataclass
class Page:
    """Records not yet emitted in this run, and the bookmark that is safe once they are written.

    `bookmark` is an updatedAt such that every record updated before it has been yielded (so a
    run resumed with `updated_at >= bookmark` loses nothing); None means "unchanged".
    """

    records: list[JSON]
    bookmark: str | None = None
    total: int | None = None  # how many records the stream's first query matched, if known
    # The whole list has been read, and held still while it was: every record that exists is
    # among the pages yielded (a full-table stream may then say older rows are gone).
    whole: bool = False


@dataclass(frozen=True)
class SearchSpec:
    """What to search: a queryContext and the object prefix of its search attributes."""

    query_context: str  # "customer", "conversation", "kobject_order", …
    object_prefix: str  # "customer" → customer_updated_at / customer_created_at
    include_deleted: bool = False
    path: str = SEARCH_PATH
    # The time records are read in order of ("updated": updatedAt, <prefix>_updated_at), and
    # the one that splits a block sharing it (None: a context that documents no other).
    stamp: str = "updated"
    split: str | None = "created"


@dataclass
class _Answer:
    """One search answer's records (with ids), their updatedAt values, and its exact total."""

    records: list[JSON]
    values: list[str]
    total: int | None  # meta.total if below the window (exact), else None


@dataclass
class _Block:
    """The records of one updatedAt value read so far in a chunk."""

    value: str = ""
    positions: int = 0
    records: dict[str, JSON] = field(default_factory=dict)  # by id


def _attribute(resource: JSON, field: str) -> Any:
    attributes = resource.get("attributes")
    return attributes.get(field) if isinstance(attributes, dict) else None


def attribute_ts(resource: JSON, field: str) -> str | None:
    """The canonical form of a JSON:API resource's timestamp attribute, or None."""
    return canonical_ts(_attribute(resource, field))


def with_ids(records: list[Any], where: str) -> list[JSON]:
    """Records keyed by a string id: an integer id becomes its string form, a missing one is
    taken from `links.self` (attachments have none of their own); records still without an
    id, with any other id, or that are not objects are dropped with a WARNING saying which."""
    kept = [r for r in records if type(r) is dict and type(r.get("id")) is str and r["id"]]
    if len(kept) == len(records):
        return kept
    kept, missing, odd = [], 0, 0
    for record in records:
        rid = record.get("id") if type(record) is dict else None
        if type(rid) is str and rid:
            kept.append(record)
        elif type(rid) is int:  # not bool: True is no id
            record["id"] = str(rid)
            kept.append(record)
        elif type(record) is dict and rid in (None, "") and (linked := _id_of_link(record)):
            record["id"] = linked
            kept.append(record)
        elif type(record) is dict and rid in (None, ""):
            missing += 1
        else:
            odd += 1
    if missing:
        LOGGER.warning("%s: skipped %d records without an id", where, missing)
    if odd:
        LOGGER.warning(
            "%s: skipped %d records that are not objects or whose id is neither a string nor "
            "an integer",
            where,
            odd,
        )
    return kept


def _id_of_link(record: JSON) -> str | None:
    """The last segment of a resource's links.self (`/v1/messages/m/attachments/<id>`)."""
    links = record.get("links")
    link = links.get("self") if isinstance(links, dict) else None
    if not isinstance(link, str):
        return None
    last = link.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last if _LINKED_ID.match(last) else None


def check_complete(response: JSON) -> None:
    """A search answer that says it timed out holds only part of its page: worth a retry."""
    meta = response.get("meta")
    if isinstance(meta, dict) and meta.get("timed_out") is True:
        raise RetryableError("HTTP 200 with a partial answer (meta.timed_out)")


class SearchPager:
    """Every record of one search context updated in [start, end], each once per run.

    `settled`: below it no update can still be waiting to be indexed (end - lookback), so
    queries are read by page number only there; None means `end`.
    """

    def __init__(
        self,
        client: KustomerClient,
        spec: SearchSpec,
        page_size: int,
        start: str,
        end: str,
        ahead: int = 1,
        settled: str | None = None,
    ) -> None:
        self.client = client
        self.ahead = max(1, ahead)  # pages of one query requested at once
        self.spec = spec
        self.page_size = page_size
        self.start = start
        self.end = end
        self.settled = min(settled or end, end)
        self._stamp_attribute = f"{spec.stamp}At"  # in records: updatedAt
        self._updated = f"{spec.object_prefix}_{spec.stamp}_at"  # in search criteria
        self._split_attribute = f"{spec.split}At" if spec.split else None
        self._created = f"{spec.object_prefix}_{spec.split}_at" if spec.split else None
        self._seen_ts: str | None = None  # the updatedAt that _seen_ids refers to
        self._seen_ids: set[str] = set()  # ids already yielded with updatedAt == _seen_ts
        self._bookmark: str | None = None
        self._total: int | None = None  # meta.total of the first query: for progress only
        self._searched = False

    @property
    def _name(self) -> str:
        return self.spec.query_context

    def pages(self) -> Iterator[Page]:
        """Yield pages in ascending updatedAt order."""
        lower, inclusive = self.start, True
        span: float | None = None  # milliseconds a chunk should cover; None: up to `settled`
        # The first request is a step over the whole range (an incremental run with little to
        # read ends there), and so is the one after the last chunk (its last page and the
        # newest records come in one); chunks only below `settled`.
        step_next = self.settled < self.end
        while True:
            chunked = lower < self.settled and not step_next
            step_next = False
            upper = self._chunk_upper(lower, span) if chunked else self.end
            criteria = self._range(lower, inclusive, upper)
            answer = self._first(criteria)
            if chunked and answer.total is not None and len(answer.records) < answer.total:
                last = upper >= self.settled and self.settled < self.end
                whole, highest = yield from self._chunk(criteria, answer, leave_last=last)
                span = self._span(lower, upper, answer.total)
                if not whole and highest != lower:  # changed, or left its last page to a step
                    lower, inclusive, step_next = highest, True, last
                    continue
                if not whole:  # changed while still inside the block at `lower`: read it alone
                    yield self._page(self._block(lower))
                    lower, inclusive = lower, False
                    continue
            elif answer.total is not None and len(answer.records) >= answer.total:
                yield self._page(answer.records)  # the whole query in one page
                span = self._span(lower, upper, answer.total) if chunked else span
            elif not answer.records:  # page 1 empty: nothing matches
                pass
            elif answer.values[0] == answer.values[-1]:  # a whole page of one value
                value = answer.values[0]
                yield self._page(self._block(value))
                lower, inclusive = value, False
                continue
            else:  # a step: every value but the last is complete
                yield self._page(answer.records)
                if chunked:  # the chunk was too big for an exact total: aim lower next time
                    span = self._span(answer.values[0], answer.values[-1], len(answer.records))
                lower, inclusive = answer.values[-1], True
                continue
            if upper >= self.end:
                return
            lower, inclusive = upper, False

    def _chunk(
        self, criteria: list[JSON], first: _Answer, leave_last: bool = False
    ) -> Generator[Page, None, tuple[bool, str]]:
        """Pages 2, 3, … of a query whose exact total is more than page 1 holds, each tie block
        checked (the last page left to the caller's next step if `leave_last`). Returns
        whether the whole query was read, and the highest value read."""
        total = first.total or 0
        size = len(first.records)  # what a page holds here (a server may clamp silently)
        block = _Block()
        yield self._page(self._checked(first, block))
        pages = math.ceil(total / size)
        numbers = range(2, pages if leave_last and total % size else pages + 1)
        with closing(self._fetch(criteria, numbers)) as answers:  # an early return cancels
            for number, response in zip(numbers, answers, strict=False):
                answer = self._answer(response, criteria)
                expected = min(size, total - (number - 1) * size)
                if answer.total != total or len(answer.records) != expected:
                    LOGGER.info(
                        "%s: records changed while being read; reading on from updatedAt %s",
                        self._name,
                        block.value,
                    )
                    return False, block.value
                if answer.values[0] < block.value:
                    raise self._out_of_order()
                yield self._page(self._checked(answer, block))
        if numbers.stop <= pages:  # the last page is left: its block is still open
            return False, block.value
        missing = self._close(block)
        if missing:
            yield self._page(missing)
        return True, block.value

    def _checked(self, answer: _Answer, block: _Block) -> list[JSON]:
        """A chunk page's records, plus those of each tie block it closes that the pages read
        so far did not show (positions and distinct ids differ)."""
        out: list[JSON] = []
        for record, value in zip(answer.records, answer.values, strict=True):
            if value != block.value:
                out.extend(self._close(block))
                block.value, block.positions, block.records = value, 0, {}
            block.positions += 1
            block.records[record["id"]] = record
            out.append(record)
        return out

    def _close(self, block: _Block) -> list[JSON]:
        if block.positions == len(block.records):
            return []
        LOGGER.info(
            "%s: the records sharing updatedAt %s came back in another order on another page; "
            "reading them on their own",
            self._name,
            block.value,
        )
        if block.positions <= self.page_size:
            return self._block(block.value)
        # A block of several pages: what the chunk showed of it is sample enough to split it.
        criteria = _pinned(self._updated, block.value)
        return self._split(criteria, block.value, block.records, block.positions)

    def _block(self, value: str) -> list[JSON]:
        """Every record whose updatedAt is `value`."""
        return self._read_all(_pinned(self._updated, value), value, None)

    def _read_all(self, criteria: list[JSON], value: str, created: str | None) -> list[JSON]:
        """Every record matching criteria within one updatedAt (and one createdAt, if given):
        in one page if they fit; by page number if that shows all of an exact total; else
        by createdAt ranges (criteria), each read the same way."""
        answer = self._first(criteria)
        total = answer.total
        if total is not None and len(answer.records) >= total:
            return answer.records
        found = {r["id"]: r for r in answer.records}
        unsplittable = created is not None or self._created is None  # nothing splits those
        if total is not None:  # by page number, in whatever tie order each page comes
            rounds = BLOCK_ROUNDS if unsplittable else 1
            self._by_number(criteria, found, total, len(answer.records), rounds)
            if len(found) >= total:
                return list(found.values())
        if not unsplittable:
            return self._split(criteria, value, found, total)
        shared = f"{self._stamp_attribute} {value}" + (
            f" and createdAt {created}" if created else ""
        )
        raise PagingError(
            f"{self._name} search: {total or 'more than 10,000'} records share "
            f"{shared}, more than one page, and Kustomer did not "
            f"show all of them in {BLOCK_ROUNDS} reads (they come back in no fixed "
            "order); the tap stopped rather than skip any. Run it again; if this "
            "persists, report it"
        )

    def _split(
        self, criteria: list[JSON], value: str, found: dict[str, JSON], total: int | None
    ) -> list[JSON]:
        """Every record of a block within one updatedAt, read in createdAt ranges cut at the
        createdAt values of `found` (what is known of it), each read by _read_all."""
        split = self._created
        assert split is not None  # _read_all splits only where a split attribute exists
        stamps = sorted(self._created_at(r, value) for r in found.values())
        # Parts that each fit a page when the total is known, else four (each read likewise).
        parts = math.ceil(total / (CHUNK_FILL * self.page_size)) if total else 4
        cuts = sorted({stamps[len(stamps) * i // parts] for i in range(1, parts)} - {stamps[0]})
        if not cuts:  # all seen share one createdAt: that one, those before, those after
            only = stamps[0]
            return [
                *self._read_all([*criteria, {split: {"lt": only}}], value, None),
                *self._read_all([*criteria, *_pinned(split, only)], value, only),
                *self._read_all([*criteria, {split: {"gt": only}}], value, None),
            ]
        out: list[JSON] = []
        bounds: list[str | None] = [None, *cuts, None]
        for low, high in itertools.pairwise(bounds):
            part = list(criteria)
            if low is not None:
                part.append({split: {"gte": low}})
            if high is not None:
                part.append({split: {"lt": high}})
            out += self._read_all(part, value, None)
        return out

    def _by_number(
        self, criteria: list[JSON], found: dict[str, JSON], total: int, size: int, rounds: int
    ) -> None:
        """Add pages 2.. (then 1.. again, up to `rounds` times) of a query to `found`, until
        it holds `total` records."""
        pages = range(1, math.ceil(total / max(1, size)) + 1)
        for number in [n for _ in range(rounds) for n in pages][1:]:  # page 1 is already read
            for record in self._answer(self._search(criteria, number), criteria).records:
                found.setdefault(record["id"], record)
            if len(found) >= total:
                return

    def _created_at(self, record: JSON, value: str) -> str:
        stamp = attribute_ts(record, self._split_attribute or "createdAt")
        if stamp is None:
            raise PagingError(
                f"{self._name} search: record {record['id']} has no valid createdAt, so the "
                f"tap cannot split the records sharing updatedAt {value}"
            )
        return stamp

    def _range(self, lower: str, inclusive: bool, upper: str) -> list[JSON]:
        return [
            {self._updated: {"gte" if inclusive else "gt": lower}},
            {self._updated: {"lte": upper}},
        ]

    def _chunk_upper(self, lower: str, span: float | None) -> str:
        """The upper bound of the next chunk: `span` after `lower`, at most `settled`."""
        if span is None:
            return self.settled
        upper = datetime.fromisoformat(lower) + timedelta(milliseconds=max(span, 1.0))
        return min(format_ts(upper), self.settled)

    @staticmethod
    def _span(lower: str, upper: str, count: int) -> float:
        """Milliseconds that hold CHUNK_FILL x the window at the density of [lower, upper]."""
        width = datetime.fromisoformat(upper) - datetime.fromisoformat(lower)
        width_ms = max(width / timedelta(milliseconds=1), 1.0)
        return width_ms * CHUNK_FILL * SEARCH_WINDOW / max(count, 1)

    def _fetch(self, criteria: list[JSON], numbers: range) -> Generator[JSON, None, None]:
        """The answers for these page numbers of one query, in order. Up to `ahead` of them
        are requested at once, the ones beyond the first only while the client's shared
        read-ahead allowance lasts (so memory stays flat however many streams run)."""
        # (the answer's bytes, whether it holds a read-ahead allowance, its page number)
        pending: deque[tuple[Future[bytes], bool, int]] = deque()
        todo = iter(numbers)
        try:
            while True:
                self._request_ahead(criteria, todo, pending)
                if not pending:
                    return
                future, extra, number = pending.popleft()
                try:
                    content = future.result()
                finally:
                    if extra:
                        self.client.read_ahead.release()
                yield self._complete(content, criteria, number)
        finally:
            for future, extra, _ in pending:
                future.cancel()
                if extra:
                    self.client.read_ahead.release()

    def _request_ahead(
        self,
        criteria: list[JSON],
        todo: Iterator[int],
        pending: deque[tuple[Future[bytes], bool, int]],
    ) -> None:
        """Request the next page numbers until `ahead` are pending; each beyond the first
        takes one of the client's read-ahead allowances, and none is requested without one."""
        while len(pending) < self.ahead:
            extra = bool(pending)
            if extra and not self.client.read_ahead.acquire(blocking=False):
                return
            number = next(todo, None)
            if number is None:
                if extra:
                    self.client.read_ahead.release()
                return
            future = self.client.submit(self._search, criteria, number, False)
            pending.append((future, extra, number))

    def _complete(self, content: bytes, criteria: list[JSON], number: int) -> JSON:
        """A fetched answer, parsed; a garbled or partial one is asked for again (retried)."""
        try:
            response = self.client.parse(content)
            check_complete(response)
        except RetryableError as exc:
            LOGGER.warning("%s search: page %d: %s; asking again", self._name, number, exc)
            self.client.count_retry()
            response = self._search(criteria, number)
        return response

    def _out_of_order(self) -> PagingError:
        return PagingError(
            f"{self._name} search: Kustomer returned results out of updatedAt order, so "
            "paging could skip records; stopping"
        )

    def _search(self, criteria: list[JSON], page: int, parse: bool = True) -> Any:
        body: JSON = {
            "and": criteria,
            "sort": [{self._updated: "asc"}],
            "queryContext": self.spec.query_context,
        }
        if self.spec.include_deleted:
            body["includeDeleted"] = True
        params = {"page": page, "pageSize": self.page_size}
        check = check_complete if parse else None
        response = self.client.post(self.spec.path, body, params, parse, check)
        if not self._searched and parse:
            self._searched, self._total = True, _total(response)
        return response

    def _first(self, criteria: list[JSON]) -> _Answer:
        """Page 1 of a query. Without any meta.total, a page 1 that is not full is taken as
        the whole query (Kustomer always sends one; this keeps such a server usable)."""
        response = self._search(criteria, 1)
        answer = self._answer(response, criteria)
        if _total(response) is None and len(answer.records) < self.page_size:
            answer.total = len(answer.records)
        return answer

    def _answer(self, response: JSON, criteria: list[JSON]) -> _Answer:
        data = response.get("data")
        if not isinstance(data, list):
            raise PagingError(f"{self._name} search: Kustomer's answer has no 'data' list")
        records = with_ids(data, f"{self._name} search")
        if len(records) > self.page_size:  # read on from what was asked for; the rest comes next
            LOGGER.warning(
                "%s search: an answer held %d records where %d were asked for; using the first %d",
                self._name,
                len(records),
                self.page_size,
                self.page_size,
            )
            records = records[: self.page_size]
        values: list[str] = []
        for record in records:
            value = attribute_ts(record, self._stamp_attribute)
            if value is None:
                raise PagingError(
                    f"{self._name} search: record {record['id']} has no valid "
                    f"{self._stamp_attribute}, so the tap cannot page past it safely"
                )
            if values and value < values[-1]:
                raise self._out_of_order()
            values.append(value)
        if values:
            self._within(criteria, values[0], values[-1])
        total = _total(response)
        exact = total if total is not None and total < SEARCH_WINDOW else None
        return _Answer(records, values, exact)

    def _within(self, criteria: list[JSON], lowest: str, highest: str) -> None:
        """Stop if an answer holds records outside the updatedAt range asked for: a server that
        ignores its criteria would otherwise be paged forever."""
        for criterion in criteria:
            for op, bound in criterion.get(self._updated, {}).items():
                if {"gte": lowest < bound, "gt": lowest <= bound, "lte": highest > bound}[op]:
                    raise PagingError(
                        f"{self._name} search: Kustomer returned records updated outside the "
                        f"range asked for ({op} {bound}), as if it ignored the search criteria; "
                        "the tap stopped rather than page it forever"
                    )

    def _page(self, records: list[JSON]) -> Page:
        """Drop records already yielded at their updatedAt; advance the bookmark."""
        fresh = []
        for record in records:
            stamp = attribute_ts(record, self._stamp_attribute)
            if stamp != self._seen_ts:
                if self._seen_ts is not None and stamp is not None and stamp < self._seen_ts:
                    fresh.append(record)  # updated again behind us: re-emit, keep the tie set
                    continue
                self._seen_ts, self._seen_ids = stamp, set()
            if record["id"] not in self._seen_ids:
                self._seen_ids.add(record["id"])
                fresh.append(record)
        if self._seen_ts is not None and (self._bookmark is None or self._seen_ts > self._bookmark):
            self._bookmark = self._seen_ts
        return Page(fresh, self._bookmark, self._total)


class ListPager:
    """Every record of a GET list, following links.next, each id once.

    `member` names the part of each answer to yield: "data", or "included" (the SLA versions
    that GET /v1/slas?versions=all sends beside the SLAs); paging always follows "data".
    `numbered` False sends `params` alone (audit logs page by cursor, not page number).

    A list read by page number can change while it is read: a record deleted, or renamed so
    that it sorts elsewhere, shifts every later record by one place, and the record that moves
    back across a page boundary is never on any page read. So a list of more than one page is
    read again until two reads in a row see the same set of ids (each read yields
    only records no earlier read yielded), at most LIST_READS times. `complete` is False after
    pages() when the list never held still that long, or when an answer held more records
    than were asked for (cut to the page size): the caller must not advance its bookmark.
    """

    def __init__(
        self,
        client: KustomerClient,
        path: str,
        page_size: int,
        params: dict[str, Any] | None = None,
        member: str = "data",
        numbered: bool = True,
        sticky: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        # Parameters every page must carry: added to a links.next that leaves them out.
        self.sticky = sticky or {}
        self.path = path
        self.page_size = page_size
        self.params = params or {}
        self.member = member
        self.numbered = numbered
        self.complete = True
        self._yielded: set[str] = set()  # ids of "data" records yielded by any read
        self._members: set[str] = set()  # ids of `member` records yielded (when not "data")
        self._oversized = 0  # answers cut to the page size

    def _params(self, page: int) -> dict[str, Any]:
        if not self.numbered:
            return dict(self.params)
        return {**self.params, "page": page, "pageSize": self.page_size}

    def pages(self) -> Iterator[list[JSON]]:
        """Yield each page's records that were not yielded before (the first read's pages,
        then only what later reads find new)."""
        previous: set[str] | None = None
        for attempt in range(1, LIST_READS + 1):
            ids: set[str] = set()  # the ids this read saw
            pages = yield from self._read(ids, first=attempt == 1)
            if pages <= 1 or not self.numbered or ids == previous:
                break  # one page is one answer; cursors do not shift; or it held still
            if previous is not None and attempt < LIST_READS:
                LOGGER.info(
                    "GET %s changed while it was read; reading it again (read %d of at most %d)",
                    self.path,
                    attempt + 1,
                    LIST_READS,
                )
            previous = ids
        else:
            self.complete = False
            LOGGER.warning(
                "GET %s changed during each of %d reads, so a record may have been passed: "
                "the stream's bookmark stays where it was (a full table sends no "
                "ACTIVATE_VERSION), and the next run reads it again",
                self.path,
                LIST_READS,
            )
        if self._oversized:
            self.complete = False
            LOGGER.warning(
                "GET %s: %d answers held more than the %d records asked for; each was cut to "
                "that many, so the list may be incomplete: the stream's bookmark stays where "
                "it was (a full table sends no ACTIVATE_VERSION)",
                self.path,
                self._oversized,
                self.page_size,
            )

    def _read(self, seen: set[str], first: bool) -> Generator[list[JSON], None, int]:
        """One read of the list from its first page, collecting its ids in `seen`; returns how
        many pages it took. The first read yields every page; later reads only new records."""
        url, page = self.path, 1
        params: dict[str, Any] | None = self._params(page)
        visited = {url}
        while True:
            response = self.client.get(url, params)
            data = response.get("data")
            if not isinstance(data, list):
                raise PagingError(f"GET {self.path}: Kustomer's answer has no 'data' list")
            if len(data) > self.page_size:  # a broken or hostile server: bound what is kept
                self._oversized += 1
                data = data[: self.page_size]
            records = with_ids(data, f"GET {self.path}")
            fresh = [r for r in records if r["id"] not in seen]
            seen.update(r["id"] for r in fresh)
            new = self._not_yielded(fresh, response)
            if new or first:
                yield new
            links = response.get("links")
            if not data or (isinstance(links, dict) and not links.get("next")):
                return page
            if not fresh:
                raise PagingError(
                    f"GET {self.path}: the next page holds only records already read; "
                    "stopping instead of looping"
                )
            page += 1
            if isinstance(links, dict):
                url = links["next"]
                params = self._left_out(url)
                if url in visited:
                    raise PagingError(
                        f"GET {self.path}: links.next points at a page already read; "
                        "stopping instead of looping"
                    )
                visited.add(url)
            elif self.numbered and len(data) >= _page_size(response, self.page_size):
                params = self._params(page)  # no links: ask for the next number
            else:
                return page

    def _left_out(self, link: Any) -> dict[str, Any] | None:
        """The sticky parameters a next link does not carry (None: it carries them all)."""
        try:
            carried = parse_qs(urlsplit(link).query)
        except (TypeError, ValueError, AttributeError):
            return None  # not a link: the client refuses it, saying why
        missing = {k: v for k, v in self.sticky.items() if k not in carried}
        return missing or None

    def _not_yielded(self, fresh: list[JSON], response: JSON) -> list[JSON]:
        """What of this page no earlier read has yielded: its records, or its `member` list."""
        if self.member == "data":
            new = [r for r in fresh if r["id"] not in self._yielded]
            self._yielded.update(r["id"] for r in new)
            return new
        members = response.get(self.member) or []
        members = with_ids(members if isinstance(members, list) else [], self.path)
        new = [r for r in members if r["id"] not in self._members]
        self._members.update(r["id"] for r in new)
        return new


def _pinned(attr: str, value: str) -> list[JSON]:
    """The criteria of the records whose `attr` equals `value`."""
    return [{attr: {"gte": value}}, {attr: {"lte": value}}]


def _total(response: JSON) -> int | None:
    meta = response.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) else None


def _page_size(response: JSON, requested: int) -> int:
    """The page size the server applied (it silently lowers sizes above its maximum)."""
    meta = response.get("meta")
    size = meta.get("pageSize") if isinstance(meta, dict) else None
    return size if isinstance(size, int) and 0 < size <= requested else requested
