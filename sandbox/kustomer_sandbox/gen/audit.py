"""Audit logs (``/v1/audit-logs``): the last 90 days of changes, newest first.

Shape of the OAS GetAuditLogs example: ``org`` is an attribute (the org id), relationships
``customer`` (the changed object's customer) and ``user``; ``publishedAt`` a few seconds after
``createdAt``, ``expiresAt`` 363 days after that."""

from __future__ import annotations

from ..util import DAY_MS, MINUTE_MS, fmt_ms, make_id
from .base import ORG_ID, Doc, Rec, named_rng, ref

# (objectType, the stream its objectId comes from)
OBJECT_KINDS = (
    ("conversation", "conversations"),
    ("customer", "customers"),
    ("message", "messages"),
    ("shortcut", "shortcuts"),
    ("user", "users"),
    ("company", "companies"),
)


# (userType, client) of the change's author (*guess*: the OAS example shows system/routing-api)
CLIENTS = (
    ("user", "web"),
    ("user", "web"),
    ("user", "web"),
    ("user", "mobile"),
    ("machine", "api"),
    ("system", "routing-api"),
    ("system", "workflow"),
)
# a log expires about a year after it is published (OAS example: 363 days)
RETENTION_MS = 363 * DAY_MS


def _customer(target: Rec) -> Doc:
    """The customer the changed object belongs to (null data for users, shortcuts, companies)."""
    owner = target if target.stream == "customers" else target.customer
    if owner is None:
        return ref("customer", None, None)
    return ref("customer", owner.id, f"/v1/customers/{owner.id}")


def _status_change() -> Doc:
    return {"attributes": {"status": {"op": "replace", "before": "open", "after": "done"}}}


def build_audit_logs(
    seed: int, scale: float, now_ms: int, streams: dict[str, list[Rec]], agent_ids: list[str]
) -> list[Doc]:
    """Newest first, ties broken by id descending; ``_created`` (epoch ms) is not served."""
    rng = named_rng(seed, "audit")
    more = named_rng(seed, "audit:more")  # the attributes added later: no draw above moves
    n = max(50, round(3000 * min(1.0, scale)))
    offs = sorted((rng.randrange(MINUTE_MS, 90 * DAY_MS) for _ in range(n)), reverse=True)
    logs = []
    for off in offs:  # oldest first
        lid = make_id(rng, off)
        otype, stream = OBJECT_KINDS[rng.randrange(len(OBJECT_KINDS))]
        target = streams[stream][rng.randrange(len(streams[stream]))]
        verb = "update" if rng.random() < 0.8 else "create"
        uid = agent_ids[rng.randrange(len(agent_ids))]
        created = now_ms - off
        changes = _status_change() if verb == "update" and otype == "conversation" else None
        user_type, client = CLIENTS[more.randrange(len(CLIENTS))]
        published = created + more.randrange(200, 10_000)
        logs.append(
            {
                "type": "audit_log",
                "id": lid,
                "attributes": {
                    "eventName": f"kustomer.{otype}.{verb}",
                    "eventVerb": verb,
                    "org": ORG_ID,
                    "objectType": otype,
                    "objectId": target.id,
                    "userId": uid,
                    "userType": user_type,
                    "client": client,
                    "ip": f"203.0.113.{rng.randrange(1, 255)}",
                    "changes": changes,
                    "createdAt": fmt_ms(created),
                    "publishedAt": fmt_ms(published),
                    "expiresAt": fmt_ms(published + RETENTION_MS),
                },
                "relationships": {
                    "customer": _customer(target),
                    "user": ref("user", uid, f"/v1/users/{uid}"),
                },
                "_created": created,
            }
        )
    logs.sort(key=lambda d: (d["_created"], d["id"]), reverse=True)
    return logs
