"""Record shape: flat, snake_case, compatible with tap-kustomer 1.x, nothing silently lost."""

from __future__ import annotations

import random

from tap_kustomer.streams import Messages
from tap_kustomer.transform import (
    denest,
    drop_fields,
    jsonapi,
    normalize_recipients,
    snake,
    snake_keys,
)

CONVERSATION = {
    "type": "conversation",
    "id": "5c1d2e3f4a5b6c7d8e9f0a1b",
    "attributes": {
        "name": "Where is my order?",
        "updatedAt": "2025-01-02T03:04:05.678Z",
        "messageCountByChannel": {"email": 2},
        "sla": {"breached": False, "matchedAt": "2025-01-02T03:00:00.000Z"},
        "custom": {"totalSpentNum": 12.5, "orderIdStr": "A-1"},
        "tags": ["t1", "t2"],
        "firstDone": {"createdByTeams": ["a"], "businessTime": 10},
    },
    "relationships": {
        "customer": {"links": {"self": "/v1/customers/x"}, "data": {"type": "customer", "id": "c"}},
        "sla": {"data": {"type": "sla", "id": "s"}},
        "queue": {"data": None},
        "messages": {"links": {"self": "/v1/conversations/x/messages"}},
        "accessUsers": {"data": [{"type": "user", "id": "u1"}, {"type": "user", "id": "u2"}]},
    },
    "links": {"self": "/v1/conversations/5c1d2e3f4a5b6c7d8e9f0a1b"},
}


def test_attributes_move_to_the_top_with_snake_case_keys_at_every_depth():
    record = denest(CONVERSATION)
    assert record["id"] == CONVERSATION["id"]
    assert record["type"] == "conversation"
    assert record["updated_at"] == "2025-01-02T03:04:05.678Z"
    assert record["message_count_by_channel"] == {"email": 2}
    assert record["custom"] == {"total_spent_num": 12.5, "order_id_str": "A-1"}
    assert record["first_done"] == {"created_by_teams": ["a"], "business_time": 10}
    assert record["tags"] == ["t1", "t2"]
    assert record["links"] == {"self": "/v1/conversations/5c1d2e3f4a5b6c7d8e9f0a1b"}
    assert "attributes" not in record and "relationships" not in record


def test_relationships_become_their_data():
    record = denest(CONVERSATION)
    assert record["customer"] == {"type": "customer", "id": "c"}
    assert record["queue"] is None
    assert record["access_users"] == [{"type": "user", "id": "u1"}, {"type": "user", "id": "u2"}]
    assert "messages" not in record  # links only: no data to carry


def test_relationship_named_like_an_attribute_does_not_overwrite_it():
    record = denest(CONVERSATION)
    assert record["sla"] == {"breached": False, "matched_at": "2025-01-02T03:00:00.000Z"}
    assert record["sla_data"] == {"type": "sla", "id": "s"}


def test_resource_without_attributes_or_relationships():
    assert denest({"type": "tag", "id": "1"}) == {"id": "1", "type": "tag"}


def test_snake_case_conversion():
    cases = {
        "updatedAt": "updated_at",
        "totalSpentNum": "total_spent_num",
        "os00Str": "os00_str",
        "lastMessageUnrespondedToSinceLastDone": "last_message_unresponded_to_since_last_done",
        "already_snake": "already_snake",
        "smoochIds": "smooch_ids",
    }
    assert {k: snake(k) for k in cases} == cases
    assert snake_keys([{"aB": {"cD": 1}}]) == [{"a_b": {"c_d": 1}}]


def test_message_recipients_always_leave_as_a_list():
    assert normalize_recipients({"meta": {"to": "a@x.io"}})["meta"]["to"] == ["a@x.io"]
    one = {"email": "b@x.io", "name": "B"}
    assert normalize_recipients({"meta": {"cc": one}})["meta"]["cc"] == [one]
    both = ["a@x.io", one]
    assert normalize_recipients({"meta": {"bcc": both}})["meta"]["bcc"] == both
    assert normalize_recipients({"meta": {"to": None}})["meta"]["to"] is None
    assert normalize_recipients({"meta": {}}) == {"meta": {}}
    assert normalize_recipients({"meta": None}) == {"meta": None}


def test_messages_stream_applies_the_recipient_fixup():
    raw = {"type": "message", "id": "m", "attributes": {"meta": {"to": "a@x.io", "from": "b"}}}
    assert Messages().shape(raw)["meta"] == {"to": ["a@x.io"], "from": "b"}


def test_jsonapi_format_keeps_the_resource_as_returned():
    record = jsonapi(CONVERSATION)
    assert record == {
        "id": CONVERSATION["id"],
        "type": "conversation",
        "attributes": CONVERSATION["attributes"],
        "relationships": CONVERSATION["relationships"],
        "links": CONVERSATION["links"],
        "updated_at": "2025-01-02T03:04:05.678Z",
    }
    assert Messages().shape({"id": "m", "attributes": {"meta": {"to": "a"}}}, "jsonapi")[
        "attributes"
    ] == {"meta": {"to": "a"}}  # untouched: no snake_case, no recipient lists


def test_drop_fields():
    assert drop_fields({"id": 1, "name": "x", "email": "y"}, {"email", "absent"}) == {
        "id": 1,
        "name": "x",
    }


# denest is the hot path of every sync and is written for speed; this is the plain recursive
# version it replaced, kept as the oracle it must match exactly (values, key order, types).


def _reference_snake_keys(value):
    if isinstance(value, dict):
        return {snake(k): _reference_snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reference_snake_keys(v) for v in value]
    return value


def _reference_denest(resource):
    record = {}
    attributes = resource.get("attributes")
    if isinstance(attributes, dict):
        for key, value in attributes.items():
            record[snake(key)] = _reference_snake_keys(value)
    for own in ("id", "type"):  # 2.0.0: an attribute named id or type is kept, renamed
        if own in record:
            record[own + "_attribute"] = record[own]
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
            record[key] = _reference_snake_keys(relationship["data"])
    if "links" in resource:
        record["links"] = _reference_snake_keys(resource["links"])
    return record


_KEYS = ["id", "type", "updatedAt", "updated_at", "totalSpentNum", "os00Str", "HTMLBody", "a", ""]
_SCALARS = [None, True, False, 0, 1, -2.5, 0.0, "", "x", "camelCase", "1"]


def _random_value(rng, depth):
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice(_SCALARS)
    if roll < 0.75:
        return {rng.choice(_KEYS): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _random_resource(rng):
    resource = {"type": rng.choice(["customer", "message", None]), "id": rng.choice(["1", 2])}
    if rng.random() < 0.9:
        attributes = {rng.choice([*_KEYS, "sla", "orgId"]): _random_value(rng, 1) for _ in range(8)}
        resource["attributes"] = attributes if rng.random() < 0.95 else rng.choice([None, []])
    if rng.random() < 0.9:
        relationships = {}
        for name in rng.sample(["sla", "org", "createdBy", "orgId", "accessUsers", "type"], 4):
            shape = rng.random()
            if shape < 0.6:
                relationships[name] = {"data": _random_value(rng, 2)}
            elif shape < 0.8:
                relationships[name] = {"links": {"self": f"/v1/{name}"}, "meta": {"kObject": 1}}
            else:
                relationships[name] = rng.choice([None, "x", [{"data": 1}]])
        resource["relationships"] = relationships
    if rng.random() < 0.7:
        resource["links"] = rng.choice([{"self": "/x", "relatedTo": {"aB": [1]}}, None, {}])
    return resource


_EDGE_RESOURCES = [
    {},
    {"type": "tag", "id": "1"},
    {"id": "1", "attributes": {}, "relationships": {}, "links": {}},
    {"attributes": None, "relationships": None, "links": None},
    {"attributes": [], "relationships": []},
    CONVERSATION,
    {
        "id": "deep",
        "attributes": {
            "id": "attribute id is overwritten by the resource id",
            "type": "and so is type",
            "slaData": "overwritten by the sla relationship",
            "fooBar": 1,
            "foo_bar": 2,  # same snake name: the later value wins, in the earlier place
            "outerMap": {"innerMap": {"leafKey": [{"deepKey": None}, [], {}, [[{"xY": [[]]}]]]}},
            "listOfLists": [[1, 2], [], [[True, False]], [{"aB": {}}, {"cD": []}]],
            "emptyMap": {},
            "emptyList": [],
            "scalars": [None, True, 0, 1.5, "s", {"n": None}],
            "sla": {"matchedAt": "t", "breachedBool": False},
        },
        "relationships": {
            "sla": {"data": {"type": "sla", "id": "s", "extraMeta": {"camelKey": 1}}},
            "accessUsers": {"data": [{"type": "user", "id": "u1"}, []]},
            "queue": {"data": None},
            "emptyData": {"data": {}},
            "listData": {"data": []},
            "linksOnly": {"links": {"self": "/v1/x"}},
            "metaOnly": {"meta": {"kobject": True}},
            "notAnObject": "x",
        },
        "links": {"self": "/v1/x", "nestedLinks": [{"hrefLang": "en"}]},
    },
]


def _containers(value):
    if isinstance(value, dict | list):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


def test_denest_matches_the_reference_implementation_exactly():
    rng = random.Random(20250402)
    resources = _EDGE_RESOURCES + [_random_resource(rng) for _ in range(500)]
    for resource in resources:
        before = repr(resource)
        record, expected = denest(resource), _reference_denest(resource)
        # repr: also compares key order and types (True is not 1, 1.0 is not 1)
        assert repr(record) == repr(expected), resource
        assert repr(resource) == before  # the input is not modified ...
        inputs = {id(c) for c in _containers(resource)}
        assert not any(id(c) in inputs for c in _containers(record))  # ... nor shared


def test_snake_keys_matches_the_reference_implementation_exactly():
    rng = random.Random(7)
    values = [{}, [], None, 1, "camelCase", [[[]]], [{"aB": [{"cD": {}}]}], {"aB": [[{"cD": 1}]]}]
    values += [_random_value(rng, 0) for _ in range(500)]
    for value in values:
        converted = snake_keys(value)
        assert repr(converted) == repr(_reference_snake_keys(value)), value
        inputs = {id(c) for c in _containers(value)}
        assert not any(id(c) in inputs for c in _containers(converted))
