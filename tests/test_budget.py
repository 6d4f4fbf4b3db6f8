"""The shared request budget: what it allows, what it learns from headers, how it meets a 429.

A fake clock moves only when the budget sleeps, so every wait is exact and no test sleeps.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections import Counter

import pytest

from tap_kustomer.budget import Bucket, RequestBudget
from tests.conftest import FakeClock


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


# -- what the headers say, taken with a grain of salt (issue 16) ----------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-ratelimit-reset", "1e12"),  # epoch milliseconds: 31,000 years away
        ("x-ratelimit-reset", "999999999"),  # read as seconds from now: 31 years
        ("x-ratelimit-reset", "nan"),
        ("x-ratelimit-reset", "inf"),
        ("x-ratelimit-reset", "7200"),  # two hours
        ("x-ratelimit-limit", "inf"),
        ("x-ratelimit-limit", "nan"),
        ("x-ratelimit-limit", "-5"),
        ("x-ratelimit-remaining", "1e999"),
        ("Retry-After", "1e12"),
        ("Retry-After", "nan"),
        ("Retry-After", "inf"),
        ("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("Retry-After", "soon"),
    ],
)
def test_a_garbage_header_is_ignored_with_one_warning(budget, clock, caplog, name, value):
    good = {"x-ratelimit-limit": "1000", "x-ratelimit-remaining": "990"}
    for _ in range(3):  # observed and refused three times: warned once
        budget.observe({**good, name: value}, search=False)
        delay = budget.refused({**good, name: value}, search=False, fallback=2.0)
        assert 0 <= delay <= 3600
        send(budget, search=False)
    assert all(0 <= pause <= 3600 for pause in clock.sleeps), clock.sleeps
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and name in warned[0] and "ignoring" in warned[0], warned


def test_a_garbage_reset_on_a_429_falls_back_to_the_tap_backoff(budget, clock):
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1e12"}
    assert budget.refused(headers, search=False, fallback=4.0) == 4.0
    send(budget, search=False)
    assert clock.sleeps == [4.0]


def simulate(utilization: float, workers: int, seconds: float, reset_as: str, limit: int = 2,
             window: float = 1.0, latency: float = 0.3) -> Counter[str]:  # fmt: skip
    """`workers` request threads against a server that allows `limit` requests per `window`
    (aligned windows; x-ratelimit-* headers on every answer, the reset `reset_as` "epoch"
    seconds or whole "seconds" from now, as Kustomer's documentation allows), as discrete
    events on a fake clock: each worker asks the budget, waits what it says, sends, and on a
    429 waits what `refused` says (as KustomerClient does). The counts of answers."""
    clock = FakeClock(1_750_000_000.0)
    budget = RequestBudget(utilization, clock=clock.time, sleep=clock.sleep)
    served: Counter[int] = Counter()  # requests the server counted per window
    answers: Counter[str] = Counter()
    end = clock.now + seconds
    events = [(clock.now, n, "ask", None) for n in range(workers)]
    heapq.heapify(events)
    while events:
        at, worker, action, taken = heapq.heappop(events)
        if at > end:
            break
        clock.now = at
        if action == "ask":
            taken, delay = budget.try_acquire(search=False)
            if taken is None:
                heapq.heappush(events, (at + delay, worker, "ask", None))
                continue
            heapq.heappush(events, (at + latency, worker, "answer", taken))
            continue
        arrived = at - latency / 2  # the server counted it half way
        number = int(arrived // window)
        served[number] += 1
        reset = (number + 1) * window
        remaining = max(0, limit - served[number])
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(
                math.ceil(reset) if reset_as == "epoch" else max(0, round(reset - at))
            ),
        }
        if served[number] > limit:
            answers["429"] += 1
            budget.done(taken)
            delay = min(budget.refused(headers, search=False, fallback=1.0), 300.0)
            heapq.heappush(events, (at + delay, worker, "ask", None))
        else:
            answers["200"] += 1
            budget.observe(headers, search=False)
            budget.done(taken)
            heapq.heappush(events, (at, worker, "ask", None))
    return answers


@pytest.mark.parametrize("reset_as", ["seconds", "epoch"])
@pytest.mark.parametrize("utilization", [50, 100])
def test_many_workers_on_a_small_budget_use_its_share(utilization, reset_as):
    """32 workers, a budget of 2 a second: the windows follow the headers (1 s), so the tap
    uses its share every second, not a request now and then (with the reset in seconds from
    now, 12 in 600 s before: each new window was a guessed minute)."""
    answers = simulate(utilization, workers=32, seconds=600, reset_as=reset_as)
    share = 600 * 2 * utilization / 100
    assert answers["200"] >= 0.9 * share, answers
    assert answers["429"] <= 0.05 * share, answers
