"""Custom objects (kobjects) of the enabled klasses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import words as W
from .base import (
    ARCHIVED_FRACTION,
    Batch,
    ByCreation,
    Doc,
    Rec,
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
    return resource(f"kobject.{k}", rec.id, attrs, rels, f"/v1/klasses/{k}/{rec.id}")
