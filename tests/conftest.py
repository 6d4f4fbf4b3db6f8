"""Shared fixtures: settings, a client that never really sleeps, the fake Kustomer."""

from __future__ import annotations

import pytest
import responses

from tap_kustomer.client import KustomerClient
from tap_kustomer.config import load_settings
from tests.fakes import BASE, FakeKustomer

TOKEN = "tok-SECRET-7f3a9c"  # recognisable, so tests can prove it never reaches a log


class FakeClock:
    """time.time and time.sleep that move together, instantly."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings():
    return load_settings({"api_token": TOKEN, "start_date": "2024-01-01T00:00:00Z"})


@pytest.fixture
def client(settings, clock) -> KustomerClient:
    return KustomerClient(settings, sleep=clock.sleep, clock=clock.time)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake(rsps) -> FakeKustomer:
    return FakeKustomer(rsps, BASE)
