"""The HTTP client: retries, rate-limit waits, error mapping, and what it sends."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from tap_kustomer.client import BACKOFF_SCALE_VARIABLE, KustomerClient, RetryPolicy
from tap_kustomer.errors import (
    AuthError,
    BadRequestError,
    ForbiddenError,
    RateLimitWaitExceeded,
    RetryableError,
)
from tests.conftest import TOKEN

URL = "https://api.kustomerapp.com/v1/users"
OK = {"data": []}


def test_sends_auth_user_agent_and_a_timeout(rsps, client, settings, monkeypatch):
    seen = {}
    original = requests.Session.request

    def spy(self, method, url, **kwargs):
        seen["timeout"] = kwargs.get("timeout")
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK
    sent = rsps.calls[0].request.headers
    assert sent["Authorization"] == f"Bearer {TOKEN}"
    assert sent["User-Agent"].startswith("tap-kustomer/")
    assert seen["timeout"] == (settings.request_timeout, settings.request_timeout)


def test_post_sends_json_body(rsps, client):
    rsps.post(
        "https://api.kustomerapp.com/v1/customers/search",
        json=OK,
        match=[responses.matchers.json_params_matcher({"queryContext": "customer"})],
    )
    assert client.post("/v1/customers/search", {"queryContext": "customer"}) == OK
    assert rsps.calls[0].request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried(rsps, client, clock, status):
    rsps.get(URL, status=status)
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK
    assert len(rsps.calls) == 2
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("reset"), requests.ReadTimeout("slow"), requests.ConnectTimeout()],
)
def test_network_errors_and_timeouts_are_retried(rsps, client, failure):
    rsps.get(URL, body=failure)
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK


@pytest.mark.parametrize("body", ["<html>502 Bad Gateway</html>", '{"data": [', "[1, 2]"])
def test_bodies_that_are_not_a_json_object_are_retried(rsps, client, body):
    rsps.get(URL, body=body, content_type="application/json")
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK


def test_retries_are_bounded_with_exponential_backoff(rsps, settings, clock):
    client = KustomerClient(
        settings, sleep=clock.sleep, clock=clock.time, policy=RetryPolicy(max_tries=4)
    )
    rsps.get(URL, status=503)
    with pytest.raises(RetryableError, match="failed 4 times"):
        client.get("/v1/users")
    assert len(rsps.calls) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_429_waits_until_ratelimit_reset(rsps, client, clock):
    reset = int(clock.now) + 37
    rsps.get(
        URL, status=429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    )
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK
    assert clock.sleeps == [pytest.approx(37.0)]


def test_429_waits_for_retry_after(rsps, client, clock):
    rsps.get(URL, status=429, headers={"Retry-After": "12"})
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK
    assert clock.sleeps == [12.0]


def test_429_with_both_headers_waits_for_the_later(rsps, client, clock):
    headers = {"Retry-After": "5", "x-ratelimit-reset": str(int(clock.now) + 20)}
    rsps.get(URL, status=429, headers=headers)
    rsps.get(URL, json=OK)
    client.get("/v1/users")
    assert clock.sleeps == [pytest.approx(20.0)]


def test_429_without_headers_backs_off(rsps, client, clock):
    rsps.get(URL, status=429)
    rsps.get(URL, json=OK)
    client.get("/v1/users")
    assert clock.sleeps == [1.0]


def test_429_waits_do_not_use_up_error_retries(rsps, settings, clock):
    client = KustomerClient(
        settings, sleep=clock.sleep, clock=clock.time, policy=RetryPolicy(max_tries=2)
    )
    for _ in range(5):
        rsps.get(URL, status=429, headers={"Retry-After": "1"})
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK


def test_a_long_run_of_429s_is_waited_out_up_to_max_rate_limit_wait(rsps, client, clock):
    for _ in range(30):  # another integration hogs the org budget for 30 windows: 1800 s
        rsps.get(URL, status=429, headers={"x-ratelimit-reset": "60"})
    rsps.get(URL, json=OK)
    assert client.get("/v1/users") == OK
    assert len(clock.sleeps) == 30 and all(s == pytest.approx(60.0) for s in clock.sleeps)


def test_429s_past_max_rate_limit_wait_stop_the_request(rsps, client, clock):
    rsps.get(URL, status=429, headers={"x-ratelimit-reset": "60"})  # repeated: refused for good
    with pytest.raises(RateLimitWaitExceeded) as info:
        client.get("/v1/users")
    assert sum(clock.sleeps) == pytest.approx(1800.0)  # the default max_rate_limit_wait
    assert "on the org budget: the tap waited 1800 s" in str(info.value)
    assert "max_rate_limit_wait (1800 s)" in str(info.value)


def test_a_request_let_through_starts_the_429_tally_again(rsps, client, clock):
    for _ in range(3):
        for _ in range(20):  # 1200 s refused, then one answer: never 1800 s in a row
            rsps.get(URL, status=429, headers={"x-ratelimit-reset": "60"})
        rsps.get(URL, json=OK)
    for _ in range(3):
        assert client.get("/v1/users") == OK
    assert sum(clock.sleeps) == pytest.approx(3600.0)


def test_the_test_only_backoff_scale_shrinks_every_retry_delay(rsps, settings, clock, monkeypatch):
    monkeypatch.setenv(BACKOFF_SCALE_VARIABLE, "0.01")
    client = KustomerClient(
        settings, sleep=clock.sleep, clock=clock.time, policy=RetryPolicy(max_tries=4)
    )
    rsps.get(URL, status=503)
    with pytest.raises(RetryableError):
        client.get("/v1/users")
    assert clock.sleeps == pytest.approx([0.01, 0.02, 0.04])


def test_backoff_delays_double_up_to_max_backoff(rsps, settings, clock):
    client = KustomerClient(
        settings, sleep=clock.sleep, clock=clock.time, policy=RetryPolicy(max_tries=9)
    )
    rsps.get(URL, status=503)
    with pytest.raises(RetryableError):
        client.get("/v1/users")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_spent_budget_on_a_success_waits_before_the_next_request(rsps, client, clock):
    reset = int(clock.now) + 42
    rsps.get(URL, json=OK, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    rsps.get(URL, json=OK, headers={"x-ratelimit-remaining": "999"})
    client.get("/v1/users")
    assert clock.sleeps == []
    client.get("/v1/users")
    assert clock.sleeps == [pytest.approx(42.0)]
    client.get("/v1/users")
    assert len(clock.sleeps) == 1


def test_budget_left_never_waits(rsps, client, clock):
    rsps.get(
        URL, json=OK, headers={"x-ratelimit-remaining": "3", "x-ratelimit-reset": "9999999999"}
    )
    for _ in range(3):
        client.get("/v1/users")
    assert clock.sleeps == []


def test_401_is_not_retried_and_explains(rsps, client):
    rsps.get(URL, status=401, json={"errors": [{"status": "401", "title": "Unauthorized"}]})
    with pytest.raises(AuthError, match="invalid, expired, or was issued for another region"):
        client.get("/v1/users")
    assert len(rsps.calls) == 1


def test_403_carries_kustomers_detail(rsps, client):
    body = {"errors": [{"code": "forbidden", "message": "needs org.permission.user.read"}]}
    rsps.get(URL, status=403, json=body)
    with pytest.raises(ForbiddenError) as info:
        client.get("/v1/users")
    assert info.value.detail == "forbidden: needs org.permission.user.read"
    assert len(rsps.calls) == 1


def test_400_with_jsonapi_error_shape(rsps, client):
    body = {"errors": [{"status": "400", "code": "bad", "title": "Bad", "detail": "unknown key"}]}
    rsps.get(URL, status=400, json=body)
    with pytest.raises(BadRequestError, match="unknown key"):
        client.get("/v1/users")


def test_relative_links_are_absolutised(rsps, client):
    rsps.get(URL + "?page=2&pageSize=100", json=OK)
    client.get("/v1/users?page=2&pageSize=100")
    assert rsps.calls[0].request.url == URL + "?page=2&pageSize=100"


def test_token_never_reaches_the_log(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.get(URL, status=503)
    rsps.get(URL, status=429, headers={"Retry-After": "1"})
    rsps.get(URL, status=401, json={"errors": [{"title": "Unauthorized"}]})
    with pytest.raises(AuthError) as info:
        client.get("/v1/users")
    assert TOKEN not in caplog.text
    assert TOKEN not in str(info.value)
    assert "retry" in caplog.text  # the log did say something


def test_tls_verification_cannot_be_turned_off_by_config():
    from tap_kustomer.config import load_settings

    for extra in ({"verify": False}, {"verify_ssl": False}, {"insecure": True}):
        settings = load_settings({"api_token": "x", **extra})
        assert KustomerClient(settings).session.verify is True


# -- what an error body may put in the log (issue 16) ---------------------------------------


def test_an_error_detail_is_cut_to_a_short_fixed_length(rsps, client):
    long = "unknown key " + "x" * 500
    rsps.get(URL, status=400, json={"errors": [{"code": "bad", "title": "Bad", "detail": long}]})
    with pytest.raises(BadRequestError) as info:
        client.get("/v1/users")
    assert info.value.detail == "bad, Bad: " + long[:80] + "…"


@pytest.mark.parametrize(
    "detail",
    [
        "customer jane@example.com is invalid",  # an email
        '{"name": "Jane Doe", "phone": "555-0100"}',  # JSON
        "value 4155550100 is not allowed",  # a long number
        'criteria "and" is invalid',  # quoted text
        "no such customer Jane-Doe-42",  # echoes the request's query
    ],
)
def test_an_error_detail_that_may_be_record_data_is_shown_only_at_debug(
    rsps, client, caplog, detail
):
    caplog.set_level(logging.DEBUG)
    body = {"errors": [{"code": "bad_request", "title": "Bad Request", "detail": detail}]}
    rsps.get(URL, status=400, json=body)
    with pytest.raises(BadRequestError) as info:
        client.get("/v1/users", params={"name": "Jane-Doe-42"})
    assert str(info.value).endswith("malformed (400): bad_request, Bad Request")
    assert detail not in str(info.value) and info.value.detail == "bad_request, Bad Request"
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(detail in line for line in debug)
    assert not any(detail in r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG)


def test_an_error_body_that_echoes_the_search_body_keeps_it_out(rsps, client):
    rsps.post(
        "https://api.kustomerapp.com/v1/customers/search",
        status=400,
        json={"errors": [{"title": "Bad Request", "detail": "bad value acme-corp-007 in and"}]},
    )
    with pytest.raises(BadRequestError) as info:
        client.post("/v1/customers/search", {"and": [{"customer_name": {"eq": "acme-corp-007"}}]})
    assert "acme-corp-007" not in str(info.value)
    assert str(info.value).endswith(": Bad Request")
