"""Routing and time data: work sessions, work items and conversation times (search streams), and
the static routing lists (routing statuses, team routing settings, sub-statuses, snoozes).

Every draw comes from RNGs of its own (``routing``, ``work_items``, ``work_sessions``,
``conversation_times`` and the per-record document RNGs of the three new stream numbers), so
adding these objects changes no draw of the older streams. Work items and conversation times
follow their conversation: its queue, assignees, teams and channels are the conversation
document's own first draws (:func:`.conversations.conversation_draws`, replayed here).
Shapes: conversation times from the OAS ``GetConversationTimesByConversationId`` example; the
rest from developer.kustomer.com (queues-and-routing and core-resources pages) and the Kustomer
help centre's work item / work session attribute lists, which publish names but no example.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, NamedTuple

from ..util import DAY_MS, HOUR_MS, MINUTE_MS, fmt_ms, make_id
from .base import (
    STANDARD_MAX_DAYS,
    Doc,
    Rec,
    between,
    load_catalog,
    named_rng,
    org_ref,
    parent,
    rec_rng,
    ref,
    resource,
    stamp,
)
from .conversations import ConversationDraws, conversation_draws
from .lists import is_machine, team_doc

if TYPE_CHECKING:
    from ..data import Dataset

ROUTING: dict[str, list[Doc]] = load_catalog("routing.json")
# Tie blocks at scale 1.0 (sizes scale down with the scale, at most 40 % of the records that
# can take them): stream -> (record field, size, days ago)
ROUTING_TIES = {
    "work_items": ("updated", 600, 40),
    "conversation_times": ("created", 600, 75),
    "work_sessions": ("updated", 150, 9),
}
WORK_SESSION_DAYS = 30  # days of work sessions at scale 1.0 (multiplied by the scale)
STATIC_LISTS = ("routing_statuses", "team_routing_settings", "sub_statuses", "snoozes")


class WorkItemCore(NamedTuple):
    queue: str
    user: str | None
    team: str
    channel: str
    end: int  # when the item reached its current status (completion for completed ones)


class TimeCore(NamedTuple):
    handle_at: int
    handle_time: int  # seconds
    user: str
    teams: list[str]
    channels: list[str]


class SessionCore(NamedTuple):
    user: str
    team: str
    signed_out: int | None  # None while active


# --------------------------------------------------------------------------- static lists
def build_routing_lists(ds: Dataset) -> dict[str, list[Doc]]:
    """The four static routing lists in id order (one RNG, ``routing``, in file order)."""
    g = named_rng(ds.seed, "routing")
    now = ds.now_ms
    out: dict[str, list[Doc]] = {}
    specs = (
        ("routing_statuses", "routing_status", "/v1/routing/statuses"),
        ("sub_statuses", "sub_status", "/v1/sub-statuses"),
        ("snoozes", "snooze", "/v1/snoozes"),
    )
    for key, kind, path in specs:
        docs = []
        for item in ROUTING[key]:
            rid = make_id(g, g.randrange(400, 900) * DAY_MS)
            attrs = dict(item)
            if key == "snoozes" and attrs["type"] == "absolute":
                attrs["value"] = now + g.randrange(5, 60) * DAY_MS  # epoch ms
            system = bool(attrs.get("system"))
            docs.append(_static_doc(g, ds, kind, rid, attrs, f"{path}/{rid}", system))
        out[key] = sorted(docs, key=lambda d: d["id"])
    out["team_routing_settings"] = _team_settings(g, ds)
    return out


def _static_doc(
    g: random.Random, ds: Dataset, kind: str, rid: str, attrs: Doc, path: str, system: bool
) -> Doc:
    created = ds.now_ms - g.randrange(300, 700) * DAY_MS - g.randrange(DAY_MS)
    updated = between(g, created, ds.now_ms - DAY_MS)
    author = None if system else ds.agent_ids[g.randrange(len(ds.agent_ids))]
    attrs["createdAt"] = fmt_ms(created)
    attrs["updatedAt"] = fmt_ms(updated)
    attrs["modifiedAt"] = fmt_ms(updated)
    user_path = f"/v1/users/{author}" if author else None
    rels = {
        "org": org_ref(),
        "createdBy": ref("user", author, user_path),
        "modifiedBy": ref("user", author, user_path),
    }
    return resource(kind, rid, attrs, rels, path)


def _team_settings(g: random.Random, ds: Dataset) -> list[Doc]:
    """One per live team, addressed by the team id: 1-4 of the queues (at most 10)."""
    docs = []
    for team in sorted((t for t in ds.streams["teams"] if not t.deleted), key=lambda t: t.id):
        queues = sorted(g.sample(ds.queue_ids, min(10, g.randrange(1, 5))))
        per_agent = g.randrange(2, 9)
        attrs = {
            "enabled": g.random() < 0.9,
            "queues": queues,
            "externalQueues": [] if g.random() < 0.8 else ["voice-" + team.id[-6:]],
            "capacity": {"default": per_agent, "chat": min(3, per_agent), "voice": 1},
        }
        docs.append(
            _static_doc(
                g, ds, "routing_setting", team.id, attrs, f"/v1/routing/settings/{team.id}", False
            )
        )
        docs[-1]["relationships"]["team"] = ref("team", team.id, f"/v1/teams/{team.id}")
    return docs


# --------------------------------------------------------------------------- cores
def make_routing(ds: Dataset) -> dict[str, list[Rec]]:
    """The cores of the three routing streams (ids and ties applied), in creation order."""
    floor = ds.now_ms - STANDARD_MAX_DAYS * DAY_MS  # nothing older than the search horizon
    draws = {c.id: conversation_draws(ds, c) for c in ds.streams["conversations"] if not c.archived}
    streams = {
        "work_sessions": make_work_sessions(ds),
        "work_items": make_work_items(ds, draws, floor),
        "conversation_times": make_conversation_times(ds, draws, floor),
    }
    for stream, recs in streams.items():
        field, size, days = ROUTING_TIES[stream]
        rng = named_rng(ds.seed, stream + ":ties")
        block_size = round(size * min(1.0, ds.scale))
        _tie_block(rng, recs, field, block_size, ds.now_ms - days * DAY_MS - rng.randrange(DAY_MS))
        recs.sort(key=lambda r: (r.created, r.idx))
        _place(ds, stream, recs)
    return streams


def _tie_block(rng: random.Random, recs: list[Rec], field: str, size: int, at: int) -> None:
    """Give up to ``size`` records that ended before ``at`` that exact ``field`` time."""
    eligible = [r for r in recs if _end(r) <= at]
    size = min(size, int(len(eligible) * 0.4))
    if size < 2:
        return
    for r in rng.sample(eligible, size):
        r.in_block = True
        r.updated = r.modified = at
        if field == "created":  # conversation times: createdAt is their only time
            r.created = at


def _end(rec: Rec) -> int:
    core = rec.extra
    if isinstance(core, WorkItemCore):
        return core.end
    if isinstance(core, TimeCore):
        return rec.created
    return rec.updated


def _place(ds: Dataset, stream: str, recs: list[Rec]) -> None:
    """Ids with the time-looking prefix of each record's creation, unique within the stream."""
    rng = named_rng(ds.seed, stream + ":ids")
    seen: set[str] = set()
    for i, r in enumerate(recs):
        r.idx = i
        rid = make_id(rng, ds.now_ms - r.created)
        while rid in seen:
            rid = make_id(rng, ds.now_ms - r.created)
        seen.add(rid)
        r.id = rid
        r.rev = 1 + i % 7


def make_work_items(ds: Dataset, draws: dict[str, ConversationDraws], floor: int) -> list[Rec]:
    """1-3 work items per conversation routed to a queue, splitting its life between them."""
    rng = named_rng(ds.seed, "work_items")
    out: list[Rec] = []
    for conv in ds.streams["conversations"]:
        d = draws.get(conv.id)
        if d is None or d.queue_id is None:
            continue
        n = 1 + (rng.random() < 0.45) + (rng.random() < 0.25)
        lo = conv.created if conv.created >= floor else between(rng, floor, conv.updated)
        bounds = [lo, *sorted(between(rng, lo, conv.updated) for _ in range(n - 1)), conv.updated]
        queue = d.queue_id
        for k in range(n):
            if k and rng.random() < 0.3:  # transferred to another queue
                queue = ds.queue_ids[rng.randrange(len(ds.queue_ids))]
            status = _work_item_status(rng, conv, k == n - 1)
            out.append(_work_item(rng, ds, conv, d, queue, status, bounds[k], bounds[k + 1]))
    return out


def _work_item_status(rng: random.Random, conv: Rec, last: bool) -> str:
    if not last or conv.status == "done":
        return "completed"
    if conv.status == "snoozed":
        return "assigned"
    return rng.choice(("assigned", "assigned", "assigned", "routed", "queued"))


def _work_item(
    rng: random.Random,
    ds: Dataset,
    conv: Rec,
    d: ConversationDraws,
    queue: str,
    status: str,
    start: int,
    end: int,
) -> Rec:
    rec = Rec("work_items", 0)
    rec.conversation, rec.customer, rec.status = conv, conv.customer, status
    agents = d.users if d.users and rng.random() < 0.8 else ds.agent_ids
    user = agents[rng.randrange(len(agents))]
    teams = d.teams or ds.team_ids
    team = teams[rng.randrange(len(teams))]
    rec.created, rec.updated, rec.modified = start, end, end
    rec.extra = WorkItemCore(queue, None if status == "queued" else user, team, d.channels[0], end)
    return rec


def make_conversation_times(
    ds: Dataset, draws: dict[str, ConversationDraws], floor: int
) -> list[Rec]:
    """1-2 handle sessions per conversation with an agent reply; createdAt = handle end."""
    rng = named_rng(ds.seed, "conversation_times")
    out: list[Rec] = []
    latest = ds.now_ms - MINUTE_MS
    for conv in ds.streams["conversations"]:
        d = draws.get(conv.id)
        if d is None or not ds.msg_counts.get(conv.id, [0, 0])[1]:
            continue
        for _ in range(1 + (rng.random() < 0.4)):
            handle_at = between(rng, max(conv.created, floor), conv.updated)
            handle_time = 2 + int(rng.random() ** 2 * 1800)
            user = (d.users or ds.agent_ids)[rng.randrange(len(d.users or ds.agent_ids))]
            rec = Rec("conversation_times", 0)
            rec.conversation, rec.customer = conv, conv.customer
            created = min(handle_at + handle_time * 1000, latest)
            rec.created = rec.updated = rec.modified = created
            rec.extra = TimeCore(handle_at, handle_time, user, d.teams, d.channels)
            out.append(rec)
    return out


def make_work_sessions(ds: Dataset) -> list[Rec]:
    """One session per working day per agent (users of type user, not deactivated)."""
    rng = named_rng(ds.seed, "work_sessions")
    agents = [u for u in ds.streams["users"] if not u.deleted and not is_machine(u)]
    team_of = _teams_of_agents(ds)
    days = max(2, min(700, round(WORK_SESSION_DAYS * ds.scale)))
    out: list[Rec] = []
    # Days are offsets from `now`, not calendar days: like every other timestamp here, the
    # sessions (and their count) must not depend on the date or the hour the sandbox starts.
    for k in range(days, -1, -1):
        day0 = ds.now_ms - k * DAY_MS - 12 * HOUR_MS  # the last shifts began 1 to 6 h ago
        weekend = k % 7 in (5, 6)
        share = 0.12 if weekend else 0.85
        for agent in agents:
            if rng.random() >= share:
                continue
            rec = _work_session(rng, ds, day0, agent, team_of)
            if rec is not None:
                out.append(rec)
    return out


def _teams_of_agents(ds: Dataset) -> dict[str, str]:
    """user id -> the first live team (id order) listing it as a member."""
    out: dict[str, str] = {}
    for team in sorted((t for t in ds.streams["teams"] if not t.deleted), key=lambda t: t.id):
        for uid in team_doc(ds, team)["attributes"]["members"]:
            out.setdefault(uid, team.id)
    return out


def _work_session(
    rng: random.Random, ds: Dataset, day0: int, agent: Rec, team_of: dict[str, str]
) -> Rec | None:
    start = day0 + rng.randrange(6 * HOUR_MS, 11 * HOUR_MS)
    end = start + rng.randrange(5 * HOUR_MS, 9 * HOUR_MS + 30 * MINUTE_MS)
    team = team_of.get(agent.id) or ds.team_ids[rng.randrange(len(ds.team_ids))]
    latest = ds.now_ms - MINUTE_MS
    if start >= latest:
        return None
    rec = Rec("work_sessions", 0)
    rec.created = start
    if end >= latest:  # still signed in
        rec.updated = between(rng, start, latest)
        rec.extra = SessionCore(agent.id, team, None)
    else:
        rec.updated = end + rng.randrange(0, 5 * MINUTE_MS)
        rec.extra = SessionCore(agent.id, team, end)
    rec.updated = min(rec.updated, latest)
    rec.modified = rec.updated
    return rec


# --------------------------------------------------------------------------- documents
def _user(uid: str | None) -> Doc:
    return ref("user", uid, f"/v1/users/{uid}" if uid else None)


def _span(start: int, end: int, seconds: int) -> Doc:
    return {"enteredAt": fmt_ms(start), "time": seconds, "businessTime": seconds * 2 // 3}


def _at(ms: int | None) -> str | None:
    return None if ms is None else fmt_ms(ms)


def work_item_doc(ds: Dataset, rec: Rec) -> Doc:
    """Stages ivr -> queued -> routed (offered) -> accepted/assigned -> completed."""
    g = rec_rng(ds.seed, rec)
    core: WorkItemCore = rec.extra
    marks = _stage_marks(g, rec.created, core.end, rec.status or "completed")
    ivr_at, queued_at, routed_at, assigned_at, completed_at = marks
    handle_end = completed_at if completed_at is not None else core.end
    attrs: Doc = {
        "status": rec.status,
        "channel": core.channel,
        "priority": g.choice((1, 2, 3, 3, 3, 4, 5)),
        "itemSize": g.choice((1, 1, 1, 2)),
        "queuedCount": 1 + (g.random() < 0.15),
        "firstEnterQueueAt": _at(queued_at),
        "ivr": _span(ivr_at, queued_at or core.end, ((queued_at or core.end) - ivr_at) // 1000),
        "queue": _span(
            queued_at, routed_at or core.end, ((routed_at or core.end) - queued_at) // 1000
        )
        if queued_at is not None
        else None,
        "handle": _span(assigned_at, handle_end, (handle_end - assigned_at) // 1000)
        if assigned_at is not None
        else None,
        "lastRevision": {
            "queuedAt": _at(queued_at),
            "routedAt": _at(routed_at),
            "acceptedAt": _at(assigned_at),
            "assignedAt": _at(assigned_at),
            "completedAt": _at(completed_at),
        },
        "completedAt": _at(completed_at),
    }
    stamp(rec, attrs)
    conv = parent(rec.conversation)
    conv_ref = ref("conversation", conv.id, f"/v1/conversations/{conv.id}")
    rels = {
        "org": org_ref(),
        "resource": conv_ref,
        "conversation": conv_ref,
        "queue": ref("queue", core.queue, f"/v1/routing/queues/{core.queue}"),
        "user": _user(core.user),
        "team": ref("team", core.team, f"/v1/teams/{core.team}"),
    }
    return resource("work_item", rec.id, attrs, rels, f"/v1/routing/work-items/{rec.id}")


def _stage_marks(
    g: random.Random, start: int, end: int, status: str
) -> tuple[int, int | None, int | None, int | None, int | None]:
    """(ivr entered, queued, routed, assigned, completed) times; None for stages not reached.

    Seconds in ivr, minutes to hours in the queue, seconds to accept an offer; the item is
    completed when its conversation is done (or moves on to its next work item)."""
    queued = min(end, start + g.randrange(0, 120_000))
    routed = min(end, queued + int(g.random() ** 3 * 2 * HOUR_MS))
    assigned = min(end, routed + g.randrange(3_000, 60_000))
    reached = {"queued": 1, "routed": 2, "assigned": 3}.get(status, 4)
    marks = (queued, routed, assigned, end)
    q, r, a, c = (m if i < reached else None for i, m in enumerate(marks))
    return start, q, r, a, c


def conversation_time_doc(ds: Dataset, rec: Rec) -> Doc:
    """OAS ``GetConversationTimesByConversationId`` shape; no updatedAt (the OAS has none)."""
    g = rec_rng(ds.seed, rec)
    core: TimeCore = rec.extra
    attrs: Doc = {
        "createdAt": fmt_ms(rec.created),
        "createdByTeams": list(core.teams),
        "assignedUsers": [core.user],
        "assignedTeams": list(core.teams[:1]) if g.random() < 0.5 else [],
        "handleAt": fmt_ms(core.handle_at),
        "handleTime": core.handle_time,
        "channels": list(core.channels),
    }
    if g.random() < 0.6:  # optional in the OAS schema: the agent's reply inside the session
        message_time = 1 + int(core.handle_time * g.random())
        attrs["messageAt"] = fmt_ms(core.handle_at + message_time * 1000)
        attrs["messageTime"] = message_time
    conv, cust = parent(rec.conversation), parent(rec.customer)
    rels = {
        "org": org_ref(),
        "customer": ref("customer", cust.id, f"/v1/customers/{cust.id}"),
        "conversation": ref("conversation", conv.id, f"/v1/conversations/{conv.id}"),
        "createdBy": _user(core.user),
    }
    return resource("conversation_time", rec.id, attrs, rels, f"/v1/conversations/times/{rec.id}")


def work_session_doc(ds: Dataset, rec: Rec) -> Doc:
    """A shift from sign-in to sign-out: status changes, capacity, handled counts, time spent."""
    g = rec_rng(ds.seed, rec)
    core: SessionCore = rec.extra
    statuses = ds.catalog["routing_statuses"]
    settings = _settings_of(ds, core.team)
    end = core.signed_out if core.signed_out is not None else rec.updated
    history, spent = _status_history(g, statuses, rec.created, end)
    capacity = settings["attributes"]["capacity"]["default"] if settings else 5
    handled = g.randrange(0, 45)
    open_items = g.randrange(0, capacity + 1) if core.signed_out is None else 0
    current = history[-1]
    attrs: Doc = {
        "active": core.signed_out is None,
        "signedInAt": fmt_ms(rec.created),
        "signedOutAt": _at(core.signed_out),
        "statusType": current["statusType"],
        "statusAt": current["startedAt"],
        "statusHistory": history,
        "capacity": {"total": capacity},
        "capacityRemaining": capacity - open_items,
        "capacityStatus": _capacity_status(open_items, capacity),
        "handledItemCount": handled,
        "pausedWorkItemCount": g.randrange(0, 3),
        "lastAssignedItemAt": _at(between(g, rec.created, end) if handled else None),
        "lastCompletedItemAt": _at(between(g, rec.created, end) if handled else None),
        "queues": list(settings["attributes"]["queues"]) if settings else [],
        "timeAvailable": spent["available"],
        "timeUnavailable": spent["unavailable"],
        "timeBusy": spent["busy"],
    }
    stamp(rec, attrs)
    rels = {
        "org": org_ref(),
        "user": _user(core.user),
        "team": ref("team", core.team, f"/v1/teams/{core.team}"),
        "status": ref(
            "routing_status", current["status"], f"/v1/routing/statuses/{current['status']}"
        ),
    }
    return resource("work_session", rec.id, attrs, rels, f"/v1/routing/work-sessions/{rec.id}")


def _settings_of(ds: Dataset, team_id: str) -> Doc | None:
    for d in ds.catalog["team_routing_settings"]:
        if d["id"] == team_id:
            return d
    return None


def _capacity_status(open_items: int, capacity: int) -> str:
    if open_items == 0:
        return "idle"
    return "at-capacity" if open_items >= capacity else "not-at-capacity"


def _status_history(
    g: random.Random, statuses: list[Doc], start: int, end: int
) -> tuple[list[Doc], dict[str, int]]:
    """2-6 status periods, the first one available; -> (periods, seconds per status type)."""
    available = [s for s in statuses if s["attributes"]["statusType"] == "available"]
    n = g.randrange(2, 7)
    cuts = sorted(between(g, start, end) for _ in range(n - 1))
    bounds = [start, *cuts, end]
    spent = {"available": 0, "unavailable": 0, "busy": 0}
    history: list[Doc] = []
    for k in range(n):
        st = (available or statuses)[0] if k % 2 == 0 else statuses[g.randrange(len(statuses))]
        kind = st["attributes"]["statusType"]
        spent[kind] = spent.get(kind, 0) + (bounds[k + 1] - bounds[k]) // 1000
        history.append({"status": st["id"], "statusType": kind, "startedAt": fmt_ms(bounds[k])})
    return history, spent
