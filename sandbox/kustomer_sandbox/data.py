"""Deterministic generation of the sandbox's Kustomer-like data set.

Only the *core* of each record (id, timestamps, revision, deleted flag, parent links, a few enum
values) is generated eagerly; the full JSON:API document is a pure function of that core and a
per-record seeded RNG, built lazily and cached as serialised bytes.

Everything is derived from ``random.Random`` instances seeded from ``seed``; every timestamp is
an *offset* from the reference ``now`` so ids, counts and relationships do not depend on the clock.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_left

from . import words as W
from .compat import compat_1x
from .util import DAY_MS, HOUR_MS, MINUTE_MS, dumps, fmt_ms, fmt_ms_offset, make_id

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
ALL_STREAMS = (*SEARCH_STREAMS, "users", "teams", "tags", "shortcuts")

STREAM_NO = {name: i + 1 for i, name in enumerate(ALL_STREAMS)}

# Fraction of records whose updatedAt is older than the 2-year horizon (archive-only).
ARCHIVED_FRACTION = {"customers": 0.05, "conversations": 0.05, "messages": 0.05, "kobjects": 0.05}
DELETED_FRACTION = {"customers": 0.02, "conversations": 0.02, "notes": 0.02, "kobjects": 0.02}

# Non-archived records are updated within STANDARD_MAX_DAYS; archived ones between
# ARCHIVE_MIN_DAYS and ARCHIVE_MAX_DAYS ago.  The gap keeps the classification stable however
# long the sandbox runs (well, for two weeks).
STANDARD_MAX_DAYS = 720
ARCHIVE_MIN_DAYS = 745
ARCHIVE_MAX_DAYS = 1095

# Extra tie blocks per stream at scale 1.0: (size, days ago, archived?).  The customers' main
# block (size ``tie_block``) is added separately.
TIE_BLOCKS = {
    "customers": [(300, 30, False), (100, 600, False), (80, 770, True)],
    "conversations": [(700, 95, False), (250, 400, False), (60, 760, True)],
    "messages": [(650, 45, False), (300, 300, False), (60, 800, True)],
    "notes": [(150, 20, False), (50, 250, False)],
    "kobjects": [(300, 60, False), (80, 350, False), (40, 780, True)],
    "companies": [(50, 100, False)],
}
MAIN_TIE_DAYS = 200

KLASSES = (
    # name, displayName, icon, color, share of kobjects
    ("order", "Order", "cart", "#3949ab", 0.7),
    ("ecomm-return", "Return", "undo", "#e53935", 0.3),
)
DISABLED_KLASS = ("legacy-warranty", "Legacy warranty", "shield", "#546e7a")

ORG_ID = "5f0c1d2e3a4b5c6d7e8f9a0b"
ORG_NAME = "sandbox"

# --- custom attribute definitions (name -> (metadata type, displayName, extras)) -------------
SEGMENT_TREE = {
    "children": [
        {
            "value": "retail",
            "displayName": "Retail",
            "children": [
                {"value": "retail.new", "displayName": "New"},
                {"value": "retail.repeat", "displayName": "Repeat"},
            ],
        },
        {
            "value": "vip",
            "displayName": "VIP",
            "children": [
                {"value": "vip.gold", "displayName": "Gold"},
                {"value": "vip.platinum", "displayName": "Platinum"},
            ],
        },
        {"value": "wholesale", "displayName": "Wholesale"},
    ]
}
CONTACT_REASON_TREE = {
    "children": [
        {
            "value": "order",
            "displayName": "Order",
            "children": [
                {"value": "order.status", "displayName": "Status"},
                {"value": "order.change", "displayName": "Change"},
                {"value": "order.missing_item", "displayName": "Missing item"},
            ],
        },
        {
            "value": "billing",
            "displayName": "Billing",
            "children": [
                {"value": "billing.refund", "displayName": "Refund"},
                {"value": "billing.charge", "displayName": "Unexpected charge"},
            ],
        },
        {"value": "product", "displayName": "Product question"},
        {"value": "other", "displayName": "Other"},
    ]
}


def _tree_values(tree):
    out = []
    for node in tree.get("children", []):
        out.append(node["value"])
        out.extend(_tree_values(node))
    return out


SEGMENT_VALUES = _tree_values(SEGMENT_TREE)
REASON_VALUES = _tree_values(CONTACT_REASON_TREE)

CUSTOM_ATTRS = {
    "customer": {
        "totalSpentNum": ("number", "Total spent", {}),
        "ordersCountNum": ("number", "Orders count", {}),
        "lastOrderNameStr": ("string", "Last order", {}),
        "loyaltyTierStr": (
            "string",
            "Loyalty tier",
            {"enumeration": ["bronze", "silver", "gold", "platinum"]},
        ),
        "acceptsMarketingBool": ("boolean", "Accepts marketing", {}),
        "signupAt": ("date", "Signed up", {}),
        "notesTxt": ("text", "Notes", {}),
        "websiteUrl": ("url", "Website", {}),
        "accountId": ("id", "Account", {"target": "company"}),
        "segmentTree": ("string", "Segment", {"tree": SEGMENT_TREE}),
    },
    "conversation": {
        "contactReasonTree": ("string", "Contact reason", {"tree": CONTACT_REASON_TREE}),
        "orderNumberStr": ("string", "Order number", {}),
        "refundAmountNum": ("number", "Refund amount", {}),
        "escalatedBool": ("boolean", "Escalated", {}),
        "followUpAt": ("date", "Follow up", {}),
        "caseNotesTxt": ("text", "Case notes", {}),
        "ticketUrl": ("url", "Legacy ticket", {}),
        "rmaIdStr": ("string", "RMA id", {}),
    },
    "message": {
        "intentStr": (
            "string",
            "Intent",
            {"enumeration": ["order_status", "refund", "return", "other"]},
        ),
        "spamScoreNum": ("number", "Spam score", {}),
    },
    "company": {
        "industryStr": (
            "string",
            "Industry",
            {"enumeration": ["retail", "software", "logistics", "media", "health"]},
        ),
        "employeesNum": ("number", "Employees", {}),
        "contractRenewalAt": ("date", "Contract renewal", {}),
        "enterpriseBool": ("boolean", "Enterprise", {}),
    },
    "kobject.order": {
        "orderNumberStr": ("string", "Order number", {}),
        "totalPriceNum": ("number", "Total price", {}),
        "placedAt": ("date", "Placed at", {}),
        "giftBool": ("boolean", "Gift", {}),
        "shippingCountryStr": ("string", "Shipping country", {}),
        "skusTxt": ("text", "SKUs", {}),
    },
    "kobject.ecomm-return": {
        "reasonStr": (
            "string",
            "Reason",
            {"enumeration": ["damaged", "wrong_size", "not_as_described", "other"]},
        ),
        "refundNum": ("number", "Refund", {}),
        "approvedBool": ("boolean", "Approved", {}),
        "requestedAt": ("date", "Requested at", {}),
        "rmaIdStr": ("string", "RMA id", {}),
    },
    "kobject.legacy-warranty": {
        "serialNumberStr": ("string", "Serial number", {}),
    },
}


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
        self.deleted_at = None
        self.archived = False  # generated as archived (updatedAt older than the horizon)
        self.in_block = False
        self.customer = None  # Rec
        self.conversation = None  # Rec
        self.company = None  # Rec
        self.klass = None  # str
        self.status = None  # str: conversation status / message direction
        self.cache = None  # (rev, updated, deleted, bytes)
        self.acache = None


def _resource(kind: str, rid: str, attrs: dict, rels: dict, self_link: str, **links) -> dict:
    """The JSON:API envelope every record shares."""
    return {
        "type": kind,
        "id": rid,
        "attributes": attrs,
        "relationships": rels,
        "links": {"self": self_link, **links},
    }


def _ref(type_: str, id_: str | None, path: str | None):
    rel = {}
    if path:
        rel["links"] = {"self": path}
    rel["data"] = None if id_ is None else {"type": type_, "id": id_}
    return rel


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
        self.tie_blocks: dict[str, list[dict]] = {}
        self._generate()

    # ------------------------------------------------------------------ generation helpers
    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")  # noqa: S311 - test data, not crypto

    def _rec_rng(self, rec: Rec) -> random.Random:
        return random.Random(  # noqa: S311
            self.seed * 1_000_003 + STREAM_NO[rec.stream] * 100_000_007 + rec.idx
        )

    def _count(self, stream: str) -> int:
        if stream in BIG_VOLUMES:
            return max(10, round(BIG_VOLUMES[stream] * self.scale))
        return SMALL_VOLUMES[stream]

    @staticmethod
    def _offsets(rng: random.Random, archived: bool, p_same: float, span_days: float):
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

    def _new(
        self,
        stream: str,
        rng: random.Random,
        idx: int,
        archived: bool,
        p_same: float,
        span_days: float,
    ) -> tuple[Rec, list[int]]:
        rec = Rec(stream, idx)
        rec.archived = archived
        offs = list(self._offsets(rng, archived, p_same, span_days))
        rec.rev = rng.randrange(1, 12)
        return rec, offs

    def _generate(self):
        offsets: dict[str, list[list[int]]] = {}

        # small lists: spread over ~3 years, not archived (GET-only streams)
        for stream in ("users", "teams", "tags", "shortcuts"):
            rng = self._rng(stream)
            recs, offs = [], []
            for i in range(self._count(stream)):
                r, o = self._new(stream, rng, i, False, 0.3, 300)
                recs.append(r)
                offs.append(o)
            self.streams[stream] = recs
            offsets[stream] = offs
        # a few deleted tags/shortcuts/teams and deactivated users
        for stream, frac in (("tags", 0.06), ("shortcuts", 0.05), ("teams", 0.1), ("users", 0.05)):
            rng = self._rng(stream + ":deleted")
            for r in self.streams[stream]:
                if rng.random() < frac:
                    r.deleted = True

        # companies
        rng = self._rng("companies")
        comps, coffs = [], []
        for i in range(self._count("companies")):
            r, o = self._new("companies", rng, i, False, 0.4, 500)
            comps.append(r)
            coffs.append(o)
        self.streams["companies"] = comps
        offsets["companies"] = coffs

        # customers
        rng = self._rng("customers")
        custs, cuoffs = [], []
        for i in range(self._count("customers")):
            archived = rng.random() < ARCHIVED_FRACTION["customers"]
            r, o = self._new("customers", rng, i, archived, 0.3, 700)
            if rng.random() < 0.6:
                r.company = comps[rng.randrange(len(comps))]
            custs.append(r)
            cuoffs.append(o)
        self.streams["customers"] = custs
        offsets["customers"] = cuoffs
        cust_order = sorted(range(len(custs)), key=lambda k: cuoffs[k][1])
        cust_created = [cuoffs[k][1] for k in cust_order]

        def pick_before(order, created_list, created_off, rng):
            """A record created no later than ``created_off`` ago (created_list ascending)."""
            pos = bisect_left(created_list, created_off)
            if pos >= len(order):
                return order[-1]
            return order[rng.randrange(pos, len(order))]

        # conversations
        rng = self._rng("conversations")
        convs, cvoffs = [], []
        for i in range(self._count("conversations")):
            archived = rng.random() < ARCHIVED_FRACTION["conversations"]
            r, o = self._new("conversations", rng, i, archived, 0.05, 60)
            r.customer = custs[pick_before(cust_order, cust_created, o[1], rng)]
            x = rng.random()
            r.status = "done" if x < 0.7 else ("open" if x < 0.9 else "snoozed")
            if archived:
                r.status = "done"
            convs.append(r)
            cvoffs.append(o)
        self.streams["conversations"] = convs
        offsets["conversations"] = cvoffs
        conv_order = sorted(range(len(convs)), key=lambda k: cvoffs[k][1])
        conv_created = [cvoffs[k][1] for k in conv_order]

        # messages
        rng = self._rng("messages")
        msgs, moffs = [], []
        for i in range(self._count("messages")):
            archived = rng.random() < ARCHIVED_FRACTION["messages"]
            r, o = self._new("messages", rng, i, archived, 0.85, 30)
            conv = convs[pick_before(conv_order, conv_created, o[1], rng)]
            r.conversation = conv
            r.customer = conv.customer
            r.status = "in" if rng.random() < 0.55 else "out"
            msgs.append(r)
            moffs.append(o)
        self.streams["messages"] = msgs
        offsets["messages"] = moffs

        # notes (never archived)
        rng = self._rng("notes")
        notes, noffs = [], []
        for i in range(self._count("notes")):
            r, o = self._new("notes", rng, i, False, 0.6, 20)
            conv = convs[pick_before(conv_order, conv_created, o[1], rng)]
            r.conversation = conv
            r.customer = conv.customer
            notes.append(r)
            noffs.append(o)
        self.streams["notes"] = notes
        offsets["notes"] = noffs

        # kobjects
        rng = self._rng("kobjects")
        kobjs, koffs = [], []
        for i in range(self._count("kobjects")):
            archived = rng.random() < ARCHIVED_FRACTION["kobjects"]
            r, o = self._new("kobjects", rng, i, archived, 0.5, 200)
            r.customer = custs[pick_before(cust_order, cust_created, o[1], rng)]
            r.klass = KLASSES[0][0] if rng.random() < KLASSES[0][4] else KLASSES[1][0]
            if r.customer.company is not None and rng.random() < 0.3:
                r.company = r.customer.company
            kobjs.append(r)
            koffs.append(o)
        self.streams["kobjects"] = kobjs
        offsets["kobjects"] = koffs

        # deleted flags
        for stream, frac in DELETED_FRACTION.items():
            rng = self._rng(stream + ":deleted")
            for r in self.streams[stream]:
                if rng.random() < frac:
                    r.deleted = True

        # tie blocks and small ties
        for stream in SEARCH_STREAMS:
            self._make_ties(stream, offsets[stream])

        # ids (time-looking prefix from the creation offset) and absolute timestamps
        for stream in ALL_STREAMS:
            rng = self._rng(stream + ":ids")
            seen: dict[str, Rec] = {}
            for r, (upd, cre, mod) in zip(self.streams[stream], offsets[stream], strict=True):
                rid = make_id(rng, cre)
                while rid in seen:
                    rid = make_id(rng, cre)
                r.id = rid
                seen[rid] = r
                r.created = self.now_ms - cre
                r.updated = self.now_ms - upd
                r.modified = self.now_ms - mod
                if r.deleted and stream in ("notes", "teams", "tags"):
                    r.deleted_at = r.updated
            self.by_id[stream] = seen
        for stream in ("users",):
            for r in self.streams[stream]:
                if r.deleted:
                    r.deleted_at = r.updated

        self._derive_counts()
        self._build_catalog()

    def _make_ties(self, stream: str, offs: list[list[int]]):
        rng = self._rng(stream + ":ties")
        recs = self.streams[stream]
        blocks = list(TIE_BLOCKS.get(stream, ()))
        if stream == "customers":
            blocks.insert(0, (self.tie_block, MAIN_TIE_DAYS, False))
        info = []
        for n, (size, days, archived) in enumerate(blocks):
            if stream != "customers" or n > 0:
                size = round(size * min(1.0, self.scale))
            block_off = days * DAY_MS + rng.randrange(HOUR_MS, DAY_MS - HOUR_MS)
            eligible = [
                k
                for k, r in enumerate(recs)
                if r.archived == archived and not r.in_block and offs[k][1] >= block_off
            ]
            size = min(size, int(len(eligible) * 0.4))
            if size < 2:
                continue
            chosen = rng.sample(eligible, size)
            for k in chosen:
                o = offs[k]
                o[0] = block_off
                o[2] = max(o[2], block_off)
                recs[k].in_block = True
            info.append(
                {"size": size, "days_ago": days, "archived": archived, "offset_ms": block_off}
            )
        self.tie_blocks[stream] = info
        # small ties (2-6 records) from "batch" updates, within each region separately
        for archived in (False, True):
            ks = sorted(
                (k for k, r in enumerate(recs) if r.archived == archived and not r.in_block),
                key=lambda k: offs[k][0],
            )
            i = 0
            while i < len(ks):
                if rng.random() < 0.03:
                    g = ks[i : i + rng.randrange(2, 7)]
                    top = min(offs[k][0] for k in g)
                    for k in g:
                        offs[k][0] = top
                    i += len(g)
                else:
                    i += 1

    def _derive_counts(self):
        self.conv_counts: dict[str, dict[str, int]] = {}
        self.children: dict[tuple[str, str], list[Rec]] = {}
        for c in self.streams["conversations"]:
            if c.deleted:
                continue
            cc = self.conv_counts.setdefault(
                c.customer.id, {"all": 0, "open": 0, "snoozed": 0, "done": 0}
            )
            cc["all"] += 1
            cc[c.status] += 1
        self.msg_counts: dict[str, list[int]] = {}
        for m in self.streams["messages"]:
            mc = self.msg_counts.setdefault(m.conversation.id, [0, 0])
            mc[0 if m.status == "in" else 1] += 1
        self.note_counts: dict[str, int] = {}
        for n in self.streams["notes"]:
            if not n.deleted:
                self.note_counts[n.conversation.id] = self.note_counts.get(n.conversation.id, 0) + 1

        def add(key, rec):
            self.children.setdefault(key, []).append(rec)

        for c in self.streams["conversations"]:
            add(("customer.conversations", c.customer.id), c)
        for m in self.streams["messages"]:
            add(("conversation.messages", m.conversation.id), m)
            add(("customer.messages", m.customer.id), m)
        for n in self.streams["notes"]:
            add(("conversation.notes", n.conversation.id), n)
            add(("customer.notes", n.customer.id), n)
        for k in self.streams["kobjects"]:
            add((f"customer.klass.{k.klass}", k.customer.id), k)
        for lst in self.children.values():
            lst.sort(key=lambda r: r.id)

    # ------------------------------------------------------------------ static catalog
    def _build_catalog(self):
        """Small static resources: brands, queues, schedules, workflows, satisfaction, klasses,
        slas (+ versions), audit logs."""
        rng = self._rng("catalog")
        now = self.now_ms
        users = self.streams["users"]
        user_ids = [u.id for u in users if not u.deleted]
        self.agent_ids = user_ids

        def ts(days_lo, days_hi):
            return now - rng.randrange(days_lo * DAY_MS, days_hi * DAY_MS)

        def base(type_, id_, path, created, updated, attrs, rels=None):
            doc = {
                "type": type_,
                "id": id_,
                "attributes": attrs,
                "relationships": {"org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}")},
                "links": {"self": path},
            }
            attrs.setdefault("createdAt", fmt_ms(created))
            attrs.setdefault("updatedAt", fmt_ms(updated))
            attrs.setdefault("modifiedAt", fmt_ms(updated))
            if rels:
                doc["relationships"].update(rels)
            return doc

        def new_id(days):
            return make_id(rng, days * DAY_MS)

        cat: dict[str, list[dict]] = {}
        # brands
        brands = []
        for i, name in enumerate(("Sandbox Outfitters", "Sandbox Home", "Sandbox Kids")):
            bid = new_id(900 - i)
            c = ts(800, 1000)
            brands.append(
                base(
                    "brand",
                    bid,
                    f"/v1/brands/{bid}",
                    c,
                    ts(1, 300),
                    {
                        "name": name,
                        "default": i == 0,
                        "displayName": name,
                        "iconUrl": f"https://cdn.example/brands/{i}.png",
                        "rev": rng.randrange(1, 9),
                    },
                )
            )
        cat["brands"] = brands
        # business schedules
        scheds = []
        for i, (name, tz) in enumerate(
            (("Business hours", "America/New_York"), ("EMEA hours", "Europe/London"))
        ):
            sid = new_id(950 - i)
            hours = {str(d): [[540, 1020]] for d in range(1, 6)}
            scheds.append(
                base(
                    "schedule",
                    sid,
                    f"/v1/schedules/{sid}",
                    ts(900, 1000),
                    ts(1, 400),
                    {
                        "name": name,
                        "timezone": tz,
                        "default": i == 0,
                        "enabled": True,
                        "hours": hours,
                        "holidays": [],
                    },
                )
            )
        cat["schedules"] = scheds
        # queues
        queues = []
        for i, name in enumerate(
            ("Default", "VIP", "Returns", "Billing", "Social", "Email", "Chat", "Escalations")
        ):
            qid = new_id(880 - i)
            queues.append(
                base(
                    "queue",
                    qid,
                    f"/v1/routing/queues/{qid}",
                    ts(800, 900),
                    ts(1, 200),
                    {
                        "name": name,
                        "displayName": name,
                        "priority": i + 1,
                        "icon": "inbox",
                        "deleted": False,
                        "itemSize": 1,
                    },
                )
            )
        cat["queues"] = queues
        # workflows
        wfs = []
        for i, name in enumerate(W.WORKFLOW_NAMES):
            wid = new_id(700 - i)
            wfs.append(
                base(
                    "workflow",
                    wid,
                    f"/v1/workflows/{wid}",
                    ts(300, 700),
                    ts(1, 300),
                    {
                        "name": name,
                        "description": f"{name} (sandbox)",
                        "enabled": rng.random() < 0.8,
                        "callable": rng.random() < 0.2,
                        "trigger": {"eventName": "kustomer.conversation.update"},
                        "rev": rng.randrange(1, 30),
                    },
                )
            )
        cat["workflows"] = wfs
        # satisfaction surveys
        sats = []
        for i, name in enumerate(("CSAT email", "CSAT chat", "NPS quarterly")):
            sid = new_id(600 - i)
            sats.append(
                base(
                    "satisfaction",
                    sid,
                    f"/v1/satisfaction/{sid}",
                    ts(300, 600),
                    ts(1, 200),
                    {
                        "name": name,
                        "enabled": i < 2,
                        "channels": ["email"] if i != 1 else ["chat"],
                        "scale": "5-point" if i < 2 else "nps",
                        "question": "How did we do?",
                    },
                )
            )
        cat["satisfaction"] = sats
        # klasses
        klasses = []
        for i, (name, disp, icon, color, _share) in enumerate(KLASSES):
            kid = new_id(1000 - i)
            klasses.append(
                base(
                    "klass",
                    kid,
                    f"/v1/klasses/{kid}",
                    ts(1000, 1100),
                    ts(1, 100),
                    {
                        "name": name,
                        "displayName": disp,
                        "icon": icon,
                        "color": color,
                        "status": "enabled",
                        "metadata": {"properties": {}},
                    },
                )
            )
        name, disp, icon, color = DISABLED_KLASS
        kid = new_id(1010)
        klasses.append(
            base(
                "klass",
                kid,
                f"/v1/klasses/{kid}",
                ts(1000, 1100),
                ts(500, 700),
                {
                    "name": name,
                    "displayName": disp,
                    "icon": icon,
                    "color": color,
                    "status": "disabled",
                    "metadata": {"properties": {}},
                },
            )
        )
        cat["klasses"] = klasses
        # slas + versions
        slas, versions = [], []
        for i, name in enumerate(("Standard", "VIP", "Social")):
            sid = new_id(800 - i)
            vrefs = []
            nver = 1 + i % 3 + 1
            for v in range(1, nver + 1):
                vid = new_id(790 - i * 5 - v)
                vrefs.append({"type": "sla_version", "id": vid})
                versions.append(
                    {
                        "type": "sla_version",
                        "id": vid,
                        "attributes": {
                            "name": name,
                            "description": f"{name} SLA v{v}",
                            "version": v,
                            "hours": "business",
                            "metrics": {
                                "firstResponse": {"target": 3600 * (i + 1)},
                                "longestUnrespondedMessage": {"target": 7200 * (i + 1)},
                            },
                            "criteria": {"and": [{"conversation_priority": {"gte": 3 - i}}]},
                            "createdAt": fmt_ms(ts(100 + 200 * (nver - v), 300 + 200 * (nver - v))),
                        },
                        "relationships": {
                            "org": _ref("org", ORG_ID, None),
                            "createdBy": _ref("user", user_ids[v % len(user_ids)], None),
                            "sla": _ref("sla", sid, f"/v1/slas/{sid}"),
                        },
                        "links": {"self": f"/v1/slas/{sid}/versions/{vid}"},
                    }
                )
            slas.append(
                {
                    "type": "sla",
                    "id": sid,
                    "attributes": {
                        "name": name,
                        "currentVersion": nver,
                        "enabled": True,
                        "createdAt": fmt_ms(ts(800, 900)),
                    },
                    "relationships": {
                        "org": _ref("org", ORG_ID, None),
                        "createdBy": _ref("user", user_ids[i], None),
                        "versions": {"data": vrefs},
                    },
                    "links": {"self": f"/v1/slas/{sid}"},
                    "_versions": vrefs,
                }
            )
        cat["slas"] = slas
        cat["sla_versions"] = versions
        for lst in cat.values():
            lst.sort(key=lambda d: d["id"])
        self.catalog = cat
        self.sla_version_ids = [(s["id"], s["_versions"], s["attributes"]["name"]) for s in slas]
        for s in slas:
            s.pop("_versions")
        self.brand_ids = [b["id"] for b in brands]
        self.queue_ids = [q["id"] for q in queues]
        self.team_ids = [t.id for t in self.streams["teams"] if not t.deleted]
        self.tag_ids = [t.id for t in self.streams["tags"] if not t.deleted]
        self._build_audit_logs()

    def _build_audit_logs(self):
        rng = self._rng("audit")
        n = max(50, round(3000 * min(1.0, self.scale)))
        offs = sorted((rng.randrange(MINUTE_MS, 90 * DAY_MS) for _ in range(n)), reverse=True)
        logs = []
        kinds = (
            ("conversation", "conversations"),
            ("customer", "customers"),
            ("message", "messages"),
            ("shortcut", "shortcuts"),
            ("user", "users"),
            ("company", "companies"),
        )
        for off in offs:  # oldest first
            lid = make_id(rng, off)
            otype, stream = kinds[rng.randrange(len(kinds))]
            target = self.streams[stream][rng.randrange(len(self.streams[stream]))]
            verb = "update" if rng.random() < 0.8 else "create"
            uid = self.agent_ids[rng.randrange(len(self.agent_ids))]
            created = self.now_ms - off
            logs.append(
                {
                    "type": "audit_log",
                    "id": lid,
                    "attributes": {
                        "eventName": f"kustomer.{otype}.{verb}",
                        "eventVerb": verb,
                        "objectType": otype,
                        "objectId": target.id,
                        "userId": uid,
                        "ip": f"203.0.113.{rng.randrange(1, 255)}",
                        "changes": {
                            "attributes": {
                                "status": {"op": "replace", "before": "open", "after": "done"}
                            }
                        }
                        if verb == "update" and otype == "conversation"
                        else None,
                        "createdAt": fmt_ms(created),
                    },
                    "relationships": {
                        "org": _ref("org", ORG_ID, None),
                        "user": _ref("user", uid, f"/v1/users/{uid}"),
                    },
                    "_created": created,
                }
            )
        # newest first, ties broken by id descending
        logs.sort(key=lambda d: (d["_created"], d["id"]), reverse=True)
        self.audit_logs = logs

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

    def build_doc(self, rec: Rec) -> dict:
        doc = getattr(self, "_doc_" + rec.stream)(rec)
        return compat_1x(doc) if self.compat_1x else doc

    def build_archive_doc(self, rec: Rec) -> dict:
        full = self.build_doc(rec)
        attrs = full["attributes"]
        keep = {
            "createdAt": attrs["createdAt"],
            "updatedAt": attrs["updatedAt"],
            "deleted": bool(rec.deleted),
        }
        if rec.stream == "customers":
            keep["name"] = attrs.get("name")
            keep["emails"] = attrs.get("emails", [])
        return {
            "type": full["type"],
            "id": full["id"],
            "attributes": keep,
            "links": {"self": full["links"]["self"]},
        }

    def type_of(self, rec: Rec) -> str:
        if rec.stream == "kobjects":
            return "kobject." + rec.klass
        return {
            "customers": "customer",
            "conversations": "conversation",
            "messages": "message",
            "notes": "note",
            "companies": "company",
            "users": "user",
            "teams": "team",
            "tags": "tag",
            "shortcuts": "shortcut",
        }[rec.stream]

    def self_link(self, rec: Rec) -> str:
        if rec.stream == "kobjects":
            return f"/v1/klasses/{rec.klass}/{rec.id}"
        return f"/v1/{rec.stream}/{rec.id}"

    @staticmethod
    def _between(g: random.Random, lo: int, hi: int) -> int:
        return lo if hi <= lo else lo + int(g.random() * (hi - lo))

    def _user_ref(self, g: random.Random, null_p: float = 0.0):
        if g.random() < null_p:
            return _ref("user", None, None)
        uid = self.agent_ids[g.randrange(len(self.agent_ids))]
        return _ref("user", uid, f"/v1/users/{uid}")

    def _audit_rels(self, g: random.Random) -> dict:
        """org, createdBy, modifiedBy: the relationships most records carry (RNG order kept)."""
        return {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "createdBy": self._user_ref(g),
            "modifiedBy": self._user_ref(g),
        }

    def _common(self, rec: Rec, attrs: dict):
        attrs["createdAt"] = fmt_ms(rec.created)
        attrs["updatedAt"] = fmt_ms(rec.updated)
        attrs["modifiedAt"] = fmt_ms(min(rec.modified, rec.updated))
        attrs["rev"] = rec.rev

    def _custom(self, g: random.Random, resource: str, rec: Rec) -> dict:
        out = {}
        for key, (typ, _disp, extra) in CUSTOM_ATTRS[resource].items():
            x = g.random()
            if x < 0.08:
                continue  # attribute never set on this record
            if x < 0.12:
                out[key] = None
                continue
            out[key] = self._custom_value(g, key, typ, extra, rec)
        return out

    def _custom_value(self, g, key, typ, extra, rec):
        if "enumeration" in extra:
            return g.choice(extra["enumeration"])
        if "tree" in extra:
            return g.choice(SEGMENT_VALUES if key == "segmentTree" else REASON_VALUES)
        if typ == "number":
            if key.endswith("CountNum") or key == "employeesNum":
                return g.randrange(0, 400)
            return round(g.uniform(0, 900), 2)
        if typ == "boolean":
            return g.random() < 0.5
        if typ == "date":
            ms = self._between(g, rec.created - 400 * DAY_MS, rec.updated)
            if g.random() < 0.3:  # custom At values sometimes carry a local offset
                return fmt_ms_offset(ms, g.choice((-300, -240, 60, 120, 330)))
            return fmt_ms(ms)
        if typ == "text":
            return "\n".join(g.sample(W.SNIPPETS, 2))
        if typ == "url":
            return f"https://www.example.com/{key[:-3].lower()}/{g.randrange(10**6)}"
        if typ == "id":
            comps = self.streams["companies"]
            return comps[g.randrange(len(comps))].id
        # string
        if key in ("lastOrderNameStr", "orderNumberStr"):
            return f"#{1000 + g.randrange(90000)}"
        if key == "rmaIdStr":
            return f"RMA-{g.randrange(10**6):06d}"
        if key == "shippingCountryStr":
            return g.choice(("US", "GB", "DE", "FR", "CA", "AU", "JP"))
        return g.choice(W.TAG_WORDS)

    def _doc_customers(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        first, last = g.choice(W.FIRST), g.choice(W.LAST)
        name = f"{first} {last}"
        n = g.randrange(1000)
        emails = [
            {
                "type": "home",
                "email": f"{first}.{last}{n}@{g.choice(W.DOMAINS)}".lower(),
                "verified": g.random() < 0.6,
            }
        ]
        if g.random() < 0.15:
            emails.append(
                {
                    "type": "work",
                    "email": f"{first[0]}{last}@corp.example".lower(),
                    "verified": False,
                }
            )
        phones = []
        if g.random() < 0.5:
            phones.append(
                {
                    "type": "mobile",
                    "phone": f"+1555{g.randrange(10**7):07d}",
                    "verified": g.random() < 0.3,
                }
            )
        cc = self.conv_counts.get(rec.id, {"all": 0, "open": 0, "snoozed": 0, "done": 0})
        last_act = self._between(g, rec.created, rec.updated)
        ext = f"shop-{g.randrange(10**8):08d}" if g.random() < 0.7 else None
        tags = g.sample(self.tag_ids, g.randrange(0, 4)) if self.tag_ids else []
        attrs = {
            "name": name,
            "displayName": name if g.random() < 0.9 else emails[0]["email"],
            "displayColor": g.choice(W.DISPLAY_COLORS),
            "displayIcon": "user",
            "firstName": first,
            "lastName": last,
            "externalId": ext,
            "externalIds": [{"externalId": ext, "verified": True}] if ext else [],
            "sharedExternalIds": [],
            "emails": emails,
            "sharedEmails": [],
            "phones": phones,
            "sharedPhones": [],
            "whatsapps": [],
            "facebookIds": [],
            "instagramIds": [],
            "socials": [],
            "sharedSocials": [],
            "urls": [],
            "locations": [],
            "activeUsers": [],
            "watchers": [],
            "tags": tags,
            "conversationCounts": dict(cc),
            "deleted": bool(rec.deleted),
            "locale": g.choice(W.LOCALES) if g.random() < 0.6 else None,
            "timeZone": g.choice(W.TIME_ZONES) if g.random() < 0.4 else None,
            "gender": None,
            "birthdayAt": None,
            "avatarUrl": f"https://avatars.example/{rec.id}.png" if g.random() < 0.2 else None,
            "username": None,
            "signedUpAt": fmt_ms(rec.created) if g.random() < 0.5 else None,
            "lastSeenAt": fmt_ms(last_act) if g.random() < 0.5 else None,
            "lastActivityAt": fmt_ms(last_act),
            "lastCustomerActivityAt": fmt_ms(self._between(g, rec.created, last_act)),
            "lastMessageAt": fmt_ms(last_act) if cc["all"] else None,
            "progressiveStatus": (
                "open"
                if cc["open"]
                else "snoozed"
                if cc["snoozed"]
                else "done"
                if cc["all"]
                else None
            ),
            "verified": g.random() < 0.5,
            "roleGroupVersions": [],
            "custom": self._custom(g, "customer", rec),
        }
        self._common(rec, attrs)
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "messages": {"links": {"self": f"/v1/customers/{rec.id}/messages"}},
            "createdBy": self._user_ref(g, 0.6),
            "modifiedBy": self._user_ref(g, 0.3),
        }
        if rec.company is not None:
            rels["company"] = _ref("company", rec.company.id, f"/v1/companies/{rec.company.id}")
        for kname, *_ in KLASSES:
            rels[kname] = {
                "links": {"self": f"/v1/customers/{rec.id}/klasses/{kname}"},
                "meta": {"kobject": True},
            }
        return _resource("customer", rec.id, attrs, rels, f"/v1/customers/{rec.id}")

    def _doc_conversations(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        mc = self.msg_counts.get(rec.id, [0, 0])
        nc = self.note_counts.get(rec.id, 0)
        channels = sorted(
            set(
                g.sample(
                    ("email", "chat", "sms", "facebook", "instagram", "voice"), g.randrange(1, 3)
                )
            )
        )
        msgs = sorted(
            self.children.get(("conversation.messages", rec.id), ()),
            key=lambda m: (m.created, m.id),
        )
        ins = [m for m in msgs if m.status == "in"]
        outs = [m for m in msgs if m.status == "out"]
        t_first_in = self._between(g, rec.created, rec.updated)
        t_resp = self._between(g, t_first_in, rec.updated)
        users = g.sample(self.agent_ids, g.randrange(0, 3))
        teams = g.sample(self.team_ids, g.randrange(0, 2))
        done = rec.status == "done"
        done_at = self._between(g, t_resp, rec.updated) if done else None
        sla_pick = self.sla_version_ids[g.randrange(len(self.sla_version_ids))]
        has_sla = g.random() < 0.75
        ver_ref = g.choice(sla_pick[1]) if has_sla else None
        first_done = None
        if done:
            first_done = {
                "createdAt": fmt_ms(done_at),
                "createdBy": users[0] if users else None,
                "createdByTeams": teams,
                "assignedUsers": users,
                "assignedTeams": teams,
                "time": max(0, (done_at - rec.created) // 1000),
                "businessTime": max(0, (done_at - rec.created) // 3000),
                "messageCount": mc[0] + mc[1],
                "noteCount": nc,
                "outboundMessageCount": mc[1],
                "lastMessageDirection": "out",
                "lastMessageDirectionType": "response-out",
            }
        breached = has_sla and g.random() < 0.2
        sla = None
        if has_sla:
            sla = {
                "name": sla_pick[2],
                "version": int(sla_pick[1].index(ver_ref)) + 1,
                "matchedAt": fmt_ms(rec.created),
                "status": "breached" if breached else ("achieved" if done else "active"),
                "breached": breached,
                "breach": {
                    "metric": "firstResponse",
                    "at": fmt_ms(self._between(g, rec.created, rec.updated)),
                }
                if breached
                else None,
                "metrics": {
                    "firstResponse": {
                        "breachAt": fmt_ms(rec.created + 3_600_000),
                        "satisfiedAt": fmt_ms(t_resp) if not breached else None,
                    }
                },
                "summary": {"firstBreachAt": None, "satisfiedAt": fmt_ms(t_resp)},
            }
        queue_id = self.queue_ids[g.randrange(len(self.queue_ids))] if g.random() < 0.85 else None
        brand_id = self.brand_ids[g.randrange(len(self.brand_ids))]
        sat = g.choice((None, None, None, 1, 2, 3, 4, 5, 5, 4))
        attrs = {
            "name": g.choice(W.SUBJECTS),
            "preview": g.choice(W.SNIPPETS),
            "channels": channels,
            "status": rec.status,
            "deleted": bool(rec.deleted),
            "priority": g.choice((1, 2, 3, 3, 3, 4, 5)),
            "messageCount": mc[0] + mc[1],
            "noteCount": nc,
            "outboundMessageCount": mc[1],
            "inboundMessageCount": mc[0],
            "satisfaction": sat,
            "satisfactionLevel": {
                "status": "scored",
                "score": sat,
                "channel": "email",
                "sentAt": fmt_ms(done_at),
            }
            if sat and done_at
            else None,
            "tags": g.sample(self.tag_ids, g.randrange(0, 4)),
            "suggestedTags": [],
            "assignedUsers": users,
            "assignedTeams": teams,
            "direction": "in" if g.random() < 0.8 else "out",
            "lastMessageDirection": g.choice(("in", "out")),
            "firstMessageIn": {
                "id": ins[0].id,
                "channel": channels[0],
                "directionType": "initial-in",
                "sentAt": fmt_ms(ins[0].created),
                "createdAt": fmt_ms(ins[0].created),
            }
            if ins
            else None,
            "lastMessageIn": {
                "id": ins[-1].id,
                "sentAt": fmt_ms(ins[-1].created),
                "createdAt": fmt_ms(ins[-1].created),
            }
            if ins
            else None,
            "lastMessageOut": {
                "id": outs[-1].id,
                "sentAt": fmt_ms(outs[-1].created),
                "createdAt": fmt_ms(outs[-1].created),
            }
            if outs
            else None,
            "lastMessageAt": fmt_ms(max(m.created for m in msgs)) if msgs else None,
            "lastActivityAt": fmt_ms(rec.updated),
            "firstResponse": {
                "createdAt": fmt_ms(t_resp),
                "sentAt": fmt_ms(t_resp),
                "time": (t_resp - t_first_in) // 1000,
                "businessTime": (t_resp - t_first_in) // 3000,
                "assignedUsers": users,
                "assignedTeams": teams,
            }
            if mc[1]
            else None,
            "firstDone": first_done,
            "lastDone": first_done,
            "doneCount": 1 if done else 0,
            "reopenCount": 0,
            "snoozeCount": 1 if rec.status == "snoozed" else 0,
            "snooze": {
                "status": "active",
                "time": fmt_ms(rec.updated + 86_400_000),  # when the snooze ends
                "statusAt": fmt_ms(rec.updated),
            }
            if rec.status == "snoozed"
            else None,
            "sla": sla,
            "ended": done,
            "endedAt": fmt_ms(done_at) if done else None,
            "endedReason": "done" if done else None,
            "endedByType": "user" if done else None,
            "spam": False,
            "locale": g.choice(W.LOCALES) if g.random() < 0.5 else None,
            "defaultLang": "en",
            "externalId": None,
            "importedAt": None,
            "roleGroupVersions": [],
            "custom": self._custom(g, "conversation", rec),
        }
        self._common(rec, attrs)
        cid = rec.customer.id
        sla_id = sla_pick[0] if has_sla else None
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "customer": _ref("customer", cid, f"/v1/customers/{cid}"),
            "messages": {"links": {"self": f"/v1/conversations/{rec.id}/messages"}},
            "queue": _ref(
                "queue", queue_id, f"/v1/routing/queues/{queue_id}" if queue_id else None
            ),
            "brand": _ref("brand", brand_id, f"/v1/brands/{brand_id}"),
            "sla": _ref("sla", sla_id, f"/v1/slas/{sla_id}" if sla_id else None),
            "slaVersion": _ref(
                "sla_version",
                ver_ref["id"] if ver_ref else None,
                f"/v1/slas/{sla_id}/versions/{ver_ref['id']}" if ver_ref else None,
            ),
            "createdBy": self._user_ref(g, 0.4),
            "modifiedBy": self._user_ref(g, 0.1),
        }
        return _resource("conversation", rec.id, attrs, rels, f"/v1/conversations/{rec.id}")

    def _doc_messages(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        inbound = rec.status == "in"
        channel = g.choice(("email", "email", "email", "chat", "sms", "facebook"))
        app = {"email": "postmark", "chat": "chat", "sms": "twilio", "facebook": "facebook"}[
            channel
        ]
        subject = g.choice(W.SUBJECTS)
        text = g.choice(W.SNIPPETS)
        cust_mail = f"customer{rec.customer.idx}@{W.DOMAINS[rec.customer.idx % 5]}"
        agent_mail = "support@sandbox.example"
        frm, to_addr = (cust_mail, agent_mail) if inbound else (agent_mail, cust_mail)
        shape = g.random()
        if shape < 0.5:
            to = [{"email": to_addr, "name": None}]
        elif shape < 0.75:
            to = to_addr  # plain string
        else:
            to = {"email": to_addr}  # single object
        cc_shape = g.random()
        cc = (
            []
            if cc_shape < 0.6
            else "manager@corp.example"
            if cc_shape < 0.8
            else [{"email": "manager@corp.example"}, {"email": "ops@corp.example"}]
        )
        bcc = [] if g.random() < 0.9 else {"email": "audit@sandbox.example"}
        meta = (
            {"from": frm, "to": to, "cc": cc, "bcc": bcc, "subject": subject}
            if channel == "email"
            else {"from": frm, "to": to_addr}
        )
        attrs = {
            "channel": channel,
            "app": app,
            "direction": rec.status,
            "directionType": (
                g.choice(("initial-in", "followup-in"))
                if inbound
                else g.choice(("response-out", "initial-out", "followup-out"))
            ),
            "preview": text[:100],
            "subject": subject if channel == "email" else None,
            "status": "received" if inbound else ("sent" if g.random() < 0.97 else "error"),
            "sentAt": fmt_ms(rec.created),
            "size": g.randrange(200, 20000),
            "redacted": g.random() < 0.01,
            "auto": (not inbound) and g.random() < 0.1,
            "lang": g.choice(("en", "en", "en", "fr", "de", "es")),
            "meta": meta,
            "assignedTeams": [],
            "assignedUsers": [],
            "createdByTeams": [],
            "externalId": None,
            "custom": self._custom(g, "message", rec),
        }
        self._common(rec, attrs)
        cid, vid = rec.customer.id, rec.conversation.id
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "customer": _ref("customers", cid, f"/v1/customers/{cid}"),
            "conversation": _ref("conversation", vid, f"/v1/conversations/{vid}"),
            "createdBy": self._user_ref(g) if not inbound else _ref("user", None, None),
            "modifiedBy": self._user_ref(g, 0.7),
        }
        return _resource(
            "message",
            rec.id,
            attrs,
            rels,
            f"/v1/messages/{rec.id}",
            related=f"/v1/{app}/messages/{rec.id}",
        )

    def _doc_notes(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        mentions = []
        if g.random() < 0.2:
            mentions.append(
                {"userId": self.agent_ids[g.randrange(len(self.agent_ids))], "teamId": None}
            )
        attrs = {
            "body": g.choice(W.NOTE_BODIES),
            "deleted": bool(rec.deleted),
            "deletedAt": fmt_ms(rec.deleted_at if rec.deleted_at else rec.updated)
            if rec.deleted
            else None,
            "userMentions": mentions,
            "externalId": None,
            "importedAt": None,
            "createdByTeams": g.sample(self.team_ids, g.randrange(0, 2)),
        }
        self._common(rec, attrs)
        cid, vid = rec.customer.id, rec.conversation.id
        author = self._user_ref(g)
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "conversation": _ref("conversation", vid, f"/v1/conversations/{vid}"),
            "customer": _ref("customer", cid, f"/v1/customers/{cid}"),
            "createdBy": author,
            "modifiedBy": author,
        }
        if rec.deleted:
            rels["deletedBy"] = author
        return _resource("note", rec.id, attrs, rels, f"/v1/notes/{rec.id}")

    def _doc_companies(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        name = f"{g.choice(W.COMPANY_WORDS)} {g.choice(W.COMPANY_SUFFIX)}"
        slug = name.split()[0].lower()
        attrs = {
            "name": name,
            "domains": [f"{slug}{rec.idx}.example"],
            "emails": [f"info@{slug}{rec.idx}.example"] if g.random() < 0.5 else [],
            "phones": [],
            "whatsapps": [],
            "socials": [],
            "urls": [f"https://{slug}{rec.idx}.example"],
            "locations": [],
            "tags": g.sample(self.tag_ids, g.randrange(0, 3)),
            "deleted": False,
            "roleGroupVersions": [],
            "custom": self._custom(g, "company", rec),
        }
        self._common(rec, attrs)
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "createdBy": self._user_ref(g, 0.2),
            "modifiedBy": self._user_ref(g, 0.2),
        }
        return _resource("company", rec.id, attrs, rels, f"/v1/companies/{rec.id}")

    def _doc_kobjects(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        k = rec.klass
        if k == "order":
            num = f"#{1000 + rec.idx}"
            title = f"Order {num}"
            desc = ", ".join(g.sample(W.PRODUCTS, g.randrange(1, 4)))
            icon = "cart"
        else:
            num = f"RMA-{100000 + rec.idx}"
            title = f"Return {num}"
            desc = g.choice(
                ("Damaged on arrival", "Wrong size", "Changed mind", "Not as described")
            )
            icon = "undo"
        custom = self._custom(g, "kobject." + k, rec)
        if k == "order" and "orderNumberStr" in custom:
            custom["orderNumberStr"] = num
        attrs = {
            "title": title,
            "description": desc,
            "externalId": f"{k}-{rec.idx:06d}",
            "icon": icon,
            "images": [f"https://cdn.example/{k}/{rec.idx}.jpg"] if g.random() < 0.3 else [],
            "tags": g.sample(self.tag_ids, g.randrange(0, 3)),
            "deleted": bool(rec.deleted),
            "roleGroupVersions": [],
            "custom": custom,
        }
        self._common(rec, attrs)
        cid = rec.customer.id
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            # official quirk: singular "link", klass *name* as id
            "klass": {"link": f"/v1/klasses/{k}", "data": {"type": "klass", "id": k}},
            "customer": _ref("customer", cid, f"/v1/customers/{cid}"),
            "createdBy": self._user_ref(g, 0.5),
        }
        if rec.company is not None:
            rels["company"] = _ref("company", rec.company.id, f"/v1/companies/{rec.company.id}")
        return _resource(f"kobject.{k}", rec.id, attrs, rels, f"/v1/klasses/{k}/{rec.id}")

    def _doc_users(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        machine = rec.idx % 20 == 7
        first, last = g.choice(W.FIRST), g.choice(W.LAST)
        name = f"API key {rec.idx}" if machine else f"{first} {last}"
        email = (
            f"api-{rec.idx}@machine.sandbox.example"
            if machine
            else f"{first}.{last}.{rec.idx}@sandbox.example".lower()
        )
        login = self._between(g, rec.created, rec.updated)
        attrs = {
            "name": name,
            "displayName": name if machine else first,
            "userType": "machine" if machine else "user",
            "email": email,
            "emailVerifiedAt": fmt_ms(rec.created) if not machine else None,
            "firstEmailVerifiedAt": fmt_ms(rec.created) if not machine else None,
            "mobile": f"+1555{g.randrange(10**7):07d}" if g.random() < 0.3 else None,
            "emailSignature": f"-- {name}" if g.random() < 0.5 else None,
            "avatarUrl": None,
            "password": {"allowNew": True, "forceNew": False, "updatedAt": fmt_ms(rec.created)}
            if not machine
            else None,
            "roleGroups": [],
            "roles": (
                ["org.user", "org.permission.search.create"]
                if machine
                else ["org.user", "org.admin"]
                if rec.idx % 10 == 0
                else ["org.user"]
            ),
            "firstLoginAt": fmt_ms(rec.created) if not machine else None,
            "mostRecentLoginAt": fmt_ms(login) if not machine else None,
            "isEmailValid": True,
            "deletedAt": fmt_ms(rec.deleted_at) if rec.deleted and rec.deleted_at else None,
        }
        self._common(rec, attrs)
        rels = {
            "org": _ref("org", ORG_ID, f"/v1/orgs/{ORG_ID}"),
            "createdBy": _ref("user", None, None),
            "modifiedBy": _ref("user", None, None),
        }
        return _resource("user", rec.id, attrs, rels, f"/v1/users/{rec.id}")

    def _doc_teams(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        name = W.TEAM_NAMES[rec.idx % len(W.TEAM_NAMES)]
        attrs = {
            "name": name,
            "displayName": name,
            "icon": "users",
            "members": sorted(g.sample(self.agent_ids, g.randrange(2, 12))),
            "roleGroups": [],
            "deleted": bool(rec.deleted),
            "deletedAt": fmt_ms(rec.deleted_at) if rec.deleted and rec.deleted_at else None,
        }
        self._common(rec, attrs)
        rels = self._audit_rels(g)
        return _resource("team", rec.id, attrs, rels, f"/v1/teams/{rec.id}")

    def _doc_tags(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        word = W.TAG_WORDS[rec.idx % len(W.TAG_WORDS)]
        suffix = rec.idx // len(W.TAG_WORDS)
        attrs = {
            "name": word if suffix == 0 else f"{word}-{suffix}",
            "color": g.choice(W.COLORS),
            "deleted": bool(rec.deleted),
            "deletedAt": fmt_ms(rec.deleted_at) if rec.deleted and rec.deleted_at else None,
        }
        self._common(rec, attrs)
        rels = self._audit_rels(g)
        return _resource("tag", rec.id, attrs, rels, f"/v1/tags/{rec.id}")

    def _doc_shortcuts(self, rec: Rec) -> dict:
        g = self._rec_rng(rec)
        word = W.SHORTCUT_WORDS[rec.idx % len(W.SHORTCUT_WORDS)]
        name = f"{word} {rec.idx // len(W.SHORTCUT_WORDS) + 1}"
        text = g.choice(W.SNIPPETS)
        attrs = {
            "name": name,
            "draft": {"text": text},
            "payload": {"text": text},
            "conversation": {"name": None, "tags": g.sample(self.tag_ids, g.randrange(0, 2))},
            "isPrivate": g.random() < 0.2,
            "appDisabled": False,
            "deleted": bool(rec.deleted),
        }
        self._common(rec, attrs)
        rels = {
            **self._audit_rels(g),
            "parent": _ref("shortcut", None, None),
        }
        return _resource("shortcut", rec.id, attrs, rels, f"/v1/shortcuts/{rec.id}")

    # ------------------------------------------------------------------ other documents
    def metadata_doc(self, resource: str) -> dict | None:
        props = CUSTOM_ATTRS.get(resource)
        if props is None:
            return None
        g = self._rng("metadata:" + resource)
        out = {}
        for key, (typ, disp, extra) in props.items():
            p = {
                "type": typ,
                "displayName": disp,
                "description": f"{disp} (sandbox)",
                "multi": False,
                "deletedAt": None,
                "deletedBy": None,
                "modifiedAt": fmt_ms(self.now_ms - g.randrange(DAY_MS, 600 * DAY_MS)),
                "modifiedBy": self.agent_ids[g.randrange(len(self.agent_ids))],
            }
            p.update(extra)
            out[key] = p
        return {
            "type": "metadata",
            "id": resource,
            "attributes": {"properties": out},
            "relationships": {"org": _ref("org", ORG_ID, None)},
            "links": {"self": f"/v1/metadata/{resource}"},
        }

    def conversation_events(self, conv: Rec) -> list[dict]:
        g = random.Random(f"{self.seed}:events:{conv.idx}")  # noqa: S311
        n = 1 + g.randrange(1, 6)
        times = sorted(self._between(g, conv.created, conv.updated) for _ in range(n - 1))
        times = [conv.created, *times]
        times[-1] = conv.updated if n > 1 else conv.created
        events = []
        for i, t in enumerate(times):
            verb = "create" if i == 0 else "update"
            changes = None
            if verb == "update":
                field = g.choice(("status", "priority", "assignedUsers", "tags"))
                changes = {
                    "attributes": {
                        field: {
                            "op": "replace",
                            "before": None,
                            "after": conv.status if field == "status" else None,
                        }
                    }
                }
            eid = f"{conv.id[:8]}{g.getrandbits(64):016x}"
            events.append(
                {
                    "type": "customer_event",
                    "id": eid,
                    "attributes": {
                        "name": f"kustomer.conversation.{verb}",
                        "changes": changes,
                        "createdAt": fmt_ms(t),
                    },
                    "relationships": {
                        "conversation": _ref(
                            "conversation", conv.id, f"/v1/conversations/{conv.id}"
                        ),
                        "org": _ref("org", ORG_ID, None),
                    },
                    "links": {"self": f"/v1/conversations/{conv.id}/events/{eid}"},
                }
            )
        return events
