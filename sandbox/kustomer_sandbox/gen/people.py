"""Companies and customers."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .. import words as W
from ..util import fmt_ms
from .base import (
    ARCHIVED_FRACTION,
    Batch,
    Doc,
    Rec,
    between,
    big_count,
    named_rng,
    org_ref,
    rec_rng,
    ref,
    resource,
    stamp,
    user_ref,
)
from .custom import custom_values, multi_reference

if TYPE_CHECKING:
    from ..data import Dataset

NO_CONVERSATIONS = {"all": 0, "open": 0, "snoozed": 0, "done": 0}


def make_companies(seed: int, scale: float) -> Batch:
    batch = Batch("companies", named_rng(seed, "companies"))
    for _ in range(big_count("companies", scale)):
        batch.add(False, 0.4, 500)
    return batch


def make_customers(seed: int, scale: float, companies: list[Rec]) -> Batch:
    """60 % of customers belong to a company."""
    rng = named_rng(seed, "customers")
    batch = Batch("customers", rng)
    for _ in range(big_count("customers", scale)):
        archived = rng.random() < ARCHIVED_FRACTION["customers"]
        rec = batch.add(archived, 0.3, 700)
        if rng.random() < 0.6:
            rec.company = companies[rng.randrange(len(companies))]
    return batch


def company_ref(rec: Rec) -> Doc:
    return ref("company", rec.id, f"/v1/companies/{rec.id}")


def customer_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    first, last = g.choice(W.FIRST), g.choice(W.LAST)
    name = f"{first} {last}"
    emails = _emails(g, first, last)
    phones = []
    if g.random() < 0.5:
        phones.append(
            {
                "type": "mobile",
                "phone": f"+1555{g.randrange(10**7):07d}",
                "verified": g.random() < 0.3,
            }
        )
    cc = ds.conv_counts.get(rec.id, NO_CONVERSATIONS)
    last_act = between(g, rec.created, rec.updated)
    ext = f"shop-{g.randrange(10**8):08d}" if g.random() < 0.7 else None
    tags = g.sample(ds.tag_ids, g.randrange(0, 4)) if ds.tag_ids else []
    attrs: Doc = {
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
        "lastCustomerActivityAt": fmt_ms(between(g, rec.created, last_act)),
        "lastMessageAt": fmt_ms(last_act) if cc["all"] else None,
        "progressiveStatus": _progressive_status(cc),
        "verified": g.random() < 0.5,
        "roleGroupVersions": [],
        "custom": custom_values(g, "customer", rec, ds.company_ids),
    }
    _orders_id(ds, rec, attrs["custom"])
    _activity(ds, rec, attrs)
    stamp(rec, attrs)
    rels = {
        "org": org_ref(),
        "messages": {"links": {"self": f"/v1/customers/{rec.id}/messages"}},
        "createdBy": user_ref(g, ds.agent_ids, 0.6),
        "modifiedBy": user_ref(g, ds.agent_ids, 0.3),
    }
    if rec.company is not None:
        rels["company"] = company_ref(rec.company)
    for kname in ds.klass_names:
        rels[kname] = {
            "links": {"self": f"/v1/customers/{rec.id}/klasses/{kname}"},
            "meta": {"kobject": True},
        }
    return resource("customer", rec.id, attrs, rels, f"/v1/customers/{rec.id}")


# (cityName, regionName, countryName, zipCode) of a customer's recentLocation
PLACES = (
    ("Boston", "Massachusetts", "United States", "02110"),
    ("Austin", "Texas", "United States", "73301"),
    ("Toronto", "Ontario", "Canada", "M5H"),
    ("London", "England", "United Kingdom", "EC1A"),
    ("Lyon", "Auvergne-Rhone-Alpes", "France", "69001"),
)


def _activity(ds: Dataset, rec: Rec, attrs: Doc) -> None:
    """The OAS GetCustomers attributes ``recentLocation``, ``lastConversation``,
    ``lastMessageIn`` and ``preview`` (keys as the tap's schema declares them), and ``gender``:
    their own RNG, and the customer's own conversations and messages, so no draw moves."""
    g = random.Random(f"{ds.seed}:customer-activity:{rec.idx}")  # noqa: S311
    attrs["gender"] = g.choice(("m", "f", None, None, None))
    located = between(g, rec.created, rec.updated)
    recent: Doc = {"updatedAt": fmt_ms(located)}
    if g.random() < 0.4:
        city, region, country, zip_code = PLACES[g.randrange(len(PLACES))]
        recent["location"] = {
            "cityName": city,
            "regionName": region,
            "countryName": country,
            "zipCode": zip_code,
        }
    attrs["recentLocation"] = recent
    convs = [c for c in ds.children.get(("customer.conversations", rec.id), ()) if not c.deleted]
    last_conv: Doc = {"tags": [], "sentiment": {}}  # the example's, for no conversation
    if convs:
        conv = max(convs, key=lambda c: (c.created, c.id))
        c_attrs = ds.build_doc(conv)["attributes"]
        last_conv = {"id": conv.id, "channels": c_attrs["channels"]}
        last_conv.update(tags=c_attrs.get("tags", []), sentiment=c_attrs["sentiment"])
    attrs["lastConversation"] = last_conv
    msgs = sorted(
        ds.children.get(("customer.messages", rec.id), ()), key=lambda m: (m.created, m.id)
    )
    inbound = [m for m in msgs if m.status == "in"]
    attrs["lastMessageIn"] = _message_in(ds, inbound[-1]) if inbound else {"sentiment": {}}
    attrs["preview"] = _preview(ds, msgs[-1]) if msgs else {}


def _message_in(ds: Dataset, msg: Rec) -> Doc:
    m = ds.build_doc(msg)["attributes"]
    return {"channel": m["channel"], "sentAt": m["sentAt"], "sentiment": m["sentiment"]}


def _preview(ds: Dataset, msg: Rec) -> Doc:
    m = ds.build_doc(msg)["attributes"]
    return {
        "type": "message",
        "channel": m["channel"],
        "subject": m["subject"],
        "text": m["preview"],
        "previewAt": m["sentAt"],
    }


def _orders_id(ds: Dataset, rec: Rec, custom: Doc) -> None:
    """``custom.ordersId``: the customer's order kobjects (own RNG, so no other draw moves)."""
    g = random.Random(f"{ds.seed}:orders-id:{rec.idx}")  # noqa: S311
    orders = [k.id for k in ds.children.get(("customer.klass.order", rec.id), ())]
    value = multi_reference(g, orders)
    if value is not None:
        custom["ordersId"] = value


def _emails(g: random.Random, first: str, last: str) -> list[Doc]:
    emails = [
        {
            "type": "home",
            "email": f"{first}.{last}{g.randrange(1000)}@{g.choice(W.DOMAINS)}".lower(),
            "verified": g.random() < 0.6,
        }
    ]
    if g.random() < 0.15:
        emails.append(
            {"type": "work", "email": f"{first[0]}{last}@corp.example".lower(), "verified": False}
        )
    return emails


def _progressive_status(cc: dict[str, int]) -> str | None:
    for status in ("open", "snoozed"):
        if cc[status]:
            return status
    return "done" if cc["all"] else None


def company_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
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
        "tags": g.sample(ds.tag_ids, g.randrange(0, 3)),
        "deleted": False,
        "roleGroupVersions": [],
        "custom": custom_values(g, "company", rec, ds.company_ids),
    }
    stamp(rec, attrs)
    rels = {
        "org": org_ref(),
        "createdBy": user_ref(g, ds.agent_ids, 0.2),
        "modifiedBy": user_ref(g, ds.agent_ids, 0.2),
    }
    return resource("company", rec.id, attrs, rels, f"/v1/companies/{rec.id}")
