"""Deterministic generation of the sandbox's Kustomer-like data set.

Only the *core* of each record (id, timestamps, revision, deleted flag, parent links, a few enum
values) is generated eagerly; the full JSON:API document is a pure function of that core and a
per-record seeded RNG, built lazily and cached as serialised bytes.

Everything is derived from ``random.Random`` instances seeded from ``seed``; every timestamp is
an *offset* from the reference ``now`` so ids, counts and relationships do not depend on the clock.
The object families live in :mod:`kustomer_sandbox.gen`; this module ties them together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .compat import compat_1x
from .gen.audit import build_audit_logs
from .gen.base import (
    ALL_STREAMS,
    LIST_STREAMS,
    ORG_ID,
    ROUTING_STREAMS,
    SEARCH_STREAMS,
    Batch,
    ByCreation,
    Doc,
    Rec,
    named_rng,
)
from .gen.catalog import build_catalog, klass_shares
from .gen.conversations import (
    conversation_attachments,
    conversation_counts,
    conversation_doc,
    conversation_events,
    make_conversations,
    make_messages,
    make_notes,
    message_counts,
    message_doc,
    note_counts,
    note_doc,
)
from .gen.custom import CUSTOM_ATTRS, metadata_doc
from .gen.kobjects import kobject_doc, make_kobjects
from .gen.lists import make_lists, shortcut_doc, tag_doc, team_doc, user_doc
from .gen.people import company_doc, customer_doc, make_companies, make_customers
from .gen.routing import (
    build_routing_lists,
    conversation_time_doc,
    make_routing,
    work_item_doc,
    work_session_doc,
)
from .gen.ties import make_ties
from .util import dumps, make_id

__all__ = [
    "ALL_STREAMS",
    "CUSTOM_ATTRS",
    "ORG_ID",
    "ROUTING_STREAMS",
    "SEARCH_STREAMS",
    "Dataset",
    "Rec",
]

# Share of soft-deleted records of the search streams (companies and messages have none).
DELETED_FRACTION = {"customers": 0.02, "conversations": 0.02, "notes": 0.02, "kobjects": 0.02}
# Streams whose soft-deleted records carry a deletion time (their last update).
DELETED_AT_STREAMS = frozenset(("notes", "teams", "tags", "users"))

DocBuilder = Callable[["Dataset", Rec], Doc]
DOC_BUILDERS: dict[str, DocBuilder] = {
    "customers": customer_doc,
    "companies": company_doc,
    "conversations": conversation_doc,
    "messages": message_doc,
    "notes": note_doc,
    "kobjects": kobject_doc,
    "users": user_doc,
    "teams": team_doc,
    "tags": tag_doc,
    "shortcuts": shortcut_doc,
    "work_sessions": work_session_doc,
    "work_items": work_item_doc,
    "conversation_times": conversation_time_doc,
}
TYPE_OF_STREAM = {
    "customers": "customer",
    "conversations": "conversation",
    "messages": "message",
    "notes": "note",
    "companies": "company",
    "users": "user",
    "teams": "team",
    "tags": "tag",
    "shortcuts": "shortcut",
    "work_sessions": "work_session",
    "work_items": "work_item",
    "conversation_times": "conversation_time",
}
SELF_PATHS = {
    "work_sessions": "/v1/routing/work-sessions/",
    "work_items": "/v1/routing/work-items/",
    "conversation_times": "/v1/conversations/times/",
}

# (sla id, its version references, sla name), in the order conversations draw from
SlaVersions = list[tuple[str, list[Doc], str]]


class Dataset:
    """The whole generated org. Thread-safety: callers hold ``lock`` while mutating cores."""

    def __init__(
        self,
        seed: int = 1,
        scale: float = 1.0,
        now_ms: int = 0,
        tie_block: int = 1200,
        compat_1x: bool = False,
    ):
        self.seed = int(seed)
        self.scale = float(scale)
        self.now_ms = int(now_ms)
        self.tie_block = int(tie_block)
        self.compat_1x = bool(compat_1x)  # documents tap-kustomer 1.1.0 can read (compat.py)
        self.lock = threading.RLock()
        self.streams: dict[str, list[Rec]] = {}
        self.by_id: dict[str, dict[str, Rec]] = {}
        self.tie_blocks: dict[str, list[dict[str, Any]]] = {}
        self.klass_names = [name for name, _share in klass_shares()]
        self._generate()

    # ------------------------------------------------------------------ generation
    def _generate(self) -> None:
        batches = self._make_cores()
        for stream, frac in DELETED_FRACTION.items():
            rng = named_rng(self.seed, stream + ":deleted")
            for r in batches[stream].recs:
                if rng.random() < frac:
                    r.deleted = True
        for stream in SEARCH_STREAMS:
            rng = named_rng(self.seed, stream + ":ties")
            self.tie_blocks[stream] = make_ties(rng, batches[stream], self.scale, self.tie_block)
        for stream in (*SEARCH_STREAMS, *LIST_STREAMS):
            self.by_id[stream] = self._place(batches[stream])
        self.streams = {stream: batch.recs for stream, batch in batches.items()}
        self._derive_counts()
        self._build_catalog()
        self._build_routing()

    def _build_routing(self) -> None:
        """The routing lists, then work sessions, work items and conversation times (own RNGs,
        drawn after everything else so no older record changes)."""
        self.catalog.update(build_routing_lists(self))
        for stream, recs in make_routing(self).items():
            self.streams[stream] = recs
            self.by_id[stream] = {r.id: r for r in recs}
        for rec in self.streams["conversation_times"]:
            conv = rec.conversation
            assert conv is not None, "conversation time without its conversation"
            self.children.setdefault(("conversation.times", conv.id), []).append(rec)
        for key, lst in self.children.items():
            if key[0] == "conversation.times":
                lst.sort(key=lambda r: r.id)

    def _make_cores(self) -> dict[str, Batch]:
        """Every stream's records, parents before children (the dict order is served)."""
        seed, scale = self.seed, self.scale
        batches = make_lists(seed)
        companies = batches["companies"] = make_companies(seed, scale)
        customers = batches["customers"] = make_customers(seed, scale, companies.recs)
        by_creation = ByCreation(customers)
        conversations = batches["conversations"] = make_conversations(seed, scale, by_creation)
        conversations_by_creation = ByCreation(conversations)
        batches["messages"] = make_messages(seed, scale, conversations_by_creation)
        batches["notes"] = make_notes(seed, scale, conversations_by_creation)
        batches["kobjects"] = make_kobjects(seed, scale, by_creation, klass_shares())
        return batches

    def _place(self, batch: Batch) -> dict[str, Rec]:
        """Ids (time-looking prefix from the creation offset) and absolute timestamps."""
        rng = named_rng(self.seed, batch.stream + ":ids")
        seen: dict[str, Rec] = {}
        for r, (upd, cre, mod) in zip(batch.recs, batch.offsets, strict=True):
            rid = make_id(rng, cre)
            while rid in seen:
                rid = make_id(rng, cre)
            r.id = rid
            seen[rid] = r
            r.created = self.now_ms - cre
            r.updated = self.now_ms - upd
            r.modified = self.now_ms - mod
            if r.deleted and batch.stream in DELETED_AT_STREAMS:
                r.deleted_at = r.updated
        return seen

    def _derive_counts(self) -> None:
        self.conv_counts = conversation_counts(self.streams["conversations"])
        self.msg_counts = message_counts(self.streams["messages"])
        self.note_counts = note_counts(self.streams["notes"])
        # (relation, parent id) -> child records in id order, e.g. ("customer.notes", <id>)
        self.children: dict[tuple[str, str], list[Rec]] = {}
        for relation, stream, parent in (
            ("customer.conversations", "conversations", "customer"),
            ("conversation.messages", "messages", "conversation"),
            ("customer.messages", "messages", "customer"),
            ("conversation.notes", "notes", "conversation"),
            ("customer.notes", "notes", "customer"),
            ("customer.klass", "kobjects", "customer"),
        ):
            for rec in self.streams[stream]:
                key = f"{relation}.{rec.klass}" if stream == "kobjects" else relation
                owner: Rec = getattr(rec, parent)
                self.children.setdefault((key, owner.id), []).append(rec)
        for lst in self.children.values():
            lst.sort(key=lambda r: r.id)

    def _build_catalog(self) -> None:
        """Static resources and audit logs, and the ids records refer to."""
        self.agent_ids = [u.id for u in self.streams["users"] if not u.deleted]
        self.catalog = build_catalog(self.seed, self.now_ms, self.agent_ids)
        self.sla_versions: SlaVersions = [
            (s["id"], s["relationships"]["versions"]["data"], s["attributes"]["name"])
            for s in self.catalog["slas"]
        ]
        self.brand_ids = [b["id"] for b in self.catalog["brands"]]
        self.queue_ids = [q["id"] for q in self.catalog["queues"]]
        self.team_ids = [t.id for t in self.streams["teams"] if not t.deleted]
        self.tag_ids = [t.id for t in self.streams["tags"] if not t.deleted]
        self.company_ids = [c.id for c in self.streams["companies"]]
        self.audit_logs = build_audit_logs(
            self.seed, self.scale, self.now_ms, self.streams, self.agent_ids
        )

    # ------------------------------------------------------------------ documents
    def doc_bytes(self, rec: Rec) -> bytes:
        """Serialised full JSON:API document for ``rec`` (cached until the record changes)."""
        c = rec.cache
        rev, upd, deleted = rec.rev, rec.updated, rec.deleted
        if c is not None and c[0] == rev and c[1] == upd and c[2] == deleted:
            return c[3]
        data = dumps(self.build_doc(rec))
        rec.cache = (rev, upd, deleted, data)
        return data

    def archive_bytes(self, rec: Rec) -> bytes:
        c = rec.acache
        rev, upd, deleted = rec.rev, rec.updated, rec.deleted
        if c is not None and c[0] == rev and c[1] == upd and c[2] == deleted:
            return c[3]
        data = dumps(self.build_archive_doc(rec))
        rec.acache = (rev, upd, deleted, data)
        return data

    def build_doc(self, rec: Rec) -> Doc:
        doc = DOC_BUILDERS[rec.stream](self, rec)
        return compat_1x(doc) if self.compat_1x else doc

    def build_archive_doc(self, rec: Rec) -> Doc:
        full = self.build_doc(rec)
        attrs = full["attributes"]
        keep = {
            "createdAt": attrs["createdAt"],
            "updatedAt": attrs["updatedAt"],
            "deleted": bool(rec.deleted),
        }
        if rec.stream == "customers":  # and the OAS CustomerArchiveSearch example's keys
            for key in ("name", "displayName", "lastActivityAt", "verified"):
                keep[key] = attrs.get(key)
            keep["emails"] = attrs.get("emails", [])
        if "rev" in attrs:
            keep["rev"] = attrs["rev"]
        return {
            "type": full["type"],
            "id": full["id"],
            "attributes": keep,
            "relationships": {"org": full["relationships"]["org"]},
            "links": {"self": full["links"]["self"]},
        }

    def type_of(self, rec: Rec) -> str:
        if rec.stream == "kobjects":
            return f"kobject.{rec.klass}"
        return TYPE_OF_STREAM[rec.stream]

    def self_link(self, rec: Rec) -> str:
        if rec.stream == "kobjects":
            return f"/v1/klasses/{rec.klass}/{rec.id}"
        if rec.stream in SELF_PATHS:
            return SELF_PATHS[rec.stream] + rec.id
        return f"/v1/{rec.stream}/{rec.id}"

    # ------------------------------------------------------------------ other documents
    def metadata_doc(self, resource: str) -> Doc | None:
        g = named_rng(self.seed, "metadata:" + resource)
        return metadata_doc(g, resource, self.now_ms, self.agent_ids)

    def conversation_events(self, conv: Rec) -> list[Doc]:
        return conversation_events(self.seed, self.now_ms, conv, self.agent_ids)

    def conversation_attachments(self, conv: Rec) -> list[Doc]:
        msgs = self.children.get(("conversation.messages", conv.id), [])
        return conversation_attachments(self.seed, conv, msgs)
