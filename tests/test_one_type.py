"""Typed targets (target-duckdb, target-postgres) need one type per column: no top-level
property is a union of object or array with string, and values Kustomer sends in either shape
arrive in the declared one (README, Record shape)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from tap_kustomer.discover import load_schema
from tap_kustomer.streams import STREAMS, klass_stream
from tests.samples import validate

SCHEMAS = sorted(
    path.name.removesuffix(".json")
    for path in (resources.files("tap_kustomer") / "schemas").iterdir()
    if path.name.endswith(".json")
)


def types(spec: dict) -> set[str]:
    declared = spec.get("type", [])
    found = {declared} if isinstance(declared, str) else set(declared)
    for branch in spec.get("anyOf", []) + spec.get("oneOf", []):
        found |= types(branch)
    return found - {"null"}


@pytest.mark.parametrize("name", SCHEMAS)
def test_no_top_level_column_mixes_a_string_with_an_object_or_an_array(name):
    for column, spec in load_schema(name)["properties"].items():
        kinds = types(spec)
        assert not ("string" in kinds and kinds & {"object", "array"}), (name, column, kinds)


def test_every_stream_has_a_schema_file_checked_above():
    assert {stream.schema_file() for stream in STREAMS.values()} <= set(SCHEMAS)


def shaped(stream: str, attributes: dict, relationships: dict | None = None) -> dict:
    resource = {"type": "x", "id": "1", "attributes": attributes}
    if relationships is not None:
        resource["relationships"] = relationships
    record = STREAMS[stream]().shape(resource)
    validate(record, load_schema(STREAMS[stream].schema_file()))
    return record


@pytest.mark.parametrize(
    ("stream", "column", "attributes", "expected"),
    [
        ("satisfaction_surveys", "scale", {"scale": "5-point"}, "5-point"),
        (
            "satisfaction_surveys",
            "scale",
            {"scale": {"type": "stars", "options": 5}},
            '{"options":5,"type":"stars"}',
        ),
        ("audit_logs", "org", {"org": "0123"}, {"id": "0123"}),
        ("kobjects", "queue", {"queue": "q1"}, {"id": "q1"}),
        ("conversations", "deleted_by", {"deletedBy": "u1"}, {"id": "u1"}),
        ("conversations", "snooze", {"snooze": "later"}, {"value": "later"}),
        (
            "conversations",
            "snooze",
            {"snooze": {"status": "active"}},
            {"status": "active"},
        ),
    ],
)
def test_a_value_in_the_other_shape_arrives_in_the_declared_one(
    stream, column, attributes, expected
):
    assert shaped(stream, attributes)[column] == expected


def test_references_sent_as_objects_are_kept_and_klass_streams_shape_like_kobjects():
    org = {"type": "org", "id": "0123"}
    record = shaped("audit_logs", {"createdAt": "2025-01-01T00:00:00.000Z"}, {"org": {"data": org}})
    assert record["org"] == org
    order = klass_stream("order", "kobject_order")()
    assert order.shape({"type": "kobject.order", "id": "1", "attributes": {"queue": "q"}})[
        "queue"
    ] == {"id": "q"}
    assert json.loads(shaped("satisfaction_surveys", {"scale": [1, 2]})["scale"]) == [1, 2]
