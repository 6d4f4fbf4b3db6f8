"""An in-process fake of Kustomer's search and list endpoints, served through `responses`.

It reproduces what makes paging hard: ascending sort with ties returned in an order that is
stable for one query but shuffled between queries, the 10,000-result window (a 400 past it,
while links.next still points there), silent page-size clamping and relative links.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

BASE = "https://api.kustomerapp.com"
WINDOW = 10_000
ARCHIVE = "/v1/customers/archive/search"
OPS = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt,
       "equals": operator.eq}  # fmt: skip


def ts(minutes: float) -> str:
    """A canonical timestamp `minutes` after 2025-01-01T00:00:00Z."""
    value = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def resource(kind: str, n: int, updated: str, created: str | None = None, **attrs: Any) -> dict:
    """A JSON:API resource with a 24-hex id."""
    return {
        "type": kind,
        "id": f"{n:024x}",
        "attributes": {"createdAt": created or updated, "updatedAt": updated, **attrs},
        "relationships": {"org": {"data": {"type": "org", "id": "0" * 24}}},
        "links": {"self": f"/v1/{kind}s/{n:024x}"},
    }


class FakeKustomer:
    """Holds records per search context and per list path, and answers like Kustomer."""

    def __init__(self, rsps: responses.RequestsMock, base: str = BASE) -> None:
        self.base = base
        self.search: dict[str, list[dict]] = {}
        self.archive: dict[str, list[dict]] = {}  # what only archive search reaches
        self.lists: dict[str, list[dict]] = {}
        # Deactivated users, deleted tags: only `deleted=true` surely lists them (GetUsersData);
        # the default list holds them too only when `default_lists_deleted`.
        self.deleted: dict[str, list[dict]] = {}
        self.default_lists_deleted = False
        self.documents: dict[str, dict] = {}  # path → the single object a GET returns
        self.refused: dict[str, int] = {}  # GET path → error status (401, 403…)
        self.search_max = 500
        self.list_max = 100
        self.requests: list[tuple[str, dict | None, dict]] = []  # (path, body, params)
        self.max_requests = 5_000  # a looping pager fails fast instead of hanging the suite
        self.forbidden: dict[str, dict] = {}  # search context → 403 error body
        self.fail_next: list[int] = []  # statuses to answer searches with first (503, 429…)
        # What Elasticsearch allows and Kustomer does not rule out (search-realism.md):
        self.replicas = 1  # > 1: each search is answered by one of that many tie orders
        self.total_cap: int | None = None  # meta.total (and totalPages, next) capped here
        self.timed_out: list[bool] = []  # answers to flag meta.timed_out (dropping a record)
        self.silent_clamp = False  # meta.pageSize says what was asked, not what was served
        self.ignore_criteria = False  # a broken server: every query answers the whole context
        self.flood = 0  # answers that hold every matching record, whatever page size was asked
        self._replica = random.Random(7)
        for path, store in (("/v1/customers/search", self.search), (ARCHIVE, self.archive)):
            rsps.add_callback(
                responses.POST,
                re.compile(re.escape(base + path) + r"(\?.*)?$"),
                functools.partial(self._search, path, store),
            )
        rsps.add_callback(responses.GET, re.compile(re.escape(base) + r"/v1/.*"), self._list)

    # -- search -------------------------------------------------------------------------------
    def _search(self, path: str, store: dict, request: Any) -> tuple[int, dict, str]:
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        body = json.loads(request.body)
        self._count((path, body, params))
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, {"Retry-After": "2"}, json.dumps({"errors": [{"status": str(status)}]})
        page = int(params.get("page", 1))
        size = min(int(params.get("pageSize", 100)), self.search_max)
        if page * size > WINDOW:
            return _error(400, "query_window_exceeded")
        context = body["queryContext"]
        if context in self.forbidden:
            return _json(self.forbidden[context], 403)
        criteria = [] if self.ignore_criteria else body.get("and", [])
        matching = list(filter(_matcher(criteria), store.get(context, [])))
        ((sort_attr, direction),) = body["sort"][0].items()
        field = _field(sort_attr)
        salt = json.dumps(body, sort_keys=True)
        if self.replicas > 1:
            salt = f"replica {self._replica.randrange(self.replicas)}"
        matching.sort(
            key=lambda r: (
                r["attributes"].get(field) or "",
                hashlib.sha1((salt + r["id"]).encode()).hexdigest(),
            ),
            reverse=direction == "desc",
        )
        chunk = matching[(page - 1) * size : page * size]
        if self.flood:
            self.flood -= 1
            chunk = matching
        total = len(matching)
        if self.total_cap is not None:
            total = min(total, self.total_cap)
        pages = -(-total // size)
        timed_out = bool(self.timed_out) and self.timed_out.pop(0)
        if timed_out:
            chunk = chunk[1:]
        link = path + "?page={}&pageSize=" + str(size)
        return _json(
            {
                "data": chunk,
                "meta": {
                    "page": page,
                    "pageSize": int(params.get("pageSize", 100)) if self.silent_clamp else size,
                    "total": total,
                    "totalPages": pages,
                    "timed_out": timed_out,
                },
                "links": {
                    "self": link.format(page),
                    "first": link.format(1),
                    "prev": link.format(page - 1) if page > 1 else None,
                    "next": link.format(page + 1) if page < pages else None,
                    "last": link.format(max(pages, 1)),
                },
            }
        )

    # -- lists --------------------------------------------------------------------------------
    def _list(self, request: Any) -> tuple[int, dict, str]:
        parts = urlsplit(request.url)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self._count((parts.path, None, params))
        if parts.path in self.refused:
            return _error(self.refused[parts.path], "refused")
        if parts.path in self.documents:
            return _json(self.documents[parts.path])
        records = self.lists.get(parts.path)
        if records is None:
            return _error(404, "not_found")
        gone = self.deleted.get(parts.path, [])
        if params.get("deleted") == "true":
            records = gone
        elif "deleted" not in params and self.default_lists_deleted:
            records = records + gone
        if "status" in params:  # GET /v1/klasses?status=enabled|disabled
            records = [r for r in records if r["attributes"].get("status") == params["status"]]
        page = int(params.get("page", 1))
        size = min(int(params.get("pageSize", 100)), self.list_max)
        chunk = records[(page - 1) * size : page * size]
        more = page * size < len(records)
        link = parts.path + "?page={}&pageSize=" + str(size)
        return _json(
            {
                "data": chunk,
                "meta": {"page": page, "pageSize": size},
                "links": {
                    "self": link.format(page),
                    "prev": link.format(page - 1) if page > 1 else None,
                    "next": link.format(page + 1) if more else None,
                },
            }
        )

    def _count(self, request: tuple[str, dict | None, dict]) -> None:
        self.requests.append(request)
        if len(self.requests) > self.max_requests:
            raise AssertionError(f"more than {self.max_requests} requests: the pager loops")

    def search_count(self) -> int:
        return sum(1 for path, body, _ in self.requests if body is not None)


def _field(attr: str) -> str:
    return "updatedAt" if attr.endswith("_updated_at") else "createdAt"


def _matcher(criteria: list[dict]) -> Callable[[dict], bool]:
    """Whether a record meets every criterion (the tests flattened once per request: this
    runs over every record of a context on every search)."""
    tests = [
        (_field(attr), OPS[op], bound)
        for criterion in criteria
        for attr, condition in criterion.items()
        for op, bound in condition.items()
    ]

    def matches(record: dict) -> bool:
        attributes = record["attributes"]
        for field, test, bound in tests:
            value = attributes.get(field)
            if value is None or not test(value, bound):
                return False
        return True

    return matches


def _json(body: dict, status: int = 200) -> tuple[int, dict, str]:
    headers = {"Content-Type": "application/json"}
    return status, headers, json.dumps(body)


def _error(status: int, code: str) -> tuple[int, dict, str]:
    return _json({"errors": [{"status": str(status), "code": code, "title": code}]}, status)
