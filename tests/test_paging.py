"""The pagers return every record exactly once, never loop, and never skip at a boundary."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tap_kustomer import paging
from tap_kustomer.client import KustomerClient
from tap_kustomer.errors import PagingError, RetryableError
from tap_kustomer.paging import ListPager, SearchPager, SearchSpec
from tests.fakes import resource, ts

SPEC = SearchSpec("customer", "customer")
START, END = ts(-1), ts(10**6)


def collect(pager) -> tuple[list[str], list]:
    pages = list(pager.pages())
    return [r["id"] for p in pages for r in p.records], pages


def test_spread_records_each_once_ascending(fake, client):
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(1234)]
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert sorted(ids) == sorted(r["id"] for r in fake.search["customer"])
    assert len(ids) == len(set(ids))
    # One query read by page number: exactly ceil(1234 / 500) requests, nothing re-read.
    assert [p["page"] for _, _, p in fake.requests] == ["1", "2", "3"]
    assert len({json.dumps(body, sort_keys=True) for _, body, _ in fake.requests}) == 1


def test_tie_blocks_cost_no_extra_request(fake, client):
    records = [resource("customer", i, ts(i)) for i in range(300)]
    records += [resource("customer", 1000 + i, ts(150.5)) for i in range(1200)]
    records += [resource("customer", 5000 + i, ts(400 + i)) for i in range(300)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert sorted(ids) == sorted(r["id"] for r in records)
    assert fake.search_count() == 4  # 1,800 records: ceil(1800 / 500)


@pytest.mark.parametrize("ahead", [2, 4, 16])
def test_pages_fetched_ahead_arrive_in_order(fake, settings, ahead):
    client = KustomerClient(replace(settings, max_workers=ahead))
    records = [resource("customer", i, ts(i // 5)) for i in range(4321)]
    fake.search["customer"] = records
    ids, pages = collect(SearchPager(client, SPEC, 100, START, END, ahead))
    client.close()
    assert len(ids) == len(set(ids)) == 4321
    stamps = [r["attributes"]["updatedAt"] for p in pages for r in p.records]
    assert stamps == sorted(stamps)
    assert fake.search_count() == 44


def test_records_leaving_the_query_mid_read_are_not_skipped(fake, client, monkeypatch):
    """An update moves a record past `end` while pages are read: offsets shift, so the pager
    must notice (meta.total changes) and read on from what it has, losing nothing."""
    records = [resource("customer", i, ts(i)) for i in range(1000)]
    fake.search["customer"] = records
    count = fake._count

    def count_and_update(request):
        count(request)
        if len(fake.requests) == 2:  # before page 2 is answered: record 10 leaves the range
            records[10]["attributes"]["updatedAt"] = ts(10**7)

    monkeypatch.setattr(fake, "_count", count_and_update)
    ids, pages = collect(SearchPager(client, SPEC, 100, START, END))
    expected = {r["id"] for i, r in enumerate(records) if i != 10}
    assert expected <= set(ids)  # record 110 moved to page 1's offsets: still read
    assert pages[-1].bookmark == ts(999)


def test_ties_larger_than_a_page_are_read_completely(fake, client):
    records = [resource("customer", i, ts(i)) for i in range(300)]
    records += [resource("customer", 1000 + i, ts(150)) for i in range(1200)]  # tie block
    records += [resource("customer", 5000 + i, ts(400 + i)) for i in range(300)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(ids) == len(set(ids)) == len(records)
    assert set(ids) == {r["id"] for r in records}


@pytest.mark.parametrize("page_size", [1, 7, 100, 500])
def test_many_small_tie_blocks_at_page_boundaries(fake, client, page_size):
    # Blocks of 1..13 records per timestamp, so ties straddle every page boundary.
    records, n = [], 0
    for minute in range(120):
        for _ in range(minute % 13 + 1):
            records.append(resource("customer", n, ts(minute)))
            n += 1
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, page_size, START, END))
    assert sorted(ids) == sorted(r["id"] for r in records)


def test_more_than_ten_thousand_matching_records(fake, client):
    records = [resource("customer", i, ts(i // 3)) for i in range(23_456)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(ids) == len(set(ids)) == 23_456
    # Never a page past the 10,000-result window (the fake would answer 400).
    assert all(int(p["page"]) * 500 <= 10_000 for _, b, p in fake.requests)


def test_tie_block_beyond_the_window_is_split_by_created_at(fake, client):
    tie = ts(50)
    records = [resource("customer", i, ts(i)) for i in range(40)]
    records += [resource("customer", 100 + i, tie, created=ts(-i // 7)) for i in range(10_700)]
    records += [resource("customer", 50_000 + i, ts(60 + i)) for i in range(40)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(ids) == len(set(ids)) == len(records)
    # Split by createdAt ranges (criteria), never by a sort Kustomer does not document.
    assert any("customer_created_at" in str(body["and"]) for _, body, _ in fake.requests)
    assert all(body["sort"] == [{"customer_updated_at": "asc"}] for _, body, _ in fake.requests)
    assert fake.search_count() <= 45


def test_block_sharing_both_timestamps_beyond_the_window_fails_clearly(fake, client):
    fake.search["customer"] = [resource("customer", i, ts(5), created=ts(1)) for i in range(10_050)]
    with pytest.raises(PagingError, match=r"more than 10,000 records share updatedAt .* createdAt"):
        collect(SearchPager(client, SPEC, 500, START, END))


def test_bounds_are_sent_and_respected(fake, client):
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(100)]
    ids, pages = collect(SearchPager(client, SPEC, 500, ts(10), ts(19)))
    assert len(ids) == 10
    first = fake.requests[0][1]
    assert first["and"] == [
        {"customer_updated_at": {"gte": ts(10)}},
        {"customer_updated_at": {"lte": ts(19)}},
    ]
    assert first["sort"] == [{"customer_updated_at": "asc"}]
    assert first["queryContext"] == "customer"
    assert pages[-1].bookmark == ts(19)


def test_bookmark_never_passes_an_unread_record(fake, client):
    records = [resource("customer", i, ts(i // 4)) for i in range(2000)]
    fake.search["customer"] = records
    emitted: set[str] = set()
    for page in SearchPager(client, SPEC, 100, START, END).pages():
        emitted.update(r["id"] for r in page.records)
        if page.bookmark:
            older = {r["id"] for r in records if r["attributes"]["updatedAt"] < page.bookmark}
            assert older <= emitted


def test_out_of_order_results_stop_the_stream(rsps, client):
    body = {"data": [resource("customer", 1, ts(5)), resource("customer", 2, ts(1))]}
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json=body)
    with pytest.raises(PagingError, match="out of updatedAt order"):
        collect(SearchPager(client, SPEC, 500, START, END))


def test_answer_without_data_is_a_clear_error(rsps, client):
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json={"meta": {}})
    with pytest.raises(PagingError, match="no 'data' list"):
        collect(SearchPager(client, SPEC, 500, START, END))


def test_missing_paging_information_on_a_full_page_means_more(rsps, client):
    first = {"data": [resource("customer", i, ts(i)) for i in range(3)]}
    last = {"data": [resource("customer", 3, ts(3))]}
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json=first)
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json=last)
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json={"data": []})  # then none
    ids, _ = collect(SearchPager(client, SPEC, 3, START, END))
    assert len(ids) == 4


def test_records_without_id_are_skipped_with_a_warning(rsps, client, caplog):
    good = resource("customer", 1, ts(1))
    linked = resource("customer", 2, ts(2))  # its id only in links.self (as attachments)
    bad = resource("customer", 3, ts(3))
    del linked["id"], bad["id"], bad["links"]
    body = {"data": [good, linked, bad]}
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json=body)
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert ids == [good["id"], f"{2:024x}"]
    assert "skipped 1 records without an id" in caplog.text


# -- lists ------------------------------------------------------------------------------------


def test_list_pager_follows_next_and_clamps(fake, client):
    fake.lists["/v1/tags"] = [resource("tag", i, ts(i)) for i in range(250)]
    pages = list(ListPager(client, "/v1/tags", 100).pages())
    assert [len(p) for p in pages] == [100, 100, 50]
    assert fake.requests[0][2] == {"page": "1", "pageSize": "100"}


def test_list_pager_refuses_a_next_link_that_loops(rsps, client):
    page = {
        "data": [resource("tag", 1, ts(1))],
        "links": {"next": "/v1/tags?page=2&pageSize=100"},
    }
    rsps.get("https://api.kustomerapp.com/v1/tags", json=page)
    with pytest.raises(PagingError, match="already read"):
        list(ListPager(client, "/v1/tags", 100).pages())


def test_list_pager_refuses_a_link_to_another_host(rsps, client):
    page = {"data": [resource("tag", 1, ts(1))], "links": {"next": "https://evil.example/v1/x"}}
    rsps.get("https://api.kustomerapp.com/v1/tags", json=page)
    with pytest.raises(PagingError, match="another host"):
        list(ListPager(client, "/v1/tags", 100).pages())


def test_a_tie_block_is_read_alone_while_other_records_keep_changing(fake, client, monkeypatch):
    """Updates elsewhere change every query's total; a restart that cannot move past a tie
    block reads the block by itself (whose total holds still) instead of looping."""
    block = [resource("customer", i, ts(5)) for i in range(250)]
    rest = [resource("customer", 1000 + i, ts(10 + i)) for i in range(400)]
    fake.search["customer"] = block + rest
    count = fake._count
    leaving = iter(rest[::-1])

    def count_and_update(request):
        count(request)
        body = request[1]
        if body and "lte" in str(body["and"]) and ts(5) not in str(body["and"][-1]):
            next(leaving)["attributes"]["updatedAt"] = ts(10**7)  # one record leaves per search

    monkeypatch.setattr(fake, "_count", count_and_update)
    ids, _ = collect(SearchPager(client, SPEC, 100, START, END))
    assert {r["id"] for r in block} <= set(ids)
    assert len(ids) == len(set(ids))


# -- search as Elasticsearch may answer it (search-realism.md) ---------------------------------


def realistic_records() -> list[dict]:
    """Spread records, small ties at page boundaries and a tie block larger than a page."""
    records = [resource("customer", i, ts(i // 3), created=ts(-i)) for i in range(3000)]
    records += [resource("customer", 10_000 + i, ts(500.5), created=ts(-i)) for i in range(1200)]
    records += [resource("customer", 20_000 + i, ts(600 + i)) for i in range(800)]
    return records


@pytest.mark.parametrize("page_size", [100, 500])
def test_ties_ordered_differently_by_each_request_lose_nothing(fake, client, page_size):
    fake.replicas = 3
    records = realistic_records()
    fake.search["customer"] = records
    ids, pages = collect(SearchPager(client, SPEC, page_size, START, END))
    assert set(ids) == {r["id"] for r in records}
    assert len(ids) == len(set(ids))
    stamps = [r["attributes"]["updatedAt"] for p in pages for r in p.records]
    assert stamps == sorted(stamps)


def test_capped_totals_are_read_past(fake, client):
    fake.total_cap = 10_000
    records = [resource("customer", i, ts(i // 3)) for i in range(23_456)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(ids) == len(set(ids)) == 23_456
    assert fake.search_count() <= 2.5 * 23_456 / 1000


def test_a_page_size_clamped_without_saying_so_loses_nothing(fake, client):
    fake.search_max, fake.silent_clamp = 100, True
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(3000)]
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(ids) == len(set(ids)) == 3000


def test_a_partial_answer_is_retried_not_taken_as_a_page(fake, client):
    fake.timed_out = [True, False, True, True]
    records = [resource("customer", i, ts(i)) for i in range(1500)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END, ahead=2))
    assert sorted(ids) == sorted(r["id"] for r in records)
    assert client.counts("")["retries"] == 3  # each partial answer asked for again, counted


def test_partial_answers_that_never_stop_fail_clearly(fake, client):
    fake.timed_out = [True] * 50
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(10)]
    with pytest.raises(RetryableError, match=r"failed 6 times.*partial answer \(meta.timed_out\)"):
        collect(SearchPager(client, SPEC, 500, START, END))


def test_all_of_it_at_once(fake, client):
    fake.replicas, fake.total_cap, fake.timed_out = 3, 10_000, [False, True] * 20
    records = realistic_records()
    records += [resource("customer", 50_000 + i, ts(2000 + i / 10)) for i in range(9000)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END, ahead=4))
    assert set(ids) == {r["id"] for r in records}
    assert len(ids) == len(set(ids))


def test_records_sharing_both_timestamps_under_shuffled_ties(fake, client):
    fake.replicas = 3
    records = [resource("customer", i, ts(5), created=ts(1)) for i in range(1200)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert set(ids) == {r["id"] for r in records}


def test_an_update_indexed_mid_read_moves_no_record_past_the_pager(fake, client, monkeypatch):
    """An update made before the run but indexed while it reads moves a record within the
    range: the total stays the same and every later offset shifts by one. Below `settled`
    (end - lookback) no such move can happen; above it the pager reads by steps."""
    records = [resource("customer", i, ts(i)) for i in range(2000)]
    fake.search["customer"] = records
    count = fake._count

    def count_and_index(request):
        count(request)
        if len(fake.requests) == 3:  # record 5 (already read) becomes searchable as updated
            records[5]["attributes"]["updatedAt"] = ts(1995.5)

    monkeypatch.setattr(fake, "_count", count_and_index)
    ids, _ = collect(SearchPager(client, SPEC, 100, START, ts(2000), settled=ts(1990)))
    assert {r["id"] for r in records} <= set(ids)


def test_without_the_settled_bound_that_update_loses_a_record(fake, client, monkeypatch):
    """The case above with settled = end: the move is invisible, a record is lost. (This is
    what lookback_seconds: 0 accepts, and proves the test above can fail.)"""
    records = [resource("customer", i, ts(i)) for i in range(2000)]
    fake.search["customer"] = records
    count = fake._count

    def count_and_index(request):
        count(request)
        if len(fake.requests) == 3:
            records[5]["attributes"]["updatedAt"] = ts(1995.5)

    monkeypatch.setattr(fake, "_count", count_and_index)
    ids, _ = collect(SearchPager(client, SPEC, 100, START, ts(2000)))
    assert not {r["id"] for r in records} <= set(ids)


def test_cost_on_plain_data_is_one_request_per_page(fake, client):
    records = [resource("customer", i, ts(i / 7)) for i in range(35_000)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END, settled=ts(4990)))
    assert len(set(ids)) == 35_000
    assert fake.search_count() <= 2.1 * 35


# -- planted defects: each scenario above loses records when the pager trusts what it must not


def test_planted_trusting_the_tie_order_loses_records(fake, client, monkeypatch):
    monkeypatch.setattr(SearchPager, "_close", lambda self, block: [])  # no block check
    fake.replicas = 3
    records = realistic_records()
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert not {r["id"] for r in records} <= set(ids)


def test_planted_trusting_a_capped_total_loses_records(fake, client, monkeypatch):
    answer = SearchPager._answer

    def trusting(self, response, criteria):
        parsed = answer(self, response, criteria)
        parsed.total = response["meta"]["total"]  # 10,000 read as exact
        return parsed

    monkeypatch.setattr(SearchPager, "_answer", trusting)
    fake.total_cap = 10_000
    fake.search["customer"] = [resource("customer", i, ts(i // 3)) for i in range(23_456)]
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert len(set(ids)) < 23_456


def test_planted_accepting_a_timed_out_page_loses_records(fake, client, monkeypatch):
    monkeypatch.setattr(paging, "check_complete", lambda response: None)
    fake.timed_out = [True, False, True, True]
    records = [resource("customer", i, ts(i)) for i in range(1500)]
    fake.search["customer"] = records
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END, ahead=2))
    assert len(set(ids)) < len(records)


def test_a_server_that_ignores_its_criteria_is_stopped_not_paged_forever(fake, client):
    fake.ignore_criteria = True
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(3000)]
    with pytest.raises(PagingError, match="outside the range asked for"):
        collect(SearchPager(client, SPEC, 500, START, ts(1000)))
    assert fake.search_count() <= 6


def test_an_answer_with_more_records_than_asked_for_is_cut_and_read_on(fake, client, caplog):
    fake.flood = 1  # the first answer holds every matching record, whatever was asked
    fake.search["customer"] = [resource("customer", i, ts(i)) for i in range(5000)]
    ids, pages = collect(SearchPager(client, SPEC, 100, START, END))
    assert len(pages[0].records) == 100  # the first answer, cut
    assert "held 5000 records where 100 were asked for" in caplog.text
    assert sorted(ids) == sorted(r["id"] for r in fake.search["customer"])


CREATED_ONLY = SearchSpec("conversation_time", "conversation_time", stamp="created", split=None)


def test_a_context_read_by_created_at_pages_ties_and_bookmarks_on_it(fake, client):
    """conversation_time documents only conversation_time_created_at: records are filtered,
    sorted and bookmarked on createdAt, and a tie block larger than a page is still whole."""
    records = [resource("conversation_time", i, ts(0), created=ts(i)) for i in range(300)]
    records += [
        resource("conversation_time", 1000 + i, ts(0), created=ts(150.5)) for i in range(700)
    ]
    fake.search["conversation_time"] = records
    ids, pages = collect(SearchPager(client, CREATED_ONLY, 500, START, END))
    assert sorted(ids) == sorted(r["id"] for r in records) and len(ids) == len(set(ids))
    assert pages[-1].bookmark == ts(299)
    (body,) = {json.dumps(b, sort_keys=True) for _, b, _ in fake.requests[:1]}
    assert '"conversation_time_created_at"' in body and "updated_at" not in body


def test_a_created_at_block_beyond_what_paging_shows_fails_clearly(fake, client):
    # Nothing splits a block of one createdAt in a context without a second time attribute.
    block = [resource("conversation_time", i, ts(0), created=ts(5)) for i in range(10_500)]
    fake.search["conversation_time"] = block
    with pytest.raises(PagingError, match="share createdAt"):
        collect(SearchPager(client, CREATED_ONLY, 500, START, END))
