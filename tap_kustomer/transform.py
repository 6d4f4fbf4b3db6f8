"""Record shape: a JSON:API resource becomes one flat, snake_case record (tap-kustomer 1.x shape).

    {"type", "id", "attributes": {...}, "relationships": {"x": {"data": ...}}, "links": {...}}
 →  {"id", "type", <attributes…>, "x": <relationship data>, "links": {...}}

Keys are converted from camelCase to snake_case at every depth. A relationship named like an
attribute becomes "<name>_data"; relationships with only links carry no data and are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any

JSON = dict[str, Any]

_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_SNAKE: dict[str, str] = {}  # names repeat across records: convert each once


def snake(name: str) -> str:
    """camelCase → snake_case (updatedAt → updated_at, totalSpentNum → total_spent_num)."""
    converted = _SNAKE.get(name)
    if converted is None:
        converted = _BOUNDARY.sub(r"\1_\2", _WORD.sub(r"\1_\2", name)).lower()
        if len(_SNAKE) < 100_000:  # bounded: custom maps keyed by data must not grow it forever
            _SNAKE[name] = converted
    return converted


def snake_keys(value: Any) -> Any:
    """Convert every dict key below value (a copy: containers are never shared with the input)."""
    if isinstance(value, dict):
        return _snake_dict(value)
    if isinstance(value, list):
        return _snake_list(value)
    return value


# The hot path of every record. Values below the top come from JSON parsing (dict, list, str,
# int, float, bool, None), so exact type checks suffice: scalars are copied inline, without a
# call per value, and only non-empty containers recurse.


def _snake_dict(value: JSON) -> JSON:
    cached = _SNAKE.get
    out: JSON = {}
    for key, item in value.items():
        name = cached(key)
        if name is None:
            name = snake(key)
        kind = type(item)
        if kind is dict:
            item = _snake_dict(item) if item else {}
        elif kind is list:
            item = _snake_list(item) if item else []
        out[name] = item
    return out


def _snake_list(value: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in value:
        kind = type(item)
        if kind is dict:
            item = _snake_dict(item) if item else {}
        elif kind is list:
            item = _snake_list(item) if item else []
        out.append(item)
    return out


def denest(resource: JSON) -> JSON:
    """Flatten one JSON:API resource into the 1.x-compatible record shape."""
    attributes = resource.get("attributes")
    record: JSON = _snake_dict(attributes) if isinstance(attributes, dict) else {}
    record["id"] = resource.get("id")
    record["type"] = resource.get("type")
    relationships = resource.get("relationships")
    if isinstance(relationships, dict):
        for name, relationship in relationships.items():
            if not isinstance(relationship, dict) or "data" not in relationship:
                continue
            key = snake(name)
            if key in record:
                key += "_data"
            record[key] = snake_keys(relationship["data"])
    if "links" in resource:
        record["links"] = snake_keys(resource["links"])
    return record


def jsonapi(resource: JSON) -> JSON:
    """The `jsonapi` record format: the resource as Kustomer returns it, plus `updated_at`.

    The shape MeltanoLabs' tap emits and dbt-kustomer reads.
    """
    attributes = resource.get("attributes")
    updated = attributes.get("updatedAt") if isinstance(attributes, dict) else None
    return {
        "id": resource.get("id"),
        "type": resource.get("type"),
        "attributes": attributes,
        "relationships": resource.get("relationships"),
        "links": resource.get("links"),
        "updated_at": updated,
    }


def as_list(value: Any) -> list[Any] | None:
    """A value that may be a scalar, an object or a list, as a list (None stays None)."""
    if value is None:
        return None
    return value if isinstance(value, list) else [value]


def normalize_recipients(record: JSON) -> JSON:
    """Messages: meta.to, cc and bcc arrive as a string, an object or a list; emit a list."""
    meta = record.get("meta")
    if isinstance(meta, dict):
        for key in ("to", "cc", "bcc"):
            if key in meta:
                meta[key] = as_list(meta[key])
    return record


def wrap_strings(key: str, *columns: str) -> Callable[[JSON], JSON]:
    """A fixup for object columns Kustomer may also send as a plain string: a string `s`
    becomes {key: s}, so a typed target gets one column type (an object) and nothing is lost.
    For references ({"type", "id"}) the key is "id": a plain string there is the id."""

    def fixup(record: JSON) -> JSON:
        for column in columns:
            value = record.get(column)
            if isinstance(value, str):
                record[column] = {key: value}
        return record

    return fixup


def json_text(*columns: str) -> Callable[[JSON], JSON]:
    """A fixup for columns Kustomer sends as a plain string or as an object: the column is a
    string, and an object or a list arrives as its JSON text (compact, keys sorted), which a
    warehouse's JSON functions read back."""

    def fixup(record: JSON) -> JSON:
        for column in columns:
            value = record.get(column)
            if isinstance(value, dict | list):
                record[column] = json.dumps(value, sort_keys=True, separators=(",", ":"))
        return record

    return fixup


def drop_fields(record: JSON, deselected: Collection[str]) -> JSON:
    """Remove the top-level fields the catalog deselected."""
    for field in deselected:
        record.pop(field, None)
    return record


def custom_attribute_resources(resource: str, document: JSON) -> list[JSON]:
    """GET /v1/metadata/{resource} → one resource per attribute (custom_attribute_metadata).

    Each keeps the attribute's definition, plus `resource` and `name`; `enumeration` and `tree`
    (lists and nested pick-lists) become JSON text, so every warehouse can hold them.
    """
    data = document.get("data")
    attributes = data.get("attributes") if isinstance(data, dict) else None
    properties = attributes.get("properties") if isinstance(attributes, dict) else None
    resources = []
    for name, definition in (properties or {}).items():
        if not isinstance(definition, dict):
            continue
        fields = {k: v for k, v in definition.items() if k not in ("type", "enumeration", "tree")}
        for key in ("enumeration", "tree"):
            value = definition.get(key)
            fields[key] = None if value is None else json.dumps(value, sort_keys=True)
        resources.append(
            {
                "type": definition.get("type"),  # the attribute's type: string, number, …
                "id": f"{resource}.{name}",
                "attributes": {**fields, "resource": resource, "name": name},
            }
        )
    return resources
