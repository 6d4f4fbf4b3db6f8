"""The streams. Each is a small declaration; paging lives in paging.py, emission in sync.py.

Search streams read `POST /v1/customers/search` with a queryContext, ascending by updatedAt,
filtered on the server. List streams read `GET /v1/<path>` page by page; the lists cannot filter,
so records older than the bookmark are dropped here, and the bookmark advances only once the
whole list has been read (the lists are not ordered by updatedAt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

from tap_kustomer.client import JSON, KustomerClient
from tap_kustomer.config import Settings
from tap_kustomer.paging import ListPager, Page, SearchPager, SearchSpec, updated_at
from tap_kustomer.transform import denest, jsonapi, normalize_recipients

SEARCH_ROLE = "org.permission.search.create (legacy org.user.search.read)"


def search_roles(obj: str) -> str:
    """The roles a search stream needs: its object's read role and the search role."""
    return f"org.permission.{obj}.read (legacy org.user.{obj}.read) and {SEARCH_ROLE}"


class Stream:
    """What every stream declares."""

    name: ClassVar[str]
    key_properties: ClassVar[tuple[str, ...]] = ("id",)
    replication_method: ClassVar[str] = "INCREMENTAL"
    replication_key: ClassVar[str | None] = "updated_at"
    default_page_size: ClassVar[int] = 100
    max_page_size: ClassVar[int] = 100
    roles: ClassVar[str]  # the role a key needs, for the 403 message
    fixups: ClassVar[tuple[Callable[[JSON], JSON], ...]] = ()

    def page_size(self, configured: int | None) -> int:
        """The configured page size lowered to this endpoint's maximum (or the default)."""
        return min(configured or self.default_page_size, self.max_page_size)

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        """Pages of raw resources updated at or after `start`."""
        raise NotImplementedError

    def shape(self, resource: JSON, record_format: str = "denested") -> JSON:
        """A raw JSON:API resource as the record this stream emits."""
        if record_format == "jsonapi":
            return jsonapi(resource)
        record = denest(resource)
        for fixup in self.fixups:
            record = fixup(record)
        return record


class SearchStream(Stream):
    """A stream read through Kustomer search, incremental on updatedAt."""

    query_context: ClassVar[str]
    default_page_size = 500
    max_page_size = 500

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        spec = SearchSpec(self.query_context, self.query_context, settings.include_deleted)
        size = self.page_size(settings.page_size)
        yield from SearchPager(client, spec, size, start, signpost).pages()


class ListStream(Stream):
    """A stream read from a GET list, filtered on updated_at here."""

    path: ClassVar[str]

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        newest: str | None = None
        for records in ListPager(client, self.path, self.page_size(settings.page_size)).pages():
            kept = []
            for record in records:
                stamp = updated_at(record)
                if stamp is None or stamp >= start:
                    kept.append(record)
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            yield Page(kept)  # bookmark unchanged: unread pages may hold older records
        if newest is not None:
            yield Page([], min(newest, signpost))


class Customers(SearchStream):
    name = "customers"
    query_context = "customer"
    roles = search_roles("customer")


class Conversations(SearchStream):
    name = "conversations"
    query_context = "conversation"
    roles = search_roles("conversation")


class Messages(SearchStream):
    name = "messages"
    query_context = "message"
    roles = search_roles("message")
    fixups = (normalize_recipients,)


class Notes(SearchStream):
    name = "notes"
    query_context = "note"
    roles = search_roles("note")


class KObjects(SearchStream):
    name = "kobjects"
    query_context = "kobject"
    roles = search_roles("kobject")


class Users(ListStream):
    name = "users"
    path = "/v1/users"
    max_page_size = 500
    roles = "org.permission.user.read (legacy org.user.read)"


class Teams(ListStream):
    name = "teams"
    path = "/v1/teams"
    max_page_size = 500
    roles = "org.permission.team.read (legacy org.user.read)"


class Tags(ListStream):
    name = "tags"
    path = "/v1/tags"
    roles = "org.permission.tag.read (legacy org.user.read)"


class Shortcuts(ListStream):
    name = "shortcuts"
    path = "/v1/shortcuts"
    roles = "org.permission.shortcut.read (legacy org.user.read)"


STREAMS: dict[str, type[Stream]] = {
    cls.name: cls
    for cls in (Customers, Conversations, Messages, Notes, KObjects, Users, Teams, Tags, Shortcuts)
}
