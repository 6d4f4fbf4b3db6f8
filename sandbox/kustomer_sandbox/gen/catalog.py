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


class _Draws:
    """The catalog's RNG: ids and timestamps ``days`` ago."""

    def __init__(self, seed: int, now_ms: int):
        self.rng = named_rng(seed, "catalog")
        self.now_ms = now_ms

    def id(self, days: int) -> str:
        return make_id(self.rng, days * DAY_MS)

    def ts(self, days: list[int]) -> int:
        lo, hi = days
        return self.now_ms - self.rng.randrange(lo * DAY_MS, hi * DAY_MS)


def build_catalog(seed: int, now_ms: int, user_ids: list[str]) -> dict[str, list[Doc]]:
    """Every static resource family -> its documents in id order (``sla_versions`` too)."""
    draws = _Draws(seed, now_ms)
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
    return {
        "type": spec["type"],
        "id": rid,
        "attributes": attrs,
        "relationships": {"org": org_ref()},
        "links": {"self": f"{spec['path']}/{rid}"},
    }


def _slas(draws: _Draws, user_ids: list[str]) -> tuple[list[Doc], list[Doc]]:
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
                    "links": {"self": f"/v1/slas/{sid}/versions/{vid}"},
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
                "links": {"self": f"/v1/slas/{sid}"},
            }
        )
    return slas, versions
