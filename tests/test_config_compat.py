"""Config keys of other Kustomer taps: tap-kustomer 1.x (page_size_limit, date_window_size)
and MeltanoLabs' tap (api_key, prod_point) work unchanged."""

from __future__ import annotations

import json
import logging

import pytest

from tap_kustomer.cli import main
from tap_kustomer.config import REGION_HOSTS, load_settings
from tap_kustomer.errors import ConfigError

GOOD = {"api_token": "abc", "start_date": "2024-01-01T00:00:00Z"}
ONE_X = {**GOOD, "user_agent": "me", "page_size_limit": "500", "date_window_size": "60"}
COMPAT = "accepted for compatibility with tap-kustomer 1.x"


def compat_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tap_kustomer.config" and r.levelno == logging.INFO
    ]


@pytest.mark.parametrize(("given", "expected"), [("500", 500), (" 42 ", 42), (200, 200)])
def test_page_size_limit_becomes_page_size(caplog, given, expected):
    caplog.set_level(logging.INFO)
    settings = load_settings({**GOOD, "page_size_limit": given})
    assert settings.page_size == expected
    assert compat_lines(caplog) == [
        f"config 'page_size_limit' {COMPAT}; used as page_size {expected}"
    ]


def test_page_size_wins_over_page_size_limit(caplog):
    caplog.set_level(logging.INFO)
    assert load_settings({**GOOD, "page_size": 50, "page_size_limit": "500"}).page_size == 50
    assert compat_lines(caplog) == [
        f"config 'page_size_limit' {COMPAT}; ignored, because 'page_size' is set"
    ]


@pytest.mark.parametrize("bad", ["many", "0", 0, -5, 2.5, True, [500]])
def test_bad_page_size_limit_is_one_config_error(caplog, bad):
    caplog.set_level(logging.INFO)
    with pytest.raises(ConfigError, match=r"config 'page_size_limit' .* whole number"):
        load_settings({**GOOD, "page_size_limit": bad})
    assert compat_lines(caplog) == []  # nothing is said about a config that is refused


def test_date_window_size_is_ignored_and_said_once(caplog):
    caplog.set_level(logging.INFO)
    plain = load_settings(GOOD)
    with_window = load_settings({**GOOD, "date_window_size": "60"})
    assert with_window == plain
    assert compat_lines(caplog) == [
        f"config 'date_window_size' {COMPAT}; ignored (this tap needs no date windows)"
    ]


def test_a_whole_one_x_config_each_key_said_once(caplog):
    caplog.set_level(logging.INFO)
    settings = load_settings(ONE_X)
    assert settings.page_size == 500
    assert settings.user_agent == "me"
    assert settings.base_url == REGION_HOSTS["us"]
    lines = compat_lines(caplog)
    assert len(lines) == 2
    assert sum("'page_size_limit'" in line for line in lines) == 1
    assert sum("'date_window_size'" in line for line in lines) == 1
    assert all(COMPAT in line for line in lines)


@pytest.mark.parametrize(("prod_point", "region"), [(1, "us"), (2, "eu"), ("1", "us"), ("2", "eu")])
def test_prod_point_selects_the_region(caplog, prod_point, region):
    caplog.set_level(logging.INFO)
    settings = load_settings({**GOOD, "prod_point": prod_point})
    assert settings.base_url == REGION_HOSTS[region]
    assert compat_lines(caplog) == [
        "config 'prod_point' accepted for compatibility with MeltanoLabs tap-kustomer; "
        f"used as region {region}"
    ]


@pytest.mark.parametrize("bad", [0, 3, -1, "eu", "3", 1.5, True, [1]])
def test_other_prod_points_are_a_config_error(bad):
    with pytest.raises(ConfigError, match=r"config 'prod_point' .* use 1 \(region us\) or 2"):
        load_settings({**GOOD, "prod_point": bad})


@pytest.mark.parametrize("other", [{"region": "eu"}, {"base_url": "http://127.0.0.1:1"}])
def test_prod_point_and_another_host_setting_is_a_config_error(other):
    with pytest.raises(ConfigError, match="prod_point: set only one of them"):
        load_settings({**GOOD, "prod_point": 2, **other})


def test_meltanolabs_config_works_unchanged():
    settings = load_settings({"api_key": "k", "start_date": "2024-01-01", "prod_point": 2})
    assert settings.api_token == "k"
    assert settings.base_url == REGION_HOSTS["eu"]


def test_one_x_config_on_the_command_line(tmp_path, capsys, fake):
    fake.lists["/v1/klasses"] = []  # an org without custom objects
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ONE_X))
    assert main(["--config", str(config), "--discover"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["streams"]
    assert err.count(f"INFO config 'page_size_limit' {COMPAT}; used as page_size 500") == 1
    assert err.count(f"INFO config 'date_window_size' {COMPAT}") == 1


def test_bad_compat_key_on_the_command_line_is_one_critical_line(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**ONE_X, "prod_point": 9}))
    assert main(["--config", str(config), "--discover"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("CRITICAL config 'prod_point' 9")


def warnings_of(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tap_kustomer.config" and r.levelno == logging.WARNING
    ]


def test_a_misspelt_key_is_one_warning_naming_the_closest_setting(caplog):
    settings = load_settings({"api_token": "abc", "start_data": "2024-01-01", "pagesize": 5})
    assert settings.page_size is None  # not read: a warning says so
    assert warnings_of(caplog) == [
        "config key 'start_data' is unknown and ignored; did you mean start_date?",
        "config key 'pagesize' is unknown and ignored; did you mean page_size?",
    ]


def test_an_unknown_key_far_from_every_setting_points_at_about(caplog):
    load_settings({**GOOD, "zzz": 1})
    assert warnings_of(caplog) == [
        "config key 'zzz' is unknown and ignored; see tap-kustomer --about for the settings"
    ]


def test_every_setting_and_the_keys_meltano_injects_are_known(caplog):
    from tap_kustomer.about import SETTINGS
    from tap_kustomer.config import MELTANO_KEYS, warn_unknown_keys

    assert {"stream_maps", "stream_map_config", "flattening_enabled"} <= MELTANO_KEYS
    warn_unknown_keys(dict.fromkeys([*SETTINGS["properties"], *MELTANO_KEYS]))
    load_settings({**GOOD, "stream_maps": {}, "flattening_enabled": False})
    assert warnings_of(caplog) == []


def test_an_unknown_key_is_a_warning_on_the_command_line_and_the_run_goes_on(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({**GOOD, "start_data": "2020-01-01"}))
    assert main(["--config", str(config), "--catalog", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "WARNING config key 'start_data' is unknown and ignored; did you mean start_date?" in err


@pytest.mark.parametrize(("given", "expected"), [(None, 300.0), (0, 0.0), (90, 90.0), ("2.5", 2.5)])
def test_lookback_seconds(given, expected):
    raw = GOOD if given is None else {**GOOD, "lookback_seconds": given}
    assert load_settings(raw).lookback_seconds == expected


@pytest.mark.parametrize("bad", [-1, "-0.5", "soon", True, [1], float("nan"), float("inf")])
def test_bad_lookback_seconds_is_one_config_error(bad):
    with pytest.raises(ConfigError, match=r"config 'lookback_seconds' .* 0 or more"):
        load_settings({**GOOD, "lookback_seconds": bad})
