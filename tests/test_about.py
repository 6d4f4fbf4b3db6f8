"""--about (text and JSON, without --config) and one source of truth for the settings:
about.py's SETTINGS, the keys config.py reads, and README's config table agree."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tap_kustomer import __version__
from tap_kustomer.about import SETTINGS, about, render_text
from tap_kustomer.cli import main
from tap_kustomer.config import PROD_POINTS, REGION_HOSTS, load_settings
from tap_kustomer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SETTING_NAMES = list(SETTINGS["properties"])


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_about_json_without_config(capsys):
    code, out, err = run(capsys, ["--about", "--format", "json"])
    assert (code, err) == (0, "")
    info = json.loads(out)
    assert info["name"] == "tap-kustomer"
    assert info["version"] == __version__
    assert info["description"]
    assert info["capabilities"] == ["catalog", "discover", "state", "about"]
    settings = info["settings"]
    assert settings["type"] == "object"
    assert settings["required"] == ["api_token"]
    for name, spec in settings["properties"].items():
        assert spec.get("type") and spec.get("description"), name
    token = settings["properties"]["api_token"]
    assert token["secret"] is True and token["writeOnly"] is True
    assert settings["properties"]["api_key"]["secret"] is True
    assert settings["properties"]["start_date"]["format"] == "date-time"
    assert settings["properties"]["request_timeout"]["default"] == 60
    assert settings["properties"]["user_agent"]["default"] == f"tap-kustomer/{__version__}"
    # Secrets are exactly the token and its alias.
    secret = {n for n, s in settings["properties"].items() if s.get("secret")}
    assert secret == {"api_token", "api_key"}


def test_about_text_without_config(capsys):
    code, out, err = run(capsys, ["--about"])
    assert (code, err) == (0, "")
    assert out.startswith("Name: tap-kustomer\n")
    assert f"Version: {__version__}\n" in out
    for capability in ["catalog", "discover", "state", "about"]:
        assert f"\n  - {capability}\n" in out
    for name in SETTING_NAMES:
        assert f"  - Name: {name}\n" in out
        assert f"TAP_KUSTOMER_{name.upper()}" in out
    assert "Type: string (date-time)" in out
    assert "Flags: required, secret\n" in out


def test_about_text_format_and_with_config(capsys, tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"api_token": "t"}')
    assert run(capsys, ["--about", "--format", "text"])[1].startswith("Name: ")
    assert run(capsys, ["--about", "--config", str(config)])[1].startswith("Name: ")


@pytest.mark.parametrize(
    "argv", [["--format", "json"], ["--about", "--format", "yaml"], ["--discover"]]
)
def test_bad_about_arguments(capsys, argv):
    code, out, err = run(capsys, argv)
    assert (code, out) == (2, "")
    assert err.startswith("CRITICAL ")


def test_about_as_a_command_prints_only_json_on_stdout():
    done = subprocess.run(
        [sys.executable, "-m", "tap_kustomer", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(about()))


def test_enums_match_what_config_accepts():
    properties = SETTINGS["properties"]
    assert properties["region"]["enum"] == list(REGION_HOSTS)
    assert properties["prod_point"]["enum"] == list(PROD_POINTS)


class RecordingDict(dict):
    """A config that notes every key the tap looks up in it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize(
    "config",
    [
        {"api_token": "t"},
        {"api_key": "t", "prod_point": 2, "page_size_limit": "100", "date_window_size": 1},
        {"api_token": "t", "subdomain": "acme", "page_size": 5, "page_size_limit": 9},
        {"api_token": "t", "base_url": "http://127.0.0.1:1", "user_agent": "x"},
    ],
)
def test_every_key_config_reads_is_a_setting_in_about(config):
    raw = RecordingDict(config)
    load_settings(raw)
    assert raw.read <= set(SETTING_NAMES)


def test_every_setting_in_about_is_read_by_config():
    read: set[str] = set()
    for config in [
        {"api_token": "t", "prod_point": 1, "page_size_limit": "7", "date_window_size": "60"},
        {"api_key": "t", "region": "eu"},
        {"api_token": "t", "subdomain": "acme", "page_size": 5},
        {"api_token": "t", "base_url": "http://127.0.0.1:1"},
    ]:
        raw = RecordingDict(config)
        load_settings(raw)
        read |= raw.read
    assert set(SETTING_NAMES) <= read


def readme_config_table() -> dict[str, list[str]]:
    """README's "## Configuration" table: key → the row's other cells."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z_]+)` \|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return rows


def test_readme_config_table_lists_exactly_the_settings_of_about():
    rows = readme_config_table()
    assert sorted(rows) == sorted(SETTING_NAMES)
    assert list(rows) == SETTING_NAMES  # same order too, so the two are easy to compare


def test_readme_config_table_is_the_markdown_about(capsys):
    code, out, _ = run(capsys, ["--about", "--format", "markdown"])
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert code == 0 and out.startswith("| key | required | default | meaning |\n")
    assert out in text, (
        "README's config table is stale: paste `tap-kustomer --about --format markdown` into "
        "its Configuration section"
    )


BOUNDED = [n for n, s in SETTINGS["properties"].items() if "maximum" in s]


@pytest.mark.parametrize("name", BOUNDED)
def test_config_takes_each_bounded_settings_default_and_bounds_from_about(name):
    spec = SETTINGS["properties"][name]
    assert getattr(load_settings({"api_token": "t"}), name) == spec["default"]
    top, step = spec["maximum"], 1 if spec["type"] == "integer" else 0.5
    assert getattr(load_settings({"api_token": "t", name: top}), name) == top
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    refused = [top + step, low - step] + ([low] if "exclusiveMinimum" in spec else [])
    for value in refused:
        with pytest.raises(ConfigError, match=f"config '{name}' "):
            load_settings({"api_token": "t", name: value})


def test_readme_shows_the_current_about_output():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Meltano\n", 1)[1].split("\n## ", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    printed = render_text(about())

    assert shown == printed, (
        "README's --about output is stale: paste `tap-kustomer --about` into its Meltano section"
    )
