"""``compat_1x``: serve records singer-io tap-kustomer 1.1.0 can read to the end.

1.1.0 aborts its whole sync on shapes the default data carries on purpose:
``.copy()`` on a relationship whose ``data`` is ``null`` (AttributeError), and singer-python's
``SchemaMismatch`` on values its sample-inferred schemas do not allow: a ``null`` custom number
(kobject ``totalPriceNum``), a shortcut's ``payload.text`` as a string (its schema wants
Draft.js content) and a shortcut's ``conversation.tags`` as a list (its schema wants an object).

With the option on, every record document is rewritten before it is serialised:

* a relationship with ``data: null`` loses its ``data`` key (and is left out if nothing remains);
* ``attributes.custom`` keys whose value is ``null`` are left out;
* shortcuts: ``payload.text`` becomes one-block Draft.js raw content holding the same text, and
  ``conversation.tags`` is left out.

Ids, timestamps, counts, ties and the ground truth do not change. Off by default.
"""

from __future__ import annotations

from typing import Any


def compat_1x(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a record's JSON:API resource), rewritten in place as described above."""
    _drop_null_relationships(doc.get("relationships"))
    attrs = doc.get("attributes") or {}
    custom = attrs.get("custom")
    if isinstance(custom, dict):
        attrs["custom"] = {k: v for k, v in custom.items() if v is not None}
    if doc.get("type") == "shortcut":
        _shortcut(doc["id"], attrs)
    return doc


def _drop_null_relationships(rels: dict[str, Any] | None) -> None:
    if not isinstance(rels, dict):
        return
    for name in list(rels):
        rel = rels[name]
        if isinstance(rel, dict) and "data" in rel and rel["data"] is None:
            del rel["data"]
            if not rel:
                del rels[name]


def _shortcut(rid: str, attrs: dict[str, Any]) -> None:
    payload = attrs.get("payload")
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        payload["text"] = draft_js(payload["text"], key=rid[-5:])
    conversation = attrs.get("conversation")
    if isinstance(conversation, dict):
        conversation.pop("tags", None)


def draft_js(text: str, key: str) -> dict[str, Any]:
    """Draft.js raw content with one unstyled block holding ``text``."""
    block = {
        "key": key,
        "text": text,
        "type": "unstyled",
        "depth": 0,
        "inlineStyleRanges": [],
        "entityRanges": [],
        "data": {},
    }
    return {"blocks": [block], "entityMap": {}}
