"""The two pagers: exact search paging over Kustomer search, and links.next paging over lists.

Kustomer search returns at most the first 10,000 results of a query, and records that share an
`updatedAt` come back in no guaranteed order between queries (one query keeps its order). So
the search pager reads a query in chunks of at most 10,000 results:

1. It asks for page 1 of `updated_at >= L` (ascending, `<= end`), which tells the query's
   `meta.total`, then pages 2, 3, ... of the same query, fetched ahead in parallel when the
   client has workers. Offsets are safe while the query's set is unchanged, and records can
   only leave it (an update moves a record past `end`), so every page whose total equals page
   1's was cut from the same set. At the first page whose total differs, the rest of the chunk
   is dropped and a new query starts at the last `updatedAt` already read.
2. After 10,000 results the next chunk starts at the last `updatedAt` read (`>=`, so records
   sharing it are re-read and dropped by id).
3. A chunk whose 10,000 results all share one `updatedAt` is split the same way by
   `createdAt`; only if more than 10,000 records share both timestamps does the tap stop, with
   a clear error, rather than skip any of them.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from tap_kustomer.client import JSON, KustomerClient
from tap_kustomer.errors import PagingError, RetryableError
from tap_kustomer.timeutil import canonical_ts

LOGGER = logging.getLogger(__name__)

SEARCH_PATH = "/v1/customers/search"
SEARCH_WINDOW = 10_000  # a search query reaches only its first 10,000 results
MAX_RESTARTS = 5  # re-reads of a tie block whose records keep changing while it is read


@dataclass
class Page:
    """Records not yet emitted in this run, and the bookmark that is safe once they are written.

    `bookmark` is an updatedAt such that every record updated before it has been yielded (so a
    run resumed with `updated_at >= bookmark` loses nothing); None means "unchanged".
    """

    records: list[JSON]
    bookmark: str | None = None
    total: int | None = None  # how many records the stream's first query matched, if known


@dataclass(frozen=True)
class SearchSpec:
    """What to search: a queryContext and the object prefix of its search attributes."""

    query_context: str  # "customer", "conversation", "kobject_order", …
    object_prefix: str  # "customer" → customer_updated_at / customer_created_at
    include_deleted: bool = False
    path: str = SEARCH_PATH


@dataclass(frozen=True)
class _SortKey:
    attr: str  # search attribute, e.g. customer_updated_at
    field: str  # resource attribute, e.g. updatedAt


def _attribute(resource: JSON, field: str) -> Any:
    attributes = resource.get("attributes")
    return attributes.get(field) if isinstance(attributes, dict) else None


def attribute_ts(resource: JSON, field: str) -> str | None:
    """The canonical form of a JSON:API resource's timestamp attribute, or None."""
    return canonical_ts(_attribute(resource, field))


def updated_at(resource: JSON) -> str | None:
    """The canonical updatedAt of a JSON:API resource, or None."""
    return attribute_ts(resource, "updatedAt")


def with_ids(records: list[Any], where: str) -> list[JSON]:
    """Drop (with a WARNING) records without an id: they cannot be keyed or deduplicated."""
    kept = [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"]]
    if len(kept) < len(records):
        LOGGER.warning("%s: skipped %d records without an id", where, len(records) - len(kept))
    return kept


class SearchPager:
    """Every record of one search context updated in [start, end], each exactly once."""

    def __init__(
        self,
        client: KustomerClient,
        spec: SearchSpec,
        page_size: int,
        start: str,
        end: str,
        ahead: int = 1,
    ) -> None:
        self.client = client
        self.ahead = max(1, ahead)  # pages of one query requested at once
        self.spec = spec
        self.page_size = page_size
        self.start = start
        self.end = end
        self._updated = _SortKey(f"{spec.object_prefix}_updated_at", "updatedAt")
        self._created = _SortKey(f"{spec.object_prefix}_created_at", "createdAt")
        self._seen_ts: str | None = None  # the updatedAt that _seen_ids refers to
        self._seen_ids: set[str] = set()  # ids already yielded with updatedAt == _seen_ts
        self._bookmark: str | None = None
        self._total: int | None = None  # meta.total of the first query: for progress only
        self._searched = False

    def pages(self) -> Iterator[Page]:
        """Yield pages in ascending updatedAt order."""
        keys = [self._updated, self._created]
        yield from self._scan([], keys, self.start, True, self.end)

    def _scan(
        self,
        fixed: list[JSON],
        keys: list[_SortKey],
        lower: str | None,
        inclusive: bool,
        upper: str | None,
        block: bool = False,
    ) -> Iterator[Page]:
        """Chunks of one query on keys[0] within the `fixed` criteria (see the module doc).
        `block`: the criteria pin keys[0] to one value (a tie block)."""
        key = keys[0]
        restarts = 0
        while True:
            criteria = list(fixed)
            if lower is not None:
                criteria.append({key.attr: {"gte" if inclusive else "gt": lower}})
            if upper is not None:
                criteria.append({key.attr: {"lte": upper}})
            first = self._search(criteria, key, 1)
            records, values = self._sorted_records(first, key)
            yield self._page(records)
            if not _has_more(first, 1, len(records), self.page_size):
                return
            total = _total(first)
            if total is None:  # no total, no safe offsets: page 1 of a new query each time
                if values[0] == values[-1]:
                    raise PagingError(
                        f"{self.spec.query_context} search: a whole page shares {key.field} "
                        f"{values[-1]} and Kustomer's answer has no meta.total, so the tap "
                        "cannot page past it safely"
                    )
                lower, inclusive = values[-1], True
                continue
            if values[0] == values[-1] and total > SEARCH_WINDOW:
                # Page 1 is one value and the query is beyond the window: if that value's
                # block is too, split it now rather than read 10,000 of it first.
                value = values[-1]
                pinned = _pinned(fixed, key, value)
                if (_total(self._search(pinned, key, 1)) or 0) >= SEARCH_WINDOW:
                    yield from self._split(pinned, keys, value)
                else:
                    yield from self._scan(pinned, keys, None, True, None, block=True)
                lower, inclusive = value, False
                continue
            size = _page_size(first, self.page_size)
            last_page = min(math.ceil(total / size), SEARCH_WINDOW // size)
            lowest, highest = values[0], values[-1]
            complete = True
            for response in self._pages(criteria, key, range(2, last_page + 1)):
                if _total(response) != total:  # the set changed: later offsets may have moved
                    complete = False
                    break
                records, values = self._sorted_records(response, key)
                if values and values[0] < highest:
                    raise self._out_of_order(key)
                yield self._page(records)
                highest = values[-1] if values else highest
            if complete and total <= last_page * size:
                return
            if not complete:
                if block:  # read the (small) block again; ids already written are dropped
                    restarts += 1
                    if restarts >= MAX_RESTARTS:
                        raise PagingError(
                            f"{self.spec.query_context} search: the records sharing "
                            f"{key.field} {highest} kept changing over {MAX_RESTARTS} reads; "
                            "run the tap again later"
                        )
                    continue
                LOGGER.info(
                    "%s: records changed while being read; reading on from %s %s",
                    self.spec.query_context,
                    key.field,
                    highest,
                )
                if highest == lower:  # still inside the block at `lower`: read it on its own
                    pinned = _pinned(fixed, key, lower)
                    yield from self._scan(pinned, keys, None, True, None, block=True)
                    lower, inclusive = highest, False
                    continue
            elif lowest == highest:  # 10,000 results share one value: moving L can't help
                pinned = _pinned(fixed, key, highest)
                yield from self._split(pinned, keys, highest)
                lower, inclusive = highest, False
                continue
            lower, inclusive = highest, True

    def _pages(self, criteria: list[JSON], key: _SortKey, numbers: range) -> Iterator[JSON]:
        """The answers for these page numbers of one query, in order. Up to `ahead` of them
        are requested at once, the ones beyond the first only while the client's shared
        read-ahead allowance lasts (so memory stays flat however many streams run)."""
        # (the answer's bytes, whether it holds a read-ahead allowance, its page number)
        pending: deque[tuple[Future[bytes], bool, int]] = deque()
        todo = iter(numbers)
        try:
            while True:
                while len(pending) < self.ahead:
                    extra = bool(pending)
                    if extra and not self.client.read_ahead.acquire(blocking=False):
                        break
                    number = next(todo, None)
                    if number is None:
                        if extra:
                            self.client.read_ahead.release()
                        break
                    future = self.client.submit(self._search, criteria, key, number, False)
                    pending.append((future, extra, number))
                if not pending:
                    return
                future, extra, number = pending.popleft()
                try:
                    content = future.result()
                finally:
                    if extra:
                        self.client.read_ahead.release()
                try:
                    response = self.client.parse(content)
                except RetryableError:  # a garbled body: ask for that page again, with retries
                    response = self._search(criteria, key, number)
                yield response
        finally:
            for future, extra, _ in pending:
                future.cancel()
                if extra:
                    self.client.read_ahead.release()

    def _split(self, block: list[JSON], keys: list[_SortKey], value: str) -> Iterator[Page]:
        """A block too big for the result window: page it by the next sort key."""
        if len(keys) < 2:
            raise PagingError(
                f"more than {SEARCH_WINDOW:,} {self.spec.query_context} records share one "
                f"updatedAt and one createdAt ({value}); Kustomer search cannot page past "
                "10,000 results, so the tap stops rather than skip records"
            )
        LOGGER.info(
            "%s: more than %d records share %s %s; splitting them by %s",
            self.spec.query_context,
            SEARCH_WINDOW,
            keys[0].field,
            value,
            keys[1].field,
        )
        yield from self._scan(block, keys[1:], None, True, None)

    def _out_of_order(self, key: _SortKey) -> PagingError:
        return PagingError(
            f"{self.spec.query_context} search: Kustomer returned results out of "
            f"{key.field} order, so paging could skip records; stopping"
        )

    def _search(self, criteria: list[JSON], key: _SortKey, page: int, parse: bool = True) -> Any:
        body: JSON = {
            "and": criteria,
            "sort": [{key.attr: "asc"}],
            "queryContext": self.spec.query_context,
        }
        if self.spec.include_deleted:
            body["includeDeleted"] = True
        params = {"page": page, "pageSize": self.page_size}
        response = self.client.post(self.spec.path, body, params, parse)
        if not self._searched:
            self._searched, self._total = True, _total(response)
        return response

    def _sorted_records(self, response: JSON, key: _SortKey) -> tuple[list[JSON], list[str]]:
        data = response.get("data")
        if not isinstance(data, list):
            raise PagingError(
                f"{self.spec.query_context} search: Kustomer's answer has no 'data' list"
            )
        records = with_ids(data, f"{self.spec.query_context} search")
        values: list[str] = []
        for record in records:
            value = canonical_ts(_attribute(record, key.field))
            if value is None:
                raise PagingError(
                    f"{self.spec.query_context} search: record {record['id']} has no valid "
                    f"{key.field}, so the tap cannot page past it safely"
                )
            if values and value < values[-1]:
                raise self._out_of_order(key)
            values.append(value)
        return records, values

    def _page(self, records: list[JSON]) -> Page:
        """Drop records already yielded at their updatedAt; advance the bookmark."""
        fresh = []
        for record in records:
            stamp = updated_at(record)
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
    """

    def __init__(
        self,
        client: KustomerClient,
        path: str,
        page_size: int,
        params: dict[str, Any] | None = None,
        member: str = "data",
        numbered: bool = True,
    ) -> None:
        self.client = client
        self.path = path
        self.page_size = page_size
        self.params = params or {}
        self.member = member
        self.numbered = numbered

    def _params(self, page: int) -> dict[str, Any]:
        if not self.numbered:
            return dict(self.params)
        return {**self.params, "page": page, "pageSize": self.page_size}

    def pages(self) -> Iterator[list[JSON]]:
        """Yield each page's records that were not on an earlier page."""
        url, page = self.path, 1
        params: dict[str, Any] | None = self._params(page)
        visited = {url}
        seen: set[str] = set()
        yielded: set[str] = set()
        while True:
            response = self.client.get(url, params)
            data = response.get("data")
            if not isinstance(data, list):
                raise PagingError(f"GET {self.path}: Kustomer's answer has no 'data' list")
            records = with_ids(data, f"GET {self.path}")
            fresh = [r for r in records if r["id"] not in seen]
            seen.update(r["id"] for r in fresh)
            if self.member == "data":
                yield fresh
            else:
                members = response.get(self.member) or []
                members = with_ids(members if isinstance(members, list) else [], self.path)
                new_members = [r for r in members if r["id"] not in yielded]
                yielded.update(r["id"] for r in new_members)
                yield new_members
            links = response.get("links")
            if not data or (isinstance(links, dict) and not links.get("next")):
                return
            if not fresh:
                raise PagingError(
                    f"GET {self.path}: the next page holds only records already read; "
                    "stopping instead of looping"
                )
            page += 1
            if isinstance(links, dict):
                url, params = links["next"], None
                if url in visited:
                    raise PagingError(
                        f"GET {self.path}: links.next points at a page already read; "
                        "stopping instead of looping"
                    )
                visited.add(url)
            elif self.numbered and len(data) >= _page_size(response, self.page_size):
                params = self._params(page)  # no links: ask for the next number
            else:
                return


def _pinned(fixed: list[JSON], key: _SortKey, value: str) -> list[JSON]:
    """The criteria of the block of records whose sort key equals `value`."""
    return [*fixed, {key.attr: {"gte": value}}, {key.attr: {"lte": value}}]


def _total(response: JSON) -> int | None:
    meta = response.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) else None


def _page_size(response: JSON, requested: int) -> int:
    """The page size the server applied (it silently lowers sizes above its maximum)."""
    meta = response.get("meta")
    size = meta.get("pageSize") if isinstance(meta, dict) else None
    return size if isinstance(size, int) and 0 < size <= requested else requested


def _has_more(response: JSON, page: int, count: int, requested: int) -> bool:
    """Whether a page has a successor. Missing paging information never means "done"."""
    if count == 0:
        return False
    size = _page_size(response, requested)
    total = _total(response)
    if total is not None and total < SEARCH_WINDOW:  # a total below the window is exact
        return page * size < total
    links = response.get("links")
    if isinstance(links, dict) and "next" in links:
        return bool(links["next"])
    return count >= size
