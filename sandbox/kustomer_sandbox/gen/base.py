"""What every generator shares: the record core, volumes, seeded RNGs, timestamp offsets and the
JSON:API building blocks."""

from __future__ import annotations

import json
import random
from bisect import bisect_left
from importlib import resources
from typing import Any

from ..util import DAY_MS, MINUTE_MS, fmt_ms

Doc = dict[str, Any]  # one JSON object as served
Offsets = list[int]  # [updated, created, modified], ms before "now"

# Volumes at scale 1.0 (the big ones are multiplied by ``scale``).
BIG_VOLUMES = {
    "customers": 12_000,
    "conversations": 6_000,
    "messages": 15_000,
    "notes": 2_000,
    "companies": 500,
    "kobjects": 2_500,
}
SMALL_VOLUMES = {"users": 120, "teams": 12, "tags": 180, "shortcuts": 240}

SEARCH_STREAMS = ("customers", "conversations", "messages", "notes", "companies", "kobjects")
LIST_STREAMS = ("users", "teams", "tags", "shortcuts")
# routing and time records, served by search only (gen/routing.py); last, so the stream numbers
# (and with them every record RNG) of the streams above stay what they were
ROUTING_STREAMS = ("work_sessions", "work_items", "conversation_times")
ALL_STREAMS = (*SEARCH_STREAMS, *LIST_STREAMS, *ROUTING_STREAMS)
STREAM_NO = {name: i + 1 for i, name in enumerate(ALL_STREAMS)}

# Fraction of records whose updatedAt is older than the 2-year horizon (archive-only).
ARCHIVED_FRACTION = {"customers": 0.05, "conversations": 0.05, "messages": 0.05, "kobjects": 0.05}

# Non-archived records are updated within STANDARD_MAX_DAYS; archived ones between
# ARCHIVE_MIN_DAYS and ARCHIVE_MAX_DAYS ago.  The gap keeps the classification stable however
# long the sandbox runs (well, for two weeks).
STANDARD_MAX_DAYS = 720
ARCHIVE_MIN_DAYS = 745
ARCHIVE_MAX_DAYS = 1095

ORG_ID = "5f0c1d2e3a4b5c6d7e8f9a0b"
ORG_NAME = "sandbox"


def load_catalog(name: str) -> Any:
    """A JSON file of the package's ``catalog/`` directory (shipped as package data)."""
    text = resources.files("kustomer_sandbox").joinpath("catalog", name).read_text("utf-8")
    return json.loads(text)


class Rec:
    """Core of one record. Timestamps are absolute epoch milliseconds."""

    __slots__ = (
        "acache",
        "archived",
        "cache",
        "company",
        "conversation",
        "created",
        "customer",
        "deleted",
        "deleted_at",
        "extra",
        "id",
        "idx",
        "in_block",
        "klass",
        "modified",
        "rev",
        "status",
        "stream",
        "updated",
    )

    def __init__(self, stream: str, idx: int):
        self.stream = stream
        self.idx = idx
        self.id = ""
        self.created = 0
        self.updated = 0
        self.modified = 0
        self.rev = 1
        self.deleted = False
        self.deleted_at: int | None = None
        self.archived = False  # generated as archived (updatedAt older than the horizon)
        self.in_block = False
        self.customer: Rec | None = None
        self.conversation: Rec | None = None
        self.company: Rec | None = None
        self.klass: str | None = None
        self.status: str | None = None  # conversation status / message direction
        self.extra: Any = None  # the routing records' own core facts (gen/routing.py)
        # serialised documents: (rev, updated, deleted, bytes)
        self.cache: tuple[int, int, bool, bytes] | None = None
        self.acache: tuple[int, int, bool, bytes] | None = None


class Batch:
    """The records of one stream while they are generated, with their offsets from "now"."""

    def __init__(self, stream: str, rng: random.Random):
        self.stream = stream
        self.rng = rng
        self.recs: list[Rec] = []
        self.offsets: list[Offsets] = []

    def add(self, archived: bool, p_same: float, span_days: float) -> Rec:
        """A new record: ``p_same`` is the chance it was never updated after its creation,
        ``span_days`` how long before its update it may have been created."""
        rec = Rec(self.stream, len(self.recs))
        rec.archived = archived
        self.offsets.append(list(_offsets(self.rng, archived, p_same, span_days)))
        rec.rev = self.rng.randrange(1, 12)
        self.recs.append(rec)
        return rec


class ByCreation:
    """A batch's records in creation order, to pick a parent created before its child."""

    def __init__(self, batch: Batch):
        self.recs = batch.recs
        self.order = sorted(range(len(batch.recs)), key=lambda k: batch.offsets[k][1])
        self.created = [batch.offsets[k][1] for k in self.order]  # ms ago, ascending

    def pick(self, rng: random.Random, created_off: int) -> Rec:
        """A record created no later than ``created_off`` ms ago (else the oldest one)."""
        pos = bisect_left(self.created, created_off)
        if pos >= len(self.order):
            return self.recs[self.order[-1]]
        return self.recs[self.order[rng.randrange(pos, len(self.order))]]


def big_count(stream: str, scale: float) -> int:
    return max(10, round(BIG_VOLUMES[stream] * scale))


def _offsets(
    rng: random.Random, archived: bool, p_same: float, span_days: float
) -> tuple[int, int, int]:
    """(updated_off, created_off, modified_off) in ms before now."""
    if archived:
        upd = rng.randrange(ARCHIVE_MIN_DAYS * DAY_MS, ARCHIVE_MAX_DAYS * DAY_MS)
    else:
        upd = MINUTE_MS + int((STANDARD_MAX_DAYS * DAY_MS - MINUTE_MS) * rng.random() ** 1.6)
    if rng.random() < p_same:
        cre = upd
    else:
        cre = upd + int(rng.random() ** 2 * span_days * DAY_MS) + rng.randrange(1, 60_000)
    mod = upd if rng.random() < 0.7 else upd + rng.randrange(0, cre - upd + 1)
    return upd, cre, mod


def named_rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")  # noqa: S311 - test data, not crypto


def rec_rng(seed: int, rec: Rec) -> random.Random:
    """The RNG of one record's document: independent of every other record."""
    return random.Random(  # noqa: S311
        seed * 1_000_003 + STREAM_NO[rec.stream] * 100_000_007 + rec.idx
    )


def between(g: random.Random, lo: int, hi: int) -> int:
    return lo if hi <= lo else lo + int(g.random() * (hi - lo))


def parent(rec: Rec | None) -> Rec:
    """A parent link the generators always set (customer, conversation)."""
    assert rec is not None, "record generated without its parent"
    return rec


def resource(kind: str, rid: str, attrs: Doc, rels: Doc, self_link: str, **links: str) -> Doc:
    """The JSON:API envelope every record shares."""
    return {
        "type": kind,
        "id": rid,
        "attributes": attrs,
        "relationships": rels,
        "links": {"self": self_link, **links},
    }


def ref(type_: str, id_: str | None, path: str | None) -> Doc:
    rel: Doc = {}
    if path:
        rel["links"] = {"self": path}
    rel["data"] = None if id_ is None else {"type": type_, "id": id_}
    return rel


def org_ref() -> Doc:
    return ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}")


def user_ref(g: random.Random, agent_ids: list[str], null_p: float = 0.0) -> Doc:
    if g.random() < null_p:
        return ref("user", None, None)
    uid = agent_ids[g.randrange(len(agent_ids))]
    return ref("user", uid, f"/v1/users/{uid}")


def audit_rels(g: random.Random, agent_ids: list[str]) -> Doc:
    """org, createdBy, modifiedBy: the relationships most records carry (RNG order kept)."""
    return {
        "org": org_ref(),
        "createdBy": user_ref(g, agent_ids),
        "modifiedBy": user_ref(g, agent_ids),
    }


def stamp(rec: Rec, attrs: Doc) -> None:
    """The timestamps and revision every record's attributes end with."""
    attrs["createdAt"] = fmt_ms(rec.created)
    attrs["updatedAt"] = fmt_ms(rec.updated)
    attrs["modifiedAt"] = fmt_ms(min(rec.modified, rec.updated))
    attrs["rev"] = rec.rev


def deleted_at(rec: Rec) -> str | None:
    return fmt_ms(rec.deleted_at) if rec.deleted and rec.deleted_at else None
