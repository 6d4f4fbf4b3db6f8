"""Rules every stream schema in tap_kustomer/schemas/ must follow.

The schemas describe the record the tap emits: JSON:API ``attributes`` and
relationship ``data`` flattened to the top level, every key in snake_case.
"""

import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError
from kustomer_sandbox import Sandbox

from tap_kustomer.streams import STREAMS as TAP_STREAMS
from tap_kustomer.transform import custom_attribute_resources, denest
from tests.samples import validate, validate_all

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "tap_kustomer" / "schemas"

STREAMS = (
    "customers",
    "conversations",
    "messages",
    "notes",
    "kobjects",
    "users",
    "teams",
    "tags",
    "shortcuts",
)
# Streams added after 1.x: no compatibility tables; the generic rules, their own tables below
# and a validation of the sandbox's records.
NEW_STREAMS = (
    "companies",
    "brands",
    "queues",
    "business_schedules",
    "workflows",
    "satisfaction_surveys",
    "klasses",
    "slas",
    "sla_versions",
    "audit_logs",
    "conversation_events",
    "custom_attribute_metadata",
)
# Any schema added later is checked by the generic rules too.
ALL_SCHEMAS = sorted(set(STREAMS) | set(NEW_STREAMS) | {p.stem for p in SCHEMA_DIR.glob("*.json")})

DATE_TIME = {"type": ["null", "string"], "format": "date-time"}
OPEN_OBJECT = {"type": ["null", "object"], "properties": {}}

# The two leading fields; every other stream starts with "id", "type".
KEY_FIELDS = {
    # one record per custom attribute, named by resource + attribute name (the API gives the
    # attribute no id; `id` is declared for the "<resource>.<name>" key the tap may build)
    "custom_attribute_metadata": ("resource", "name"),
}

# Streams whose resources carry no updatedAt (so no updated_at column), with the timestamp
# they do carry and why.
NO_UPDATED_AT = {
    "slas": ("created_at", "an SLA changes by gaining versions; the resource has createdAt only"),
    "sla_versions": ("created_at", "versions are immutable: createdAt only"),
    "audit_logs": ("created_at", "append-only log entries: createdAt only"),
    "custom_attribute_metadata": ("modified_at", "definitions carry modifiedAt, not updatedAt"),
}

JSON_TYPES = {"null", "boolean", "integer", "number", "string", "object", "array"}

# Keywords that are plain draft 4 and survive singer.schema.Schema.from_dict.
# Notably absent: $ref/definitions (singer-python drops them), additionalProperties
# (objects stay open), anyOf/oneOf/allOf, required, enum.
ALLOWED_KEYWORDS = {"type", "properties", "items", "format", "description"}

# Field names ending in "_at" that are NOT date-times, with the reason.
# Empty on purpose: every "*_at" field Kustomer sends is an ISO-8601 timestamp.
AT_NOT_DATETIME = {}  # {(stream, "dotted.path"): "why"}

# Timestamps whose names do not end in "_at".
EXTRA_DATETIME_PATHS = {
    "conversations": [
        "snooze.time",  # ISO time the snooze ends (the *durations* live in total_snooze)
        "sla.breach.at",
        "first_message_in.first_delivered.timestamp",
        "first_message_out.first_delivered.timestamp",
        "satisfaction_level.scheduled_for",
    ],
    "messages": ["first_delivered.timestamp", "first_read.timestamp"],
    "customers": [
        "satisfaction_level.first_satisfaction.scheduled_for",
        "satisfaction_level.last_satisfaction.scheduled_for",
    ],
}

# Durations in (milli)seconds: numbers, never date-times or integers.
DURATION_NAMES = {
    "time",
    "business_time",
    "business_time_by_schedule",
    "time_since_last_done",
    "business_time_since_last_done",
    "business_time_by_schedule_since_last_done",
    "response_time",
    "response_business_time",
}
DURATION_EXCEPTIONS = {("conversations", "snooze.time")}  # a timestamp, see above

# "integer" is allowed only for counters the API guarantees to be whole numbers.
INTEGER_NAMES = {
    "message_count",
    "inbound_message_count",
    "outbound_message_count",
    "note_count",
    "done_count",
    "snooze_count",
    "reopen_count",
    "reopen_done_count",
    "reopen_from_done_count",
    "rev",
    "current_version",  # slas: the version counter
    "priority",
    "size",
    "version",
    "attachment_num",
    "count",
    "acknowledge_count",
    # customers.conversation_counts
    "all",
    "open",
    "snoozed",
    "done",
}

# fmt: off
# Drop-in upgrade from singer-io tap-kustomer 1.1.0: every top-level column it
# declared (peers.md 4.1) must still exist. Tenant-specific keys it listed inside
# `custom` (yale_*, shopify_*, order fields...) are dropped on purpose.
SINGER_IO_1_1_FIELDS = {
    "conversations": [
        "assigned_teams", "assigned_users", "channels", "created_at", "created_by", "custom",
        "customer", "direction", "done_count", "ended", "ended_at", "ended_by", "ended_by_type",
        "ended_reason", "external_id", "first_done", "first_message_in", "first_message_out",
        "first_response", "first_response_since_last_done", "id", "imported_at",
        "last_activity_at", "last_done", "last_message_at", "last_message_direction",
        "last_message_in", "last_message_out", "last_message_unresponded_to",
        "last_message_unresponded_to_since_last_done", "last_received_at", "last_response",
        "links", "merged_target", "message_count", "modified_at", "modified_by", "name",
        "note_count", "org", "outbound_message_count", "preview", "priority", "queue",
        "reopen_count", "rev", "role_group_versions", "satisfaction", "satisfaction_level",
        "sla", "sla_data", "sla_version", "snooze", "snooze_count", "status",
        "suggested_shortcuts", "suggested_tags", "tags", "total_done", "total_open",
        "total_snooze", "type", "updated_at",
    ],
    "customers": [
        "active_users", "avatar_url", "birthday_at", "conversation_counts", "created_at",
        "created_by", "custom", "deleted", "display_color", "display_icon", "display_name",
        "emails", "external_id", "external_ids", "facebook_ids", "first_name", "gender", "id",
        "imported_at", "instagram_ids", "last_activity_at", "last_conversation",
        "last_customer_activity_at", "last_message_at", "last_message_in", "last_message_out",
        "last_message_unresponded_to", "last_name", "last_seen_at", "links", "locale",
        "locations", "modified_at", "modified_by", "name", "org", "phones", "preview",
        "progressive_status", "recent_items", "recent_location", "rev", "role_group_versions",
        "satisfaction_level", "sentiment", "shared_emails", "shared_external_ids",
        "shared_phones", "shared_socials", "signed_up_at", "smooch_ids", "socials", "tags",
        "time_zone", "updated_at", "urls", "username", "verified", "watchers", "whatsapps",
    ],
    "kobjects": [
        "created_at", "custom", "customer", "description", "external_id", "icon", "id", "klass",
        "links", "org", "title", "type", "updated_at",
    ],
    "messages": [
        "created_at", "custom", "customer", "description", "external_id", "icon", "id", "images",
        "klass", "links", "org", "tags", "title", "type", "updated_at",
    ],
    "notes": [
        "body", "conversation", "created_at", "created_by", "customer", "deleted", "deleted_at",
        "deleted_by", "external_id", "id", "imported_at", "links", "modified_at", "modified_by",
        "org", "type", "updated_at", "user_mentions",
    ],
    "shortcuts": [
        "conversation", "created_at", "created_by", "deleted", "draft", "id", "is_private",
        "links", "modified_at", "modified_by", "name", "org", "payload", "type", "updated_at",
    ],
    "tags": [
        "color", "created_at", "created_by", "deleted", "id", "links", "modified_at",
        "modified_by", "name", "org", "type", "updated_at",
    ],
    "teams": [
        "created_at", "created_by", "deleted", "deleted_at", "deleted_by", "display_name", "icon",
        "id", "links", "members", "modified_at", "modified_by", "name", "org", "role_groups",
        "type", "updated_at",
    ],
    "users": [
        "avatar_url", "created_at", "created_by", "deleted_at", "display_name", "email",
        "email_signature", "email_verified_at", "first_email_verified_at", "id", "links",
        "mobile", "modified_at", "modified_by", "name", "org", "password", "role_groups",
        "roles", "type", "updated_at", "user_type",
    ],
}

# Snake_case form of the attributes/relationships MeltanoLabs declares (peers.md
# 4.2) that singer-io 1.1 lacked; dbt-kustomer reads most of them. Left out:
# links-only relationships (`messages`) and one tenant's klass relationships.
MELTANO_EXTRA_FIELDS = {
    "conversations": [
        "open", "spam", "predictions", "first_company", "inbound_message_count", "default_lang",
        "locale", "access_override", "modification_history", "assistant", "phase",
        "matched_time_based_rules", "reply_channel", "attribution", "skills", "last_deflection",
        "reopen_from_done_count", "linked_conversations", "external_queue", "pinned", "brand",
        "pinned_by", "sub_status",
    ],
    "customers": [
        "shared_whatsapps", "access_override", "last_message_at", "presence",
        "unmasking_window", "default_lang", "company_name",
    ],
    "messages": [
        "channel", "subject", "app", "size", "direction", "direction_type", "preview", "meta",
        "status", "response_time", "response_business_time", "assigned_teams",
        "assigned_users", "auto", "sent_at", "redacted", "created_by_teams", "rev", "reactions",
        "first_delivered", "first_read", "intent_detections", "lang", "modified_at",
        "modified_by", "conversation", "created_by", "shortcuts",
    ],
    "notes": ["created_by_teams"],
    "kobjects": ["images", "tags", "role_group_versions", "attribution"],
    "shortcuts": [
        "rev", "app_disabled", "parent", "access_users", "access_teams", "attachments",
    ],
    "tags": ["deleted_at", "deleted_by"],
    "teams": [],
    "users": [
        "verified_email_status", "first_login_at", "most_recent_login_at", "is_email_valid",
    ],
}

CUSTOM_STREAMS = ("customers", "conversations", "messages", "notes", "kobjects")

TO_ONE_RELATIONSHIPS = {
    "customers": ["org", "company", "created_by", "modified_by"],
    "conversations": [
        "org", "customer", "brand", "queue", "sla_data", "sla_version", "sub_status",
        "created_by", "modified_by", "ended_by", "pinned_by",
    ],
    "messages": ["org", "customer", "conversation", "klass", "created_by", "modified_by"],
    "notes": ["org", "customer", "conversation", "created_by", "modified_by", "deleted_by"],
    "kobjects": ["org", "klass", "customer", "company", "created_by", "modified_by"],
    "users": ["org", "created_by", "modified_by"],
    "teams": ["org", "created_by", "modified_by", "deleted_by"],
    "tags": ["org", "created_by", "modified_by", "deleted_by"],
    "shortcuts": ["org", "parent", "created_by", "modified_by"],
}
TO_MANY_RELATIONSHIPS = {
    "messages": ["shortcuts", "attachments"],
    "shortcuts": ["access_users", "access_teams", "attachments"],
}

NEW_TO_ONE_RELATIONSHIPS = {
    "companies": ["org", "created_by", "modified_by"],
    "brands": ["org", "created_by", "modified_by"],
    "queues": ["org", "created_by", "modified_by"],
    "business_schedules": ["org", "created_by", "modified_by"],
    "workflows": ["org", "created_by", "modified_by"],
    "satisfaction_surveys": ["org", "created_by", "modified_by", "template"],
    "klasses": ["org", "created_by", "modified_by"],
    "slas": ["org", "created_by"],
    "sla_versions": ["org", "created_by", "sla"],
    "audit_logs": ["org_data", "user"],  # `org` is also an attribute there, see below
    "conversation_events": ["conversation", "org"],
    "custom_attribute_metadata": [],
}
NEW_TO_MANY_RELATIONSHIPS = {"slas": ["versions"]}

# Free-form objects whose keys vary by org or configuration: declared open on purpose.
OPEN_OBJECT_FIELDS = {
    "companies": ["custom"],  # typed custom attributes are injected at discovery
    "klasses": ["metadata"],
    "queues": ["settings"],
    "business_schedules": ["hours"],
    "workflows": ["last_error"],
    "satisfaction_surveys": ["criteria"],
    "sla_versions": ["metrics", "criteria"],
}

# singer-io 1.1 typed these arrays as "string" (values came out as Python reprs).
FORMERLY_STRING_ARRAYS = {
    "customers": [
        "active_users", "facebook_ids", "instagram_ids", "locations", "role_group_versions",
        "shared_emails", "shared_external_ids", "shared_phones", "shared_socials", "smooch_ids",
        "socials", "tags", "urls", "watchers", "whatsapps",
    ],
    "conversations": ["role_group_versions", "suggested_shortcuts", "suggested_tags"],
}


# fmt: on


# ---------------------------------------------------------------- helpers
def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"duplicate keys: {sorted(dupes)}")
    return dict(pairs)


@cache
def load(stream):
    text = (SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8")
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def nodes(schema, path=()):
    """Yield (dotted_path, subschema) for every property and array item, at any depth."""
    for name, sub in schema.get("properties", {}).items():
        yield ".".join((*path, name)), sub
        yield from nodes(sub, (*path, name))
    if isinstance(schema.get("items"), dict):
        yield ".".join((*path, "[]")), schema["items"]
        yield from nodes(schema["items"], (*path, "[]"))


def schema_dicts(schema):
    """Every dict in the schema document, including the root."""
    yield schema
    for value in schema.values():
        if isinstance(value, dict):
            yield from schema_dicts(value)


def types_of(sub):
    t = sub.get("type")
    return t if isinstance(t, list) else [t]


def leaf_name(path):
    return path.rsplit(".", 1)[-1]


def at_path(schema, dotted):
    node = schema
    for part in dotted.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def is_to_one(sub):
    return (
        sub.get("type") == ["null", "object"]
        and set(sub.get("properties", {})) == {"id", "type"}
        and all(p.get("type") == ["null", "string"] for p in sub["properties"].values())
    )


# ---------------------------------------------------------------- the rules, as one function
def rule_violations(stream: str, text: str) -> list[str]:
    """Every way the schema file `text` of `stream` breaks the rules, as "rule: where" lines
    (empty when it follows them all). The rules, and why:

    - two-space-indented JSON without tabs or duplicate keys, ending in a newline;
    - a valid draft 4 schema whose top level is an open object (no additionalProperties
      anywhere: a new Kustomer field must never break a sync), without $ref/definitions and
      with only the keywords singer-python keeps (ALLOWED_KEYWORDS);
    - the key fields first (KEY_FIELDS, else id, type), nullable strings, and the stream's
      timestamp (updated_at, or NO_UPDATED_AT's) a nullable date-time;
    - every field a list of distinct JSON types with "null" and a real one, in an order
      singer.Transformer cannot mangle; arrays declare items, objects properties;
    - *_at fields are date-times, date-time only on plain nullable strings, durations numbers,
      integers only for counters.
    """
    out: list[str] = []
    if "\t" in text:
        out.append("json: a tab")
    if not text.endswith("\n"):
        out.append("json: no final newline")
    odd = [n for n, line in enumerate(text.splitlines(), 1) if (len(line) - len(line.lstrip())) % 2]
    if odd:
        out.append(f"json: odd indentation on lines {odd[:10]}")
    try:
        schema = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as exc:
        return [*out, f"json: {exc}"]
    try:
        Draft4Validator.check_schema(schema)
    except SchemaError as exc:
        out.append(f"draft 4: {exc.message}")
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return [*out, "top level: not an object with properties"]
    if not schema["properties"]:
        out.append("top level: no properties")
    if any("additionalProperties" in d for d in schema_dicts(schema)):
        out.append("open objects: additionalProperties")
    if "$ref" in text or "definitions" in schema:
        out.append("portable: $ref or definitions")
    props = schema["properties"]
    keys = KEY_FIELDS.get(stream, ("id", "type"))
    if tuple(props)[:2] != keys:
        out.append(f"key fields: the first two are {tuple(props)[:2]}, not {keys}")
    out += [f"key fields: {k} is not a nullable string" for k in keys if not _is_str(props, k)]
    stamp = NO_UPDATED_AT[stream][0] if stream in NO_UPDATED_AT else "updated_at"
    if bare(props.get(stamp, {})) != DATE_TIME:
        out.append(f"timestamp: {stamp} is not a nullable date-time")
    if stream in NO_UPDATED_AT and "updated_at" in props:
        out.append("timestamp: declares updated_at: drop it from NO_UPDATED_AT")
    for path, sub in nodes(schema):
        out += [f"{rule}: {path}" for rule in _node_rules(stream, path, sub)]
    return out


def _is_str(props: dict, key: str) -> bool:
    return props.get(key, {}).get("type") == ["null", "string"]


def bare(sub: dict) -> dict:
    """A field's schema without its description."""
    return {key: value for key, value in sub.items() if key != "description"}


def _node_rules(stream: str, path: str, sub: dict) -> Iterator[str]:
    """The rules one property (or array item) at `path` breaks."""
    t, name = sub.get("type"), leaf_name(path)
    if set(sub) - ALLOWED_KEYWORDS:
        yield f"keywords {sorted(set(sub) - ALLOWED_KEYWORDS)}"
    if not (
        isinstance(t, list)
        and "null" in t
        and len(t) >= 2
        and len(set(t)) == len(t)
        and set(t) <= JSON_TYPES
    ):
        yield f"nullable with a real type (not {t!r})"
    real = [x for x in types_of(sub) if x != "null"]
    if "string" in real and any(real.index(x) > real.index("string") for x in real):
        yield f"type order: 'string' must come last of {real}"
    if "boolean" in real and len(real) > 1:
        yield f"type order: 'boolean' cannot share a type list: {real}"
    if "integer" in real and "number" in real:
        yield "type order: integer and number together"
    if "array" in real and not isinstance(sub.get("items"), dict):
        yield "array without items"
    if "object" in real and not isinstance(sub.get("properties"), dict):
        yield "object without properties"
    at_field = name.endswith("_at") and (stream, path) not in AT_NOT_DATETIME
    if at_field and sub.get("format") != "date-time":
        yield "*_at without format date-time"
    if "format" in sub and (sub["format"] != "date-time" or t != ["null", "string"]):
        yield f"format {sub['format']!r} on {t!r}"
    duration = name in DURATION_NAMES and (stream, path) not in DURATION_EXCEPTIONS
    if duration and (t != ["null", "number"] or "format" in sub):
        yield "duration not a number"
    counter = name in INTEGER_NAMES or path.rsplit(".", 1)[0].endswith("_by_channel")
    if "integer" in real and not counter:
        yield "integer for a non-counter (use number)"


def schema_text(stream: str) -> str:
    return (SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8")


# ---------------------------------------------------------------- tests
def test_every_stream_of_the_tap_has_its_schema_file():
    """Each stream the tap syncs reads its schema file (kobject_<klass> streams share
    kobjects'); the stream tables below name real streams. (A file for a stream not added yet
    is checked by the rules all the same.)"""
    files = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert {cls.schema_file() for cls in TAP_STREAMS.values()} <= files
    assert set(STREAMS) | set(NEW_STREAMS) <= set(TAP_STREAMS)


def test_every_schema_follows_the_rules():
    broken = {stream: rule_violations(stream, schema_text(stream)) for stream in ALL_SCHEMAS}
    assert {stream: found for stream, found in broken.items() if found} == {}


def test_every_streams_key_and_bookmark_are_declared():
    """What discovery declares as key properties and replication key is in the schema the
    stream emits: a nullable string key, a nullable date-time bookmark."""
    bad = {}
    for name, cls in TAP_STREAMS.items():
        props = load(cls.schema_file())["properties"]
        wrong = [k for k in cls.key_properties if not _is_str(props, k)]
        if cls.replication_key and bare(props.get(cls.replication_key, {})) != DATE_TIME:
            wrong.append(cls.replication_key)
        if wrong:
            bad[name] = wrong
    assert bad == {}


def _set(dotted: str, value: Any) -> Callable[[dict], None]:
    def plant(schema: dict) -> None:
        *parents, last = dotted.split(".")
        node = schema
        for part in parents:
            node = node["items"] if part == "[]" else node["properties"][part]
        if last == "[]":
            node["items"] = value
        else:
            node["properties"][last] = value

    return plant


def _drop(field: str) -> Callable[[dict], None]:
    return lambda schema: schema["properties"].pop(field)


def _first_last(schema: dict) -> None:
    props = schema["properties"]
    props["id"] = props.pop("id")


# Defects planted into a copy of a real schema: (stream, plant, what the rules must say).
# Each proves that its rule can fail.
PLANTED: dict[str, tuple[str, Callable[[dict], None] | Callable[[str], str], str]] = {
    "wrong type: a number for a timestamp": (
        "notes",
        _set("created_at", {"type": ["null", "number"]}),
        "*_at without format",
    ),
    "a type that is not a list": ("tags", _set("name", {"type": "string"}), "nullable with"),
    "not nullable": ("tags", _set("name", {"type": ["string"]}), "nullable with"),
    "an unknown type": ("tags", _set("name", {"type": ["null", "text"]}), "nullable with"),
    "string before number": (
        "customers",
        _set("rev", {"type": ["null", "string", "integer"]}),
        "'string' must",
    ),
    "integer where the API sends fractions": (
        "conversations",
        _set("satisfaction", {"type": ["null", "integer"]}),
        "non-counter",
    ),
    "boolean in a type list": (
        "tags",
        _set("deleted", {"type": ["null", "boolean", "string"]}),
        "'boolean' cannot",
    ),
    "a duration as an integer": (
        "conversations",
        _set("first_done.time", {"type": ["null", "integer"]}),
        "duration",
    ),
    "an _at field without date-time": (
        "notes",
        _set("deleted_at", {"type": ["null", "string"]}),
        "*_at without format",
    ),
    "date-time on an object": (
        "notes",
        _set("body", {"type": ["null", "object"], "properties": {}, "format": "date-time"}),
        "format 'date-time'",
    ),
    "an array without items": ("teams", _set("members", {"type": ["null", "array"]}), "items"),
    "an object without properties": (
        "customers",
        _set("custom", {"type": ["null", "object"]}),
        "without properties",
    ),
    "additionalProperties": (
        "tags",
        lambda s: s.update(additionalProperties=False),
        "additionalProperties",
    ),
    "a nested additionalProperties": (
        "customers",
        _set("custom", {"type": ["null", "object"], "properties": {}, "additionalProperties": {}}),
        "additionalProperties",
    ),
    "a $ref": (
        "tags",
        _set("color", {"$ref": "#/definitions/color", "type": ["null", "string"]}),
        "$ref",
    ),
    "a keyword singer-python drops": (
        "tags",
        _set("color", {"type": ["null", "string"], "enum": ["red"]}),
        "keywords",
    ),
    "missing key property": ("customers", _drop("id"), "key fields"),
    "key property not first": ("tags", _first_last, "key fields: the first two"),
    "key property of the wrong type": (
        "custom_attribute_metadata",
        _set("name", {"type": ["null", "integer"]}),
        "key fields",
    ),
    "missing replication key": ("messages", _drop("updated_at"), "timestamp: updated_at"),
    "created_at bookmark not a date-time": (
        "audit_logs",
        _set("created_at", {"type": ["null", "string"]}),
        "timestamp: created_at",
    ),
    "invalid draft 4": ("tags", _set("name", {"type": ["null", "string"], "items": 3}), "draft 4"),
}
TEXT_PLANTED: dict[str, tuple[str, Callable[[str], str], str]] = {
    "a tab": ("tags", lambda t: t.replace("  ", "\t", 1), "json: a tab"),
    "odd indentation": (
        "tags",
        lambda t: t.replace('\n  "properties"', '\n   "properties"'),
        "odd",
    ),
    "no final newline": ("tags", lambda t: t.rstrip("\n"), "final newline"),
    "a duplicate key": (
        "tags",
        lambda t: t.replace('"properties": {', '"properties": {"id": {}, ', 1),
        "duplicate",
    ),
}


@pytest.mark.parametrize("defect", [*PLANTED, *TEXT_PLANTED])
def test_the_rules_catch_a_planted_defect(defect):
    if defect in PLANTED:
        stream, plant, said = PLANTED[defect]
        schema = copy.deepcopy(load(stream))
        plant(schema)
        text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    else:
        stream, change, said = TEXT_PLANTED[defect]
        text = change(schema_text(stream))
    assert rule_violations(stream, schema_text(stream)) == []  # the real file passes
    found = rule_violations(stream, text)
    assert any(said in line for line in found), found


def test_timestamps_not_named_at_are_date_time():
    bad = [
        (stream, dotted)
        for stream, paths in EXTRA_DATETIME_PATHS.items()
        for dotted in paths
        if at_path(load(stream), dotted).get("format") != "date-time"
    ]
    assert bad == []


def test_singer_io_1_1_fields_still_present():
    """Dropping a singer-io 1.1 column breaks the drop-in upgrade."""
    missing = {
        stream: [f for f in fields if f not in load(stream)["properties"]]
        for stream, fields in SINGER_IO_1_1_FIELDS.items()
    }
    assert {stream: fields for stream, fields in missing.items() if fields} == {}


def test_meltano_and_dbt_fields_present():
    missing = {
        stream: [f for f in fields if f not in load(stream)["properties"]]
        for stream, fields in MELTANO_EXTRA_FIELDS.items()
    }
    assert {stream: fields for stream, fields in missing.items() if fields} == {}


def test_arrays_singer_io_typed_as_string_are_arrays():
    bad = {
        (stream, f): load(stream)["properties"][f].get("type")
        for stream, fields in FORMERLY_STRING_ARRAYS.items()
        for f in fields
        if load(stream)["properties"][f].get("type") != ["null", "array"]
    }
    assert bad == {}


def test_custom_is_an_open_object_without_tenant_keys():
    bad = [s for s in CUSTOM_STREAMS if bare(load(s)["properties"]["custom"]) != OPEN_OBJECT]
    assert bad == []


def _bad_relationships(to_one: dict, to_many: dict) -> dict[str, list[str]]:
    """Per stream, the relationships that are not {id, type} objects (or arrays of them)."""
    bad = {}
    for stream, names in to_one.items():
        props = load(stream)["properties"]
        wrong = [r for r in names if not is_to_one(props.get(r, {}))]
        for rel in to_many.get(stream, []):
            sub = props.get(rel, {})
            if sub.get("type") != ["null", "array"] or not is_to_one(sub.get("items", {})):
                wrong.append(rel)
        if wrong:
            bad[stream] = wrong
    return bad


def test_relationship_shapes():
    assert _bad_relationships(TO_ONE_RELATIONSHIPS, TO_MANY_RELATIONSHIPS) == {}
    assert _bad_relationships(NEW_TO_ONE_RELATIONSHIPS, NEW_TO_MANY_RELATIONSHIPS) == {}


def test_conversation_sla_attribute_and_relationship_kept_apart():
    props = load("conversations")["properties"]
    assert {"status", "breached", "metrics"} <= set(props["sla"]["properties"])
    assert is_to_one(props["sla_data"])


def test_message_schema_is_a_real_message_schema():
    props = load("messages")["properties"]
    for field in (
        "channel",
        "direction",
        "direction_type",
        "preview",
        "sent_at",
        "meta",
        "conversation",
        "created_by",
        "attachments",
    ):
        assert field in props, field
    meta = props["meta"]["properties"]
    for key in (
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "tracking_id",
        "in_reply_to",
        "payload",
        "placed_at",
        "external_recording_url",
        "status",
        "answered_at",
        "ended_at",
        "permalink",
        "message_type",
    ):
        assert key in meta, key


def test_message_recipients_are_lists_of_strings_or_objects():
    meta = load("messages")["properties"]["meta"]["properties"]
    for field in ("to", "cc", "bcc"):
        sub = meta[field]
        assert sub["type"] == ["null", "array"], field
        items = sub["items"]
        assert set(items["type"]) == {"null", "string", "object"}, field
        assert {"email", "name"} <= set(items["properties"]), field


def test_message_sender_is_string_or_object():
    sub = load("messages")["properties"]["meta"]["properties"]["from"]
    assert set(sub["type"]) == {"null", "string", "object"}
    assert {"email", "name"} <= set(sub["properties"])


# ---------------------------------------------------------------- streams added after 1.x
def test_free_form_objects_are_open():
    bad = [
        (stream, field)
        for stream, fields in OPEN_OBJECT_FIELDS.items()
        for field in fields
        if bare(load(stream)["properties"][field]) != OPEN_OBJECT
    ]
    assert bad == []


def test_audit_log_org_is_an_id_string_or_a_relationship():
    """The API's audit-log `org` is an attribute holding the org id; an `org` relationship (the
    sandbox sends one) lands in `org` too, or in `org_data` when both are present. One type for
    typed targets: an object, the id string arriving as {"id": …} (tests/test_one_type.py)."""
    org = load("audit_logs")["properties"]["org"]
    assert org["type"] == ["null", "object"]
    assert set(org["properties"]) == {"id", "type"}


def test_custom_attribute_metadata_record_shape():
    props = load("custom_attribute_metadata")["properties"]
    expected = {
        "resource": "string",
        "name": "string",
        "id": "string",  # "<resource>.<name>", the stream's key property
        "type": "string",  # the attribute's type (number, string, date, ...)
        "display_name": "string",
        "description": "string",
        "multi": "boolean",
        "target": "string",
        "enumeration": "string",  # JSON text
        "tree": "string",  # JSON text
        "hidden": "boolean",
        "editable": "boolean",
        "position": "number",
        "deleted_by": "string",  # user ids, not relationships
        "modified_by": "string",
        "created_by": "string",
    }
    bad = {
        f: props.get(f)
        for f, t in expected.items()
        if bare(props.get(f, {})) != {"type": ["null", t]}
    }
    assert not bad
    for stamp in ("deleted_at", "modified_at", "created_at"):
        assert bare(props[stamp]) == DATE_TIME


# ---------------------------------------------------------------- sandbox records validate
# Every raw-resource stream: (path, extra query, page-size parameter). Small pages so that
# paging is really followed.
SANDBOX_LISTS = {
    "brands": ("/v1/brands", {}, "pageSize"),
    "queues": ("/v1/routing/queues", {}, "pageSize"),
    "business_schedules": ("/v1/schedules", {}, "pageSize"),
    "workflows": ("/v1/workflows", {}, "pageSize"),
    "satisfaction_surveys": ("/v1/satisfaction", {}, "pageSize"),
    "klasses": ("/v1/klasses", {"status": "enabled"}, "pageSize"),
    "audit_logs": ("/v1/audit-logs", {}, "count"),
}
COMPANY_SEARCH = {
    "queryContext": "company",
    "and": [],
    "sort": [{"company_updated_at": "asc"}],
    "includeDeleted": True,
}
METADATA_RESOURCES = ("customer", "kobject.order")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(seed=1, scale=0.05, org_limit=10**6, search_limit=10**6) as sb:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {sb.token}"
        yield sb.base_url, http


def _documents(sandbox, path, params=None, body=None):
    """Every response document of a list, following links.next (page or cursor)."""
    base, http = sandbox
    url, seen = base + path, 0
    while url:
        seen += 1
        assert seen < 1000, f"paging does not end: {url}"
        if body is None:
            resp = http.get(url, params=params, timeout=30)
        else:
            resp = http.post(url, params=params, json=body, timeout=30)
        resp.raise_for_status()
        doc = resp.json()
        yield doc
        params = None  # links.next carries the query
        nxt = (doc.get("links") or {}).get("next")
        url = base + nxt if nxt else None


def _resources(sandbox, stream):
    """Every raw JSON:API resource of a raw-resource stream."""
    if stream in SANDBOX_LISTS:
        path, query, size = SANDBOX_LISTS[stream]
        queries = [query, {"status": "disabled"}] if stream == "klasses" else [query]
        for q in queries:
            for doc in _documents(sandbox, path, {**q, size: 2 if size == "pageSize" else 40}):
                yield from doc["data"]
    elif stream == "companies":
        search = "/v1/customers/search"
        for doc in _documents(sandbox, search, {"pageSize": 10}, COMPANY_SEARCH):
            yield from doc["data"]
    elif stream in ("slas", "sla_versions"):
        for doc in _documents(sandbox, "/v1/slas", {"versions": "all", "pageSize": 2}):
            yield from doc["data"] if stream == "slas" else doc.get("included", [])
    elif stream == "conversation_events":
        for conv in _documents(sandbox, "/v1/conversations", {"pageSize": 100}):
            for c in conv["data"]:
                path = f"/v1/conversations/{c['id']}/events"
                for doc in _documents(sandbox, path, {"pageSize": 100}):
                    yield from doc["data"]
    else:
        raise AssertionError(f"no sandbox endpoint for {stream}")


def _attribute_metadata_records(sandbox, resource):
    """The custom_attribute_metadata records of one GET /v1/metadata/{resource}, as the tap
    shapes them."""
    doc = next(_documents(sandbox, f"/v1/metadata/{resource}"))
    records = [denest(r) for r in custom_attribute_resources(resource, doc)]
    assert {r["type"] for r in records} <= {
        "string",
        "number",
        "boolean",
        "date",
        "text",
        "url",
        "id",
    }
    return records


def _undeclared(value, schema, path=""):
    """Keys of `value` that the schema does not declare, where it declares any."""
    out = []
    if isinstance(value, dict) and schema.get("properties"):
        for key, sub in value.items():
            if key not in schema["properties"]:
                out.append(f"{path}{key}")
            else:
                out += _undeclared(sub, schema["properties"][key], f"{path}{key}.")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            out += _undeclared(item, schema["items"], f"{path}[].")
    return out


@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_sandbox_records_validate(sandbox, stream):
    """Every record the sandbox yields for the stream, shaped as the tap emits it, validates
    (draft 4 + RFC 3339 date-times) and uses no key the schema leaves out."""
    schema = load(stream)
    if stream == "custom_attribute_metadata":
        records = [
            record
            for resource in METADATA_RESOURCES
            for record in _attribute_metadata_records(sandbox, resource)
        ]
    else:
        shape = TAP_STREAMS[stream]().shape  # with the stream's fixups, as the tap emits it
        records = [shape(r) for r in _resources(sandbox, stream)]
    assert records, f"the sandbox returned no {stream}"
    undeclared = set()
    for record in records:
        validate(record, schema)
        undeclared.update(_undeclared(record, schema))
    assert not undeclared, f"fields the schema does not declare: {sorted(undeclared)}"


@pytest.mark.parametrize(
    "defect", ["a schema typing a string field integer", "a record with a bad date-time"]
)
def test_a_sandbox_record_that_breaks_its_schema_fails_validation(sandbox, defect):
    """The validation above and the e2e tests' validate_all can fail: a planted wrong type in
    the schema, or a planted bad value in one of the sandbox's records."""
    schema = copy.deepcopy(load("brands"))
    records = [denest(r) for r in _resources(sandbox, "brands")]
    validate_all(records, schema)  # as they are: valid
    if defect == "a schema typing a string field integer":
        assert all(isinstance(r["name"], str) for r in records)
        schema["properties"]["name"] = {"type": ["null", "integer"]}
    else:
        records[-1] = {**records[-1], "created_at": "2024-13-01 25:00"}
    with pytest.raises(jsonschema.ValidationError):
        validate_all(records, schema)
