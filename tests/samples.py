"""Realistic Kustomer resources per stream, with the awkward parts the API really returns."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import jsonschema

from tap_kustomer.discover import discover
from tests.fakes import resource

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(RFC3339.match(value)))

REL = {"data": {"type": "user", "id": "5" * 24}, "links": {"self": "/v1/users/" + "5" * 24}}


def validate(record: dict, schema: dict) -> None:
    """Draft 4 + RFC 3339 date-times, as singer-check-tap does."""
    jsonschema.Draft4Validator(schema, format_checker=FORMATS).validate(record)


# The keywords validate_all understands: the schemas use no others (tests/test_schemas.py).
PLAIN_KEYWORDS = {"type", "properties", "items", "format", "description"}


def _plain(schema: dict) -> bool:
    items = schema.get("items")
    return (
        set(schema) <= PLAIN_KEYWORDS
        and all(_plain(sub) for sub in schema.get("properties", {}).values())
        and (not isinstance(items, dict) or _plain(items))
    )


def shape(value: Any, schema: dict) -> Any:
    """What validation against `schema` (of PLAIN_KEYWORDS only) can see of a value: the JSON
    types of the properties it declares, all the way down (an undeclared key is never looked
    at: objects are open), and of a date-time string only whether it is RFC 3339."""
    if isinstance(value, dict):
        declared = schema.get("properties") or {}
        return (
            "{}",
            tuple(sorted((k, shape(v, declared[k])) for k, v in value.items() if k in declared)),
        )
    if isinstance(value, list):
        items = schema.get("items")
        return (
            "[]",
            frozenset(shape(item, items) for item in value) if isinstance(items, dict) else (),
        )
    if isinstance(value, str):
        return "date-time" if schema.get("format") and RFC3339.match(value) else "string"
    return type(value).__name__  # bool, int, float, NoneType


def validate_all(records: Iterable[dict], schema: dict) -> int:
    """validate() every record, exactly, but faster: against a schema of PLAIN_KEYWORDS a
    record is valid when it is an object and each declared field's value is valid against
    that field's schema, and values of one shape pass or fail together; so each field's
    distinct shapes are validated once (a sync's 44,000 records, a few thousand values).
    Returns the number of values validated."""
    records = list(records)
    if not _plain(schema) or schema.get("type") != "object":
        for record in records:
            validate(record, schema)
        return len(records)
    declared = schema.get("properties", {})
    values: dict[tuple[str, Any], Any] = {}
    for record in records:
        if not isinstance(record, dict):
            validate(record, schema)  # raises: not an object
        for key, value in record.items():
            if key in declared:
                values.setdefault((key, shape(value, declared[key])), value)
    validators = {
        key: jsonschema.Draft4Validator(sub, format_checker=FORMATS)
        for key, sub in declared.items()
    }
    for (key, _), value in values.items():
        error = jsonschema.exceptions.best_match(validators[key].iter_errors(value))
        if error is not None:
            error.path.appendleft(key)  # where, as validate() would say
            raise error
    return len(values)


def sample(stream: str, n: int, updated: str, created: str | None = None) -> dict[str, Any]:
    """One realistic resource of `stream`; n varies the shape (strings vs lists, nulls, …)."""
    kind = {"kobjects": "kobject.order"}.get(stream, stream.rstrip("s"))
    r = resource(kind, n, updated, created)
    a = r["attributes"]
    a.update(modifiedAt=updated, rev=n % 7 + 1)
    rel = r["relationships"]
    rel.update(createdBy=REL, modifiedBy={"data": None} if n % 3 else REL)
    if stream == "customers":
        a.update(
            name=f"Customer {n}",
            displayName=f"Customer {n}",
            emails=[{"type": "home", "email": f"c{n}@example.com", "verified": n % 2 == 0}],
            phones=[{"type": "mobile", "phone": "+15550100"}] if n % 2 else [],
            tags=["vip"] if n % 4 == 0 else [],
            deleted=False,
            locale="en_us" if n % 2 else None,
            conversationCounts={"all": 3, "open": 1, "snoozed": 0, "done": 2},
            custom={"totalSpentNum": 12.5 * n, "acceptsMarketingBool": True, "signupAt": updated},
            lastMessageIn={"sentAt": updated, "channel": "email"},
        )
        rel["messages"] = {"links": {"self": f"/v1/customers/{r['id']}/messages"}}
    elif stream == "conversations":
        a.update(
            name="Order question",
            channels=["email"],
            status=["open", "snoozed", "done"][n % 3],
            priority=n % 5 + 1,
            messageCount=n % 9,
            noteCount=0,
            tags=["t1"],
            assignedUsers=["5" * 24],
            satisfaction=None,
            sla={"breached": n % 2 == 0, "matchedAt": updated, "status": "active"},
            firstDone={"createdAt": updated, "time": 360.5, "businessTime": 120},
            custom={"orderNumberStr": f"#{n}"},
            ended=False,
        )
        rel.update(
            customer={"data": {"type": "customer", "id": "1" * 24}},
            queue={"data": None},
            sla={"data": {"type": "sla", "id": "2" * 24}},
        )
    elif stream == "messages":
        recipients = ["to@example.com", {"email": "to@example.com", "name": "To"}]
        a.update(
            channel="email",
            app="postmark",
            direction="in" if n % 2 else "out",
            directionType="initial-in",
            preview="Hello…",
            subject="Re: order",
            status="received",
            sentAt=updated,
            size=1234,
            redacted=False,
            auto=False,
            lang="en",
            meta={
                "from": "c@example.com" if n % 2 else {"email": "c@example.com"},
                "to": recipients[n % 2],
                "cc": recipients if n % 3 == 0 else None,
                "subject": "Re: order",
            },
        )
        rel.update(
            customer={"data": {"type": "customers", "id": "1" * 24}},
            conversation={"data": {"type": "conversation", "id": "3" * 24}},
        )
    elif stream == "notes":
        a.update(body="Called the carrier", deleted=n % 10 == 0, userMentions=[])
        if n % 10 == 0:
            a["deletedAt"] = updated
        rel["conversation"] = {"data": {"type": "conversation", "id": "3" * 24}}
    elif stream == "kobjects":
        a.update(
            title=f"Order {n}",
            externalId=f"ext-{n}",
            images=[],
            tags=[],
            custom={"orderNumberStr": f"#{n}", "totalPriceNum": 10.25, "placedAt": updated},
        )
        rel["klass"] = {"link": "/v1/klasses/order", "data": {"type": "klass", "id": "order"}}
    elif stream == "users":
        a.update(name=f"Agent {n}", email=f"a{n}@example.com", userType="user", roles=["org.user"])
    elif stream == "teams":
        a.update(name=f"Team {n}", displayName=f"Team {n}", members=["5" * 24], deleted=False)
    elif stream == "tags":
        a.update(name=f"tag-{n}", color="#ff0000", deleted=False)
    elif stream == "shortcuts":
        a.update(name=f"Shortcut {n}", draft={"text": "Hi"}, isPrivate=False, deleted=False)
        rel["accessUsers"] = {"data": [{"type": "user", "id": "5" * 24}]}
    return r


def selected_catalog(*names: str, deselect: tuple[str, ...] = ()) -> dict:
    """The discovered catalog with only `names` selected and `deselect` fields turned off."""
    catalog = discover()
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in names
            elif item["breadcrumb"][1] in deselect:
                item["metadata"]["selected"] = False
    return catalog
