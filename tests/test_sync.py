"""Sync: selection, SCHEMA/RECORD/STATE order and cadence, bookmarks, resume, field selection."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tap_kustomer.cli import main
from tap_kustomer.errors import BadRequestError, ForbiddenError
from tap_kustomer.streams import STREAMS, ListStream, SearchStream
from tap_kustomer.sync import SingerWriter, read_state, select_streams, sync
from tests.fakes import ts
from tests.samples import RFC3339, sample, selected_catalog, validate

CONTEXT = {
    name: cls.query_context for name, cls in STREAMS.items() if issubclass(cls, SearchStream)
}
PATH = {name: cls.path for name, cls in STREAMS.items() if issubclass(cls, ListStream)}
# The streams these tests feed through the fake API: tap-kustomer 1.x's nine (the others are
# synced end to end against the sandbox in tests/e2e).
CORE = ("customers", "conversations", "messages", "notes", "kobjects", "users", "teams", "tags")
CORE += ("shortcuts",)
INCREMENTAL = tuple(name for name in CORE if STREAMS[name].replication_key)
NOW = datetime(2025, 3, 1, tzinfo=UTC)  # ts(86400) ≈ 2025-03-02: records after it are "future"


def populate(fake, per_stream: int = 120, minutes_apart: float = 1.0) -> dict[str, list[dict]]:
    truth = {}
    for number, name in enumerate(CORE):
        records = [
            sample(name, number * 10_000 + i, ts(i * minutes_apart // 3), ts(-i))
            for i in range(per_stream)
        ]
        truth[name] = records
        if name in CONTEXT:
            fake.search[CONTEXT[name]] = records
        else:
            fake.lists[PATH[name]] = records
    return truth


def run_sync(client, settings, catalog=None, state=None, now=NOW) -> list[dict]:
    catalog = catalog or selected_catalog(*CORE)
    out = io.StringIO()
    sync(client, settings, select_streams(catalog), read_state(state), SingerWriter(out), now=now)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def records_of(messages, stream):
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def test_full_sync_emits_every_record_valid_against_its_schema(fake, client, settings):
    truth = populate(fake)
    messages = run_sync(client, settings)
    schemas = {}
    for message in messages:
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
            assert message["key_properties"] == ["id"]
            incremental = message["stream"] in INCREMENTAL
            assert message.get("bookmark_properties") == (["updated_at"] if incremental else None)
        elif message["type"] == "RECORD":
            assert message["stream"] in schemas, "RECORD before its SCHEMA"
            assert RFC3339.match(message["time_extracted"])
            validate(message["record"], schemas[message["stream"]])
    for name, records in truth.items():
        emitted = [r["id"] for r in records_of(messages, name)]
        assert sorted(emitted) == sorted(r["id"] for r in records), name
    final = messages[-1]
    assert final["type"] == "STATE" and final["value"]["currently_syncing"] is None
    assert set(final["value"]["bookmarks"]) == set(INCREMENTAL)
    # The full table's records carry its read's version, which is then activated.
    versions = {m["version"] for m in messages if m.get("stream") == "tags" and "version" in m}
    (activated,) = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    assert versions == {activated["version"]} and activated["stream"] == "tags"
    last_tag = max(i for i, m in enumerate(messages) if m.get("stream") == "tags")
    assert messages[last_tag] == activated  # after every record of its version


def test_state_is_never_ahead_of_the_records_written(fake, client, settings):
    truth = populate(fake, per_stream=700, minutes_apart=0.5)  # many pages and tie blocks
    emitted: dict[str, set[str]] = {name: set() for name in CORE}
    states = 0
    for message in run_sync(client, settings):
        if message["type"] == "RECORD":
            emitted[message["stream"]].add(message["record"]["id"])
        elif message["type"] == "STATE":
            states += 1
            for name, bookmark in message["value"]["bookmarks"].items():
                older = {
                    r["id"]
                    for r in truth[name]
                    if r["attributes"]["updatedAt"] < bookmark["updated_at"]
                }
                assert older <= emitted[name], f"STATE for {name} ran ahead of its records"
    assert states > len(CORE)  # a STATE per page, not only per stream


def test_bookmark_never_moves_past_the_start_of_the_sync(fake, client, settings):
    fake.search["customer"] = [sample("customers", i, ts(i * 60)) for i in range(48)]  # 2 days
    catalog = selected_catalog("customers")
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    messages = run_sync(client, settings, catalog, now=now)
    emitted = records_of(messages, "customers")
    assert len(emitted) == 13  # hours 0..12
    assert messages[-1]["value"]["bookmarks"]["customers"]["updated_at"] <= ts(12 * 60)
    sent = fake.requests[0][1]["and"]
    assert {"customer_updated_at": {"lte": "2025-01-01T12:00:00.000Z"}} in sent


def test_search_asks_for_deleted_records_unless_told_not_to(fake, client, settings):
    fake.search["note"] = [sample("notes", i, ts(i)) for i in range(5)]
    run_sync(client, settings, selected_catalog("notes"))
    assert fake.requests[-1][1]["includeDeleted"] is True
    off = dataclasses.replace(settings, include_deleted=False)
    run_sync(client, off, selected_catalog("notes"))
    assert "includeDeleted" not in fake.requests[-1][1]


def test_jsonapi_record_format(fake, client, settings):
    populate(fake, per_stream=20)
    jsonapi = dataclasses.replace(settings, record_format="jsonapi")
    # A catalog discovered in the default format still selects streams and fields.
    catalog = selected_catalog("messages", "tags", deselect=("links",))
    out = io.StringIO()
    sync(client, jsonapi, select_streams(catalog, "jsonapi"), read_state(None), SingerWriter(out))
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    schemas = {m["stream"]: m["schema"] for m in messages if m["type"] == "SCHEMA"}
    assert set(schemas) == {"messages", "tags"}
    for schema in schemas.values():
        assert set(schema["properties"]) == {
            "id",
            "type",
            "attributes",
            "relationships",
            "updated_at",
        }
    for stream in ("messages", "tags"):
        for record in records_of(messages, stream):
            validate(record, schemas[stream])
            assert record["updated_at"] == record["attributes"]["updatedAt"]
            assert "links" not in record
        assert len(records_of(messages, stream)) == 20


def test_interrupted_stream_resumes_first(fake, client, settings):
    populate(fake, per_stream=5)
    state = {"bookmarks": {}, "currently_syncing": "notes"}
    one_at_a_time = replace(settings, max_workers=1)
    messages = run_sync(client, one_at_a_time, state=state)
    order = [m["stream"] for m in messages if m["type"] == "SCHEMA"]
    names = list(CORE)
    at = names.index("notes")
    assert order == names[at:] + names[:at]


def test_second_run_reads_only_what_changed(fake, client, settings):
    truth = populate(fake, per_stream=300)
    first = run_sync(client, settings)
    state = first[-1]["value"]
    changed = {}
    for name in ("customers", "shortcuts"):
        for record in truth[name][10:15]:
            record["attributes"]["updatedAt"] = ts(20_000)
            changed.setdefault(name, set()).add(record["id"])
    second = run_sync(client, settings, state=state)
    assert len(records_of(second, "tags")) == 300  # a full table: read whole every run
    for name in INCREMENTAL:
        bookmark = state["bookmarks"][name]["updated_at"]
        # Search streams read again the look-back's 5 minutes before the bookmark (an update
        # indexed late is still read); lists read from the bookmark (gte).
        since = (
            ts(minutes_of(bookmark) - 5) if issubclass(STREAMS[name], SearchStream) else bookmark
        )
        again = {r["id"] for r in truth[name] if since <= r["attributes"]["updatedAt"] <= bookmark}
        emitted = {r["id"] for r in records_of(second, name)}
        # Only what changed, plus the records the look-back or the bookmark's gte reads again.
        assert emitted == changed.get(name, set()) | again, name
    no_lookback = run_sync(client, replace(settings, lookback_seconds=0), state=state)
    for name in INCREMENTAL:
        bookmark = state["bookmarks"][name]["updated_at"]
        at_bookmark = {r["id"] for r in truth[name] if r["attributes"]["updatedAt"] == bookmark}
        emitted = {r["id"] for r in records_of(no_lookback, name)}
        assert emitted == changed.get(name, set()) | at_bookmark, name


def minutes_of(stamp: str) -> float:
    """The inverse of ts(): minutes after 2025-01-01T00:00:00Z."""
    since = datetime.fromisoformat(stamp) - datetime(2025, 1, 1, tzinfo=UTC)
    return since.total_seconds() / 60


def test_list_streams_filter_here_and_bookmark_only_at_the_end(fake, client, settings):
    fake.lists["/v1/shortcuts"] = [sample("shortcuts", i, ts(i)) for i in range(250)]  # 3 pages
    state = {"bookmarks": {"shortcuts": {"updated_at": ts(200)}}}
    messages = run_sync(client, settings, selected_catalog("shortcuts"), state)
    assert sorted(r["id"] for r in records_of(messages, "shortcuts")) == sorted(
        r["id"] for r in fake.lists["/v1/shortcuts"][200:]
    )
    marks = [
        m["value"]["bookmarks"]["shortcuts"]["updated_at"] for m in messages if m["type"] == "STATE"
    ]
    assert marks[:3] == [ts(200)] * 3  # unchanged while pages remain: they may hold older records
    assert marks[-1] == ts(249)


def test_field_selection_is_honoured(fake, client, settings):
    populate(fake, per_stream=5)
    catalog = selected_catalog("customers", deselect=("name", "emails", "id", "updated_at"))
    messages = run_sync(client, settings, catalog)
    assert {m["stream"] for m in messages if m["type"] != "STATE"} == {"customers"}
    schema = next(m for m in messages if m["type"] == "SCHEMA")["schema"]
    assert "name" not in schema["properties"] and "id" in schema["properties"]
    for record in records_of(messages, "customers"):
        assert "name" not in record and "emails" not in record
        assert record["id"] and record["updated_at"]  # automatic: always kept
        assert "display_name" in record


def test_reads_tap_kustomer_1x_state(fake, client, settings):
    fake.search["customer"] = [sample("customers", i, ts(i)) for i in range(20)]
    state = {"bookmarks": {"customers": ts(15).replace("Z", "000Z")}, "currently_syncing": None}
    settings = replace(settings, lookback_seconds=0)
    messages = run_sync(client, settings, selected_catalog("customers"), state)
    assert len(records_of(messages, "customers")) == 5
    assert fake.requests[0][1]["and"][0] == {"customer_updated_at": {"gte": ts(15)}}
    assert messages[-1]["value"]["bookmarks"]["customers"] == {"updated_at": ts(19)}


def test_403_skips_the_stream_with_a_warning_naming_the_role(fake, client, settings, caplog):
    populate(fake, per_stream=5)
    body = {"errors": [{"code": "forbidden", "message": "role missing"}]}
    fake.forbidden = {"conversation": body}
    messages = run_sync(client, settings, selected_catalog("conversations", "tags"))
    assert len(records_of(messages, "tags")) == 5  # the run went on
    warning = next(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "'conversations'" in warning and "org.permission.conversation.read" in warning
    assert "role missing" in warning
    assert messages[-1]["value"]["currently_syncing"] is None


def test_403_on_every_selected_stream_fails_the_run(rsps, client, settings):
    body = {"errors": [{"code": "forbidden", "message": "role missing"}]}
    rsps.post("https://api.kustomerapp.com/v1/customers/search", status=403, json=body)
    with pytest.raises(ForbiddenError, match="cannot read any selected stream"):
        run_sync(client, settings, selected_catalog("conversations", "notes"))


def test_cli_sync_writes_only_singer_messages_to_stdout(tmp_path, capsys, fake):
    populate(fake, per_stream=30)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_token": "abc", "start_date": "2024-06-01"}))
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(selected_catalog("messages", "tags")))
    assert main(["--config", str(config), "--catalog", str(catalog)]) == 0
    out, err = capsys.readouterr()
    kinds = [json.loads(line)["type"] for line in out.splitlines()]
    assert set(kinds) == {"SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION"}
    assert kinds.count("RECORD") == 60 and kinds.count("ACTIVATE_VERSION") == 1  # tags
    assert not re.search(r"c\d+@example\.com|to@example\.com", err)  # no record contents


def test_a_start_older_than_two_years_reads_archive_search_first(fake, client, settings):
    old = [sample("customers", i, f"2022-0{1 + i % 9}-01T00:00:00.000Z") for i in range(30)]
    recent = [sample("customers", 100 + i, ts(i)) for i in range(30)]
    fake.archive["customer"], fake.search["customer"] = old, recent
    three_years = dataclasses.replace(settings, start_date="2022-01-01T00:00:00.000Z")
    messages = run_sync(client, three_years, selected_catalog("customers"))
    emitted = [r["id"] for r in records_of(messages, "customers")]
    assert sorted(emitted) == sorted(r["id"] for r in old + recent)  # no gap
    stamps = [r["updated_at"] for r in records_of(messages, "customers")]
    assert stamps == sorted(stamps)  # archive first: the bookmark only moves forward
    (archive, body, _), (standard, second, _) = fake.requests[0], fake.requests[-1]
    assert archive == "/v1/customers/archive/search" and standard == "/v1/customers/search"
    horizon = "2023-03-04T00:00:00.000Z"  # NOW - 730 days (2023-03-02) + 2 days of overlap
    assert {"customer_updated_at": {"lte": horizon}} in body["and"]
    assert {"customer_updated_at": {"gte": "2022-01-01T00:00:00.000Z"}} in second["and"]


def test_a_start_within_two_years_reads_no_archive(fake, client, settings):
    fake.archive["customer"] = [sample("customers", 1, "2022-01-01T00:00:00.000Z")]
    fake.search["customer"] = [sample("customers", 2, ts(1))]
    messages = run_sync(client, settings, selected_catalog("customers"))
    assert len(records_of(messages, "customers")) == 1
    assert {path for path, _, _ in fake.requests} == {"/v1/customers/search"}


# -- concurrency ------------------------------------------------------------------------------


class ChoppyOut(io.StringIO):
    """A stdout that hands the other threads the GIL in the middle of every write."""

    def write(self, text: str) -> int:
        middle = len(text) // 2  # once a write is enough: a torn line fails json.loads
        super().write(text[:middle])
        time.sleep(0)
        super().write(text[middle:])
        return len(text)


def concurrent_run(fake, client, settings, state=None) -> tuple[dict, list[dict]]:
    truth = populate(fake, per_stream=400, minutes_apart=0.7)  # ties of 1 to 3 records
    small_pages = replace(settings, page_size=30, max_workers=4)
    out = ChoppyOut()
    catalog = select_streams(selected_catalog(*CORE))
    sync(client, small_pages, catalog, read_state(state), SingerWriter(out), now=NOW)
    return truth, [json.loads(line) for line in out.getvalue().splitlines()]


def test_concurrent_streams_write_whole_lines_in_order_and_state_never_runs_ahead(
    fake, client, settings
):
    truth, messages = concurrent_run(fake, client, settings)  # json.loads: no torn line
    streams_seen = [m["stream"] for m in messages if m["type"] == "RECORD"]
    switches = sum(1 for a, b in itertools.pairwise(streams_seen) if a != b)
    assert switches > len(CORE)  # the streams really ran at the same time
    written: dict[str, set[str]] = {name: set() for name in CORE}
    last: dict[str, str] = {}
    for message in messages:
        if message["type"] == "RECORD":
            name, record = message["stream"], message["record"]
            assert record["updated_at"] >= last.get(name, ""), name  # ascending per stream
            last[name] = record["updated_at"]
            written[name].add(record["id"])
        elif message["type"] == "STATE":
            for name, bookmark in message["value"]["bookmarks"].items():
                older = {
                    r["id"]
                    for r in truth[name]
                    if r["attributes"]["updatedAt"] < bookmark["updated_at"]
                }
                assert older <= written[name], name  # a kill here would resume without loss
    for name in CORE:
        assert written[name] == {r["id"] for r in truth[name]}, name


def test_a_concurrent_run_killed_at_any_line_resumes_without_loss(fake, client, settings):
    truth, messages = concurrent_run(fake, client, settings)
    for cut in (0.1, 0.35, 0.6, 0.85):  # the run killed after this share of its lines
        kept = messages[: int(len(messages) * cut)]
        states = [m["value"] for m in kept if m["type"] == "STATE"]
        fake.requests.clear()
        _, resumed = concurrent_run(fake, client, settings, states[-1] if states else None)
        for name in CORE:
            got = set(records_of_ids(kept, name)) | set(records_of_ids(resumed, name))
            assert got == {r["id"] for r in truth[name]}, (cut, name)


def records_of_ids(messages, stream) -> list[str]:
    return [r["id"] for r in records_of(messages, stream)]


def test_a_failing_stream_stops_the_run_with_its_error(fake, client, settings):
    populate(fake, per_stream=400)
    fake.fail_next = [400]  # the first search is refused as malformed: not retried
    with pytest.raises(BadRequestError):
        run_sync(client, replace(settings, page_size=30, max_workers=4))


def test_a_bookmark_near_year_one_looks_back_no_further_than_it(fake, client, settings):
    fake.search["customer"] = [sample("customers", i, ts(i)) for i in range(3)]
    state = {"bookmarks": {"customers": {"updated_at": "0001-01-01T00:01:00.000Z"}}}
    settings = replace(settings, start_date="0001-01-01T00:00:00.000Z")
    messages = run_sync(client, settings, selected_catalog("customers"), state)
    assert fake.requests[0][1]["and"][0] == {"customer_updated_at": {"gte": settings.start_date}}
    assert len(records_of(messages, "customers")) == 3
