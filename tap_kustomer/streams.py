"""The streams. Each is a small declaration; paging lives in paging.py, emission in sync.py.

Search streams read `POST /v1/customers/search` with a queryContext, ascending by updatedAt,
filtered on the server; a start older than search's two-year horizon is first read through
archive search. List streams read `GET /v1/<path>` page by page; the lists cannot filter, so
records older than the bookmark are dropped here, and the bookmark advances only once the
whole list has been read (the lists are not ordered by updatedAt). Full-table streams re-read
small lists whole on every run. Each stream's `bookmark` (bookmarks.py) is the rule for where
a run starts and when its state advances.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from tap_kustomer import bookmarks
from tap_kustomer.bookmarks import BookmarkRule
from tap_kustomer.client import JSON, KustomerClient
from tap_kustomer.config import Settings
from tap_kustomer.errors import NotFoundError
from tap_kustomer.paging import SEARCH_PATH, ListPager, Page, SearchPager, SearchSpec, attribute_ts
from tap_kustomer.timeutil import format_ts
from tap_kustomer.transform import (
    Coercer,
    custom_attribute_resources,
    denest,
    drop_fields,
    json_text,
    jsonapi,
    normalize_recipients,
    wrap_strings,
)

LOGGER = logging.getLogger(__name__)

SEARCH_ROLE = "org.permission.search.create (legacy org.user.search.read or org.admin.search.read)"
ARCHIVE_SEARCH_PATH = "/v1/customers/archive/search"
# Standard search sees records updated in the last two years; older ones only archive search.
# The archive is read up to two days past that horizon (leap days, clocks), so none is missed.
SEARCH_HORIZON = timedelta(days=730)
ARCHIVE_OVERLAP = timedelta(days=2)
METADATA_RESOURCES = ("customer", "conversation", "message", "company")


def search_roles(obj: str) -> str:
    """The roles a search stream needs: its object's read role and the search role."""
    return f"org.permission.{obj}.read (legacy org.user.{obj}.read) and {SEARCH_ROLE}"


def read_role(obj: str, *legacy: str, also: tuple[str, ...] = ()) -> str:
    """The roles of a list endpoint, any one of which lets a key read it, as Kustomer's docs
    name them: org.permission.<obj>.read (or of the objects `also`), and the legacy ones."""
    permissions = " or ".join(f"org.permission.{o}.read" for o in (obj, *also))
    return f"{permissions} (legacy {' or '.join(legacy)})" if legacy else permissions


def archive_end(signpost: str) -> str:
    """The newest updatedAt the archive part of a search stream reads."""
    return format_ts(datetime.fromisoformat(signpost) - SEARCH_HORIZON + ARCHIVE_OVERLAP)


@dataclass
class Shaper:
    """A raw resource → the record this run emits (None: it cannot be shaped, and is skipped
    with a WARNING naming its id); finish() logs what the Coercer changed, once per field."""

    stream: Stream
    record_format: str
    deselected: Collection[str]
    coerce: Coercer | None  # transform.Coercer: values made to match the selected schema

    def __call__(self, resource: JSON) -> JSON | None:
        try:
            record = self.stream.shape(resource, self.record_format)
        except RecursionError:  # nested deeper than the interpreter's stack
            LOGGER.warning(
                "%s: skipped record %s: nested too deeply to shape",
                self.stream.name,
                resource.get("id") if isinstance(resource, dict) else None,
            )
            return None
        if self.deselected:
            drop_fields(record, self.deselected)
        return self.coerce(record) if self.coerce is not None else record

    def finish(self) -> None:
        if self.coerce is not None:
            self.coerce.finish()


class Stream:
    """What every stream declares."""

    name: ClassVar[str]
    schema_name: ClassVar[str | None] = None  # the schema file, when not the stream's name
    key_properties: ClassVar[tuple[str, ...]] = ("id",)
    bookmark: ClassVar[BookmarkRule] = bookmarks.LIST  # the one declaration of its bookmark
    # Derived from `bookmark` (for the catalog): set by __init_subclass__.
    replication_method: ClassVar[str] = "INCREMENTAL"
    replication_key: ClassVar[str | None] = "updated_at"
    selected_by_default: ClassVar[bool] = True
    # A full table's reads are table versions, activated once whole (sync.py).
    versioned: ClassVar[bool] = True
    default_page_size: ClassVar[int] = 100
    max_page_size: ClassVar[int] = 100
    roles: ClassVar[str]  # the role a key needs, for the 403 message
    fixups: ClassVar[tuple[Callable[[JSON], JSON], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.replication_key = cls.bookmark.key
        cls.replication_method = "INCREMENTAL" if cls.bookmark.key else "FULL_TABLE"

    @classmethod
    def schema_file(cls) -> str:
        """The name of the stream's schema file (without .json)."""
        return cls.schema_name or cls.name

    def page_size(self, configured: int | None) -> int:
        """The configured page size lowered to this endpoint's maximum (or the default)."""
        return min(configured or self.default_page_size, self.max_page_size)

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        """Pages of raw resources updated at or after `start`."""
        raise NotImplementedError

    def shaper(
        self, record_format: str, deselected: Collection[str], schema: JSON | None = None
    ) -> Shaper:
        """What turns each raw resource into the record this run emits. With `schema` (the
        stream's selected schema) each record's top-level values are made to match it."""
        return Shaper(
            self, record_format, deselected, Coercer(self.name, schema) if schema else None
        )

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
    object_prefix: ClassVar[str | None] = None  # search attribute prefix, if not the context
    in_archive_search: ClassVar[bool] = True  # archive search serves this context
    bookmark = bookmarks.SEARCH
    default_page_size = 500
    max_page_size = 500

    def spec(self, settings: Settings, path: str = SEARCH_PATH) -> SearchSpec:
        """What to search: this stream's context, on the standard or the archive endpoint."""
        prefix = self.object_prefix or self.query_context
        return SearchSpec(self.query_context, prefix, settings.include_deleted, path)

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        size = self.page_size(settings.page_size)
        ahead = 2 * settings.max_workers  # pages of one query requested at once
        # Updates made in the last lookback_seconds may still be waiting to be indexed, and
        # move records within a query when they are: only older ones are read by page number.
        settled = format_ts(
            datetime.fromisoformat(signpost) - timedelta(seconds=settings.lookback_seconds)
        )
        oldest = archive_end(signpost)
        if start < oldest:
            if self.in_archive_search:
                LOGGER.info(
                    "%s: reading records older than two years from archive search", self.name
                )
                archive = self.spec(settings, ARCHIVE_SEARCH_PATH)
                yield from SearchPager(client, archive, size, start, oldest, ahead).pages()
            else:
                LOGGER.warning(
                    "%s: Kustomer keeps no archive search for this object, so records last "
                    "updated more than two years ago cannot be read",
                    self.name,
                )
        # From `start`, not from the archive's end: no gap, whatever the exact horizon is.
        standard = self.spec(settings)
        yield from SearchPager(client, standard, size, start, signpost, ahead, settled).pages()


class ListStream(Stream):
    """A stream read from GET lists, one read per entry of `queries`, each record once.

    Incremental on its replication key, filtered here: the bookmark advances only once every
    list is read whole and held still while it was read (ListPager.complete); otherwise it
    stays, and the next run reads the same records again. Records stamped later than the run's
    start (a clock ahead) are emitted too; the bookmark stays capped at the run's start."""

    path: ClassVar[str]
    queries: ClassVar[tuple[dict[str, Any], ...]] = ({},)  # one list read per parameter set
    member: ClassVar[str] = "data"  # the answer's list of records ("included": SLA versions)
    stamp_attribute: ClassVar[str] = "updatedAt"  # the attribute the bookmark follows

    def pager(
        self, client: KustomerClient, params: dict[str, Any], start: str, signpost: str,
        settings: Settings,
    ) -> ListPager:  # fmt: skip
        """The pager of one list read."""
        size = self.page_size(settings.page_size)
        return ListPager(client, self.path, size, params, self.member)

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        newest: str | None = None
        whole = True
        seen: set[str] = set()  # a record two reads return is emitted once
        incremental = self.bookmark.key is not None
        for params in self.queries:
            pager = self.pager(client, params, start, signpost, settings)
            for records in pager.pages():
                kept = []
                for record in records:
                    if record["id"] in seen:
                        continue
                    seen.add(record["id"])
                    if params == DELETED:
                        flag_deleted(record)
                    stamp = attribute_ts(record, self.stamp_attribute)
                    if not incremental or stamp is None or stamp >= start:
                        kept.append(record)
                    if stamp is not None and (newest is None or stamp > newest):
                        newest = stamp
                yield Page(kept)  # bookmark unchanged: unread pages may hold older records
            whole = whole and pager.complete
        if whole:
            reached = min(newest, signpost) if incremental and newest is not None else None
            yield Page([], reached, whole=True)


# Kustomer's user and tag lists leave deactivated users and deleted tags out, or not (their
# default is undocumented): a read of `deleted=true` comes first, so they arrive flagged even
# when the default list holds them too (each record is emitted once, as first read).
DELETED: dict[str, Any] = {"deleted": "true"}


def flag_deleted(record: JSON) -> None:
    """A record of a `deleted=true` read says deleted: true, whether or not Kustomer did."""
    attributes = record.get("attributes")
    if isinstance(attributes, dict) and attributes.get("deleted") is None:
        attributes["deleted"] = True


class FullTableStream(ListStream):
    """A small GET list read whole on every run (no bookmark). Once a read is whole, the
    stream's ACTIVATE_VERSION tells targets that rows of earlier reads are gone (sync.py)."""

    bookmark = bookmarks.FULL_TABLE


class Customers(SearchStream):
    name = "customers"
    query_context = "customer"
    roles = search_roles("customer")


class Conversations(SearchStream):
    name = "conversations"
    query_context = "conversation"
    roles = search_roles("conversation")
    # one type per column for typed targets (README, Record shape): objects, strings wrapped
    fixups = (wrap_strings("id", "deleted_by"), wrap_strings("value", "snooze"))


class Messages(SearchStream):
    name = "messages"
    query_context = "message"
    roles = search_roles("message")
    fixups = (normalize_recipients,)


class Notes(SearchStream):
    name = "notes"
    query_context = "note"
    in_archive_search = False  # archive search has no note context
    roles = search_roles("note")


class KObjects(SearchStream):
    name = "kobjects"
    query_context = "kobject"
    roles = search_roles("kobject")
    fixups = (wrap_strings("id", "queue"),)  # a plain queue id becomes {"id": …}


class Companies(SearchStream):
    name = "companies"
    query_context = "company"
    roles = search_roles("company")


class KlassObjects(SearchStream):
    """The objects of one custom object klass; subclasses are made per klass by klass_stream."""

    schema_name = "kobjects"
    object_prefix = "kobject"
    klass: ClassVar[str]
    roles = search_roles("kobject")
    fixups = KObjects.fixups


def klass_stream_id(klass: str) -> str:
    """kobject_<klass>, lowercased, every character outside [a-z0-9_] replaced by "_"."""
    return "kobject_" + re.sub(r"[^a-z0-9_]", "_", klass.lower())


def klass_stream(klass: str, stream_id: str | None = None) -> type[KlassObjects]:
    """The stream class of one klass (`stream_id` when discovery had to disambiguate it)."""
    name = stream_id or klass_stream_id(klass)
    attributes = {"name": name, "klass": klass, "query_context": f"kobject_{klass}"}
    return type(f"KlassObjects[{klass}]", (KlassObjects,), attributes)


def list_klasses(client: KustomerClient, status: str = "enabled") -> list[str]:
    """The names of the org's custom object klasses with this status."""
    names = []
    for records in ListPager(client, "/v1/klasses", 100, {"status": status}).pages():
        for record in records:
            name = record.get("attributes", {}).get("name")
            if isinstance(name, str) and name:
                names.append(name)
    return names


class WorkSessions(SearchStream):
    """An agent's routing work session: sign-in to sign-out, status changes, capacity."""

    name = "work_sessions"
    query_context = "work_session"
    in_archive_search = False  # Kustomer documents no archive for it
    roles = (
        f"{read_role('work_session', 'org.user.routing.read', also=('routing',))} and {SEARCH_ROLE}"
    )


class WorkItems(SearchStream):
    """One per routed conversation: queue, offer, accept and stage times (several per
    conversation when it is re-queued)."""

    name = "work_items"
    query_context = "work_item"
    in_archive_search = False
    roles = f"{read_role('routing', 'org.user.routing.read')} and {SEARCH_ROLE}"


class ConversationTimes(SearchStream):
    """One per agent handle session of a conversation: Kustomer's source of handle time.

    Its search documents only conversation_time_created_at, and its records carry no
    updatedAt: a record is written once per handle session, so the stream reads by
    createdAt. Were Kustomer to change one later, this stream would not see it (a run from
    an empty state would); no source says they change."""

    name = "conversation_times"
    query_context = "conversation_time"
    in_archive_search = False  # search covers two years, no archive (OAS)
    bookmark = bookmarks.CREATED_SEARCH
    roles = search_roles("conversation")

    def spec(self, settings: Settings, path: str = SEARCH_PATH) -> SearchSpec:
        return replace(super().spec(settings, path), stamp="created", split=None)


class Users(ListStream):
    name = "users"
    path = "/v1/users"
    queries = (DELETED, {})  # deactivated users first, flagged; then the rest
    default_page_size = max_page_size = 500  # documented maximum: a list of 120 is one page
    roles = read_role("user", "org.user.read")


class Teams(ListStream):
    name = "teams"
    path = "/v1/teams"
    default_page_size = max_page_size = 500
    roles = read_role("team", "org.user.read")


class Tags(FullTableStream):
    """Read whole every run anyway (the list cannot filter): as a full table, a tag that is
    gone leaves the warehouse through ACTIVATE_VERSION, and deleted ones arrive flagged."""

    name = "tags"
    path = "/v1/tags"
    queries = (DELETED, {})
    roles = read_role("tag", "org.user.read")


class Shortcuts(ListStream):
    name = "shortcuts"
    path = "/v1/shortcuts"
    roles = read_role(
        "shortcut",
        "org.user.content.shortcut.read",
        "org.user.shortcut.read",
        "org.admin.content.shortcut.read",
        "org.admin.shortcut.read",
    )


class AuditLogs(ListStream):
    """Audit logs, newest first by cursor; the server filters on createdAt."""

    name = "audit_logs"
    path = "/v1/audit-logs"
    bookmark = bookmarks.AUDIT_LOG
    stamp_attribute = "createdAt"
    default_page_size = 1000
    fixups = (wrap_strings("id", "org"),)  # the org attribute (an id) or the relationship
    max_page_size = 1000
    roles = read_role("audit_logs", "org.user.audit_logs.read")

    def pager(
        self, client: KustomerClient, params: dict[str, Any], start: str, signpost: str,
        settings: Settings,
    ) -> ListPager:  # fmt: skip
        count = self.page_size(settings.page_size)
        dates = {"filter[start]": start, "filter[end]": signpost}
        # The cursor links Kustomer returns carry count and before/after only (OAS example):
        # the dates go on every page, or a run would read the whole 12-month log.
        return ListPager(
            client, self.path, count, {"count": count, **dates}, numbered=False, sticky=dates
        )


class PerConversation(Stream):
    """Records read per conversation changed since the bookmark: GET
    /v1/conversations/{id}/<sub_path>. One request per changed conversation, so these
    streams are not selected by default. The bookmark is the updatedAt of the conversations
    read: what is created with a conversation's activity updates the conversation."""

    sub_path: ClassVar[str]
    selected_by_default = False

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        conversations = Conversations()
        changed = replace(settings, include_deleted=False)  # deleted conversations have none
        gone = 0
        for page in conversations.pages(client, start, signpost, changed):
            found: list[JSON] = []
            for conversation in page.records:
                path = f"/v1/conversations/{conversation['id']}/{self.sub_path}"
                try:
                    for records in ListPager(client, path, self.page_size(None)).pages():
                        found.extend(self.adopt(record, conversation) for record in records)
                except NotFoundError:  # deleted since the search: what it held is gone too
                    gone += 1
            yield Page(found, page.bookmark, page.total)
        if gone:
            LOGGER.info(
                "%s: %d conversations were deleted before their %s were read",
                self.name,
                gone,
                self.sub_path,
            )

    def adopt(self, record: JSON, conversation: JSON) -> JSON:
        """A record as read for `conversation` (unchanged unless a stream needs more)."""
        return record


class ConversationEvents(PerConversation):
    """The change events of every conversation updated since the bookmark. Events are
    immutable, and each one updates its conversation: every event published before the
    conversations' updatedAt reached has been read (bookmark on published_at)."""

    name = "conversation_events"
    sub_path = "events"
    bookmark = bookmarks.EVENTS
    roles = f"{read_role('event', 'org.user.event.read')} and {search_roles('conversation')}"


class Attachments(PerConversation):
    """Attachment metadata (not the files) of every conversation updated since the bookmark,
    in the shape MeltanoLabs' tap emits and dbt-kustomer's stg_kustomer__attachments reads.
    Kustomer gives an attachment no top-level id (paging.with_ids takes it from links.self),
    and none names its conversation: the conversation it was read for is added."""

    name = "attachments"
    sub_path = "attachments"
    bookmark = bookmarks.PER_CONVERSATION
    roles = (
        f"{read_role('attachment', 'org.user.attachment.read')} and {search_roles('conversation')}"
    )

    def adopt(self, record: JSON, conversation: JSON) -> JSON:
        relationships = record.setdefault("relationships", {})
        if isinstance(relationships, dict) and not relationships.get("conversation"):
            relationships["conversation"] = {
                "data": {"type": "conversation", "id": conversation["id"]}
            }
        return record


class Brands(FullTableStream):
    name = "brands"
    path = "/v1/brands"
    roles = read_role("brand", "org.admin.brand.read", "org.user.brand.read")


class Queues(FullTableStream):
    name = "queues"
    path = "/v1/routing/queues"
    roles = read_role("queue", "org.user.routing.read", also=("routing",))


class Slas(FullTableStream):
    name = "slas"
    path = "/v1/slas"
    queries = ({"versions": "all"},)
    roles = read_role("sla", "org.user.sla.read")


class SlaVersions(Slas):
    name = "sla_versions"
    member = "included"  # the versions come beside the SLAs
    # Its own `version` column makes target-postgres 0.8's ACTIVATE_VERSION fail (SQLAlchemy:
    # "bindparam() name 'version' is reserved"); versions are immutable and go with their SLA.
    versioned = False


class BusinessSchedules(FullTableStream):
    name = "business_schedules"
    path = "/v1/schedules"
    roles = read_role("schedule", "org.user.schedule.read", "org.admin.schedule.read")


class Klasses(FullTableStream):
    name = "klasses"
    path = "/v1/klasses"
    queries = ({"status": "enabled"}, {"status": "disabled"})
    roles = read_role("klass", "org.user.klass.read", "org.admin.klass.read")


class Workflows(FullTableStream):
    name = "workflows"
    path = "/v1/workflows"
    roles = read_role("workflow", "org.admin.workflow.read")


class SatisfactionSurveys(FullTableStream):
    name = "satisfaction_surveys"
    path = "/v1/satisfaction"
    roles = read_role("satisfaction", "org.user.satisfaction.read")
    fixups = (json_text("scale"),)  # "5-point", "nps", or an object as JSON text


class RoutingStatuses(FullTableStream):
    """What a work session's status ids mean (Available, Lunch, …)."""

    name = "routing_statuses"
    path = "/v1/routing/statuses"
    roles = read_role("routing_status", "org.user.routing.read", also=("routing",))


class TeamRoutingSettings(FullTableStream):
    """Each team's routing: its queues (at most 10) and capacity."""

    name = "team_routing_settings"
    path = "/v1/routing/settings"
    roles = read_role("routing", "org.user.routing.read")


class SubStatuses(FullTableStream):
    """The resolution reasons behind every conversation's sub_status id."""

    name = "sub_statuses"
    path = "/v1/sub-statuses"
    roles = read_role("sub_status", also=("conversation", "kobject"))


class Snoozes(FullTableStream):
    name = "snoozes"
    path = "/v1/snoozes"
    roles = read_role("snooze")
    fixups = (json_text("value"),)  # milliseconds, an epoch, or an object: as JSON text


class CustomAttributeMetadata(Stream):
    """One record per custom attribute of customers, conversations, messages, companies and
    every klass, from GET /v1/metadata/{resource}."""

    name = "custom_attribute_metadata"
    bookmark = bookmarks.FULL_TABLE
    roles = (
        f"{read_role('metadata', 'org.user.metadata.read', 'org.admin.metadata.read')} and "
        f"{read_role('klass', 'org.user.klass.read', 'org.admin.klass.read')}"
    )

    def pages(
        self, client: KustomerClient, start: str, signpost: str, settings: Settings
    ) -> Iterator[Page]:
        klasses = list_klasses(client, "enabled") + list_klasses(client, "disabled")
        for resource in [*METADATA_RESOURCES, *(f"kobject.{k}" for k in klasses)]:
            try:
                document = client.get(f"/v1/metadata/{resource}")
            except NotFoundError:  # nothing defined for this resource
                continue
            yield Page(custom_attribute_resources(resource, document))
        yield Page([], whole=True)  # every resource's definitions were read


STREAMS: dict[str, type[Stream]] = {
    cls.name: cls
    for cls in (
        Customers,
        Conversations,
        Messages,
        Notes,
        KObjects,
        Users,
        Teams,
        Tags,
        Shortcuts,
        Companies,
        Brands,
        Queues,
        Slas,
        SlaVersions,
        BusinessSchedules,
        Klasses,
        CustomAttributeMetadata,
        Workflows,
        SatisfactionSurveys,
        AuditLogs,
        ConversationEvents,
        WorkSessions,
        WorkItems,
        ConversationTimes,
        RoutingStatuses,
        TeamRoutingSettings,
        SubStatuses,
        Snoozes,
        Attachments,
    )
}
