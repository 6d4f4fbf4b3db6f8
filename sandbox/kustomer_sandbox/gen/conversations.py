"""Conversations, their messages and notes, and the conversation events and attachments."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, NamedTuple

from .. import words as W
from ..util import fmt_ms, make_id
from .base import (
    ARCHIVED_FRACTION,
    ORG_ID,
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
from .custom import custom_values

if TYPE_CHECKING:
    from ..data import Dataset


# --------------------------------------------------------------------------- cores
def make_conversations(seed: int, scale: float, customers: ByCreation) -> Batch:
    """70 % done, 20 % open, 10 % snoozed; archived ones are all done."""
    rng = named_rng(seed, "conversations")
    batch = Batch("conversations", rng)
    for _ in range(big_count("conversations", scale)):
        archived = rng.random() < ARCHIVED_FRACTION["conversations"]
        rec = batch.add(archived, 0.05, 60)
        rec.customer = customers.pick(rng, batch.offsets[-1][1])
        x = rng.random()
        rec.status = "done" if x < 0.7 or archived else ("open" if x < 0.9 else "snoozed")
    return batch


def make_messages(seed: int, scale: float, conversations: ByCreation) -> Batch:
    """55 % inbound; ``status`` holds the direction."""
    rng = named_rng(seed, "messages")
    batch = Batch("messages", rng)
    for _ in range(big_count("messages", scale)):
        archived = rng.random() < ARCHIVED_FRACTION["messages"]
        rec = batch.add(archived, 0.85, 30)
        conv = conversations.pick(rng, batch.offsets[-1][1])
        rec.conversation = conv
        rec.customer = conv.customer
        rec.status = "in" if rng.random() < 0.55 else "out"
    return batch


def make_notes(seed: int, scale: float, conversations: ByCreation) -> Batch:
    """Notes are never archived."""
    rng = named_rng(seed, "notes")
    batch = Batch("notes", rng)
    for _ in range(big_count("notes", scale)):
        rec = batch.add(False, 0.6, 20)
        conv = conversations.pick(rng, batch.offsets[-1][1])
        rec.conversation = conv
        rec.customer = conv.customer
    return batch


# --------------------------------------------------------------------------- counts
def conversation_counts(conversations: list[Rec]) -> dict[str, dict[str, int]]:
    """customer id -> live conversations by status (and "all")."""
    out: dict[str, dict[str, int]] = {}
    for c in conversations:
        if c.deleted:
            continue
        cc = out.setdefault(parent(c.customer).id, {"all": 0, "open": 0, "snoozed": 0, "done": 0})
        cc["all"] += 1
        cc[str(c.status)] += 1
    return out


def message_counts(messages: list[Rec]) -> dict[str, list[int]]:
    """conversation id -> [inbound, outbound] messages."""
    out: dict[str, list[int]] = {}
    for m in messages:
        mc = out.setdefault(parent(m.conversation).id, [0, 0])
        mc[0 if m.status == "in" else 1] += 1
    return out


def note_counts(notes: list[Rec]) -> dict[str, int]:
    """conversation id -> live notes."""
    out: dict[str, int] = {}
    for n in notes:
        if not n.deleted:
            cid = parent(n.conversation).id
            out[cid] = out.get(cid, 0) + 1
    return out


# --------------------------------------------------------------------------- documents
class ConversationDraws(NamedTuple):
    """The draws a conversation's document starts with, in draw order (routing reuses them)."""

    channels: list[str]
    t_first_in: int
    t_resp: int
    users: list[str]
    teams: list[str]
    done_at: int | None
    sla_id: str
    sla_versions: list[Doc]
    sla_name: str
    has_sla: bool
    ver_ref: Doc | None
    breach_at: int | None
    queue_id: str | None


def conversation_draws(ds: Dataset, rec: Rec, g: random.Random | None = None) -> ConversationDraws:
    """The first draws of ``rec``'s document RNG, up to its queue: ``conversation_doc`` goes on
    drawing from ``g`` after them; routing (gen/routing.py) calls it with a fresh RNG."""
    if g is None:
        g = rec_rng(ds.seed, rec)
    channels = sorted(
        set(g.sample(("email", "chat", "sms", "facebook", "instagram", "voice"), g.randrange(1, 3)))
    )
    t_first_in = between(g, rec.created, rec.updated)
    t_resp = between(g, t_first_in, rec.updated)
    users = g.sample(ds.agent_ids, g.randrange(0, 3))
    teams = g.sample(ds.team_ids, g.randrange(0, 2))
    done = rec.status == "done"
    done_at = between(g, t_resp, rec.updated) if done else None
    sla_id, sla_versions, sla_name = ds.sla_versions[g.randrange(len(ds.sla_versions))]
    has_sla = g.random() < 0.75
    ver_ref = g.choice(sla_versions) if has_sla else None
    breach_at = _sla_breach(g, rec) if ver_ref is not None else None
    queue_id = ds.queue_ids[g.randrange(len(ds.queue_ids))] if g.random() < 0.85 else None
    return ConversationDraws(
        channels,
        t_first_in,
        t_resp,
        users,
        teams,
        done_at,
        sla_id,
        sla_versions,
        sla_name,
        has_sla,
        ver_ref,
        breach_at,
        queue_id,
    )


def conversation_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    mc = ds.msg_counts.get(rec.id, [0, 0])
    nc = ds.note_counts.get(rec.id, 0)
    d = conversation_draws(ds, rec, g)
    channels, t_first_in, t_resp, users, teams = (
        d.channels,
        d.t_first_in,
        d.t_resp,
        d.users,
        d.teams,
    )
    msgs = sorted(
        ds.children.get(("conversation.messages", rec.id), ()), key=lambda m: (m.created, m.id)
    )
    ins = [m for m in msgs if m.status == "in"]
    outs = [m for m in msgs if m.status == "out"]
    done = rec.status == "done"
    done_at = d.done_at
    sla_id, has_sla, ver_ref = d.sla_id, d.has_sla, d.ver_ref
    sla = None
    if ver_ref is not None:
        version = d.sla_versions.index(ver_ref) + 1
        sla = _sla(rec, d.sla_name, version, done, t_resp, d.breach_at)
    queue_id = d.queue_id
    first_done = None
    if done_at is not None:
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
    brand_id = ds.brand_ids[g.randrange(len(ds.brand_ids))]
    sat = g.choice((None, None, None, 1, 2, 3, 4, 5, 5, 4))
    first_response = {
        "createdAt": fmt_ms(t_resp),
        "sentAt": fmt_ms(t_resp),
        "time": (t_resp - t_first_in) // 1000,
        "businessTime": (t_resp - t_first_in) // 3000,
        "assignedUsers": users,
        "assignedTeams": teams,
    }
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
        "tags": g.sample(ds.tag_ids, g.randrange(0, 4)),
        "suggestedTags": [],
        "assignedUsers": users,
        "assignedTeams": teams,
        "direction": "in" if g.random() < 0.8 else "out",
        "lastMessageDirection": g.choice(("in", "out")),
        "firstMessageIn": _first_message_in(ins[0], channels[0]) if ins else None,
        "lastMessageIn": _message_stamp(ins[-1]) if ins else None,
        "lastMessageOut": _message_stamp(outs[-1]) if outs else None,
        "lastMessageAt": fmt_ms(max(m.created for m in msgs)) if msgs else None,
        "lastActivityAt": fmt_ms(rec.updated),
        "firstResponse": first_response if mc[1] else None,
        "firstDone": first_done,
        "lastDone": first_done,
        "doneCount": 1 if done else 0,
        "reopenCount": 0,
        "snoozeCount": 1 if rec.status == "snoozed" else 0,
        "snooze": _snooze(rec) if rec.status == "snoozed" else None,
        "sla": sla,
        "ended": done,
        "endedAt": fmt_ms(done_at) if done_at is not None else None,
        "endedReason": "done" if done else None,
        "endedByType": "user" if done else None,
        "spam": False,
        "locale": g.choice(W.LOCALES) if g.random() < 0.5 else None,
        "defaultLang": "en",
        "externalId": None,
        "importedAt": None,
        "roleGroupVersions": [],
        "custom": custom_values(g, "conversation", rec, ds.company_ids),
    }
    attrs["sentiment"] = sentiment(random.Random(f"{ds.seed}:sentiment:{rec.idx}"))  # noqa: S311
    stamp(rec, attrs)
    cid = parent(rec.customer).id
    sla_id_ = sla_id if has_sla else None
    ver_id = ver_ref["id"] if ver_ref else None
    rels = {
        "org": org_ref(),
        "customer": ref("customer", cid, f"/v1/customers/{cid}"),
        "messages": {"links": {"self": f"/v1/conversations/{rec.id}/messages"}},
        "queue": ref("queue", queue_id, f"/v1/routing/queues/{queue_id}" if queue_id else None),
        "brand": ref("brand", brand_id, f"/v1/brands/{brand_id}"),
        "sla": ref("sla", sla_id_, f"/v1/slas/{sla_id}" if sla_id_ else None),
        "slaVersion": ref(
            "sla_version", ver_id, f"/v1/slas/{sla_id}/versions/{ver_id}" if ver_id else None
        ),
        "createdBy": user_ref(g, ds.agent_ids, 0.4),
        "modifiedBy": user_ref(g, ds.agent_ids, 0.1),
    }
    return resource("conversation", rec.id, attrs, rels, f"/v1/conversations/{rec.id}")


def _sla_breach(g: random.Random, rec: Rec) -> int | None:
    """The SLA's draws: when it was breached (None: not breached)."""
    breached = g.random() < 0.2
    return between(g, rec.created, rec.updated) if breached else None


def _sla(rec: Rec, name: str, version: int, done: bool, t_resp: int, breach_at: int | None) -> Doc:
    breached = breach_at is not None
    breach = None
    if breach_at is not None:
        breach = {"metric": "firstResponse", "at": fmt_ms(breach_at)}
    return {
        "name": name,
        "version": version,
        "matchedAt": fmt_ms(rec.created),
        "status": "breached" if breached else ("achieved" if done else "active"),
        "breached": breached,
        "breach": breach,
        "metrics": {
            "firstResponse": {
                "breachAt": fmt_ms(rec.created + 3_600_000),
                "satisfiedAt": fmt_ms(t_resp) if not breached else None,
            }
        },
        "summary": {"firstBreachAt": None, "satisfiedAt": fmt_ms(t_resp)},
    }


def _message_stamp(m: Rec) -> Doc:
    return {"id": m.id, "sentAt": fmt_ms(m.created), "createdAt": fmt_ms(m.created)}


def _first_message_in(m: Rec, channel: str) -> Doc:
    return {
        "id": m.id,
        "channel": channel,
        "directionType": "initial-in",
        "sentAt": fmt_ms(m.created),
        "createdAt": fmt_ms(m.created),
    }


def _snooze(rec: Rec) -> Doc:
    return {
        "status": "active",
        "time": fmt_ms(rec.updated + 86_400_000),  # when the snooze ends
        "statusAt": fmt_ms(rec.updated),
    }


APP_OF_CHANNEL = {"email": "postmark", "chat": "chat", "sms": "twilio", "facebook": "facebook"}


def message_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    inbound = rec.status == "in"
    channel = g.choice(("email", "email", "email", "chat", "sms", "facebook"))
    app = APP_OF_CHANNEL[channel]
    subject = g.choice(W.SUBJECTS)
    text = g.choice(W.SNIPPETS)
    customer, conversation = parent(rec.customer), parent(rec.conversation)
    cust_mail = f"customer{customer.idx}@{W.DOMAINS[customer.idx % 5]}"
    agent_mail = "support@sandbox.example"
    frm, to_addr = (cust_mail, agent_mail) if inbound else (agent_mail, cust_mail)
    email_meta = _email_meta(g, frm, to_addr, subject)  # drawn for every channel
    meta = email_meta if channel == "email" else {"from": frm, "to": to_addr}
    attrs: Doc = {
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
        "custom": custom_values(g, "message", rec, ds.company_ids),
    }
    _message_extras(ds.seed, rec, channel, attrs)
    stamp(rec, attrs)
    cid, vid = customer.id, conversation.id
    rels = {
        "org": org_ref(),
        "customer": ref("customers", cid, f"/v1/customers/{cid}"),
        "conversation": ref("conversation", vid, f"/v1/conversations/{vid}"),
        "createdBy": user_ref(g, ds.agent_ids) if not inbound else ref("user", None, None),
        "modifiedBy": user_ref(g, ds.agent_ids, 0.7),
    }
    return resource(
        "message",
        rec.id,
        attrs,
        rels,
        f"/v1/messages/{rec.id}",
        related=f"/v1/{app}/messages/{rec.id}",
    )


def sentiment(g: random.Random) -> Doc:
    """A ``sentiment`` object (OAS GetMessage: polarity and confidence); ``{}`` when none was
    computed (OAS GetMessages, GetConversations)."""
    if g.random() < 0.3:
        return {}
    return {"polarity": g.choice((-1, 0, 0, 1, 1)), "confidence": round(g.uniform(0.5, 1.0), 2)}


def _message_extras(seed: int, rec: Rec, channel: str, attrs: Doc) -> None:
    """``sentiment`` and an email's Message-ID as ``externalId`` (OAS GetMessage), from their
    own RNG so no other draw of the message moves."""
    g = random.Random(f"{seed}:message-extras:{rec.idx}")  # noqa: S311
    attrs["sentiment"] = sentiment(g)
    if channel == "email":
        attrs["externalId"] = f"<{g.getrandbits(96):024x}@mail.{W.DOMAINS[rec.idx % 5]}>"


def _email_meta(g: random.Random, frm: str, to_addr: str, subject: str) -> Doc:
    """An email's meta: ``to``/``cc``/``bcc`` as a list, a plain string or a single object."""
    shape = g.random()
    to: object
    if shape < 0.5:
        to = [{"email": to_addr, "name": None}]
    elif shape < 0.75:
        to = to_addr
    else:
        to = {"email": to_addr}
    cc_shape = g.random()
    cc: object = []
    if cc_shape >= 0.8:
        cc = [{"email": "manager@corp.example"}, {"email": "ops@corp.example"}]
    elif cc_shape >= 0.6:
        cc = "manager@corp.example"
    bcc = [] if g.random() < 0.9 else {"email": "audit@sandbox.example"}
    return {"from": frm, "to": to, "cc": cc, "bcc": bcc, "subject": subject}


def note_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    mentions = []
    if g.random() < 0.2:
        mentions.append({"userId": ds.agent_ids[g.randrange(len(ds.agent_ids))], "teamId": None})
    attrs = {
        "body": g.choice(W.NOTE_BODIES),
        "deleted": bool(rec.deleted),
        "deletedAt": fmt_ms(rec.deleted_at or rec.updated) if rec.deleted else None,
        "userMentions": mentions,
        "externalId": None,
        "importedAt": None,
        "createdByTeams": g.sample(ds.team_ids, g.randrange(0, 2)),
    }
    stamp(rec, attrs)
    cid, vid = parent(rec.customer).id, parent(rec.conversation).id
    author = user_ref(g, ds.agent_ids)
    rels = {
        "org": org_ref(),
        "conversation": ref("conversation", vid, f"/v1/conversations/{vid}"),
        "customer": ref("customer", cid, f"/v1/customers/{cid}"),
        "createdBy": author,
        "modifiedBy": author,
    }
    if rec.deleted:
        rels["deletedBy"] = author
    # OAS GetNotesByConversation: the mentioned users as a data list (no draws)
    rels["userMentions"] = {"data": [{"type": "user", "id": m["userId"]} for m in mentions]}
    return resource("note", rec.id, attrs, rels, f"/v1/notes/{rec.id}")


# --------------------------------------------------------------------------- sub-resources
def _author(g: random.Random, agent_ids: list[str]) -> Doc:
    """An event's createdBy/modifiedBy: an agent, or null data (the customer or a system)."""
    if g.random() < 0.25:
        return ref("user", None, None)
    uid = agent_ids[g.randrange(len(agent_ids))]
    return ref("user", uid, f"/v1/users/{uid}")


def conversation_events(seed: int, now_ms: int, conv: Rec, agent_ids: list[str]) -> list[Doc]:
    """``/v1/conversations/{id}/events``: a create, then 1-5 updates ending at ``updatedAt``.

    As in the OAS ``GetConversationEvents`` example, an event's own time is ``publishedAt`` (the
    time prefix of its id says the same) while ``createdAt``/``updatedAt``/``modifiedAt`` mirror
    its conversation; every event updates the conversation, so none is published after it.
    createdBy/modifiedBy (the example's too) come from their own RNG."""
    g = random.Random(f"{seed}:events:{conv.idx}")  # noqa: S311
    n = 1 + g.randrange(1, 6)
    times = sorted(between(g, conv.created, conv.updated) for _ in range(n - 1))
    times = [conv.created, *times]
    times[-1] = conv.updated if n > 1 else conv.created
    cid = parent(conv.customer).id
    authors = random.Random(f"{seed}:event-authors:{conv.idx}")  # noqa: S311 - own RNG
    events = []
    for i, t in enumerate(times):
        author = _author(authors, agent_ids)
        verb = "create" if i == 0 else "update"
        changes = None
        if verb == "update":
            field = g.choice(("status", "priority", "assignedUsers", "tags"))
            after = conv.status if field == "status" else None
            changes = {
                "attributes": {field: {"op": "replace", "before": None, "after": after}},
                "relationships": {},
            }
        eid = make_id(g, now_ms - t)
        events.append(
            {
                "type": "customer_event",
                "id": eid,
                "attributes": {
                    "name": f"kustomer.conversation.{verb}",
                    "type": "conversation",
                    "publishedAt": fmt_ms(t),
                    "createdAt": fmt_ms(conv.created),
                    "updatedAt": fmt_ms(conv.updated),
                    "modifiedAt": fmt_ms(min(conv.modified, conv.updated)),
                    "changes": changes,
                    "location": None,
                    "meta": None,
                },
                "relationships": {
                    "org": org_ref(),
                    "createdBy": author,
                    "modifiedBy": author,
                    "customer": ref("customer", cid, f"/v1/customers/{cid}"),
                    "conversation": ref("conversation", conv.id, f"/v1/conversations/{conv.id}"),
                },
                "links": {"self": f"/v1/customers/{cid}/events/{eid}"},
            }
        )
    return events


ATTACHMENT_TYPES = (("image/png", "png"), ("application/pdf", "pdf"), ("image/jpeg", "jpg"))


def conversation_attachments(seed: int, conv: Rec, msgs: list[Rec]) -> list[Doc]:
    """``/v1/conversations/{id}/attachments``: a quarter of conversations have one or two.

    OAS ``GetConversationAttachments`` shape: no top-level ``id`` (the attachment id is the last
    segment of ``links.self``, ``/v1/messages/{message}/attachments/{id}``), relationships org
    and message, ``links.related`` a pre-signed download link that expires after 600 s.
    ``createdAt`` (the message's creation) is the sandbox's addition."""
    g = random.Random(f"{seed}:attachments:{conv.idx}")  # noqa: S311
    items: list[Doc] = []
    if not msgs or g.random() >= 0.25:
        return items
    for k in range(g.randrange(1, 3)):
        m = msgs[g.randrange(len(msgs))]
        aid = f"{m.id[:8]}{g.getrandbits(64):016x}"
        ctype, ext = g.choice(ATTACHMENT_TYPES)
        name = f"attachment-{k + 1}.{ext}"
        items.append(
            {
                "type": "attachment",
                "attributes": {
                    "name": name,
                    "contentType": ctype,
                    "contentLength": g.randrange(1_000, 2_000_000),
                    "redacted": False,
                    "createdAt": fmt_ms(m.created),
                },
                "relationships": {
                    "org": org_ref(),
                    "message": ref("message", m.id, f"/v1/messages/{m.id}"),
                },
                "links": {
                    "self": f"/v1/messages/{m.id}/attachments/{aid}",
                    "related": f"https://files.example/attachments/{ORG_ID}/{aid}-{name}"
                    "?X-Amz-Expires=600",
                },
            }
        )
    return items
