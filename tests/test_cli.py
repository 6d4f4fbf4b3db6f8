"""The command line: discovery, --version, hosts, defaults (bad input: see test_bad_input.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tap_kustomer.cli import main
from tap_kustomer.config import load_settings
from tap_kustomer.streams import STREAMS

GOOD = {"api_token": "abc", "start_date": "2024-01-01T00:00:00Z"}


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_files_and_arguments(tmp_path, capsys, rsps):  # rsps: no real HTTP
    assert run(capsys, [])[0] == 2
    code, out, err = run(capsys, ["--config", str(tmp_path / "absent.json")])
    assert (code, out) == (2, "")
    assert "does not exist" in err
    config = write(tmp_path, "c.json", GOOD)
    for flag, content, message in [
        ("--catalog", "{", "catalog file"),
        ("--state", "[", "state file"),
        (
            "--catalog",
            {
                "streams": [
                    {
                        "tap_stream_id": "invoices",
                        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
                    }
                ]
            },
            "does not have",
        ),
        ("--state", {"bookmarks": {"customers": {"updated_at": "soon"}}}, "not a date-time"),
        ("--state", {"bookmarks": []}, "'bookmarks' must be an object"),
    ]:
        code, out, err = run(capsys, ["--config", config, flag, write(tmp_path, "x.json", content)])
        assert (code, out) == (2, ""), flag
        assert message in err and err.startswith("CRITICAL"), err
    assert len(rsps.calls) == 0  # bad input ends the run before any request


def test_discover_prints_only_the_catalog(tmp_path, capsys):
    code, out, _ = run(capsys, ["--config", write(tmp_path, "c.json", GOOD), "--discover"])
    assert code == 0
    catalog = json.loads(out)
    assert [s["tap_stream_id"] for s in catalog["streams"]] == list(STREAMS)
    for entry in catalog["streams"]:
        top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["table-key-properties"] == ["id"]
        assert top["forced-replication-method"] == "INCREMENTAL"
        assert top["valid-replication-keys"] == ["updated_at"]
        assert top["inclusion"] == "available" and top["selected-by-default"] is True
        fields = {m["breadcrumb"][1]: m["metadata"] for m in entry["metadata"] if m["breadcrumb"]}
        assert set(fields) == set(entry["schema"]["properties"])
        assert fields["id"]["inclusion"] == fields["updated_at"]["inclusion"] == "automatic"
        assert fields["type"]["inclusion"] == "available"


def test_api_key_alias_and_version(tmp_path, capsys):
    config = write(tmp_path, "c.json", {"api_key": "abc"})
    assert run(capsys, ["--config", config, "--discover"])[0] == 0
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and out.startswith("tap-kustomer ")


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({}, "https://api.kustomerapp.com"),
        ({"region": "EU"}, "https://api.prod2.kustomerapp.com"),
        ({"region": "in"}, "https://api.prod4.kustomerapp.com"),
        ({"subdomain": "Acme"}, "https://acme.api.kustomerapp.com"),
        ({"base_url": "https://proxy.example/kustomer/v1/"}, "https://proxy.example/kustomer"),
        ({"base_url": "http://127.0.0.1:8765"}, "http://127.0.0.1:8765"),
        ({"base_url": "http://localhost:1"}, "http://localhost:1"),
        ({"base_url": "http://[::1]:2"}, "http://[::1]:2"),
    ],
)
def test_hosts(extra, url):
    assert load_settings({**GOOD, **extra}).base_url == url


def test_defaults():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    settings = load_settings({"api_token": " abc "}, now=now)
    assert settings.api_token == "abc"
    assert settings.start_date == "2025-06-01T00:00:00.000Z"  # one year back
    assert settings.page_size is None and settings.request_timeout == 60
    assert settings.user_agent.startswith("tap-kustomer/")
    assert load_settings({**GOOD, "start_date": "2024-02-03"}).start_date == (
        "2024-02-03T00:00:00.000Z"
    )
    assert load_settings({**GOOD, "page_size": "250"}).page_size == 250
