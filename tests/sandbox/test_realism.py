"""The sandbox's search-realism modes: replicas, track-total-hits, timed-out rate, index lag.

Each mode is off by default; these tests turn one on (or all) on a small org and check the
behaviour a pager has to survive. Offline: loopback only.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from kustomer_sandbox import Sandbox
from kustomer_sandbox.cli import build_parser

NOW = "2025-06-01T12:00:00.000Z"
SEARCH = "/v1/customers/search"
ARCHIVE = "/v1/customers/archive/search"
SCALE = 0.1  # 1,200 customers
TIE = 150  # the biggest customer tie block at this scale


@contextlib.contextmanager
def sandbox(**opts) -> Iterator[Sandbox]:
    base = {
        "seed": 3,
        "scale": SCALE,
        "now": NOW,
        "tie_block": TIE,
        "org_limit": 10**6,
        "search_limit": 10**6,
        "prewarm": False,
    }
    base.update(opts)
    with Sandbox(**base) as sb:
        yield sb


def search(sb: Sandbox, b: dict, page: int = 1, size: int = 50, archive: bool = False) -> dict:
    r = requests.post(
        f"{sb.base_url}{ARCHIVE if archive else SEARCH}?page={page}&pageSize={size}",
        json=b,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:300]
    return r.json()


def ids(answer: dict) -> list[str]:
    return [d["id"] for d in answer["data"]]


def tie_query(sb: Sandbox, archived: bool = False) -> tuple[dict, int]:
    """Query for exactly one tie block of customers, and the block's size."""
    rows = sb.truth("customers")["streams"]["customers"]
    counts = Counter(r["updatedAt"] for r in rows if r["archived"] == archived)
    ts, size = counts.most_common(1)[0]
    b = {
        "queryContext": "customer",
        "and": [{"customer_updated_at": {"equals": ts}}],
        "sort": [{"customer_updated_at": "asc"}],
        "includeDeleted": True,  # the whole block, soft-deleted members too
    }
    return b, size


def all_customers() -> dict:
    return {"queryContext": "customer", "sort": [{"customer_updated_at": "asc"}]}


# --------------------------------------------------------------------------- replicas
def test_replicas_1_pages_are_slices_of_one_ordering():
    with sandbox() as sb:
        b, size = tie_query(sb)
        assert size == TIE
        passes = [[ids(search(sb, b, page=p)) for p in (1, 2, 3)] for _ in range(4)]
        assert all(p == passes[0] for p in passes)  # every request: the same order
        flat = [i for page in passes[0] for i in page]
        assert len(flat) == len(set(flat)) == size


def test_replicas_order_ties_differently_but_the_union_is_the_block():
    with sandbox(replicas=3) as sb:
        b, size = tie_query(sb)
        orders = {tuple(ids(search(sb, b, page=1))) for _ in range(12)}
        assert len(orders) > 1  # some two requests of page 1 were ordered differently
        seen: set[str] = set()
        broken_pass = False
        for _ in range(12):
            flat = [i for p in (1, 2, 3) for i in ids(search(sb, b, page=p))]
            assert len(flat) == size
            seen.update(flat)
            broken_pass |= len(set(flat)) < size  # a pass read some twice, others never
        assert broken_pass
        assert len(seen) == size  # over enough requests every record of the block shows up
        # records outside ties keep their sort order on every replica
        for _ in range(6):
            stamps = [d["attributes"]["updatedAt"] for d in search(sb, all_customers())["data"]]
            assert stamps == sorted(stamps)


def test_replicas_apply_to_archive_search_too():
    with sandbox(replicas=4) as sb:
        b, size = tie_query(sb, archived=True)
        orders = {tuple(ids(search(sb, b, size=size, archive=True))) for _ in range(12)}
        assert len(orders) > 1
        assert all(sorted(o) == sorted(next(iter(orders))) for o in orders)


def test_replicas_are_reproducible_from_the_seed():
    def run() -> list[list[str]]:
        with sandbox(replicas=3) as sb:
            b, _ = tie_query(sb)
            return [ids(search(sb, b, page=1 + n % 3)) for n in range(9)]

    assert run() == run()


# --------------------------------------------------------------------------- track total hits
def test_track_total_hits_caps_total_and_links_but_serves_deeper_pages():
    with sandbox() as sb:
        exact = search(sb, all_customers(), size=30)["meta"]["total"]
    assert exact > 300
    with sandbox(track_total_hits=200) as sb:
        first = search(sb, all_customers(), size=30)
        assert first["meta"]["total"] == 200
        assert first["meta"]["totalPages"] == 7
        assert "page=7&" in first["links"]["last"]
        assert "page=2&" in first["links"]["next"]
        seventh = search(sb, all_customers(), page=7, size=30)
        assert seventh["links"]["next"] is None  # the page reaching the cap ends the links
        assert len(seventh["data"]) == 30  # ... though more records exist
        eighth = search(sb, all_customers(), page=8, size=30)
        assert len(eighth["data"]) == 30
        assert not set(ids(eighth)) & set(ids(seventh))
        assert eighth["meta"]["total"] == 200 and eighth["links"]["next"] is None
        # a query matching no more than the cap keeps its exact total
        b, size = tie_query(sb)
        small = search(sb, b, size=30)
        assert small["meta"]["total"] == size == TIE and small["meta"]["totalPages"] == 5


# --------------------------------------------------------------------------- timed out
def test_timed_out_rate_1_always_flags_and_drops_records():
    with sandbox() as sb:
        full = [ids(search(sb, all_customers(), page=p)) for p in (1, 2, 3)]
        total = search(sb, all_customers())["meta"]["total"]
    with sandbox(timed_out_rate=1.0) as sb:
        for _ in range(3):
            for p, want in zip((1, 2, 3), full, strict=True):
                got = search(sb, all_customers(), page=p)
                assert got["meta"]["timed_out"] is True
                kept = ids(got)
                assert 1 <= len(want) - len(kept) <= len(want) // 2
                assert kept == [i for i in want if i in set(kept)]  # a subset, order kept
                assert got["meta"]["total"] == total  # the org did not lose them


def test_timed_out_rate_0_never_flags_and_a_share_mixes():
    with sandbox() as sb:
        for p in (1, 2, 3):
            got = search(sb, all_customers(), page=p)
            assert got["meta"]["timed_out"] is False and len(got["data"]) == 50
    with sandbox(timed_out_rate=0.5) as sb:
        flags = [search(sb, all_customers())["meta"]["timed_out"] for _ in range(30)]
        assert 0 < sum(flags) < 30


# --------------------------------------------------------------------------- index lag
LAG = 0.3
LAG_SEED = 7  # its first index-lag draws are 293, 256 and 278 ms: far above a request's time


def _pending_visible_at(sb: Sandbox) -> dict[str, int]:
    """id -> when its newest update becomes searchable (epoch ms on the sandbox clock)."""
    out: dict[str, int] = {}
    for at, _seq, rec, _new in sb.app.idx.pending:
        out[rec.id] = max(at, out.get(rec.id, 0))
    return out


def _sleep_until(sb: Sandbox, at_ms: int, margin_ms: int = 30) -> None:
    wait = (at_ms + margin_ms - sb.app.clock_ms()) / 1000
    if wait > 0:
        time.sleep(wait)


def _window(old_ts: str) -> dict:
    """Customers around one old updatedAt, ascending."""
    return {
        "queryContext": "customer",
        "and": [{"customer_updated_at": {"lte": old_ts}}],
        "sort": [{"customer_updated_at": "asc"}],
    }


def test_index_lag_serves_the_previous_version_until_its_delay_passes():
    with sandbox(index_lag_seconds=LAG, seed=LAG_SEED) as sb:
        rows = sb.truth("customers")["streams"]["customers"]
        live = sorted(
            (r for r in rows if not r["deleted"] and not r["archived"]),
            key=lambda r: r["updatedAt"],
        )
        target = live[40]  # an old-ish record; the window below ends at it
        old_ts, rid = target["updatedAt"], target["id"]
        before = search(sb, _window(old_ts), size=100)
        before_ids = ids(before)
        assert rid in before_ids
        t_update = sb.app.clock_ms()
        new_ts = sb.update("customers", ids=[rid])["updatedAt"]
        due = _pending_visible_at(sb)[rid]
        assert due - t_update <= LAG * 1000 + 5  # a delay in [0, S]
        assert due - sb.app.clock_ms() > 200  # LAG_SEED: time for the checks below

        now_view = search(sb, _window(old_ts), size=100)  # same body: cached before the update
        assert ids(now_view) == before_ids  # old place in the order and in the range filter
        doc = now_view["data"][before_ids.index(rid)]
        assert doc["attributes"]["updatedAt"] == old_ts
        newer = {
            "queryContext": "customer",
            "and": [{"customer_updated_at": {"gte": new_ts}}],
        }
        assert rid not in ids(search(sb, newer))
        # GET-by-id and truth show the new version at once
        truth = {r["id"]: r for r in sb.truth("customers")["streams"]["customers"]}
        assert truth[rid]["updatedAt"] == new_ts
        r = requests.get(
            f"{sb.base_url}/v1/customers/{rid}",
            headers={"Authorization": f"Bearer {sb.token}"},
            timeout=10,
        )
        assert r.json()["data"]["attributes"]["updatedAt"] == new_ts

        _sleep_until(sb, due)
        after = search(sb, _window(old_ts), size=100)
        assert rid not in ids(after)
        got = search(sb, newer)
        assert rid in ids(got)
        assert got["data"][ids(got).index(rid)]["attributes"]["updatedAt"] == new_ts


def test_index_lag_each_update_has_its_own_delay():
    with sandbox(index_lag_seconds=LAG, seed=LAG_SEED) as sb:
        updated_from = sb.app.clock_ms()
        moved = sb.update_random("customers", 12)
        updated_by = sb.app.clock_ms()
        due = _pending_visible_at(sb)
        assert set(due) == set(moved)
        # each delay is drawn from [0, LAG] after the update
        assert all(updated_from <= at <= updated_by + LAG * 1000 for at in due.values())
        assert len(set(due.values())) > 1
        _sleep_until(sb, sorted(due.values())[len(due) // 2], margin_ms=0)
        now = sb.app.clock_ms()
        found = set(
            ids(
                search(
                    sb,
                    {
                        "queryContext": "customer",
                        "and": [{"customer_updated_at": {"gte": NOW}}],
                    },
                    size=100,
                )
            )
        )
        later = sb.app.clock_ms()
        for rid in moved:
            if due[rid] <= now:
                assert rid in found  # its delay passed: searchable
            elif due[rid] > later:
                assert rid not in found  # still pending: not yet searchable
        assert any(due[r] <= now for r in moved) and any(due[r] > later for r in moved)


def test_index_lag_delete_and_repeated_updates():
    with sandbox(index_lag_seconds=LAG, seed=LAG_SEED) as sb:
        rows = sb.truth("customers")["streams"]["customers"]
        a, b = [r for r in rows if not r["deleted"] and not r["archived"]][:2]
        headers = {"Authorization": f"Bearer {sb.token}"}
        sb.update("customers", ids=[a["id"]], delete=True)
        sb.update("customers", ids=[b["id"]])
        time.sleep(0.01)
        last = sb.update("customers", ids=[b["id"]])["updatedAt"]
        r = requests.get(f"{sb.base_url}/v1/customers/{a['id']}", headers=headers, timeout=10)
        assert r.status_code == 404  # GET sees the delete at once
        by_id = {
            "queryContext": "customer",
            "and": [{"customer_id": {"in": [a["id"], b["id"]]}}],
        }
        due = _pending_visible_at(sb)
        assert due[a["id"]] - sb.app.clock_ms() > 200  # LAG_SEED
        assert a["id"] in ids(search(sb, by_id))  # search still has the deleted one live
        _sleep_until(sb, max(due.values()))
        got = search(sb, by_id)
        assert ids(got) == [b["id"]]  # deleted one gone; the newest version of b shown
        assert got["data"][0]["attributes"]["updatedAt"] == last
        got = search(sb, {**by_id, "includeDeleted": True})
        assert {d["id"]: d["attributes"].get("deleted") for d in got["data"]}[a["id"]] is True


def test_index_lag_0_updates_are_searchable_at_once():
    with sandbox() as sb:
        rid = sb.update_random("customers", 1)[0]
        new_ts = sb.truth("customers")["streams"]["customers"]
        ts = next(r["updatedAt"] for r in new_ts if r["id"] == rid)
        got = search(
            sb, {"queryContext": "customer", "and": [{"customer_updated_at": {"equals": ts}}]}
        )
        assert rid in ids(got)
        assert sb.app.idx.pending == []


# --------------------------------------------------------------------------- options plumbing
def test_all_modes_combine_and_are_recorded_in_config():
    opts = {"replicas": 3, "track_total_hits": 100, "timed_out_rate": 0.5, "index_lag_seconds": 0.2}
    with sandbox(**opts) as sb:
        r = requests.get(
            f"{sb.base_url}/__sandbox/config",
            headers={"Authorization": f"Bearer {sb.token}"},
            timeout=10,
        )
        recorded = r.json()["options"]
        assert {k: recorded[k] for k in opts} == opts
        answers = [search(sb, all_customers(), page=p) for p in (1, 2, 3) for _ in range(4)]
        assert all(a["meta"]["total"] == 100 for a in answers)
        assert {a["meta"]["timed_out"] for a in answers} == {True, False}
    with sandbox() as sb:
        defaults = sb.config()["options"]
    assert defaults["replicas"] == 1 and defaults["track_total_hits"] == 0
    assert defaults["timed_out_rate"] == 0 and defaults["index_lag_seconds"] == 0


def test_cli_options_map_to_sandbox_options():
    args = build_parser().parse_args(
        [
            "--replicas",
            "2",
            "--track-total-hits",
            "10000",
            "--timed-out-rate",
            "0.05",
            "--index-lag-seconds",
            "1.5",
        ]
    )
    sb = Sandbox(**vars(args))
    o = sb.options
    assert (o.replicas, o.track_total_hits, o.timed_out_rate, o.index_lag_seconds) == (
        2,
        10000,
        0.05,
        1.5,
    )
    helptext = build_parser().format_help()
    for opt in ("--replicas", "--track-total-hits", "--timed-out-rate", "--index-lag-seconds"):
        assert opt in helptext


@pytest.mark.parametrize(
    "bad",
    [
        {"replicas": 0},
        {"track_total_hits": -1},
        {"timed_out_rate": 1.5},
        {"index_lag_seconds": -1.0},
    ],
)
def test_bad_realism_values_are_rejected(bad):
    with pytest.raises(ValueError):
        Sandbox(scale=0.02, prewarm=False, **bad).start()
