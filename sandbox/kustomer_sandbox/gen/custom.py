"""Custom attributes: their definitions (``catalog/custom_attributes.json``), the values records
carry in ``attributes.custom`` and the ``/v1/metadata/{resource}`` documents describing them."""

from __future__ import annotations

import random
from typing import Any

from .. import words as W
from ..util import DAY_MS, fmt_ms, fmt_ms_offset
from .base import ORG_ID, Doc, Rec, between, load_catalog, ref

# resource ("customer", "kobject.order", ...) -> key -> {"type", "displayName", extras}; the
# extras (enumeration, tree, target) are copied into the metadata document as they are.
CUSTOM_ATTRS: dict[str, dict[str, Doc]] = load_catalog("custom_attributes.json")
DEFINITION_KEYS = ("type", "displayName")


def _tree_values(tree: Doc) -> list[str]:
    out: list[str] = []
    for node in tree.get("children", []):
        out.append(node["value"])
        out.extend(_tree_values(node))
    return out


def custom_values(g: random.Random, resource: str, rec: Rec, company_ids: list[str]) -> Doc:
    """``attributes.custom`` of one record: some keys left out, some null, the rest drawn."""
    out: Doc = {}
    for key, spec in CUSTOM_ATTRS[resource].items():
        if spec.get("multi"):
            continue  # multi references are drawn by their owner (see multi_reference)
        x = g.random()
        if x < 0.08:
            continue  # attribute never set on this record
        if x < 0.12:
            out[key] = None
            continue
        out[key] = _value(g, key, spec, rec, company_ids)
    return out


def multi_reference(g: random.Random, ids: list[str]) -> str | list[str] | None:
    """A multi reference's value (``ordersId``): mostly the list of the record's ids, sometimes
    one id as a plain string, sometimes not set (None: leave the key out)."""
    x = g.random()
    if x < 0.15 or (not ids and x < 0.6):
        return None
    if ids and x < 0.3:
        return ids[0]
    return list(ids)


def _value(g: random.Random, key: str, spec: Doc, rec: Rec, company_ids: list[str]) -> Any:
    if "enumeration" in spec:
        return g.choice(spec["enumeration"])
    if "tree" in spec:
        return g.choice(_tree_values(spec["tree"]))
    return VALUE_BY_TYPE.get(spec["type"], _string)(g, key, rec, company_ids)


def _number(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> float:
    if key.endswith("CountNum") or key == "employeesNum":
        return g.randrange(0, 400)
    return round(g.uniform(0, 900), 2)


def _boolean(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> bool:
    return g.random() < 0.5


def _date(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> str:
    ms = between(g, rec.created - 400 * DAY_MS, rec.updated)
    if g.random() < 0.3:  # custom At values sometimes carry a local offset
        return fmt_ms_offset(ms, g.choice((-300, -240, 60, 120, 330)))
    return fmt_ms(ms)


def _text(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> str:
    return "\n".join(g.sample(W.SNIPPETS, 2))


def _url(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> str:
    return f"https://www.example.com/{key[:-3].lower()}/{g.randrange(10**6)}"


def _id(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> str:
    return company_ids[g.randrange(len(company_ids))]


def _string(g: random.Random, key: str, rec: Rec, company_ids: list[str]) -> str:
    if key in ("lastOrderNameStr", "orderNumberStr"):
        return f"#{1000 + g.randrange(90000)}"
    if key == "rmaIdStr":
        return f"RMA-{g.randrange(10**6):06d}"
    if key == "shippingCountryStr":
        return g.choice(("US", "GB", "DE", "FR", "CA", "AU", "JP"))
    return g.choice(W.TAG_WORDS)


VALUE_BY_TYPE = {
    "number": _number,
    "boolean": _boolean,
    "date": _date,
    "text": _text,
    "url": _url,
    "id": _id,
}


def metadata_doc(g: random.Random, resource: str, now_ms: int, agent_ids: list[str]) -> Doc | None:
    """``/v1/metadata/{resource}``; ``g`` is the resource's own RNG."""
    props = CUSTOM_ATTRS.get(resource)
    if props is None:
        return None
    out = {}
    for key, spec in props.items():
        disp = spec["displayName"]
        p = {
            "type": spec["type"],
            "displayName": disp,
            "description": f"{disp} (sandbox)",
            "multi": False,
            "deletedAt": None,
            "deletedBy": None,
            "modifiedAt": fmt_ms(now_ms - g.randrange(DAY_MS, 600 * DAY_MS)),
            "modifiedBy": agent_ids[g.randrange(len(agent_ids))],
        }
        p.update({k: v for k, v in spec.items() if k not in DEFINITION_KEYS})
        out[key] = p
    return {
        "type": "metadata",
        "id": resource,
        "attributes": {"properties": out},
        "relationships": {"org": ref("org", ORG_ID, None)},
        "links": {"self": f"/v1/metadata/{resource}"},
    }
