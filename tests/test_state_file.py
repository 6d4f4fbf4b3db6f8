"""--state: a missing or empty file is a first run, a STATE line and Meltano's singer_state
are unwrapped (each said at INFO), and anything else that is not a state object is exit 2."""

from __future__ import annotations

import json
import logging

import pytest

from tap_kustomer.cli import main
from tap_kustomer.errors import ConfigError
from tap_kustomer.sync import read_state, read_state_file
from tests.fakes import resource, ts
from tests.samples import selected_catalog

GOOD = {"api_token": "abc", "start_date": "2024-01-01T00:00:00Z"}
STATE = {"bookmarks": {"shortcuts": {"updated_at": ts(5)}}, "currently_syncing": None}


def info(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]


def test_a_missing_state_file_is_a_first_run_said_at_info(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = str(tmp_path / "state.json")
    assert read_state_file(path) == {"bookmarks": {}, "currently_syncing": None}
    assert info(caplog) == [f"state file {path!r} does not exist yet: a first run, from start_date"]


@pytest.mark.parametrize("text", ["", "\n", "  \n\n"])
def test_an_empty_state_file_is_a_first_run_said_at_info(tmp_path, caplog, text):
    caplog.set_level(logging.INFO)
    path = tmp_path / "state.json"
    path.write_text(text)
    assert read_state_file(str(path)) == {"bookmarks": {}, "currently_syncing": None}
    assert info(caplog) == [f"state file {str(path)!r} is empty: a first run, from start_date"]


@pytest.mark.parametrize(
    ("wrapped", "said"),
    [
        ({"type": "STATE", "value": STATE}, "Singer STATE message"),
        ({"singer_state": STATE}, "Meltano's"),
    ],
)
def test_a_wrapped_state_is_unwrapped_and_said_at_info(caplog, wrapped, said):
    caplog.set_level(logging.INFO)
    assert read_state(wrapped) == STATE
    (line,) = info(caplog)
    assert said in line


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"type": "STATE", "value": [1]}, "'value' must be a JSON object"),
        ({"singer_state": "x"}, "'singer_state' must be a JSON object"),
        ({"type": "RECORD", "stream": "shortcuts", "record": {}}, "no 'bookmarks'"),
        ({"value": STATE}, "no 'bookmarks'"),
        ({"customers": {"updated_at": ts(1)}}, "no 'bookmarks'"),
        ({"type": "STATE", "value": {"bookmarks": []}}, "'bookmarks' must be an object"),
    ],
)
def test_anything_else_that_is_not_a_state_object_is_a_config_error(raw, message):
    with pytest.raises(ConfigError, match=message):
        read_state(raw)


def test_a_state_file_holding_null_is_a_config_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("null")
    with pytest.raises(ConfigError, match="holds null"):
        read_state_file(str(path))


def run_list(tmp_path, capsys, fake, state_file: str) -> tuple[int, list[dict], str]:
    fake.lists["/v1/shortcuts"] = [resource("shortcut", i, ts(i)) for i in range(10)]
    config, catalog = tmp_path / "c.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(GOOD))
    catalog.write_text(json.dumps(selected_catalog("shortcuts")))
    argv = ["--config", str(config), "--catalog", str(catalog), "--state", state_file]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize(
    "content", [{"type": "STATE", "value": STATE}, {"singer_state": STATE}, STATE]
)
def test_the_cli_resumes_from_a_wrapped_state_file(tmp_path, capsys, fake, content):
    path = tmp_path / "state.json"
    path.write_text(json.dumps(content))
    code, messages, err = run_list(tmp_path, capsys, fake, str(path))
    assert code == 0, err
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states[0]["bookmarks"] == STATE["bookmarks"]  # the bookmark was read, not dropped
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert len(records) == 5  # shortcuts stamped since ts(5) only: no silent full re-sync


def test_the_cron_scripts_first_run_passes(tmp_path, capsys, fake):
    code, messages, err = run_list(tmp_path, capsys, fake, str(tmp_path / "state.json"))
    assert code == 0 and "CRITICAL" not in err, err
    assert "does not exist yet: a first run" in err
    assert len([m for m in messages if m["type"] == "RECORD"]) == 10
