"""Custom attribute typing from metadata: a multi reference (…Id, multi: true) holds several
ids, as Kustomer's OAS metadata example shows (ordersId → kobject.order)."""

from __future__ import annotations

import jsonschema
import pytest

from tap_kustomer.discover import custom_properties
from tests.samples import validate

# Shaped like the OAS example of GET /v1/metadata/{resource}: one multi reference, one single.
METADATA = {
    "data": {
        "type": "metadata",
        "id": "customer",
        "attributes": {
            "properties": {
                "ordersId": {
                    "displayName": "Orders",
                    "type": "id",
                    "multi": True,
                    "target": "kobject.order",
                },
                "favoriteOrderId": {"displayName": "Favourite order", "type": "id"},
                "tierStr": {"displayName": "Tier", "type": "string", "multi": True},
            }
        },
    }
}


def schema_of(properties: dict) -> dict:
    return {
        "type": "object",
        "properties": {"custom": {"type": "object", "properties": properties}},
    }


@pytest.mark.parametrize("value", [["a1", "b2"], [], "a1", None])
def test_a_multi_reference_takes_a_list_of_ids_or_one_id(value):
    schema = schema_of(custom_properties(METADATA))
    validate({"custom": {"orders_id": value}}, schema)


def test_a_single_reference_stays_a_string_and_refuses_a_list():
    properties = custom_properties(METADATA)
    assert properties["favorite_order_id"] == {"type": ["null", "string"]}
    assert properties["orders_id"]["items"] == {"type": "string"}
    with pytest.raises(jsonschema.ValidationError):
        validate({"custom": {"favorite_order_id": ["a1"]}}, schema_of(properties))
    with pytest.raises(jsonschema.ValidationError):
        validate({"custom": {"orders_id": [1, 2]}}, schema_of(properties))  # ids are strings


def test_multi_only_changes_references():
    assert custom_properties(METADATA)["tier_str"] == {"type": ["null", "string"]}
