"""Schemas + metadata → the Singer catalog.

The static part (one schema file per stream) needs no network. Given the org's definitions
(`read_org`), discovery also adds one `kobject_<klass>` stream per enabled custom object klass
and types each stream's `custom` object from Kustomer's custom attribute metadata. What the key
may not read is left out with a WARNING; only a rejected key (401) fails discovery.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from tap_kustomer.client import JSON, KustomerClient, RetryPolicy, T
from tap_kustomer.errors import (
    AuthError,
    ForbiddenError,
    KustomerAPIError,
    NotFoundError,
    TapKustomerError,
)
from tap_kustomer.streams import (
    METADATA_RESOURCES,
    STREAMS,
    KlassObjects,
    Stream,
    klass_stream,
    klass_stream_id,
    list_klasses,
    read_role,
)
from tap_kustomer.transform import snake

LOGGER = logging.getLogger(__name__)


# The one retry rule of discovery, with --discover and in a sync without --catalog alike: 3
# tries a read (1 s and 2 s apart), so a wrong host or port fails in about 15 s (5 reads).
DISCOVERY_RETRIES = RetryPolicy(max_tries=3)
KLASS_METADATA_KEY = "kustomer-klass"  # top-level catalog metadata of a kobject_<klass> stream

# The stream whose `custom` each metadata resource describes (kobject.<klass>: its own stream).
CUSTOM_STREAMS = {
    "customer": "customers",
    "conversation": "conversations",
    "message": "messages",
    "company": "companies",
}

_STRING = {"type": ["null", "string"]}
_DATE_TIME = {"type": ["null", "string"], "format": "date-time"}
_IDS = {"type": ["null", "array", "string"], "items": {"type": "string"}}  # multi references
# A custom attribute's type follows the suffix of its name (Kustomer's convention) …
SUFFIX_TYPES: tuple[tuple[str, JSON], ...] = (
    ("Str", _STRING),
    ("Txt", _STRING),
    ("Url", _STRING),
    ("Id", _STRING),
    ("Num", {"type": ["null", "number"]}),
    ("At", _DATE_TIME),
    ("Bool", {"type": ["null", "boolean"]}),
)
# … or, for a name without one, the `type` its metadata declares.
METADATA_TYPES: dict[str, JSON] = {
    "string": _STRING,
    "text": _STRING,
    "url": _STRING,
    "id": _STRING,
    "number": {"type": ["null", "number"]},
    "date": _DATE_TIME,
    "boolean": {"type": ["null", "boolean"]},
}
OPEN_TYPE: JSON = {"type": ["null", "boolean", "number", "string", "object", "array"]}


@cache
def _schema_text(name: str) -> str:
    return (resources.files("tap_kustomer") / "schemas" / f"{name}.json").read_text(
        encoding="utf-8"
    )


def load_schema(schema_name: str, record_format: str = "denested") -> JSON:
    """A fresh copy of a schema file's JSON schema, for the chosen record format."""
    if record_format == "jsonapi":
        copy: JSON = json.loads(json.dumps(JSONAPI_SCHEMA))
        return copy
    schema: JSON = json.loads(_schema_text(schema_name))
    return schema


_OPEN_OBJECT = {"type": ["null", "object"], "properties": {}}
JSONAPI_SCHEMA: JSON = {  # record_format "jsonapi": the same six columns for every stream
    "type": "object",
    "properties": {
        "id": {"type": ["null", "string"]},
        "type": {"type": ["null", "string"]},
        "attributes": _OPEN_OBJECT,
        "relationships": _OPEN_OBJECT,
        "links": _OPEN_OBJECT,
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
    },
}


@dataclass
class OrgDefinitions:
    """What discovery learned from the org: its klasses and its custom attributes."""

    klasses: list[str] = field(default_factory=list)  # enabled klass names, as the API gives
    custom: dict[str, JSON] = field(default_factory=dict)  # metadata resource → properties


def custom_property(name: str, definition: JSON) -> JSON:
    """The JSON schema of one custom attribute: by name suffix, else by declared type. A
    reference (…Id) whose definition says `multi: true` holds several ids (OAS metadata
    example: ordersId, target kobject.order); one id alone may still arrive as a string."""
    if definition.get("tree") is not None:  # hierarchical pick-lists hold a string value
        return dict(_STRING)
    if definition.get("multi") is True and (name.endswith("Id") or definition.get("type") == "id"):
        return dict(_IDS)
    for suffix, schema in SUFFIX_TYPES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return dict(schema)
    return dict(METADATA_TYPES.get(str(definition.get("type")), OPEN_TYPE))


def custom_properties(document: JSON) -> JSON:
    """GET /v1/metadata/{resource} → the properties of a record's `custom` object."""
    data = document.get("data")
    attributes = data.get("attributes") if isinstance(data, dict) else None
    definitions = attributes.get("properties") if isinstance(attributes, dict) else None
    properties: JSON = {}
    for name, definition in (definitions or {}).items():
        if isinstance(definition, dict):
            properties.setdefault(snake(name), custom_property(name, definition))
    return properties


@dataclass
class _Reads:
    """How discovery's reads went: Kustomer answered (data or a 403), or not at all."""

    answered: int = 0
    last_failure: str = ""

    def read(
        self, what: str, role: str, read: Callable[..., T], *args: Any, if_404: T | None = None
    ) -> T | None:
        """Run one discovery read; a refusal or an outage leaves it out with a WARNING. With
        `if_404`, a 404 means "none defined" and gives it, silently, but is no answer: a base
        URL that 404s on every path is a wrong one."""
        try:
            result = read(*args)
        except AuthError:
            raise
        except NotFoundError as exc:
            self.last_failure = str(exc)
            if if_404 is not None:
                return if_404
            LOGGER.warning("discovery: cannot read %s (%s)", what, exc)
        except ForbiddenError:
            self.answered += 1  # Kustomer is there; the key lacks a role
            LOGGER.warning("discovery: cannot read %s (403): the API key needs %s", what, role)
        except TapKustomerError as exc:
            self.last_failure = str(exc)
            LOGGER.warning("discovery: cannot read %s (%s)", what, exc)
        else:
            self.answered += 1
            return result
        return None


def read_org(client: KustomerClient) -> OrgDefinitions:
    """The org's enabled klasses and custom attribute definitions (what the key may read).

    A read that fails (403, outage) is left out with a WARNING; if no read at all is answered
    (connection refused, wrong host, 404 on every path), discovery fails: exit 1."""
    klass_role = read_role("klass", "org.user.klass.read", "org.admin.klass.read")
    metadata_role = read_role("metadata", "org.user.metadata.read", "org.admin.metadata.read")
    reads = _Reads()
    klasses = reads.read("the custom object klasses", klass_role, list_klasses, client)
    if klasses is None:
        LOGGER.warning("discovery: the catalog has no kobject_<klass> streams")
    org = OrgDefinitions(klasses=klasses or [])
    missing = []
    for resource in [*METADATA_RESOURCES, *(f"kobject.{k}" for k in org.klasses)]:
        what = f"custom attributes of {resource}"
        path = f"/v1/metadata/{resource}"
        empty: JSON = {}
        document = reads.read(what, metadata_role, client.get, path, if_404=empty)
        if document is None:
            missing.append(resource)
        else:
            org.custom[resource] = custom_properties(document)
    if not reads.answered:
        raise KustomerAPIError(
            f"discovery failed: no request to {client.base_url} succeeded (last error: "
            f"{reads.last_failure}); check base_url, region or subdomain in the config, and "
            "the network"
        )
    if missing:
        LOGGER.warning(
            "discovery: custom attributes of %s are not typed; they still arrive, untyped, "
            "in `custom`",
            ", ".join(missing),
        )
    return org


def stream_metadata(stream: type[Stream], schema: JSON) -> list[JSON]:
    """Singer metadata: the stream's replication facts and each field's inclusion."""
    replication_keys = [stream.replication_key] if stream.replication_key else []
    automatic = {*stream.key_properties, *replication_keys}
    top: JSON = {
        "table-key-properties": list(stream.key_properties),
        "forced-replication-method": stream.replication_method,
        "valid-replication-keys": replication_keys,
        "inclusion": "available",
        "selected-by-default": stream.selected_by_default,
    }
    if issubclass(stream, KlassObjects):
        top[KLASS_METADATA_KEY] = stream.klass
    entries: list[JSON] = [{"breadcrumb": [], "metadata": top}]
    for name in schema.get("properties", {}):
        inclusion = "automatic" if name in automatic else "available"
        entries.append({"breadcrumb": ["properties", name], "metadata": {"inclusion": inclusion}})
    return entries


def stream_schema(stream: type[Stream], record_format: str, custom: JSON | None) -> JSON:
    """A stream's schema; `custom` typed from the org's metadata when there is some."""
    schema = load_schema(stream.schema_file(), record_format)
    target = schema["properties"].get("custom")
    if custom and record_format != "jsonapi" and isinstance(target, dict):
        target["properties"] = custom  # `custom` stays open: new attributes still arrive
    return schema


def catalog_entry(
    stream: type[Stream], record_format: str = "denested", custom: JSON | None = None
) -> JSON:
    """One stream's catalog entry."""
    schema = stream_schema(stream, record_format, custom)
    return {
        "tap_stream_id": stream.name,
        "stream": stream.name,
        "key_properties": list(stream.key_properties),
        "schema": schema,
        "metadata": stream_metadata(stream, schema),
    }


def klass_streams(klasses: list[str]) -> list[type[KlassObjects]]:
    """One stream per klass; a name that sanitises like an earlier one gets a number."""
    streams: list[type[KlassObjects]] = []
    taken = set(STREAMS)
    for klass in klasses:
        stream_id = base = klass_stream_id(klass)
        number = 1
        while stream_id in taken:
            number += 1
            stream_id = f"{base}_{number}"
        if stream_id != base:
            LOGGER.warning("klass %r becomes stream %s (%s is taken)", klass, stream_id, base)
        taken.add(stream_id)
        streams.append(klass_stream(klass, stream_id))
    return streams


def discover(record_format: str = "denested", org: OrgDefinitions | None = None) -> JSON:
    """The full catalog, in a stable order: the fixed streams, then one per klass."""
    org = org or OrgDefinitions()
    by_stream = {CUSTOM_STREAMS[r]: props for r, props in org.custom.items() if r in CUSTOM_STREAMS}
    entries = [
        catalog_entry(stream, record_format, by_stream.get(name))
        for name, stream in STREAMS.items()
    ]
    for stream in klass_streams(org.klasses):
        custom = org.custom.get(f"kobject.{stream.klass}")
        entries.append(catalog_entry(stream, record_format, custom))
    return {"streams": entries}
