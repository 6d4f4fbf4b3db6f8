"""Rules every stream schema in tap_kustomer/schemas/ must follow.

The schemas describe the record the tap emits: JSON:API ``attributes`` and
relationship ``data`` flattened to the top level, every key in snake_case.
"""

import json
from functools import cache
from pathlib import Path

import pytest
import requests
from jsonschema import Draft4Validator

from kustomer_sandbox import Sandbox
from tap_kustomer.transform import custom_attribute_resources, denest
from tests.samples import validate

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
    "conversation_events": ("created_at", "append-only change history: createdAt only"),
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


# ---------------------------------------------------------------- tests
def test_all_schema_files_exist():
    expected = (*STREAMS, *NEW_STREAMS)
    assert len(set(expected)) == 21
    missing = [s for s in expected if not (SCHEMA_DIR / f"{s}.json").is_file()]
    assert not missing, f"missing schema files: {missing}"


def test_compatibility_tables_cover_every_stream():
    assert set(SINGER_IO_1_1_FIELDS) == set(STREAMS)
    assert set(MELTANO_EXTRA_FIELDS) == set(STREAMS)
    assert set(TO_ONE_RELATIONSHIPS) == set(STREAMS)
    assert set(NEW_TO_ONE_RELATIONSHIPS) == set(NEW_STREAMS)
    assert set(NO_UPDATED_AT) | set(KEY_FIELDS) <= set(NEW_STREAMS)


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_file_is_two_space_indented_json(stream):
    text = (SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8")
    assert "\t" not in text
    assert text.endswith("\n")
    bad = [
        n for n, line in enumerate(text.splitlines(), 1) if (len(line) - len(line.lstrip(" "))) % 2
    ]
    assert not bad, f"odd indentation on lines {bad[:10]}"
    load(stream)  # parses, without duplicate keys


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_valid_draft4(stream):
    Draft4Validator.check_schema(load(stream))


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_top_level_is_an_open_object(stream):
    schema = load(stream)
    assert schema.get("type") == "object"
    assert isinstance(schema.get("properties"), dict) and schema["properties"]
    assert "additionalProperties" not in schema


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_no_additional_properties_anywhere(stream):
    offenders = [d for d in schema_dicts(load(stream)) if "additionalProperties" in d]
    assert not offenders, "objects must stay open: new Kustomer fields must never break a sync"


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_no_ref(stream):
    text = (SCHEMA_DIR / f"{stream}.json").read_text(encoding="utf-8")
    assert "$ref" not in text and "definitions" not in load(stream)


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_only_portable_draft4_keywords(stream):
    bad = {}
    for path, sub in nodes(load(stream)):
        extra = set(sub) - ALLOWED_KEYWORDS
        if extra:
            bad[path] = sorted(extra)
    assert not bad


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_ids_first_and_required_fields(stream):
    props = load(stream)["properties"]
    keys = KEY_FIELDS.get(stream, ("id", "type"))
    assert tuple(props)[:2] == keys
    for key in keys:
        assert props[key]["type"] == ["null", "string"]
    if stream in NO_UPDATED_AT:
        stamp, _why = NO_UPDATED_AT[stream]
        assert "updated_at" not in props, "declares updated_at: drop it from NO_UPDATED_AT"
        assert props[stamp] == DATE_TIME
    else:
        assert props["updated_at"] == DATE_TIME


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_every_field_is_nullable_with_a_real_type(stream):
    bad = {}
    for path, sub in nodes(load(stream)):
        t = sub.get("type")
        if not (
            isinstance(t, list)
            and "null" in t
            and len(t) >= 2
            and len(set(t)) == len(t)
            and set(t) <= JSON_TYPES
        ):
            bad[path] = t
    assert not bad, f"need a list with 'null' plus at least one real type: {bad}"


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_type_order_is_safe_for_singer_transformer(stream):
    """singer.Transformer tries the listed types in order (null last) and keeps the
    first that converts: "string" converts anything (a dict becomes its Python repr),
    "boolean" converts anything, "integer" truncates 1.9 to 1."""
    bad = {}
    for path, sub in nodes(load(stream)):
        real = [t for t in types_of(sub) if t != "null"]
        if "string" in real and any(real.index(t) > real.index("string") for t in real):
            bad[path] = f"'string' must come last of {real}"
        if "boolean" in real and len(real) > 1:
            bad[path] = f"'boolean' cannot share a type list: {real}"
        if "integer" in real and "number" in real:
            bad[path] = "integer and number together"
    assert not bad


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_arrays_have_items(stream):
    bad = [
        path
        for path, sub in nodes(load(stream))
        if "array" in types_of(sub) and not isinstance(sub.get("items"), dict)
    ]
    assert not bad, f"arrays without items: {bad}"


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_objects_declare_properties(stream):
    bad = [
        path
        for path, sub in nodes(load(stream))
        if "object" in types_of(sub) and not isinstance(sub.get("properties"), dict)
    ]
    assert not bad


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_at_fields_are_date_time(stream):
    bad = [
        path
        for path, sub in nodes(load(stream))
        if leaf_name(path).endswith("_at")
        and (stream, path) not in AT_NOT_DATETIME
        and sub.get("format") != "date-time"
    ]
    assert not bad, f"*_at fields without format date-time: {bad}"


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_date_time_format_only_on_plain_strings(stream):
    bad = {}
    for path, sub in nodes(load(stream)):
        if "format" in sub and (
            sub["format"] != "date-time" or sub.get("type") != ["null", "string"]
        ):
            bad[path] = sub
    assert not bad


@pytest.mark.parametrize("stream", sorted(EXTRA_DATETIME_PATHS))
def test_timestamps_not_named_at_are_date_time(stream):
    schema = load(stream)
    for dotted in EXTRA_DATETIME_PATHS[stream]:
        assert at_path(schema, dotted).get("format") == "date-time", dotted


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_durations_are_numbers(stream):
    bad = {}
    for path, sub in nodes(load(stream)):
        if (
            leaf_name(path) in DURATION_NAMES
            and (stream, path) not in DURATION_EXCEPTIONS
            and (sub.get("type") != ["null", "number"] or "format" in sub)
        ):
            bad[path] = sub
    assert not bad


@pytest.mark.parametrize("stream", ALL_SCHEMAS)
def test_integer_only_for_counters(stream):
    bad = [
        path
        for path, sub in nodes(load(stream))
        if "integer" in types_of(sub)
        and leaf_name(path) not in INTEGER_NAMES
        and not path.rsplit(".", 1)[0].endswith("_by_channel")
    ]
    assert not bad, f"use number unless the API guarantees integers: {bad}"


@pytest.mark.parametrize("stream", STREAMS)
def test_singer_io_1_1_fields_still_present(stream):
    props = load(stream)["properties"]
    missing = [f for f in SINGER_IO_1_1_FIELDS[stream] if f not in props]
    assert not missing, f"dropping singer-io 1.1 columns breaks the drop-in upgrade: {missing}"


@pytest.mark.parametrize("stream", STREAMS)
def test_meltano_and_dbt_fields_present(stream):
    props = load(stream)["properties"]
    missing = [f for f in MELTANO_EXTRA_FIELDS[stream] if f not in props]
    assert not missing


@pytest.mark.parametrize("stream", sorted(FORMERLY_STRING_ARRAYS))
def test_arrays_singer_io_typed_as_string_are_arrays(stream):
    props = load(stream)["properties"]
    bad = {
        f: props[f].get("type")
        for f in FORMERLY_STRING_ARRAYS[stream]
        if props[f].get("type") != ["null", "array"]
    }
    assert not bad


@pytest.mark.parametrize("stream", CUSTOM_STREAMS)
def test_custom_is_an_open_object_without_tenant_keys(stream):
    assert load(stream)["properties"]["custom"] == {"type": ["null", "object"], "properties": {}}


@pytest.mark.parametrize("stream", STREAMS)
def test_relationship_shapes(stream):
    props = load(stream)["properties"]
    bad = [r for r in TO_ONE_RELATIONSHIPS[stream] if not is_to_one(props.get(r, {}))]
    for rel in TO_MANY_RELATIONSHIPS.get(stream, []):
        sub = props.get(rel, {})
        if sub.get("type") != ["null", "array"] or not is_to_one(sub.get("items", {})):
            bad.append(rel)
    assert not bad, f"not {{id, type}} relationship objects: {bad}"


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


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_message_recipients_are_lists_of_strings_or_objects(field):
    sub = load("messages")["properties"]["meta"]["properties"][field]
    assert sub["type"] == ["null", "array"]
    items = sub["items"]
    assert set(items["type"]) == {"null", "string", "object"}
    assert {"email", "name"} <= set(items["properties"])


def test_message_sender_is_string_or_object():
    sub = load("messages")["properties"]["meta"]["properties"]["from"]
    assert set(sub["type"]) == {"null", "string", "object"}
    assert {"email", "name"} <= set(sub["properties"])


# ---------------------------------------------------------------- streams added after 1.x
@pytest.mark.parametrize("stream", NEW_STREAMS)
def test_new_stream_relationship_shapes(stream):
    props = load(stream)["properties"]
    bad = [r for r in NEW_TO_ONE_RELATIONSHIPS[stream] if not is_to_one(props.get(r, {}))]
    for rel in NEW_TO_MANY_RELATIONSHIPS.get(stream, []):
        sub = props.get(rel, {})
        if sub.get("type") != ["null", "array"] or not is_to_one(sub.get("items", {})):
            bad.append(rel)
    assert not bad, f"not {{id, type}} relationship objects: {bad}"


@pytest.mark.parametrize(
    ("stream", "field"), [(s, f) for s, fields in OPEN_OBJECT_FIELDS.items() for f in fields]
)
def test_free_form_objects_are_open(stream, field):
    assert load(stream)["properties"][field] == OPEN_OBJECT


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
    bad = {f: props.get(f) for f, t in expected.items() if props.get(f) != {"type": ["null", t]}}
    assert not bad
    for stamp in ("deleted_at", "modified_at", "created_at"):
        assert props[stamp] == DATE_TIME


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
        records = [denest(r) for r in _resources(sandbox, stream)]
    assert records, f"the sandbox returned no {stream}"
    undeclared = set()
    for record in records:
        validate(record, schema)
        undeclared.update(_undeclared(record, schema))
    assert not undeclared, f"fields the schema does not declare: {sorted(undeclared)}"
