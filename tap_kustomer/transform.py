"""Record shape: a JSON:API resource becomes one flat, snake_case record (tap-kustomer 1.x shape).

    {"type", "id", "attributes": {...}, "relationships": {"x": {"data": ...}}, "links": {...}}
 →  {"id", "type", <attributes…>, "x": <relationship data>, "links": {...}}

Keys are converted from camelCase to snake_case at every depth. A relationship named like an
attribute becomes "<name>_data"; relationships with only links carry no data and are left out.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from tap_kustomer.timeutil import format_ts, parse_ts

LOGGER = logging.getLogger(__name__)

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
    for own in ("id", "type"):  # an attribute named like the resource's own key is kept
        if own in record:  # (an event's type "conversation", a snooze's type "relative")
            record[f"{own}_attribute"] = record[own]
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
    """A fixup for columns Kustomer sends as a plain string or as something else: the column
    is a string, and an object, a list or a number arrives as its JSON text (compact, keys
    sorted), which a warehouse's JSON functions read back."""

    def fixup(record: JSON) -> JSON:
        for column in columns:
            value = record.get(column)
            if value is not None and not isinstance(value, str):
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


# -- Records keep their schema's promise ----------------------------------------------------
# Each top-level value is checked against a table made once per stream from its schema; the
# check is a type lookup (and, for date-times, a look at four characters), and only a value of
# the wrong type takes the slow path: converted when nothing is lost ("7" → 7, "false" →
# false, 7 → "7"), else emitted as null and counted, and the counts logged once per field at
# the end of the stream (never the values).

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False}
_UNSET = object()


class Coercer:
    """Make each record's top-level values match the stream's schema (README, Guarantees).

    Call it on every record (it changes the record in place and returns it); call finish() at
    the end of the stream for the WARNING lines.
    """

    def __init__(self, stream: str, schema: JSON) -> None:
        self.stream = stream
        self.types: dict[str, tuple[type, ...]] = {}  # field → the Python types it may hold
        self.kinds: dict[str, tuple[str, ...]] = {}  # field → its JSON Schema types
        self.stamps: set[str] = set()  # string fields with format date-time
        properties = schema.get("properties") if isinstance(schema, dict) else None
        for field, definition in (properties or {}).items():
            declared = definition.get("type") if isinstance(definition, dict) else None
            declared = [declared] if isinstance(declared, str) else declared
            if not isinstance(declared, list):
                continue  # no type (or anyOf…): anything goes
            kinds = tuple(k for k in declared if k in _PYTHON_TYPES)
            if len(kinds) < len([k for k in declared if k != "null"]):
                continue  # a type this table does not know: leave the field alone
            if not kinds:
                continue
            self.kinds[field] = kinds
            self.types[field] = tuple(t for k in kinds for t in _PYTHON_TYPES[k])
            if definition.get("format") == "date-time" and kinds == ("string",):
                self.stamps.add(field)
        # field → the types it may hold as is (None included); a date-time field holds only
        # None as is, and a string in the canonical form passes a second, inline check
        self.expected: dict[str, frozenset[type]] = {
            field: frozenset((type(None),) if field in self.stamps else (*types, type(None)))
            for field, types in self.types.items()
        }
        self.converted: Counter[str] = Counter()
        self.nulled: Counter[str] = Counter()

    def __call__(self, record: JSON) -> JSON:
        expected = self.expected.get
        stamps = self.stamps
        wrong = None
        for field, value in record.items():
            allowed = expected(field)
            if allowed is None or type(value) in allowed:
                continue
            if (
                field in stamps
                and type(value) is str
                and len(value) == 24
                and value[10] == "T"
                and value[19] == "."
                and value[23] == "Z"
            ):
                continue  # the canonical form, 2016-11-09T02:46:29.789Z
            if wrong is None:
                wrong = [field]
            else:
                wrong.append(field)
        if wrong is not None:
            for field in wrong:
                self._fix(record, field, record[field])
        return record

    def _fix(self, record: JSON, field: str, value: Any) -> None:
        if field in self.stamps:
            fixed = _as_date_time(value)
            if fixed is value:
                return  # a valid RFC 3339 date-time that is not in the canonical form
        else:
            fixed = _UNSET
            for kind in self.kinds[field]:
                fixed = _CONVERT[kind](value)
                if fixed is not _UNSET:
                    break
        if fixed is _UNSET or fixed is None:
            record[field] = None
            self.nulled[field] += 1
        else:
            record[field] = fixed
            self.converted[field] += 1

    def finish(self) -> None:
        """One line per field: INFO for values converted, WARNING for values set to null."""
        for field, count in sorted(self.converted.items()):
            LOGGER.info(
                "%s: %d values of %r converted to its schema's type (%s) without loss",
                self.stream,
                count,
                field,
                self._described(field),
            )
        for field, count in sorted(self.nulled.items()):
            LOGGER.warning(
                "%s: %d values of %r did not match its schema's type (%s) and were emitted as null",
                self.stream,
                count,
                field,
                self._described(field),
            )

    def _described(self, field: str) -> str:
        kinds = " or ".join(self.kinds[field])
        return f"{kinds}, date-time" if field in self.stamps else kinds


def _as_integer(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return int(value) if value.is_integer() else _UNSET  # is_integer: False for inf, nan
    if kind is str:
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)
        number = _as_number(text)
        if type(number) is float and number.is_integer() and abs(number) < 2**53:
            return int(number)  # "7.0"
    return _UNSET


def _as_number(value: Any) -> Any:
    if type(value) is str:
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            return int(text)  # exact, however large
        if _NUMBER_TEXT.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else _UNSET
    return _UNSET


def _as_boolean(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _BOOLEAN_TEXT.get(value.strip().lower(), _UNSET)
    if kind is int and value in (0, 1):
        return bool(value)
    return _UNSET


def _as_string(value: Any) -> Any:
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else _UNSET
    if kind is dict or kind is list:  # as its JSON text, which a warehouse reads back
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            return _UNSET
    return _UNSET


def _as_array(value: Any) -> Any:
    return [value]  # a single value where a list is promised: a list of one


def _not_converted(value: Any) -> Any:
    return _UNSET


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "string": _as_string,
    "array": _as_array,
    "object": _not_converted,
}


def _as_date_time(value: Any) -> Any:
    """`value` itself if it is an RFC 3339 date-time; its canonical form if it is a timestamp
    in another form (a date, a space before the time); _UNSET if it is no timestamp at all."""
    if type(value) is not str:
        return _UNSET
    parsed = parse_ts(value)
    if parsed is None:
        return _UNSET
    if _RFC3339.fullmatch(value):
        return value
    return format_ts(parsed)
