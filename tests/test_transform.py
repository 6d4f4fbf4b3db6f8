"""Record shape: flat, snake_case, compatible with tap-kustomer 1.x, nothing silently lost."""

from __future__ import annotations

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
