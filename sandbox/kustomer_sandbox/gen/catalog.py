"""The small static resources of ``catalog/resources.json``: brands, business schedules, queues,
workflows, satisfaction surveys, klasses and SLAs with their versions.

Ids and timestamps are drawn from one seeded RNG in the file's order: per item its id
(``id_days`` ago), ``createdAt`` and ``updatedAt`` (uniform in ``created_days`` /
``updated_days`` ago), then the attributes the file leaves ``null`` (see ``DRAWS``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from ..util import DAY_MS, fmt_ms, make_id
from .base import ORG_ID, Doc, load_catalog, named_rng, org_ref, ref

RESOURCES: dict[str, Any] = load_catalog("resources.json")
SIMPLE_FAMILIES = ("brands", "schedules", "queues", "workflows", "satisfaction", "klasses")


def _no_draws(rng: random.Random) -> Doc:
    return {}


# family -> the attributes drawn per item, in draw order (the file holds them as null)
DRAWS: dict[str, Callable[[random.Random], Doc]] = {
    "brands": lambda rng: {"rev": rng.randrange(1, 9)},
    "workflows": lambda rng: {
        "enabled": rng.random() < 0.8,
        "callable": rng.random() < 0.2,
        "rev": rng.randrange(1, 30),
    },
}


def klass_shares() -> list[tuple[str, float]]:
    """(name, share of kobjects) of the enabled klasses, in file order."""
    return [
        (item["attributes"]["name"], item["share"])
        for item in RESOURCES["klasses"]["items"]
        if item["attributes"]["status"] == "enabled"
    ]


def klass_mixins() -> list[tuple[str, list[str]]]:
    """(name, mixins) of every klass, in file order."""
    return [
        (i["attributes"]["name"], i["attributes"]["mixins"]) for i in RESOURCES["klasses"]["items"]
    ]


class _Draws:
    """The catalog's RNG: ids and timestamps ``days`` ago."""

    def __init__(self, seed: int, now_ms: int, user_ids: list[str]):
        self.rng = named_rng(seed, "catalog")
        self.now_ms = now_ms
        # createdBy/modifiedBy: their own RNG, so the ids and timestamps above do not move
        self.users = named_rng(seed, "catalog:users")
        self.user_ids = user_ids

    def user_rels(self) -> Doc:
        created = self.user_ids[self.users.randrange(len(self.user_ids))]
        modified = (
            created
            if self.users.random() < 0.5
            else self.user_ids[self.users.randrange(len(self.user_ids))]
        )
        return {
            "createdBy": ref("user", created, f"/v1/users/{created}"),
            "modifiedBy": ref("user", modified, f"/v1/users/{modified}"),
        }

    def id(self, days: int) -> str:
        return make_id(self.rng, days * DAY_MS)

    def ts(self, days: list[int]) -> int:
        lo, hi = days
        return self.now_ms - self.rng.randrange(lo * DAY_MS, hi * DAY_MS)


def build_catalog(seed: int, now_ms: int, user_ids: list[str]) -> dict[str, list[Doc]]:
    """Every static resource family -> its documents in id order (``sla_versions`` too)."""
    draws = _Draws(seed, now_ms, user_ids)
    cat = {
        family: [_simple(draws, family, item) for item in RESOURCES[family]["items"]]
        for family in SIMPLE_FAMILIES
    }
    cat["slas"], cat["sla_versions"] = _slas(draws, user_ids)
    for docs in cat.values():
        docs.sort(key=lambda d: d["id"])
    return cat


def _simple(draws: _Draws, family: str, item: Doc) -> Doc:
    spec = RESOURCES[family]
    rid = draws.id(item["id_days"])
    created = draws.ts(item["created_days"])
    updated = draws.ts(item["updated_days"])
    attrs = copy.deepcopy(item["attributes"])
    attrs.update(DRAWS.get(family, _no_draws)(draws.rng))  # keeps the file's key order
    attrs["createdAt"] = fmt_ms(created)
    attrs["updatedAt"] = fmt_ms(updated)
    attrs["modifiedAt"] = fmt_ms(updated)
    rels = {"org": org_ref()}
    if spec.get("users"):  # OAS GetBrands, GetAllSchedules, GetSatisfaction
        rels.update(draws.user_rels())
    if family == "klasses":  # OAS GetKlasses: a links-only relationship to the klass's objects
        rels["kobjects"] = {"links": {"self": f"/v1/klasses/{attrs['name']}"}}
    doc = {"type": spec["type"], "id": rid, "attributes": attrs, "relationships": rels}
    if spec.get("links", True):  # OAS GetSatisfaction: no links
        doc["links"] = {"self": f"{spec['path']}/{rid}"}
    return doc


def _slas(draws: _Draws, user_ids: list[str]) -> tuple[list[Doc], list[Doc]]:
    """SLAs and their versions; like the OAS GetSlaById example, without ``links``."""
    slas, versions = [], []
    for i, item in enumerate(RESOURCES["slas"]["items"]):
        sid = draws.id(item["id_days"])
        refs = []
        for version in item["versions"]:
            vid = draws.id(version["id_days"])
            refs.append({"type": "sla_version", "id": vid})
            attrs = copy.deepcopy(version["attributes"])
            attrs["createdAt"] = fmt_ms(draws.ts(version["created_days"]))
            creator = user_ids[attrs["version"] % len(user_ids)]
            versions.append(
                {
                    "type": "sla_version",
                    "id": vid,
                    "attributes": attrs,
                    "relationships": {
                        "org": ref("org", ORG_ID, None),
                        "createdBy": ref("user", creator, None),
                        "sla": ref("sla", sid, f"/v1/slas/{sid}"),
                    },
                }
            )
        attrs = copy.deepcopy(item["attributes"])
        attrs["createdAt"] = fmt_ms(draws.ts(item["created_days"]))
        slas.append(
            {
                "type": "sla",
                "id": sid,
                "attributes": attrs,
                "relationships": {
                    "org": ref("org", ORG_ID, None),
                    "createdBy": ref("user", user_ids[i], None),
                    "versions": {"data": refs},
                },
            }
        )
    return slas, versions
