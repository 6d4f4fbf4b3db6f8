"""The shared request budget: what it allows, what it learns from headers, how it meets a 429.

A fake clock moves only when the budget sleeps, so every wait is exact and no test sleeps.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from tap_kustomer.budget import Bucket, RequestBudget


@pytest.fixture
def budget(clock) -> RequestBudget:
    return RequestBudget(50, clock=clock.time, sleep=clock.sleep)


def send(budget: RequestBudget, search: bool) -> None:
    """One request: wait for the budget, then (answered at once) no longer in flight."""
    budget.done(budget.acquire(search))


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(reset)),
    }


def test_search_budget_is_used_in_full_then_waits_for_the_window(budget, clock):
    for _ in range(100):
        send(budget, search=True)
    assert clock.sleeps == []  # 100 searches a minute belong to this key: all of them
    send(budget, search=True)
    assert clock.sleeps == [pytest.approx(60.0)]


def test_the_window_and_limit_are_learned_from_search_headers(budget, clock):
    reset = clock.now + 10  # the server's window ends in 10 s and allows 20
    send(budget, search=True)
    budget.observe(headers(20, 19, reset), search=True)
    for _ in range(19):
        send(budget, search=True)
    assert clock.sleeps == []
    send(budget, search=True)  # the 21st waits for the server's reset, not our 60 s guess
    assert clock.sleeps == [pytest.approx(10.0, abs=1)]


def test_what_the_server_counted_is_not_spent_again(budget, clock):
    send(budget, search=True)
    # Another process with the same key already spent 95 of the 100 in this window.
    budget.observe(headers(100, 4, clock.now + 30), search=True)
    for _ in range(4):
        send(budget, search=True)
    assert clock.sleeps == []
    send(budget, search=True)
    assert clock.sleeps == [pytest.approx(30.0, abs=1)]


def test_org_budget_takes_only_its_share(budget, clock):
    send(budget, search=False)
    budget.observe(headers(1000, 999, clock.now + 60), search=False)
    for _ in range(499):  # 50% of 1,000
        send(budget, search=False)
    assert clock.sleeps == []
    send(budget, search=False)
    assert clock.sleeps == [pytest.approx(60.0, abs=1)]


def test_org_budget_spent_by_others_waits_for_the_reset(budget, clock):
    send(budget, search=False)
    budget.observe(headers(1000, 2, clock.now + 25), search=False)  # others used 997
    send(budget, search=False)
    send(budget, search=False)
    assert clock.sleeps == []
    send(budget, search=False)
    assert clock.sleeps == [pytest.approx(25.0, abs=1)]


def test_searches_count_against_the_org_budget_too(clock):
    budget = RequestBudget(10, clock=clock.time, sleep=clock.sleep)  # 10% of 300 = 30
    for _ in range(30):
        send(budget, search=True)
    assert clock.sleeps == []
    send(budget, search=False)
    assert clock.sleeps == [pytest.approx(60.0)]


def test_a_429_pauses_its_budget_until_the_reset_it_names(budget, clock):
    send(budget, search=True)
    delay = budget.refused(headers(100, 0, clock.now + 40), search=True, fallback=1.0)
    assert delay == pytest.approx(40.0, abs=1)
    send(budget, search=False)  # the org budget was not refused: no wait
    assert clock.sleeps == []
    send(budget, search=True)  # every search waits for the reset, whoever asks
    assert clock.sleeps == [pytest.approx(40.0, abs=1)]
    for _ in range(99):  # and then has a whole window again
        send(budget, search=True)
    assert len(clock.sleeps) == 1


def test_a_429_without_headers_waits_the_fallback(budget, clock):
    assert budget.refused({}, search=False, fallback=4.0) == 4.0
    send(budget, search=False)
    assert clock.sleeps == [4.0]


def test_threads_never_overspend_a_window(clock, monkeypatch):
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    budget = RequestBudget(50, clock=clock.time, sleep=sleep)
    per_window: Counter[float | None] = Counter()
    take = Bucket.take

    def counted_take(bucket: Bucket) -> None:  # runs under the budget's lock
        if bucket.name == "search":
            per_window[bucket.resets_at] += 1
        take(bucket)

    monkeypatch.setattr(Bucket, "take", counted_take)

    def worker() -> None:
        for _ in range(30):
            send(budget, search=True)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(per_window.values()) == 240
    assert max(per_window.values()) == 100  # full windows, never a 101st search in one
    assert len(per_window) >= 3


def test_an_answer_from_a_window_that_ended_does_not_spend_the_new_one(budget, clock):
    reset = clock.now + 10
    send(budget, search=True)
    budget.observe(headers(100, 60, reset), search=True)
    clock.now = reset + 0.1  # the window reset; a slow answer from the old one arrives now
    budget.observe(headers(100, 0, reset), search=True)
    for _ in range(100):  # the new window is whole
        send(budget, search=True)
    assert clock.sleeps == []


def test_requests_in_flight_at_a_reset_count_in_the_new_window(budget, clock):
    reset = clock.now + 10
    send(budget, search=True)
    budget.observe(headers(100, 99, reset), search=True)
    for _ in range(5):  # sent just before the reset, answered after it
        budget.acquire(search=True)
    clock.now = reset
    for _ in range(95):
        send(budget, search=True)
    assert clock.sleeps == []
    send(budget, search=True)  # the 96th would make 101 if the five land in this window
    assert len(clock.sleeps) == 1


def test_a_search_only_start_does_not_stall_on_an_org_limit_it_has_only_guessed(budget, clock):
    """Searches answered with the search budget's headers (10-s windows of 100) teach nothing
    about the org's budget; its guessed 150 a minute must not hold them back."""
    for _ in range(3):
        reset = clock.now + 10
        for _ in range(100):
            send(budget, search=True)
            budget.observe(headers(100, 50, reset), search=True)
        clock.now = reset
    assert all(pause <= 10.5 for pause in clock.sleeps), clock.sleeps
    # Once an answer names the org's limit, searches count against its share again.
    budget.observe(headers(1000, 990, clock.now + 60), search=False)
    assert budget.org.learned and budget._buckets(search=True) == (budget.org, budget.search)
