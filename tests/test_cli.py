"""The command line: discovery, --version, hosts, defaults (bad input: see test_bad_input.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tap_kustomer.cli import build_parser, main
from tap_kustomer.config import load_settings
from tap_kustomer.streams import METADATA_RESOURCES, STREAMS
from tests.fakes import resource, ts
from tests.samples import validate

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


def klass(name: str, status: str = "enabled") -> dict:
    return {"type": "klass", "id": f"k-{name}", "attributes": {"name": name, "status": status}}


def metadata(resource: str, **properties: dict) -> dict:
    return {"data": {"type": "metadata", "id": resource, "attributes": {"properties": properties}}}


def org(fake) -> None:
    """An org with custom attributes on customers and two enabled klasses (and a disabled one)."""
    fake.lists["/v1/klasses"] = [klass("order"), klass("Ecomm-Return"), klass("old", "disabled")]
    fake.documents["/v1/metadata/customer"] = metadata(
        "customer",
        totalSpentNum={"type": "number"},
        signupAt={"type": "date"},
        vipBool={"type": "boolean"},
        notesTxt={"type": "text"},
        websiteUrl={"type": "url"},
        accountId={"type": "id"},
        nicknameStr={"type": "string"},
        segment={"type": "string", "tree": {"children": [{"value": "a"}]}},
        lastVisit={"type": "date"},  # no suffix: typed by its declared type
        oddity={"type": "mystery"},  # nothing recognisable: open
    )
    fake.documents["/v1/metadata/kobject.order"] = metadata("kobject.order", totalNum={})
    fake.documents["/v1/metadata/kobject.Ecomm-Return"] = metadata(
        "kobject.Ecomm-Return", approvedBool={"type": "boolean"}
    )


def discovered(tmp_path, capsys, config=GOOD):
    code, out, err = run(capsys, ["--config", write(tmp_path, "c.json", config), "--discover"])
    return code, (json.loads(out) if out else None), err


def by_id(catalog) -> dict[str, dict]:
    return {entry["tap_stream_id"]: entry for entry in catalog["streams"]}


def test_discover_prints_only_the_catalog(tmp_path, capsys, fake):
    org(fake)
    code, catalog, err = discovered(tmp_path, capsys)
    assert code == 0 and "WARNING" not in err
    ids = [s["tap_stream_id"] for s in catalog["streams"]]
    assert ids == [*STREAMS, "kobject_order", "kobject_ecomm_return"]  # not the disabled klass
    for entry in catalog["streams"]:
        stream = STREAMS.get(entry["tap_stream_id"]) or STREAMS["kobjects"]
        top = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["table-key-properties"] == entry["key_properties"] == ["id"]
        assert top["forced-replication-method"] == stream.replication_method
        keys = [stream.replication_key] if stream.replication_key else []
        assert top["valid-replication-keys"] == keys
        assert top["inclusion"] == "available"
        # One request per changed conversation: chosen, never selected by default.
        per_conversation = entry["tap_stream_id"] in ("conversation_events", "attachments")
        assert top["selected-by-default"] is not per_conversation
        fields = {m["breadcrumb"][1]: m["metadata"] for m in entry["metadata"] if m["breadcrumb"]}
        assert set(fields) == set(entry["schema"]["properties"])
        for field in ("id", *keys):
            assert fields[field]["inclusion"] == "automatic"
        assert fields["type"]["inclusion"] == "available"


def test_discover_types_custom_attributes_and_adds_a_stream_per_klass(tmp_path, capsys, fake):
    org(fake)
    _, catalog, _ = discovered(tmp_path, capsys)
    streams = by_id(catalog)
    string, number = {"type": ["null", "string"]}, {"type": ["null", "number"]}
    date_time = {"type": ["null", "string"], "format": "date-time"}
    custom = streams["customers"]["schema"]["properties"]["custom"]
    assert custom["type"] == ["null", "object"]  # still open: later attributes still arrive
    assert custom["properties"] == {
        "total_spent_num": number,
        "signup_at": date_time,
        "vip_bool": {"type": ["null", "boolean"]},
        "notes_txt": string,
        "website_url": string,
        "account_id": string,
        "nickname_str": string,
        "segment": string,
        "last_visit": date_time,
        "oddity": {"type": ["null", "boolean", "number", "string", "object", "array"]},
    }
    assert streams["conversations"]["schema"]["properties"]["custom"]["properties"] == {}
    order = streams["kobject_order"]
    assert order["schema"]["properties"]["custom"]["properties"] == {"total_num": number}
    returns = streams["kobject_ecomm_return"]
    top = next(m["metadata"] for m in returns["metadata"] if m["breadcrumb"] == [])
    assert top["kustomer-klass"] == "Ecomm-Return"
    assert returns["schema"]["properties"]["custom"]["properties"] == {
        "approved_bool": {"type": ["null", "boolean"]}
    }
    kobjects = streams["kobjects"]["schema"]["properties"]
    assert set(order["schema"]["properties"]) == set(kobjects)  # the kobjects columns


def test_a_klass_stream_searches_its_own_query_context(tmp_path, capsys, fake):
    org(fake)
    _, catalog, _ = discovered(tmp_path, capsys)
    entry = by_id(catalog)["kobject_ecomm_return"]
    entry["metadata"][0]["metadata"]["selected"] = True
    fake.search["kobject_Ecomm-Return"] = [
        resource("kobject.Ecomm-Return", i, ts(i), custom={"approvedBool": True}) for i in range(3)
    ]
    config, selected = write(tmp_path, "c.json", GOOD), write(tmp_path, "k.json", catalog)
    code, out, _ = run(capsys, ["--config", config, "--catalog", selected])
    assert code == 0
    messages = [json.loads(line) for line in out.splitlines()]
    schema = next(m["schema"] for m in messages if m["type"] == "SCHEMA")
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert len(records) == 3 and {m["stream"] for m in messages if "stream" in m} == {
        "kobject_ecomm_return"
    }
    for record in records:
        validate(record, schema)
        assert record["custom"] == {"approved_bool": True}
    searches = [body for path, body, _ in fake.requests if body is not None]
    assert {b["queryContext"] for b in searches} == {"kobject_Ecomm-Return"}
    assert all("kobject_updated_at" in json.dumps(b["sort"]) for b in searches)


def test_discover_without_metadata_roles_warns_and_keeps_the_static_catalog(tmp_path, capsys, fake):
    org(fake)
    fake.refused = {"/v1/klasses": 403, "/v1/metadata/customer": 403}
    code, catalog, err = discovered(tmp_path, capsys)
    assert code == 0
    assert [s["tap_stream_id"] for s in catalog["streams"]] == list(STREAMS)
    assert "org.permission.klass.read" in err and "org.permission.metadata.read" in err
    assert "custom attributes of customer are not typed" in err
    assert by_id(catalog)["customers"]["schema"]["properties"]["custom"]["properties"] == {}


@pytest.mark.parametrize("catalog", [False, True], ids=["--discover", "sync without catalog"])
def test_discovery_with_nothing_listening_fails_in_one_critical_line(
    tmp_path, capsys, monkeypatch, catalog
):
    waits: list[float] = []
    monkeypatch.setattr("tap_kustomer.interrupt.sleep", waits.append)  # backoff, not slept
    base = "http://127.0.0.1:9"  # nothing listens on the discard port
    config = write(tmp_path, "c.json", {**GOOD, "base_url": base})
    argv = ["--config", config] if catalog else ["--config", config, "--discover"]
    code, out, err = run(capsys, argv)
    assert code == 1 and "Traceback" not in err
    critical = [line for line in err.splitlines() if line.startswith("CRITICAL")]
    assert len(critical) == 1 and f"no request to {base} succeeded" in critical[0], err
    assert "connection problem" in critical[0]
    assert out == ""  # no catalog, no records
    # One retry rule for both: 3 tries a read, 5 reads: 15 s of backoff at most (< 20 s).
    assert waits == [1.0, 2.0] * 5


def test_discovery_404_on_every_path_is_a_wrong_base_url(tmp_path, capsys, fake):
    code, catalog, err = discovered(tmp_path, capsys)  # the fake knows no path at all
    assert (code, catalog) == (1, None)
    (line,) = [x for x in err.splitlines() if x.startswith("CRITICAL")]
    assert "no request to https://api.kustomerapp.com succeeded" in line and "(404)" in line


def test_discovery_refused_everywhere_with_403_still_prints_the_static_catalog(
    tmp_path, capsys, fake
):
    paths = ["/v1/klasses", *(f"/v1/metadata/{r}" for r in METADATA_RESOURCES)]
    fake.refused = dict.fromkeys(paths, 403)
    code, catalog, err = discovered(tmp_path, capsys)
    assert code == 0 and "CRITICAL" not in err
    assert [s["tap_stream_id"] for s in catalog["streams"]] == list(STREAMS)


def test_discovery_with_one_failing_read_warns_and_goes_on(tmp_path, capsys, fake, monkeypatch):
    monkeypatch.setattr("tap_kustomer.interrupt.sleep", lambda seconds: None)
    org(fake)
    fake.refused = {"/v1/klasses": 503}
    code, catalog, err = discovered(tmp_path, capsys)
    assert code == 0 and "CRITICAL" not in err
    assert "discovery: cannot read the custom object klasses" in err
    custom = by_id(catalog)["customers"]["schema"]["properties"]["custom"]["properties"]
    assert "total_spent_num" in custom  # the other reads still typed `custom`


def test_discover_with_a_rejected_key_fails_clearly(tmp_path, capsys, fake):
    org(fake)
    fake.refused = {"/v1/klasses": 401}
    code, catalog, err = discovered(tmp_path, capsys)
    assert (code, catalog) == (1, None)
    (line,) = err.strip().splitlines()[-1:]
    assert line.startswith("CRITICAL") and "rejected the API key (401)" in line
    assert "Traceback" not in err


def test_api_key_alias_and_version(tmp_path, capsys, fake):
    fake.lists["/v1/klasses"] = []
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


def test_help_describes_every_flag_names_about_and_gives_exit_codes_and_log_level(capsys):
    for action in build_parser()._actions:
        assert action.help and len(action.help) > 15, action.option_strings
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "tap-kustomer --about" in out and "every config setting" in out
    codes = out.split("exit codes:", 1)[1]
    for code in ["0", "1", "2", "130"]:
        assert f"\n  {code} " in codes
    assert "TAP_KUSTOMER_LOG_LEVEL" in out.split("environment:", 1)[1]
