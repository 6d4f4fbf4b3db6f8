"""Custom objects (kobjects) of the enabled klasses."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .. import words as W
from ..util import fmt_ms
from .base import (
    ARCHIVED_FRACTION,
    Batch,
    ByCreation,
    Doc,
    Rec,
    between,
    big_count,
    named_rng,
    org_ref,
    parent,
    rec_rng,
    ref,
    resource,
    stamp,
    user_ref,
)
from .catalog import klass_mixins
from .custom import custom_values
from .people import company_ref

if TYPE_CHECKING:
    from ..data import Dataset

RETURN_REASONS = ("Damaged on arrival", "Wrong size", "Changed mind", "Not as described")


def make_kobjects(
    seed: int, scale: float, customers: ByCreation, klass_shares: list[tuple[str, float]]
) -> Batch:
    """Each kobject belongs to a customer (and, for 30 % of those in a company, to it too)."""
    rng = named_rng(seed, "kobjects")
    batch = Batch("kobjects", rng)
    for _ in range(big_count("kobjects", scale)):
        archived = rng.random() < ARCHIVED_FRACTION["kobjects"]
        rec = batch.add(archived, 0.5, 200)
        customer = customers.pick(rng, batch.offsets[-1][1])
        rec.customer = customer
        rec.klass = _klass(rng.random(), klass_shares)
        if customer.company is not None and rng.random() < 0.3:
            rec.company = customer.company
    return batch


def _klass(x: float, shares: list[tuple[str, float]]) -> str:
    """The klass whose share of the unit interval holds ``x``."""
    upto = 0.0
    for name, share in shares:
        upto += share
        if x < upto:
            return name
    return shares[-1][0]


ASSIGNABLE = frozenset(name for name, mixins in klass_mixins() if "assignable" in mixins)


def _assignable(ds: Dataset, rec: Rec, attrs: Doc, rels: Doc) -> None:
    """The ``assignable`` mixin's attributes and ``queue`` relationship (OAS GetKObject): from
    their own RNG, so no other draw of the record moves."""
    g = random.Random(f"{ds.seed}:assignable:{rec.idx}")  # noqa: S311
    queue = ds.queue_ids[g.randrange(len(ds.queue_ids))] if g.random() < 0.8 else None
    user = ds.agent_ids[g.randrange(len(ds.agent_ids))] if g.random() < 0.7 else None
    team = ds.team_ids[g.randrange(len(ds.team_ids))] if ds.team_ids and g.random() < 0.5 else None
    done = g.random() < 0.5
    reopened = g.randrange(0, 2)  # done once, then reopened (and, when done, done again)
    first = last = None
    if done or reopened:
        at = between(g, rec.created, rec.updated)
        seconds = max(0, (at - rec.created) // 1000)
        first = {
            "time": seconds,
            "businessTime": seconds // 3,
            "createdAt": fmt_ms(at),
            "createdBy": user,
            "createdByTeam": team,
            "assignedTeam": team,
            "assignedUser": user,
            "commentCount": g.randrange(0, 4),
        }
        last = dict(first, createdAt=fmt_ms(rec.updated)) if done and reopened else first
    attrs.update(
        {
            "status": "done" if done else "open",
            "queue": queue,
            "assignedUser": user,
            "doneCount": int(done) + reopened,
            "reopenCount": reopened,
            "reopenDoneCount": reopened if done else 0,
            "firstDone": first,
            "lastDone": last,
        }
    )
    rels["queue"] = ref("queue", queue, f"/v1/routing/queues/{queue}" if queue else None)


def kobject_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    k = str(rec.klass)
    if k == "order":
        num = f"#{1000 + rec.idx}"
        title = f"Order {num}"
        desc = ", ".join(g.sample(W.PRODUCTS, g.randrange(1, 4)))
        icon = "cart"
    else:
        num = f"RMA-{100000 + rec.idx}"
        title = f"Return {num}"
        desc = g.choice(RETURN_REASONS)
        icon = "undo"
    custom = custom_values(g, "kobject." + k, rec, ds.company_ids)
    if k == "order" and "orderNumberStr" in custom:
        custom["orderNumberStr"] = num
    attrs = {
        "title": title,
        "description": desc,
        "externalId": f"{k}-{rec.idx:06d}",
        "icon": icon,
        "images": [f"https://cdn.example/{k}/{rec.idx}.jpg"] if g.random() < 0.3 else [],
        "tags": g.sample(ds.tag_ids, g.randrange(0, 3)),
        "deleted": bool(rec.deleted),
        "roleGroupVersions": [],
        "custom": custom,
    }
    stamp(rec, attrs)
    cid = parent(rec.customer).id
    rels = {
        "org": org_ref(),
        # official quirk: singular "link", klass *name* as id
        "klass": {"link": f"/v1/klasses/{k}", "data": {"type": "klass", "id": k}},
        "customer": ref("customer", cid, f"/v1/customers/{cid}"),
        "createdBy": user_ref(g, ds.agent_ids, 0.5),
    }
    if rec.company is not None:
        rels["company"] = company_ref(rec.company)
    if k in ASSIGNABLE:
        _assignable(ds, rec, attrs, rels)
    return resource(f"kobject.{k}", rec.id, attrs, rels, f"/v1/klasses/{k}/{rec.id}")
