"""``POST /v1/customers/search`` and ``/v1/customers/archive/search`` for the sandbox.

Query shape (Kustomer): ``{"queryContext": ..., "and": [...], "or": [...], "not": [...],
"sort": [...], "timeZone": ..., "includeDeleted": ...}``.  Criteria are
``{"<ctx>_<attr>": {"<op>": value}}``; ``and``/``or``/``not`` nest.

Execution: the range criteria on the sort attribute found in the top-level conjunction become
two bisects on a pre-sorted view; everything else is a residual predicate evaluated only over
that slice.  Results are cached per query body.  Records sharing the sort value are ordered by
``sha1(canonical body + id)``: stable for one query, different between queries.  With several
replicas (``--replicas``) each replica mixes its number into that key, so each orders ties its
own way; replica 0 keeps the plain key.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .data import Rec
from .index import INF, ContextIndex, Indexes
from .util import canonical, parse_local_date, parse_timestamp, sha1

ALLOWED_KEYS = frozenset(
    (
        "queryContext",
        "and",
        "or",
        "not",
        "sort",
        "timeZone",
        "includeDeleted",
        "fields",
        "aggs",
        "searchHash",
    )
)
# Contexts whose documented attributes are only these suffixes (others get the 400 of an unknown
# attribute): Kustomer documents conversation_time_created_at, _id and _conversation_id only.
CONTEXT_ATTRS = {"conversation_time": frozenset(("created_at", "id", "conversation_id"))}
# Contexts without an updatedAt: their default sort is created_at desc, the only sort allowed.
CREATED_ONLY = frozenset(("conversation_time",))
ARCHIVE_CONTEXTS = frozenset(("message", "conversation", "customer", "kobject", "company"))
MAX_CRITERIA = 20
MAX_SORT = 5
DATE_OPS = ("gte", "gt", "lte", "lt", "equals")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SearchError(Exception):
    """400-class problem with the request; ``code`` goes to ``errors[0].code``."""

    def __init__(
        self, detail: str, code: str = "bad_request", pointer: str | None = None, status: int = 400
    ):
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.pointer = pointer
        self.status = status


# --------------------------------------------------------------------------- predicates
class Range:
    """Interval test on a timestamp field."""

    __slots__ = ("field", "hi", "hi_incl", "lo", "lo_incl")

    def __init__(
        self,
        field: str,
        lo: float = -INF,
        lo_incl: bool = True,
        hi: float = INF,
        hi_incl: bool = True,
    ):
        self.field, self.lo, self.lo_incl, self.hi, self.hi_incl = field, lo, lo_incl, hi, hi_incl

    def intersect(self, other: Range) -> None:
        if other.lo > self.lo or (other.lo == self.lo and not other.lo_incl):
            self.lo, self.lo_incl = other.lo, other.lo_incl
        if other.hi < self.hi or (other.hi == self.hi and not other.hi_incl):
            self.hi, self.hi_incl = other.hi, other.hi_incl

    def test(self, rec: Rec) -> bool:
        v = getattr(rec, self.field)
        if v < self.lo or (v == self.lo and not self.lo_incl):
            return False
        return not (v > self.hi or (v == self.hi and not self.hi_incl))


Test = Callable[[Rec], bool]
Getter = Callable[[Rec], Any]


class Pred:
    """Generic predicate node: ``kind`` in and/or/none/test; ``fn`` for leaf tests."""

    __slots__ = ("fn", "items", "kind")

    def __init__(self, kind: str, items: list[Node] | None = None, fn: Test | None = None):
        self.kind, self.items, self.fn = kind, items or [], fn


Node = Range | Pred


def _compile(p: Node) -> Test:
    if isinstance(p, Range):
        return p.test
    if p.fn is not None:  # a "test" leaf
        return p.fn
    fns = [_compile(x) for x in p.items]
    if p.kind == "and":
        return lambda r: all(f(r) for f in fns)
    if p.kind == "or":
        return lambda r: any(f(r) for f in fns)
    return lambda r: not any(f(r) for f in fns)  # "none"


def _ref_id(rec: Rec | None) -> str | None:
    return None if rec is None else rec.id


# Non-date attributes: suffix -> getter(rec).  Dates are handled by Range.
ATTR_GETTERS: dict[str, Getter] = {
    "id": lambda r: r.id,
    "deleted": lambda r: bool(r.deleted),
    "customer_id": lambda r: _ref_id(r.customer),
    "conversation_id": lambda r: _ref_id(r.conversation),
    "company_id": lambda r: _ref_id(r.company),
    "companyId": lambda r: _ref_id(r.company),
    "status": lambda r: r.status if r.stream == "conversations" else None,
    "direction": lambda r: r.status if r.stream == "messages" else None,
    "klass": lambda r: r.klass,
}
DATE_FIELDS = {"updated_at": "updated", "created_at": "created", "modified_at": "modified"}


def _as_bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise SearchError(f"expected a boolean, got {v!r}")


def _check_context(engine: SearchEngine, ctx: str, archive: bool) -> None:
    if ctx not in engine.idx.contexts:
        if ctx.startswith("kobject_"):
            raise SearchError(
                f"unknown klass {ctx[8:]!r} in queryContext",
                code="invalid_query_context",
                pointer="/queryContext",
            )
        raise SearchError(
            f"queryContext {ctx!r} is not valid",
            code="invalid_query_context",
            pointer="/queryContext",
        )
    if archive and not (ctx in ARCHIVE_CONTEXTS or ctx.startswith("kobject_")):
        raise SearchError(
            f"queryContext {ctx!r} is not supported by archive search",
            code="invalid_query_context",
            pointer="/queryContext",
        )


def _options(body: dict[str, Any]) -> tuple[str | None, bool]:
    """(timeZone, includeDeleted), after checking the shape of the other body keys."""
    tz = body.get("timeZone")
    if tz is not None and not isinstance(tz, str):
        raise SearchError("timeZone must be a string", pointer="/timeZone")
    inc = body.get("includeDeleted", False)
    if not isinstance(inc, bool):
        raise SearchError("includeDeleted must be a boolean", pointer="/includeDeleted")
    if "fields" in body and not isinstance(body["fields"], list):
        raise SearchError("fields must be an array", pointer="/fields")
    if "aggs" in body and not isinstance(body["aggs"], dict):
        raise SearchError("aggs must be an object", pointer="/aggs")
    return tz, inc


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _compare(getter: Getter, op: str, value: object) -> Test:
    cmp = COMPARISONS[op]

    def test(r: Rec) -> bool:
        v = getter(r)
        try:
            return v is not None and cmp(v, value)
        except TypeError:
            return False

    return test


def _date_span(value: object, tz: str | None, pointer: str) -> tuple[float, float, bool]:
    """(start, end, is a whole local day?) of a date criterion's value."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SearchError(f"invalid date value {value!r}", code="invalid_date", pointer=pointer)
    if isinstance(value, int | float):
        return float(value), float(value), False
    if _DATE_RE.match(value.strip()):
        try:
            day = parse_local_date(value, tz)
        except ValueError as exc:
            raise SearchError(str(exc), pointer="/timeZone") from exc
        if day is None:
            raise SearchError(f"invalid date value {value!r}", code="invalid_date", pointer=pointer)
        return day[0], day[1], True
    ms = parse_timestamp(value)
    if ms is None:
        raise SearchError(f"invalid date value {value!r}", code="invalid_date", pointer=pointer)
    return ms, ms, False


def _date_range(field: str, op: str, start: float, end: float, day: bool) -> Range:
    """A local date covers [start, end); a timestamp is the single instant start."""
    if op == "gte":
        return Range(field, lo=start, lo_incl=True)
    if op == "gt":
        return Range(field, lo=end, lo_incl=True) if day else Range(field, lo=start, lo_incl=False)
    if op == "lte":
        return Range(field, hi=end, hi_incl=False) if day else Range(field, hi=start, hi_incl=True)
    if op == "lt":
        return Range(field, hi=start, hi_incl=False)
    if day:  # equals
        return Range(field, lo=start, lo_incl=True, hi=end, hi_incl=False)
    return Range(field, lo=start, lo_incl=True, hi=start, hi_incl=True)


def _sort_keys(sort: object) -> list[tuple[str, str, str]]:
    """(attribute, asc|desc, pointer) of each sort item, checked."""
    if isinstance(sort, dict):
        sort = [sort] if sort else []
    if not isinstance(sort, list):
        raise SearchError("sort must be an object or an array", pointer="/sort")
    if len(sort) > MAX_SORT:
        raise SearchError(f"should NOT have more than {MAX_SORT} items", pointer="/sort")
    keys = []
    for i, item in enumerate(sort):
        if not isinstance(item, dict) or not item:
            raise SearchError("each sort item must be {attribute: asc|desc}", pointer=f"/sort/{i}")
        for attr, direction in item.items():
            if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
                raise SearchError(
                    "sort direction must be 'asc' or 'desc'", pointer=f"/sort/{i}/{attr}"
                )
            keys.append((attr, direction.lower(), f"/sort/{i}/{attr}"))
    return keys


class Query:
    """A validated search request."""

    def __init__(self, engine: SearchEngine, body: object, archive: bool):
        self.engine_ds = engine.ds
        if not isinstance(body, dict):
            raise SearchError("request body must be a JSON object", pointer="/")
        extra = sorted(set(body) - ALLOWED_KEYS)
        if extra:
            raise SearchError(
                f"should NOT have additional properties: {extra[0]!r}",
                code="invalid_body",
                pointer=f"/{extra[0]}",
            )
        ctx = body.get("queryContext")
        if not isinstance(ctx, str) or not ctx:
            raise SearchError(
                "queryContext is required", code="invalid_body", pointer="/queryContext"
            )
        self.ctx = ctx
        self.archive = archive
        _check_context(engine, ctx, archive)
        self.prefix = "kobject" if ctx.startswith("kobject") else ctx
        self.klass_ctx = ctx[8:] if ctx.startswith("kobject_") else None
        self.tz, self.include_deleted = _options(body)
        # criteria
        items: list[Node] = []
        for key in ("and", "or", "not"):
            if key in body:
                node = self._group(key, body[key], f"/{key}")
                if node is not None:
                    items.append(node)
        self.pred = Pred("and", items)
        self.sort_field, self.desc = self._sort(body.get("sort"))
        self.canonical = canonical(body)

    # -- parsing
    def _list(self, value: object, pointer: str) -> list[Any]:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise SearchError("criteria must be an object or an array", pointer=pointer)
        if len(value) > MAX_CRITERIA:
            raise SearchError(f"should NOT have more than {MAX_CRITERIA} items", pointer=pointer)
        return value

    def _group(self, kind: str, value: object, pointer: str) -> Pred | None:
        lst = self._list(value, pointer)
        if not lst:
            return None  # "or": [] means no constraint
        children = [self._criterion(c, f"{pointer}/{i}") for i, c in enumerate(lst)]
        return Pred({"and": "and", "or": "or", "not": "none"}[kind], children)

    def _criterion(self, crit: object, pointer: str) -> Node:
        if not isinstance(crit, dict) or not crit:
            raise SearchError("each criterion must be a non-empty object", pointer=pointer)
        parts: list[Node] = []
        for attr, cond in crit.items():
            if attr in ("and", "or", "not"):
                node = self._group(attr, cond, f"{pointer}/{attr}")
                if node is not None:
                    parts.append(node)
                continue
            parts.extend(self._attr(attr, cond, f"{pointer}/{attr}"))
        return parts[0] if len(parts) == 1 else Pred("and", parts)

    def _attr(self, attr: str, cond: object, pointer: str) -> list[Node]:
        if not isinstance(cond, dict) or not cond:
            raise SearchError(
                f'condition for {attr} must be an object like {{"gte": ...}}', pointer=pointer
            )
        prefix = self.prefix + "_"
        if not attr.startswith(prefix):
            raise SearchError(
                f"attribute {attr!r} is not supported for queryContext "
                f"{self.ctx!r} by this sandbox",
                code="invalid_attribute",
                pointer=pointer,
            )
        suffix = attr[len(prefix) :]
        allowed = CONTEXT_ATTRS.get(self.ctx)
        if allowed is not None and suffix not in allowed:
            raise SearchError(
                f"attribute {attr!r} is not supported by this sandbox",
                code="invalid_attribute",
                pointer=pointer,
            )
        out: list[Node] = []
        if suffix in DATE_FIELDS:
            field = DATE_FIELDS[suffix]
            for op, value in cond.items():
                out.append(self._date(field, op, value, f"{pointer}/{op}"))
            return out
        getter: Getter | None
        if suffix.startswith("custom_"):
            getter = self._custom_getter(suffix[7:], pointer)
        else:
            getter = ATTR_GETTERS.get(suffix)
            if getter is None:
                raise SearchError(
                    f"attribute {attr!r} is not supported by this sandbox",
                    code="invalid_attribute",
                    pointer=pointer,
                )
        for op, value in cond.items():
            out.append(
                Pred("test", fn=self._value_test(getter, op, value, suffix, f"{pointer}/{op}"))
            )
        return out

    def _custom_getter(self, name: str, pointer: str) -> Getter:
        if self.prefix == "kobject":
            klass, _, field = name.partition("_")
            if not field:
                raise SearchError(
                    "kobject custom attributes are kobject_custom_<klass>_<field>",
                    code="invalid_attribute",
                    pointer=pointer,
                )
        else:
            klass, field = None, name
        ds = self.engine_ds

        def get(rec: Rec) -> Any:
            if klass is not None and rec.klass != klass:
                return None
            doc = json.loads(ds.doc_bytes(rec))  # slow path: custom attributes live in docs
            return (doc["attributes"].get("custom") or {}).get(field)

        return get

    def _value_test(
        self, getter: Getter, op: str, value: object, suffix: str, pointer: str
    ) -> Test:
        if suffix == "deleted":
            if op != "equals":
                raise SearchError(f"operator {op!r} is not valid for a boolean", pointer=pointer)
            want = _as_bool(value)
            return lambda r: bool(getter(r) == want)
        if op == "equals":
            return lambda r: bool(getter(r) == value)
        if op == "in":
            if not isinstance(value, list):
                raise SearchError("'in' expects an array", pointer=pointer)
            s = set(value)
            return lambda r: getter(r) in s
        if op == "contains":
            needle = str(value).lower()
            return lambda r: needle in str(getter(r) or "").lower()
        if op == "not_set":
            return lambda r: getter(r) in (None, "", [])
        if op in COMPARISONS:
            return _compare(getter, op, value)
        raise SearchError(f"unknown operator {op!r}", code="invalid_operator", pointer=pointer)

    def _date(self, field: str, op: str, value: object, pointer: str) -> Node:
        if op == "not_set":
            return Pred("test", fn=lambda r: False)
        if op not in DATE_OPS:
            raise SearchError(
                f"operator {op!r} is not valid for a date attribute",
                code="invalid_operator",
                pointer=pointer,
            )
        start, end, day = _date_span(value, self.tz, pointer)
        return _date_range(field, op, start, end, day)

    def _sort(self, sort: object) -> tuple[str, bool]:
        """(record field to sort on, descending?); no sort = newest first (sandbox default)."""
        keys = [] if sort is None else _sort_keys(sort)
        created_only = self.ctx in CREATED_ONLY
        if not keys:
            return ("created" if created_only else "updated"), True
        attr, direction, pointer = keys[0]  # further keys are accepted but ignored
        m = re.match(r"^(.*)_(updated|created)_at$", attr)
        ok = m is not None and (
            m.group(1) == self.prefix
            or (self.prefix == "kobject" and m.group(1).startswith("kobject"))
        )
        if m is None or not ok or (created_only and m.group(2) != "created"):
            allowed = f"{self.prefix}_created_at"
            if not created_only:
                allowed = f"{self.prefix}_updated_at or {allowed}"
            raise SearchError(
                f"sorting on {attr!r} is not supported by this sandbox (use {allowed})",
                code="invalid_sort",
                pointer=pointer,
            )
        return m.group(2), direction == "desc"


# --------------------------------------------------------------------------- engine
class Entry:
    __slots__ = ("groups", "keys", "recs", "tie_base", "version")

    def __init__(
        self, keys: list[int], recs: list[Rec], tie_base: hashlib._Hash | None, version: int
    ):
        self.keys, self.recs, self.tie_base, self.version = keys, recs, tie_base, version
        # sorted tie blocks, keyed by (replica, start position): each replica keeps its own
        self.groups: dict[tuple[int, int], list[Rec]] = {}


class SearchEngine:
    def __init__(
        self,
        idx: Indexes,
        horizon_fn: Callable[[], int],
        clock_fn: Callable[[], int] | None = None,
        cache_size: int = 64,
    ):
        self.idx = idx
        self.ds = idx.ds
        self.horizon_fn = horizon_fn  # -> epoch ms; updatedAt < horizon is archive-only
        # -> epoch ms; when set, pending lagged updates due by then are applied before a query
        self.clock_fn = clock_fn
        self.cache: OrderedDict[tuple[bool, bytes], Entry] = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()

    def parse(self, body: object, archive: bool) -> Query:
        return Query(self, body, archive)

    def matches(self, q: Query) -> Entry:
        ctx = self.idx.contexts[q.ctx]
        if self.clock_fn is not None and self.idx.pending:
            # visibility is lazy: applying a due update bumps ctx.version, so cached entries
            # computed before it are recomputed below
            with self.ds.lock:
                self.idx.refresh(self.clock_fn())
        key = (q.archive, q.canonical)
        with self.lock:
            entry = self.cache.get(key)
            if entry is not None and entry.version == ctx.version:
                self.cache.move_to_end(key)
                return entry
        entry = self._compute(q, ctx)
        with self.lock:
            self.cache[key] = entry
            self.cache.move_to_end(key)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return entry

    def _compute(self, q: Query, ctx: ContextIndex) -> Entry:
        horizon = self.horizon_fn()
        # split the top-level conjunction into sort-field ranges and a residual
        primary = Range(q.sort_field)
        residual: list[Node] = []
        stack = list(q.pred.items)
        while stack:
            p = stack.pop()
            if isinstance(p, Range) and p.field == q.sort_field:
                primary.intersect(p)
            elif isinstance(p, Pred) and p.kind == "and":
                stack.extend(p.items)
            else:
                residual.append(p)
        window = Range("updated")
        if q.archive:
            window.intersect(Range("updated", hi=horizon, hi_incl=False))
        else:
            window.intersect(Range("updated", lo=horizon, lo_incl=True))
        if q.sort_field == "updated":
            primary.intersect(window)
        else:
            residual.append(window)
        with self.ds.lock:
            version = ctx.version
            view = ctx.view(q.sort_field, q.include_deleted)
            i, j = view.bounds(primary.lo, primary.lo_incl, primary.hi, primary.hi_incl)
            keys = view.keys[i:j]
            recs = view.recs[i:j]
        if residual:
            fn = _compile(Pred("and", residual))
            pairs = [(k, r) for k, r in zip(keys, recs, strict=True) if fn(r)]
            keys = [k for k, _ in pairs]
            recs = [r for _, r in pairs]
        tie_base = sha1(b"archive:" if q.archive else b"search:")
        tie_base.update(q.canonical)
        return Entry(keys, recs, tie_base, version)

    def _group(self, entry: Entry, gs: int, ge: int, replica: int) -> list[Rec]:
        if ge - gs == 1:
            return entry.recs[gs:ge]
        grp = entry.groups.get((replica, gs))
        if grp is None or len(grp) != ge - gs:
            base = entry.tie_base
            assert base is not None, "only an unmodelled context's empty entry has no tie key"
            if replica:
                base = base.copy()
                base.update(f"replica:{replica}:".encode())

            def tie(rec: Rec) -> bytes:
                h = base.copy()
                h.update(rec.id.encode())
                return h.digest()

            grp = sorted(entry.recs[gs:ge], key=tie)
            entry.groups[(replica, gs)] = grp
        return grp

    def page(self, entry: Entry, desc: bool, start: int, stop: int, replica: int = 0) -> list[Rec]:
        """Records at positions [start, stop) of the query's order as ``replica`` sorts ties."""
        keys = entry.keys
        n = len(keys)
        stop = min(stop, n)
        out: list[Rec] = []
        if start >= stop:
            return out
        if not desc:
            pos = start
            while pos < stop:
                k = keys[pos]
                gs = bisect_left(keys, k)
                ge = bisect_right(keys, k, lo=pos)
                grp = self._group(entry, gs, ge, replica)
                out.extend(grp[pos - gs : min(ge, stop) - gs])
                pos = ge
        else:
            d = start
            while d < stop:
                a = n - 1 - d  # ascending index of this position
                k = keys[a]
                gs = bisect_left(keys, k, hi=a + 1)
                ge = bisect_right(keys, k, lo=a)
                grp = self._group(entry, gs, ge, replica)
                dstart = n - ge  # descending position of the group's first element
                out.extend(grp[d - dstart : min(n - gs, stop) - dstart])
                d = n - gs
        return out
