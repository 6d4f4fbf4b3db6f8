"""The pagers return every record exactly once, never loop, and never skip at a boundary."""

from __future__ import annotations

import pytest

from tap_kustomer.errors import PagingError
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
    # Page 1 of a keyset query each time: the requests stay near records / 500.
    assert fake.search_count() <= 4
    assert all(params["page"] == "1" for _, body, params in fake.requests)


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
    assert any("customer_created_at" in str(body["sort"]) for _, body, _ in fake.requests if body)
    # The block's total shows it is too big, so it is split at once, not read 20 pages first.
    assert fake.search_count() <= 30


def test_block_sharing_both_timestamps_beyond_the_window_fails_clearly(fake, client):
    fake.search["customer"] = [resource("customer", i, ts(5), created=ts(1)) for i in range(10_050)]
    with pytest.raises(PagingError, match="more than 10,000 customer records share"):
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
    ids, _ = collect(SearchPager(client, SPEC, 3, START, END))
    assert len(ids) == 4


def test_records_without_id_are_skipped_with_a_warning(rsps, client, caplog):
    good = resource("customer", 1, ts(1))
    bad = resource("customer", 2, ts(2))
    del bad["id"]
    rsps.post("https://api.kustomerapp.com/v1/customers/search", json={"data": [good, bad]})
    ids, _ = collect(SearchPager(client, SPEC, 500, START, END))
    assert ids == [good["id"]]
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
