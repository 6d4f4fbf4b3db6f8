"""The sandbox's answers have the shapes of Kustomer's own documented examples.

tests/contract/fixtures/<operationId>.json hold Kustomer's example responses (its Core
Resources OpenAPI document). The team rule: where an example contradicts the sandbox, the
sandbox changes. For every fixture whose endpoint the sandbox serves, this test fetches the
sandbox's answer(s) and compares SHAPES, not values:

* the attribute keys of the example's resources are a subset of the union of the attribute
  keys the sandbox serves over its records (except the few in ``MISSING_OK``), and no key the
  example has as an attribute is a relationship in the sandbox;
* each relationship of the example appears in the sandbox with the same shape: links only,
  a data object or a data list, with the same data ``type`` (null data is no shape);
* the page-level keys (``data``, ``links``, ``meta``, ``included``), the meta keys and the
  keys of the resources (``id``, ``links``, ...) agree;
* where the example's value is not null (a JSON-schema fragment in place of a value counts
  as a value of its declared type), the sandbox serves that value type (string, number,
  boolean, object, list) and no other, where the examples of one resource type show several
  shapes any of them is accepted (``EXTRA_TYPES`` lists the few the sandbox adds on purpose).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from kustomer_sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[1] / "contract" / "fixtures"
NOW = "2025-06-01T12:00:00.000Z"

# Example attribute keys the sandbox need not serve: (resource type, key) -> why.
MISSING_OK = {
    ("company", "extenalId"): "typo in the OAS example (externalId)",
    ("klass", "displayname"): "typo in the OAS example (the other klass has displayName)",
    ("satisfaction", "modified"): "typo in the OAS example (modifiedAt, which the sandbox serves)",
}
# Value types the sandbox serves besides the examples' ones: (resource type, key) -> types.
EXTRA_TYPES = {
    # older surveys keep the plain scale label the tap's schema was written for (a string);
    # newer ones the example's object
    ("satisfaction", "scale"): {"string"},
}
# Meta keys the sandbox adds: (operationId) -> keys.
EXTRA_META = {
    # a real captured Kustomer search answer carries meta.timed_out (README, Search realism)
    "CustomerSearch": {"timed_out"},
    "CustomerArchiveSearch": {"timed_out"},
}
# Fixtures of endpoints the sandbox does not serve.
NOT_SERVED = {
    "GetAttachmentsById": "GET /v1/attachments/{id}",
    "GetConversationTimeByIds": "GET /v1/conversations/times/{ids}",
}
# Fixtures whose page the sandbox cannot serve as such: only their resources are compared.
RESOURCES_ONLY = {
    # GET /v1/klasses/{id}: the sandbox reads /v1/klasses/{name} as GetKObjects (the same path)
    "GetKlass": "klasses",
}

Fetch = Callable[[str], dict[str, Any]]
Post = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    opts = {"seed": 1, "scale": 0.02, "now": NOW, "org_limit": 10**6, "search_limit": 10**6}
    with Sandbox(**opts, prewarm="off") as box:
        yield box


def _client(sb: Sandbox) -> tuple[Fetch, Post]:
    headers = {"Authorization": f"Bearer {sb.token}"}

    def get(path: str) -> dict[str, Any]:
        r = requests.get(sb.base_url + path, headers=headers, timeout=30)
        assert r.status_code == 200, (path, r.text[:300])
        out: dict[str, Any] = r.json()
        return out

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(sb.base_url + path, json=body, headers=headers, timeout=30)
        assert r.status_code == 200, (path, r.text[:300])
        out: dict[str, Any] = r.json()
        return out

    return get, post


def _children(get: Fetch, relation: str, limit: int = 40) -> list[dict[str, Any]]:
    """Non-empty pages of /v1/conversations/{id}/<relation> (first conversations, id order)."""
    pages = []
    for conv in get("/v1/conversations?pageSize=100")["data"][:limit]:
        page = get(f"/v1/conversations/{conv['id']}/{relation}")
        if page["data"]:
            pages.append(page)
    assert pages, relation
    return pages


def _each(get: Fetch, list_path: str, item_path: str, limit: int = 20) -> list[dict[str, Any]]:
    """GET-by-id answers for the first resources of a list."""
    items = get(list_path)["data"][:limit]
    return [get(item_path.format(id=d["id"])) for d in items]


def sandbox_pages(name: str, sb: Sandbox) -> list[dict[str, Any]]:
    """The sandbox's answers for fixture ``name`` (their resources are pooled)."""
    get, post = _client(sb)
    customers = {"queryContext": "customer"}
    sources: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "CustomerSearch": lambda: [post("/v1/customers/search?pageSize=500", customers)],
        "CustomerArchiveSearch": lambda: [
            post("/v1/customers/archive/search?pageSize=500", customers)
        ],
        "GetAllSchedules": lambda: [get("/v1/schedules")],
        "GetAuditLogs": lambda: [get("/v1/audit-logs?count=1000")],
        "GetBrands": lambda: [get("/v1/brands")],
        "GetCompanies": lambda: [get("/v1/companies?pageSize=100")],
        "GetCompanyById": lambda: _each(get, "/v1/companies", "/v1/companies/{id}"),
        "GetConversationAttachments": lambda: _children(get, "attachments", 100),
        "GetConversationEvents": lambda: _children(get, "events", 20),
        "GetConversationTimesByConversationId": lambda: _children(get, "times"),
        "GetConversations": lambda: [get("/v1/conversations?pageSize=100")],
        "GetCustomAttributeMetadata": lambda: [get("/v1/metadata/customer")],
        "GetCustomers": lambda: [get("/v1/customers?pageSize=100")],
        "GetKObject": lambda: _each(get, "/v1/klasses/order", "/v1/klasses/order/{id}"),
        "GetKObjects": lambda: [get("/v1/klasses/order")],
        "GetKlass": lambda: [get("/v1/klasses?status=all")],
        "GetKlasses": lambda: [get("/v1/klasses?status=all")],
        "GetMessage": lambda: _each(get, "/v1/messages", "/v1/messages/{id}"),
        "GetMessages": lambda: [get("/v1/messages?pageSize=100")],
        "GetMessagesByConversation": lambda: _children(get, "messages"),
        "GetNotesByConversation": lambda: _children(get, "notes", 100),
        "GetNotesForOrg": lambda: [get("/v1/notes?pageSize=100")],
        "GetSatisfaction": lambda: [get("/v1/satisfaction")],
        "GetSlaById": lambda: _each(get, "/v1/slas", "/v1/slas/{id}"),
    }
    return sources[name]()


# --------------------------------------------------------------------------- shapes
SCHEMA_TYPES = {"integer": "number", "number": "number", "string": "string", "boolean": "boolean"}


def kind(value: Any) -> str | None:
    """The JSON type of a value; None for null. A few OAS examples (GetKObject, GetKObjects)
    hold JSON-schema fragments instead of values (``{"type": "string", "example": ...}``):
    such a fragment stands for a value of its declared type."""
    if isinstance(value, dict) and "example" in value and value.get("type") in SCHEMA_TYPES:
        return SCHEMA_TYPES[value["type"]]
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def rel_shape(rel: dict[str, Any]) -> str | None:
    """links-only, a data object of a type, a data list of types; None for null data."""
    if "data" not in rel:
        return "links"
    data = rel["data"]
    if data is None:
        return None
    if isinstance(data, list):
        return "list:" + ",".join(sorted({d["type"] for d in data})) if data else None
    return "object:" + data["type"]


def members(page: dict[str, Any], member: str) -> list[dict[str, Any]]:
    part = page.get(member)
    if part is None:
        return []
    return part if isinstance(part, list) else [part]


def resources(pages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The resources of pages (data and included) by resource type."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for page in pages:
        for res in members(page, "data") + members(page, "included"):
            out[res["type"]].append(res)
    return out


@cache
def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    response: dict[str, Any] = doc["response"]
    return response


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


@cache
def example_types() -> dict[tuple[str, str], frozenset[str]]:
    """(resource type, attribute) -> the value types the examples show (all fixtures)."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name in fixture_names():
        for rtype, items in resources([example(name)]).items():
            for res in items:
                for key, value in res.get("attributes", {}).items():
                    if kind(value) is not None:
                        out[rtype, key].add(str(kind(value)))
    return {k: frozenset(v) for k, v in out.items()}


@cache
def example_rel_shapes() -> dict[tuple[str, str], frozenset[str]]:
    """(resource type, relationship) -> the shapes the examples show (all fixtures)."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name in fixture_names():
        for rtype, items in resources([example(name)]).items():
            for res in items:
                for rel, value in res.get("relationships", {}).items():
                    shape = rel_shape(value)
                    if shape is not None:
                        out[rtype, rel].add(shape)
    return {k: frozenset(v) for k, v in out.items()}


def attribute_problems(rtype: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]):
    served: dict[str, set[str]] = defaultdict(set)
    our_rels: set[str] = set()
    for res in ours:
        our_rels.update(res.get("relationships", {}))
        for key, value in res.get("attributes", {}).items():
            served[key].add(str(kind(value)))
    their_rels = {r for res in theirs for r in res.get("relationships", {})}
    for key in sorted({k for res in theirs for k in res.get("attributes", {})}):
        if key in our_rels and key not in their_rels:
            yield f"{rtype}: {key!r} is an attribute in the example, a relationship here"
        if key not in served:
            if (rtype, key) not in MISSING_OK:
                yield f"{rtype}: attribute {key!r} missing"
            continue
        allowed = example_types().get((rtype, key))
        if allowed is None:
            continue  # null in every example: any type
        types = served[key] - {"None"}
        extra = EXTRA_TYPES.get((rtype, key), set())
        if not types & allowed or not types <= allowed | extra:
            yield f"{rtype}: attribute {key!r} is {sorted(types)}, example {sorted(allowed)}"


def relationship_problems(rtype: str, ours: list[dict[str, Any]], theirs: list[dict[str, Any]]):
    served: dict[str, set[str]] = defaultdict(set)
    for res in ours:
        for rel, value in res.get("relationships", {}).items():
            served[rel].add(str(rel_shape(value)))
    for rel in sorted({r for res in theirs for r in res.get("relationships", {})}):
        if rel not in served:
            yield f"{rtype}: relationship {rel!r} missing"
            continue
        allowed = example_rel_shapes().get((rtype, rel))
        shapes = served[rel] - {"None"}
        if allowed is not None and (not shapes & allowed or not shapes <= allowed):
            yield f"{rtype}: relationship {rel!r} is {sorted(shapes)}, example {sorted(allowed)}"


def resource_problems(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], rtype: str):
    mine = {frozenset(res) for res in ours}
    want = {frozenset(res) for res in theirs}
    if mine != want:
        got, example_keys = sorted(map(sorted, mine)), sorted(map(sorted, want))
        yield f"{rtype}: resource keys {got}, example {example_keys}"
    yield from attribute_problems(rtype, ours, theirs)
    yield from relationship_problems(rtype, ours, theirs)


def page_problems(name: str, pages: list[dict[str, Any]]):
    theirs = example(name)
    for page in pages:
        if set(page) != set(theirs):
            yield f"page keys {sorted(page)}, example {sorted(theirs)}"
        if "meta" in theirs and "meta" in page:
            want, got = set(theirs["meta"]), set(page["meta"])
            if not want <= got or not got <= want | EXTRA_META.get(name, set()):
                yield f"meta keys {sorted(got)}, example {sorted(want)}"
        if "links" in theirs and "links" in page and set(page["links"]) != set(theirs["links"]):
            yield f"links keys {sorted(page['links'])}, example {sorted(theirs['links'])}"


def shape_problems(name: str, pages: list[dict[str, Any]]) -> list[str]:
    problems = [] if name in RESOURCES_ONLY else sorted(set(page_problems(name, pages)))
    ours = resources(pages)
    for rtype, theirs in resources([example(name)]).items():
        if rtype not in ours:
            problems.append(f"no {rtype} resources served")
            continue
        problems.extend(resource_problems(ours[rtype], theirs, rtype))
    return problems


# --------------------------------------------------------------------------- tests
SERVED = [name for name in fixture_names() if name not in NOT_SERVED]


def test_every_fixture_is_compared_or_listed() -> None:
    assert SERVED, "no fixtures found"
    assert set(NOT_SERVED) <= set(fixture_names())
    for name in SERVED:
        assert name.isidentifier()


@pytest.mark.parametrize("name", SERVED)
def test_shapes_match_kustomer(sb: Sandbox, name: str) -> None:
    pages = sandbox_pages(name, sb)
    assert pages
    assert shape_problems(name, pages) == []
