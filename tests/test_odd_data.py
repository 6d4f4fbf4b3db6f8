"""Odd data and hostile lists (issue 16, the data half): no value blocks a stream, records keep
their schema's promise, timestamps of every year compare, integer ids are kept, lists that
change while read lose nothing, loops stop, and oversized pages are cut."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tap_kustomer import jsonio
from tap_kustomer.config import load_settings
from tap_kustomer.errors import PagingError
from tap_kustomer.paging import ListPager, with_ids
from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tap_kustomer.timeutil import canonical_ts, format_ts
from tap_kustomer.transform import Coercer
from tests.conftest import TOKEN
from tests.fakes import BASE, resource, ts
from tests.samples import selected_catalog

NOW = datetime(2025, 3, 1, tzinfo=UTC)
LIST = BASE + "/v1/shortcuts"  # an incremental list stream
TAGS = BASE + "/v1/tags"


def run(client, settings, *streams, state=None, now=NOW):
    out = io.StringIO()
    catalog = selected_catalog(*streams)
    sync(client, settings, select_streams(catalog), read_state(state), SingerWriter(out), now=now)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def records(messages, stream="shortcuts"):
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_bookmark(messages, stream="shortcuts"):
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return states[-1]["bookmarks"].get(stream)


def tag(n: int, updated: str, **attrs) -> dict:
    return resource("tag", n, updated, name=f"tag-{n}", **attrs)


def serve_bodies(rsps, url: str, bodies: list[bytes]) -> None:
    """GET url answers page N with bodies[N-1] (raw bytes: what `json=` cannot send)."""

    def answer(request):
        page = int(parse_qs(urlsplit(request.url).query).get("page", ["1"])[0])
        return 200, {"Content-Type": "application/json"}, bodies[page - 1]

    rsps.add_callback(responses.GET, re.compile(re.escape(url) + r"(\?.*)?$"), answer)


def page_body(*items: bytes) -> bytes:
    return b'{"data":[' + b",".join(items) + b'],"links":{"next":null}}'


def tag_bytes(n: int, name: bytes = b'"x"', extra: bytes = b"") -> bytes:
    return b'{"type":"tag","id":"%024x","attributes":{"name":%s,"updatedAt":"%s"%s}}' % (
        n,
        name,
        ts(n).encode(),
        extra,
    )


# -- 1. No value blocks a stream ------------------------------------------------------------


def test_a_lone_surrogate_is_read_as_the_replacement_character(rsps, client, settings):
    """Before: orjson refused the page ("not valid JSON") six times and the run failed."""
    serve_bodies(rsps, LIST, [page_body(tag_bytes(1, rb'"bad \ud83d end"'), tag_bytes(2))])
    got = records(run(client, settings, "shortcuts"))
    assert [r["name"] for r in got] == ["bad \ufffd end", "x"]


def test_invalid_utf8_in_a_string_is_read_as_the_replacement_character(rsps, client, settings):
    serve_bodies(rsps, LIST, [page_body(tag_bytes(1, b'"caf\xe9 \xff"'), tag_bytes(2))])
    got = records(run(client, settings, "shortcuts"))
    assert [r["name"] for r in got] == ["caf\ufffd \ufffd", "x"]


def test_a_record_nested_990_deep_is_skipped_with_a_warning_naming_it(
    rsps, client, settings, caplog
):
    deep = b"[" * 990 + b"]" * 990
    serve_bodies(rsps, LIST, [page_body(tag_bytes(1), tag_bytes(2, extra=b',"x":' + deep))])
    with caplog.at_level(logging.WARNING):
        got = records(run(client, settings, "shortcuts"))
    assert [r["id"] for r in got] == [f"{1:024x}"]
    assert f"shortcuts: skipped record {2:024x}" in caplog.text


def test_a_body_deeper_than_orjson_reads_skips_only_that_record(caplog):
    deep = b"{}"
    for _ in range(1500):
        deep = b'{"a":' + deep + b"}"
    body = page_body(tag_bytes(1), tag_bytes(2, extra=b',"x":' + deep), tag_bytes(3))
    with caplog.at_level(logging.WARNING):
        value = jsonio.loads(body)
    assert [r["id"] for r in value["data"]] == [f"{1:024x}", f"{3:024x}"]
    assert f"skipped record {2:024x}" in caplog.text
    with pytest.raises(ValueError):  # a body cut short is still not JSON (the client retries)
        jsonio.loads(body[:-40])


def test_a_record_that_cannot_be_serialised_is_skipped_with_a_warning(caplog):
    """Before: _dumps raised (ValueError from json's allow_nan) and the run crashed."""
    bad = {"id": "b1", "big": 2**70, "nan": float("nan")}  # orjson refuses; json too (NaN)
    surrogate = {"id": "s1", "big": 2**70, "name": "x\ud83d"}  # fallback, written with U+FFFD
    with caplog.at_level(logging.WARNING):
        lines = SingerWriter.records("shortcuts", [{"id": "a1"}, bad, None, surrogate], "t")
    written = [json.loads(line)["record"] for line in lines.splitlines()]
    assert written == [{"id": "a1"}, {"id": "s1", "big": 2**70, "name": "x\ufffd"}]
    assert "shortcuts: skipped record b1: it cannot be written as JSON" in caplog.text


# -- 2. Records keep their schema's promise -------------------------------------------------


def test_values_of_the_wrong_type_are_converted_or_nulled_and_counted(
    rsps, client, settings, caplog
):
    odd = b',"deleted":"false","rev":"7","createdAt":"last tuesday","modifiedAt":"2025-01-02"'
    secret = b',"color":{"hex":"#ff0000"}'  # a string column holding an object: JSON text
    serve_bodies(
        rsps,
        TAGS,
        [page_body(tag_bytes(1, extra=odd + secret), tag_bytes(2, extra=b',"rev":"seven"'))],
    )
    with caplog.at_level(logging.INFO):
        got = records(run(client, settings, "tags"), "tags")
    first, second = got
    assert first["deleted"] is False and first["rev"] == 7 and first["created_at"] is None
    assert first["modified_at"] == "2025-01-02T00:00:00.000Z"
    assert first["color"] == '{"hex":"#ff0000"}'
    assert second["rev"] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "tags: 1 values of 'created_at' did not match its schema's type" in warnings[0]
    assert "tags: 1 values of 'rev' did not match its schema's type (integer)" in warnings[1]
    assert len(warnings) == 2
    assert "last tuesday" not in caplog.text and "seven" not in caplog.text  # never the value


def test_integers_beyond_64_bits_stay_exact(rsps, client, settings):
    """Before: orjson read 123456789012345678901234567890 as 1.2345678901234568e+29."""
    big = 123456789012345678901234567890
    serve_bodies(rsps, LIST, [page_body(tag_bytes(1, extra=b',"rev":%d' % big))])
    (got,) = records(run(client, settings, "shortcuts"))
    assert got["rev"] == big and type(got["rev"]) is int
    assert jsonio.loads(b'{"a":-9223372036854775809}')["a"] == -9223372036854775809
    assert jsonio.loads(b'{"a":"12345678901234567890123"}')["a"] == "12345678901234567890123"


def test_coercion_rules():
    schema = {
        "properties": {
            "n": {"type": ["null", "integer"]},
            "x": {"type": ["null", "number"]},
            "b": {"type": ["null", "boolean"]},
            "s": {"type": ["null", "string"]},
            "a": {"type": ["null", "array"]},
            "o": {"type": ["null", "object"]},
            "t": {"type": ["null", "string"], "format": "date-time"},
        }
    }
    coerce = Coercer("s", schema)
    cases = [
        ("n", "7", 7),
        ("n", 7.0, 7),
        ("n", 7.5, None),
        ("n", True, None),
        ("n", "12345678901234567890123", 12345678901234567890123),
        ("x", "7.25", 7.25),
        ("x", "7", 7),
        ("x", "1e400", None),
        ("b", "TRUE", True),
        ("b", 0, False),
        ("b", "yes", None),
        ("s", 7, "7"),
        ("s", False, "false"),
        ("a", "one", ["one"]),
        ("o", "text", None),
        ("t", "2025-01-01T10:00:00+02:00", "2025-01-01T10:00:00+02:00"),  # RFC 3339: kept
        ("t", "0999-12-31", "0999-12-31T00:00:00.000Z"),
        ("t", "2025-13-01T00:00:00Z", None),
        ("t", 1700000000000, None),
    ]
    for field, value, expected in cases:
        assert coerce({field: value, "other": object}) == {field: expected, "other": object}


# -- 3. Timestamps of every year; a future updatedAt -----------------------------------------


def test_years_below_1000_are_zero_padded_and_compare_correctly(fake, client):
    """Before: format_ts gave "999-12-31T…", later than every 2xxx date: nothing was read."""
    assert format_ts(datetime(999, 12, 31, tzinfo=UTC)) == "0999-12-31T00:00:00.000Z"
    assert format_ts(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"
    assert canonical_ts("0001-01-01T00:00:00+01:00") is None  # year 0 in UTC: no timestamp
    settings = load_settings({"api_token": TOKEN, "start_date": "0999-12-31"})
    assert settings.start_date == "0999-12-31T00:00:00.000Z"
    fake.lists["/v1/shortcuts"] = [tag(1, "1500-06-01T00:00:00.000Z"), tag(2, ts(5))]
    messages = run(client, settings, "shortcuts")
    assert len(records(messages)) == 2
    assert last_bookmark(messages) == {"updated_at": ts(5)}


def test_a_future_updated_at_is_emitted_and_the_bookmark_stays_at_the_run_start(
    fake, client, settings
):
    fake.lists["/v1/shortcuts"] = [tag(1, "2099-01-01T00:00:00.000Z"), tag(2, ts(5))]
    messages = run(client, settings, "shortcuts")
    assert {r["updated_at"] for r in records(messages)} == {"2099-01-01T00:00:00.000Z", ts(5)}
    assert last_bookmark(messages) == {"updated_at": format_ts(NOW)}


# -- 4. Integer ids ---------------------------------------------------------------------------


def test_integer_ids_are_kept_as_strings_and_missing_ids_are_named_so(caplog):
    """Before: {"id": 7} was dropped with "skipped 1 records without an id"."""
    given = [{"id": 7}, {"id": "a"}, {"name": "no id"}, {"id": True}, {"id": 1.5}, "text"]
    with caplog.at_level(logging.WARNING):
        kept = with_ids(given, "GET /v1/shortcuts")
    assert [r["id"] for r in kept] == ["7", "a"]
    assert "GET /v1/shortcuts: skipped 1 records without an id" in caplog.text
    assert "skipped 3 records that are not objects or whose id is neither" in caplog.text


# -- 5. Lists lose nothing when they change while read ----------------------------------------


def change_after_first_page(fake, monkeypatch, change, times=1):
    """Run `change` (on fake.lists["/v1/shortcuts"]) right after the first page of a read of the
    list is answered, `times` times."""
    count = fake._count
    done = {"n": 0, "armed": False}

    def hook(request):
        count(request)
        path, _, params = request
        if path != "/v1/shortcuts":
            return
        if params.get("page") == "2" and done["armed"]:
            done["armed"] = False
            done["n"] += 1
            change(fake.lists["/v1/shortcuts"])
        if params.get("page") == "1" and done["n"] < times:
            done["armed"] = True

    monkeypatch.setattr(fake, "_count", hook)


def test_a_record_hard_deleted_during_the_read_costs_no_other_record(
    fake, client, settings, monkeypatch
):
    """Before: the first record of page 2 moved onto page 1, was never read, and the bookmark
    moved past it."""
    fake.lists["/v1/shortcuts"] = [tag(i, ts(i)) for i in range(250)]
    change_after_first_page(fake, monkeypatch, lambda tags: tags.pop(5))
    messages = run(client, settings, "shortcuts")
    emitted = {r["id"] for r in records(messages)}
    assert emitted == {f"{i:024x}" for i in range(250)}  # the deleted one was read before
    assert last_bookmark(messages) == {"updated_at": ts(249)}


def test_a_record_renamed_to_sort_last_during_the_read_costs_no_other_record(
    fake, client, settings, monkeypatch
):
    fake.lists["/v1/shortcuts"] = [tag(i, ts(i)) for i in range(250)]

    def rename(tags):
        moved = tags.pop(3)
        moved["attributes"].update(name="zzz", updatedAt=ts(300))
        tags.append(moved)

    change_after_first_page(fake, monkeypatch, rename)
    emitted = {r["id"] for r in records(run(client, settings, "shortcuts"))}
    assert emitted == {f"{i:024x}" for i in range(250)}


def test_a_list_that_never_holds_still_keeps_its_bookmark(
    fake, client, settings, monkeypatch, caplog
):
    fake.lists["/v1/shortcuts"] = [tag(i, ts(i)) for i in range(250)]
    change_after_first_page(fake, monkeypatch, lambda tags: tags.pop(0), times=10)
    state = {"bookmarks": {"shortcuts": {"updated_at": ts(10)}}}
    with caplog.at_level(logging.WARNING):
        messages = run(client, settings, "shortcuts", state=state)
    assert last_bookmark(messages) == {"updated_at": ts(10)}  # the next run reads it again
    assert "GET /v1/shortcuts changed during each of 4 reads" in caplog.text


def test_a_list_that_holds_still_is_read_twice_and_yields_once(fake, client):
    fake.lists["/v1/shortcuts"] = [tag(i, ts(i)) for i in range(250)]
    pager = ListPager(client, "/v1/shortcuts", 100)
    pages = list(pager.pages())
    assert [len(p) for p in pages] == [100, 100, 50] and pager.complete
    assert len(fake.requests) == 6
    fake.lists["/v1/brands"] = [resource("brand", 1, ts(1))]
    assert [len(p) for p in ListPager(client, "/v1/brands", 100).pages()] == [1]
    assert len(fake.requests) == 7  # one page is one answer: never read again


# -- 6. Loops ---------------------------------------------------------------------------------


def test_a_list_that_ignores_its_page_parameter_stops_with_one_clear_line(rsps, client):
    """Held before too (a page of records already read stops the read); pinned here, with
    the re-reads that now follow a multi-page read."""
    full = json.dumps({"data": [tag(i, ts(i)) for i in range(100)]}).encode()
    serve_bodies(rsps, LIST, [full] * 50)
    with pytest.raises(PagingError, match="only records already read; stopping instead"):
        list(ListPager(client, "/v1/shortcuts", 100).pages())


def test_a_cursor_list_that_ignores_its_cursor_stops(rsps, client):
    count = {"n": 0}

    def answer(request):
        count["n"] += 1
        body = {"data": [tag(1, ts(1))], "links": {"next": f"/v1/audit-logs?c={count['n']}"}}
        return 200, {}, json.dumps(body)

    rsps.add_callback(responses.GET, re.compile(re.escape(BASE) + "/v1/audit-logs.*"), answer)
    with pytest.raises(PagingError, match="stopping instead of looping"):
        list(ListPager(client, "/v1/audit-logs", 1000, {"count": 1000}, numbered=False).pages())
    assert count["n"] == 2


# -- 7. A page with more records than were asked for ------------------------------------------


def test_a_page_with_more_records_than_asked_is_cut_and_keeps_the_bookmark(
    rsps, client, settings, caplog
):
    """Before: all 1,000 records of the answer were kept."""
    many = json.dumps({"data": [tag(i, ts(i)) for i in range(1000)], "links": {"next": None}})
    serve_bodies(rsps, LIST, [many.encode()])
    state = {"bookmarks": {"shortcuts": {"updated_at": ts(0)}}}
    with caplog.at_level(logging.WARNING):
        messages = run(client, settings, "shortcuts", state=state)
    assert len(records(messages)) == 100
    assert last_bookmark(messages) == {"updated_at": ts(0)}
    assert "1 answers held more than the 100 records asked for" in caplog.text
