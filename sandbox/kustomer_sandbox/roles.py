"""The roles each endpoint needs, and the roles of the two tokens."""

from __future__ import annotations


def _roles(obj: str, *extra: str) -> tuple[str, ...]:
    return (f"org.permission.{obj}.read", f"org.user.{obj}.read", *extra)


ROLES = {
    "search": (
        "org.permission.search.create",
        "org.permission.search.update",
        "org.permission.search_global.create",
        "org.permission.search_preview.create",
        "org.user.search.read",
        "org.admin.search.read",
    ),
    "customer": _roles("customer"),
    "conversation": _roles("conversation"),
    "message": _roles("message"),
    "note": _roles("note"),
    "company": _roles("company"),
    "klass": _roles("klass", "org.admin.klass.read"),
    "kobject": _roles("kobject", "org.permission.kobject.kobject_*.read"),
    "metadata": _roles("metadata", "org.admin.metadata.read"),
    "event": _roles("event"),
    "attachment": _roles("attachment"),
    "brand": _roles("brand", "org.admin.brand.read"),
    "schedule": _roles("schedule", "org.admin.schedule.read"),
    "satisfaction": _roles("satisfaction"),
    "sla": _roles("sla"),
    "audit_logs": _roles("audit_logs"),
    "queue": ("org.permission.queue.read", "org.permission.routing.read", "org.user.routing.read"),
    "workflow": ("org.permission.workflow.read", "org.admin.workflow.read"),
    "user": ("org.permission.user.read", "org.user.read", "org.admin.read", "org.user"),
    "team": ("org.permission.team.read", "org.user.read", "org.admin.read", "org.user"),
    "tag": ("org.permission.tag.read", "org.user.read", "org.admin.read", "org.user"),
    "shortcut": ("org.permission.shortcut.read", "org.user.read", "org.admin.read", "org.user"),
    "current_user": ("org.user",),
    # developer.kustomer.com (queues-and-routing and core-resources pages)
    "routing_status": (
        "org.permission.routing_status.read",
        "org.permission.routing.read",
        "org.user.routing.read",
    ),
    "routing": ("org.permission.routing.read", "org.user.routing.read"),
    "work_session": (
        "org.permission.work_session.read",
        "org.permission.routing.read",
        "org.user.routing.read",
    ),
    "sub_status": (
        "org.permission.sub_status.read",
        "org.permission.kobject.read",
        "org.permission.conversation.read",
        "org.user.kobject.read",
        "org.user.conversation.read",
        "org.admin.sub_status.read",
        "org.admin.content.sub_status.read",
    ),
    "snooze": ("org.permission.snooze.read",),
}
ALL_ROLES = frozenset(r for rs in ROLES.values() for r in rs)
# The restricted token keeps every routing role (work sessions, work items, routing statuses,
# team routing settings, sub-statuses, snoozes) but, lacking conversation read, cannot search
# conversation_time.
RESTRICTED_ROLES = (
    ALL_ROLES - set(ROLES["conversation"]) - set(ROLES["message"]) - set(ROLES["note"])
)

CTX_ROLE = {
    "customer": "customer",
    "conversation": "conversation",
    "message": "message",
    "note": "note",
    "company": "company",
    "conversation_time": "conversation",
    "work_session": "work_session",
    "work_item": "routing",
}


def search_role(ctx: str) -> str:
    """The role key a search of ``queryContext`` ``ctx`` needs."""
    return "kobject" if ctx.startswith("kobject") else CTX_ROLE.get(ctx, "search")
