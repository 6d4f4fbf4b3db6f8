"""Schemas + metadata → the Singer catalog. Discovery is offline: it sends no request."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from tap_kustomer.streams import STREAMS, Stream

JSON = dict[str, Any]


@cache
def _schema_text(stream_name: str) -> str:
    return (resources.files("tap_kustomer") / "schemas" / f"{stream_name}.json").read_text(
        encoding="utf-8"
    )


def load_schema(stream_name: str, record_format: str = "denested") -> JSON:
    """A fresh copy of a stream's JSON schema, for the chosen record format."""
    if record_format == "jsonapi":
        return json.loads(json.dumps(JSONAPI_SCHEMA))
    schema: JSON = json.loads(_schema_text(stream_name))
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


def stream_metadata(stream: type[Stream], schema: JSON) -> list[JSON]:
    """Singer metadata: the stream's replication facts and each field's inclusion."""
    replication_keys = [stream.replication_key] if stream.replication_key else []
    automatic = {*stream.key_properties, *replication_keys}
    entries: list[JSON] = [
        {
            "breadcrumb": [],
            "metadata": {
                "table-key-properties": list(stream.key_properties),
                "forced-replication-method": stream.replication_method,
                "valid-replication-keys": replication_keys,
                "inclusion": "available",
                "selected-by-default": True,
            },
        }
    ]
    for field in schema.get("properties", {}):
        inclusion = "automatic" if field in automatic else "available"
        entries.append({"breadcrumb": ["properties", field], "metadata": {"inclusion": inclusion}})
    return entries


def catalog_entry(stream: type[Stream], record_format: str = "denested") -> JSON:
    """One stream's catalog entry."""
    schema = load_schema(stream.name, record_format)
    return {
        "tap_stream_id": stream.name,
        "stream": stream.name,
        "key_properties": list(stream.key_properties),
        "schema": schema,
        "metadata": stream_metadata(stream, schema),
    }


def discover(record_format: str = "denested") -> JSON:
    """The full catalog, in a stable order."""
    return {"streams": [catalog_entry(stream, record_format) for stream in STREAMS.values()]}
