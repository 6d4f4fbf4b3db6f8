"""Users, teams, tags and shortcuts: the small streams served by GET lists only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import words as W
from ..util import fmt_ms
from .base import (
    LIST_STREAMS,
    SMALL_VOLUMES,
    Batch,
    Doc,
    Rec,
    audit_rels,
    between,
    deleted_at,
    named_rng,
    org_ref,
    rec_rng,
    ref,
    resource,
    stamp,
)

if TYPE_CHECKING:
    from ..data import Dataset

# share of soft-deleted tags, shortcuts and teams, and of deactivated users
DELETED_FRACTION = {"tags": 0.06, "shortcuts": 0.05, "teams": 0.1, "users": 0.05}


def make_lists(seed: int) -> dict[str, Batch]:
    """Spread over ~3 years and never archived (GET-only streams)."""
    batches = {}
    for stream in LIST_STREAMS:
        batch = Batch(stream, named_rng(seed, stream))
        for _ in range(SMALL_VOLUMES[stream]):
            batch.add(False, 0.3, 300)
        batches[stream] = batch
    for stream, frac in DELETED_FRACTION.items():
        rng = named_rng(seed, stream + ":deleted")
        for r in batches[stream].recs:
            if rng.random() < frac:
                r.deleted = True
    return batches


def is_machine(rec: Rec) -> bool:
    """Every 20th user (from the 8th) is an API key, not a person."""
    return rec.idx % 20 == 7


def user_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    machine = is_machine(rec)
    first, last = g.choice(W.FIRST), g.choice(W.LAST)
    name = f"API key {rec.idx}" if machine else f"{first} {last}"
    email = (
        f"api-{rec.idx}@machine.sandbox.example"
        if machine
        else f"{first}.{last}.{rec.idx}@sandbox.example".lower()
    )
    login = between(g, rec.created, rec.updated)
    person = not machine
    created = fmt_ms(rec.created)
    attrs = {
        "name": name,
        "displayName": name if machine else first,
        "userType": "machine" if machine else "user",
        "email": email,
        "emailVerifiedAt": created if person else None,
        "firstEmailVerifiedAt": created if person else None,
        "mobile": f"+1555{g.randrange(10**7):07d}" if g.random() < 0.3 else None,
        "emailSignature": f"-- {name}" if g.random() < 0.5 else None,
        "avatarUrl": None,
        "password": {"allowNew": True, "forceNew": False, "updatedAt": created} if person else None,
        "roleGroups": [],
        "roles": _user_roles(rec),
        "firstLoginAt": created if person else None,
        "mostRecentLoginAt": fmt_ms(login) if person else None,
        "isEmailValid": True,
        "deleted": bool(rec.deleted),
        "deletedAt": deleted_at(rec),
    }
    stamp(rec, attrs)
    rels = {
        "org": org_ref(),
        "createdBy": ref("user", None, None),
        "modifiedBy": ref("user", None, None),
    }
    return resource("user", rec.id, attrs, rels, f"/v1/users/{rec.id}")


def _user_roles(rec: Rec) -> list[str]:
    if is_machine(rec):
        return ["org.user", "org.permission.search.create"]
    return ["org.user", "org.admin"] if rec.idx % 10 == 0 else ["org.user"]


def team_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    name = W.TEAM_NAMES[rec.idx % len(W.TEAM_NAMES)]
    attrs = {
        "name": name,
        "displayName": name,
        "icon": "users",
        "members": sorted(g.sample(ds.agent_ids, g.randrange(2, 12))),
        "roleGroups": [],
        "deleted": bool(rec.deleted),
        "deletedAt": deleted_at(rec),
    }
    stamp(rec, attrs)
    return resource("team", rec.id, attrs, audit_rels(g, ds.agent_ids), f"/v1/teams/{rec.id}")


def tag_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    word = W.TAG_WORDS[rec.idx % len(W.TAG_WORDS)]
    suffix = rec.idx // len(W.TAG_WORDS)
    attrs = {
        "name": word if suffix == 0 else f"{word}-{suffix}",
        "color": g.choice(W.COLORS),
        "deleted": bool(rec.deleted),
        "deletedAt": deleted_at(rec),
    }
    stamp(rec, attrs)
    return resource("tag", rec.id, attrs, audit_rels(g, ds.agent_ids), f"/v1/tags/{rec.id}")


def shortcut_doc(ds: Dataset, rec: Rec) -> Doc:
    g = rec_rng(ds.seed, rec)
    word = W.SHORTCUT_WORDS[rec.idx % len(W.SHORTCUT_WORDS)]
    name = f"{word} {rec.idx // len(W.SHORTCUT_WORDS) + 1}"
    text = g.choice(W.SNIPPETS)
    attrs = {
        "name": name,
        "draft": {"text": text},
        "payload": {"text": text},
        "conversation": {"name": None, "tags": g.sample(ds.tag_ids, g.randrange(0, 2))},
        "isPrivate": g.random() < 0.2,
        "appDisabled": False,
        "deleted": bool(rec.deleted),
    }
    stamp(rec, attrs)
    rels = {**audit_rels(g, ds.agent_ids), "parent": ref("shortcut", None, None)}
    return resource("shortcut", rec.id, attrs, rels, f"/v1/shortcuts/{rec.id}")
