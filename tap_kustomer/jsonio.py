"""Reading Kustomer's answers: orjson first, and a lenient reader for what orjson refuses.

orjson reads every ordinary answer (about 11 ms a 500-customer page, against 16 ms for the
standard library). It refuses, or reads inexactly, a few things a broken or hostile server can
send inside an otherwise valid page, and none of them may block a stream (README, Guarantees):

- a lone surrogate escape (`"\\ud83d"`, valid JSON) and bytes that are not UTF-8 inside a
  string: read by the standard library, each bad character replaced by U+FFFD;
- an integer beyond 64 bits, which orjson reads as a rounded float: a cheap screen of the
  body's digits sends such an answer to the standard library, which keeps it exact;
- `NaN` and `Infinity`, which are not JSON: read as null;
- nesting deeper than orjson's 1,024 levels: each element of a top-level list (a record)
  nested deeper than MAX_DEPTH levels is left out with a WARNING naming its id, and the rest
  of the page is read.

A body that is not JSON at all (cut short, garbled) still raises ValueError, so the client
retries it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import orjson

LOGGER = logging.getLogger(__name__)

MAX_DEPTH = 400  # a record nested deeper than this is left out (orjson writes at most 255)

_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_RUN = b"0" * 19  # every integer orjson cannot hold exactly has at least 19 digits
_BEFORE_NUMBER = frozenset(b":[,")
_SPACE = frozenset(b" \t\r\n")
_DECODER = json.JSONDecoder(parse_constant=lambda _name: None)  # NaN, Infinity → null
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_TOO_DEEP = "\x00tap-kustomer: nested too deeply\x00"


def loads(content: bytes) -> Any:
    """The JSON value of an answer's body; ValueError if it is not JSON."""
    if not _has_big_integer(content):
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass  # lone surrogates, bad UTF-8, too deep, NaN…: read it the slow way
    return _lenient(content)


def _has_big_integer(content: bytes) -> bool:
    """Whether the body may hold an integer of 19 digits or more outside a string (cheap: one
    translation and a find; a run of digits inside a string, such as an id, is told apart by
    the character before it)."""
    digits = content.translate(_DIGITS)
    at = digits.find(_RUN)
    while at != -1:
        start = at
        while start and digits[start - 1] == 0x30:
            start -= 1
        before = start - 1
        if before >= 0 and content[before] == 0x2D:  # "-"
            before -= 1
        while before >= 0 and content[before] in _SPACE:
            before -= 1
        if before >= 0 and content[before] in _BEFORE_NUMBER:
            return True
        end = at + len(_RUN)
        while end < len(digits) and digits[end] == 0x30:
            end += 1
        at = digits.find(_RUN, end)
    return False


def _lenient(content: bytes) -> Any:
    try:
        text, replaced = content.decode("utf-8"), False
    except UnicodeDecodeError:
        text, replaced = content.decode("utf-8", "replace"), True
    try:
        value, fixed = _clean(_DECODER.decode(text))
    except RecursionError:  # nested deeper than the interpreter's stack allows
        try:
            value, fixed = _clean(_drop_too_deep(_DECODER.decode(_cut_deep(text))))
        except RecursionError:  # only when called from deep inside a stack already
            raise ValueError("JSON nested too deeply to read") from None
    if replaced or fixed:
        LOGGER.warning(
            "a Kustomer answer held text that is not valid Unicode (invalid UTF-8 or a lone "
            "surrogate); each such character was replaced by U+FFFD"
        )
    return value


def _clean(value: Any) -> tuple[Any, bool]:
    """Replace lone surrogates (which no UTF-8 writer accepts) by U+FFFD, keys included."""
    kind = type(value)
    if kind is str:
        if value.isascii():
            return value, False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), True
        return value, False
    if kind is dict:
        fixed = False
        out = {}
        for key, item in value.items():
            key, bad_key = _clean(key)
            item, bad_item = _clean(item)
            out[key] = item
            fixed = fixed or bad_key or bad_item
        return out, fixed
    if kind is list:
        fixed = False
        items = []
        for item in value:
            item, bad = _clean(item)
            items.append(item)
            fixed = fixed or bad
        return items, fixed
    return value, False


def _cut_deep(text: str) -> str:
    """The text with every container opened deeper than MAX_DEPTH replaced by a marker."""
    pieces: list[str] = []
    depth = 0
    copied = 0  # text[:copied] is in pieces
    cut_from = -1  # where the container being cut opened, or -1
    for token in _TOKENS.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            if depth > MAX_DEPTH and cut_from == -1:
                cut_from = token.start()
        elif mark in "]}":
            if depth == MAX_DEPTH + 1 and cut_from != -1:
                pieces.append(text[copied:cut_from])
                pieces.append(json.dumps(_TOO_DEEP))
                copied = token.end()
                cut_from = -1
            depth -= 1
    if cut_from != -1:  # never closed: the body is cut short, and stays invalid
        pieces.append(text[copied:cut_from])
        copied = len(text)
    pieces.append(text[copied:])
    return "".join(pieces)


def _holds_marker(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if item == _TOO_DEEP:
            return True
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _drop_too_deep(value: Any) -> Any:
    """Leave out, with a WARNING naming their ids, the records (elements of the answer's
    top-level lists) that held a container cut by _cut_deep."""
    if type(value) is not dict:
        return None if _holds_marker(value) else value
    for member, records in value.items():
        if type(records) is not list:
            continue
        kept = []
        for record in records:
            if _holds_marker(record):
                rid = record.get("id") if type(record) is dict else None
                LOGGER.warning(
                    "skipped record %s of the answer's %r: nested more than %d levels deep",
                    rid if isinstance(rid, str | int) else "(without an id)",
                    member,
                    MAX_DEPTH,
                )
            else:
                kept.append(record)
        value[member] = kept
    return value
