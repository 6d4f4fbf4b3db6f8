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


def load_schema(stream_name: str) -> JSON:
    """A fresh copy of a stream's JSON schema."""
    schema: JSON = json.loads(_schema_text(stream_name))
    return schema


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


def catalog_entry(stream: type[Stream]) -> JSON:
    """One stream's catalog entry."""
    schema = load_schema(stream.name)
    return {
        "tap_stream_id": stream.name,
        "stream": stream.name,
        "key_properties": list(stream.key_properties),
        "schema": schema,
        "metadata": stream_metadata(stream, schema),
    }


def discover() -> JSON:
    """The full catalog, in a stable order."""
    return {"streams": [catalog_entry(stream) for stream in STREAMS.values()]}
