"""The two pagers: exact keyset paging over Kustomer search, and links.next paging over lists.

Kustomer search returns at most the first 10,000 results of a query, and records that share an
`updatedAt` come back in no guaranteed order. So the search pager never walks deep page numbers:

1. It asks for page 1 of `updated_at >= L` (sorted ascending), emits what it has not emitted at
   that timestamp yet, and moves L to the last `updatedAt` on the page. Records tied at L are
   re-read on the next page 1 and dropped by id.
2. If a whole page shares L (a tie block larger than a page), moving L cannot make progress:
   the block `updated_at == L` is then read by page number (it is small and fixed, so offsets
   are safe), re-read if its size changed meanwhile, and the scan goes on with `updated_at > L`.
3. A block too big for the 10,000-result window is split the same way by `createdAt`; only if
   more than 10,000 records share both timestamps does the tap stop, with a clear error, rather
   than skip any of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tap_kustomer.client import JSON, KustomerClient
from tap_kustomer.errors import PagingError
from tap_kustomer.timeutil import canonical_ts

LOGGER = logging.getLogger(__name__)

SEARCH_PATH = "/v1/customers/search"
SEARCH_WINDOW = 10_000  # a search query reaches only its first 10,000 results
MAX_BLOCK_PASSES = 5  # re-reads of a tie block that keeps changing while it is read


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
        self, client: KustomerClient, spec: SearchSpec, page_size: int, start: str, end: str
    ) -> None:
        self.client = client
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
    ) -> Iterator[Page]:
        """Keyset paging on keys[0] within the `fixed` criteria; always page 1."""
        key = keys[0]
        while True:
            criteria = list(fixed)
            if lower is not None:
                criteria.append({key.attr: {"gte" if inclusive else "gt": lower}})
            if upper is not None:
                criteria.append({key.attr: {"lte": upper}})
            response = self._search(criteria, key, 1)
            records, values = self._sorted_records(response, key)
            yield self._page(records)
            if not _has_more(response, 1, len(records), self.page_size):
                return
            last = values[-1]
            if values[0] == last:  # a whole page shares one value: moving the bound can't help
                block = [*fixed, {key.attr: {"gte": last}}, {key.attr: {"lte": last}}]
                yield from self._drain(block, keys, last)
                lower, inclusive = last, False
            else:
                lower, inclusive = last, True

    def _drain(self, block: list[JSON], keys: list[_SortKey], value: str) -> Iterator[Page]:
        """Read every record of a block sharing one sort value, by page number."""
        key = keys[0]
        for _ in range(MAX_BLOCK_PASSES):
            first_total = total = None
            page = 1
            while True:
                response = self._search(block, key, page)
                records, _ = self._sorted_records(response, key)
                total = _total(response)
                first_total = total if page == 1 else first_total
                yield self._page(records)
                if page == 1 and total is not None and total >= SEARCH_WINDOW:
                    yield from self._split(block, keys, value)
                    return
                if not _has_more(response, page, len(records), self.page_size):
                    break
                if (page + 1) * _page_size(response, self.page_size) > SEARCH_WINDOW:
                    yield from self._split(block, keys, value)
                    return
                page += 1
            if total == first_total:
                return
            LOGGER.warning(
                "%s: records sharing %s %s changed while being read; reading them again",
                self.spec.query_context,
                key.field,
                value,
            )
        raise PagingError(
            f"{self.spec.query_context} search: the records sharing {key.field} {value} kept "
            f"changing over {MAX_BLOCK_PASSES} reads; run the tap again later"
        )

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

    def _search(self, criteria: list[JSON], key: _SortKey, page: int) -> JSON:
        body: JSON = {
            "and": criteria,
            "sort": [{key.attr: "asc"}],
            "queryContext": self.spec.query_context,
        }
        if self.spec.include_deleted:
            body["includeDeleted"] = True
        response = self.client.post(
            self.spec.path, body, {"page": page, "pageSize": self.page_size}
        )
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
                raise PagingError(
                    f"{self.spec.query_context} search: Kustomer returned results out of "
                    f"{key.field} order, so paging could skip records; stopping"
                )
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
