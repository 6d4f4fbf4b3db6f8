"""Meltano runs the tap as the repository's meltano.yml defines it.

Meltano is installed once in .venv-tools/meltano. Each run of this module builds a temporary
Meltano project from meltano.yml (pip_url pointing at this clone, installed as a package),
with its sqlite system database inside the project, and points the tap at a small sandbox
through Meltano's TAP_KUSTOMER_<SETTING> environment variables.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_kustomer.about import CAPABILITIES, SETTINGS, about
from tap_kustomer.streams import STREAMS, SearchStream
from tests.e2e.harness import EVERYTHING, at_bookmark, expected_ids, ground_truth
from tests.integration.tools import ROOT, VENVS, tool_venv

pytestmark = pytest.mark.integration

STATE_ID = "dev:tap-kustomer-to-target-jsonl"


@pytest.fixture(scope="module")
def meltano_venv(package_index) -> Path:
    return tool_venv("meltano", VENVS["meltano"])


def meltano_yml(meltano_venv: Path, path: Path = ROOT / "meltano.yml") -> dict[str, Any]:
    """meltano.yml parsed with the YAML library of Meltano's own venv."""
    code = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"
    done = subprocess.run(
        [str(meltano_venv / "bin" / "python"), "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def expected_kind(spec: dict[str, Any]) -> str:
    """The Meltano setting kind for an about.py setting (as MeltanoHub's importer maps it)."""
    types = [spec["type"]] if isinstance(spec["type"], str) else spec["type"]
    if spec.get("format") == "date-time":
        return "date_iso8601"
    if "boolean" in types:
        return "boolean"
    if "integer" in types:
        return "integer"
    if "number" in types:
        return "decimal"
    if "enum" in spec:
        return "options"
    return "string"


def test_meltano_yml_matches_about(meltano_venv):
    project = meltano_yml(meltano_venv)
    (tap,) = project["plugins"]["extractors"]
    assert tap["name"] == "tap-kustomer"
    assert (tap["namespace"], tap["pip_url"], tap["executable"]) == (
        "tap_kustomer",
        "-e .",
        "tap-kustomer",
    )
    assert tap["capabilities"] == CAPABILITIES
    settings = {s["name"]: s for s in tap["settings"]}
    assert list(settings) == list(SETTINGS["properties"])
    for name, spec in SETTINGS["properties"].items():
        setting = settings[name]
        assert setting["kind"] == expected_kind(spec), name
        # One declaration: meltano.yml repeats about.py's description word for word.
        assert setting.get("description") == spec["description"], name
        assert bool(setting.get("sensitive")) == bool(spec.get("secret")), name
        assert "value" not in setting, name  # Meltano would send it on every run
        if setting["kind"] == "options":
            assert [o["value"] for o in setting["options"]] == spec["enum"], name
    assert settings["api_token"]["sensitive"] is True
    (target,) = project["plugins"]["loaders"]
    assert (target["name"], target["variant"], target["pip_url"]) == (
        "target-jsonl",
        "andyh1203",
        "target-jsonl",
    )


@dataclass
class Project:
    """A temporary Meltano project and the environment its commands run in."""

    root: Path
    meltano: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(self.meltano), "--log-level=warning", *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"meltano {' '.join(args)}:\n{done.stderr[-4000:]}"
        return done


@pytest.fixture(scope="module")
def project(meltano_venv, sandbox, tmp_path_factory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("meltano-project")
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert "pip_url: -e .\n" in text
    (root / "meltano.yml").write_text(text.replace("pip_url: -e .\n", f"pip_url: {ROOT}\n"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
        "MELTANO_DATABASE_URI": f"sqlite:///{root}/meltano.db",
        "TAP_KUSTOMER_API_TOKEN": sandbox.token,
        "TAP_KUSTOMER_BASE_URL": sandbox.base_url,
        "TAP_KUSTOMER_START_DATE": EVERYTHING,
        "TAP_KUSTOMER_USER_AGENT": "tap-kustomer integration test",
    }
    project = Project(root, meltano_venv / "bin" / "meltano", env)
    project.run("install", timeout=600)
    yield project


def test_about_through_meltano(project):
    done = project.run("invoke", "tap-kustomer", "--about", "--format", "json")
    assert json.loads(done.stdout) == json.loads(json.dumps(about()))


def test_discover_through_meltano(project):
    done = project.run("invoke", "tap-kustomer", "--discover")
    catalog = json.loads(done.stdout)
    klass_streams = ["kobject_order", "kobject_ecomm_return"]  # the sandbox's enabled klasses
    assert [s["tap_stream_id"] for s in catalog["streams"]] == [*STREAMS, *klass_streams]
    # Meltano's view of the catalog: every stream but conversation_events selected (meltano.yml),
    # key and bookmark always included.
    lines = project.run("select", "tap-kustomer", "--list", "--all").stdout.splitlines()
    for stream, cls in [*STREAMS.items(), *((k, STREAMS["kobjects"]) for k in klass_streams)]:
        listed = [line for line in lines if f"] {stream}." in line]
        if stream == "conversation_events":  # excluded by meltano.yml: nothing of it selected
            assert listed and not any("[selected" in line for line in listed), listed
            continue
        assert f"\t[automatic  ] {stream}.id" in lines, stream
        if cls.replication_key:
            assert f"\t[automatic  ] {stream}.{cls.replication_key}" in lines, stream
        assert any(line.startswith(f"\t[selected   ] {stream}.") for line in lines), stream


def loaded(directory: Path) -> dict[str, list[str]]:
    """stream → ids, from target-jsonl's <stream>.jsonl files."""
    return {
        path.stem: [json.loads(line)["id"] for line in path.read_text().splitlines()]
        for path in directory.glob("*.jsonl")
    }


def test_two_runs_full_then_incremental_from_meltano_state(project, sandbox):
    truth = ground_truth(sandbox)
    first = project.root / "out-1"
    project.run("run", "tap-kustomer", "target-jsonl", TARGET_JSONL_DESTINATION_PATH=str(first))
    got = loaded(first)
    assert "conversation_events" not in got
    for stream in truth["streams"]:
        assert sorted(got.get(stream, [])) == sorted(expected_ids(truth, stream)), stream

    state = json.loads(project.run("state", "get", STATE_ID).stdout)["singer_state"]
    assert state["currently_syncing"] is None
    changed = {s: set(sandbox.update_random(s, 5)) for s in ("customers", "conversations", "tags")}

    second = project.root / "out-2"
    project.run("run", "tap-kustomer", "target-jsonl", TARGET_JSONL_DESTINATION_PATH=str(second))
    again = loaded(second)
    for stream, bookmark in state["bookmarks"].items():
        cls = STREAMS.get(stream, STREAMS["kobjects"])  # kobject_<klass> too
        emitted = set(again.get(stream, []))
        if cls.replication_method == "FULL_TABLE":  # read whole every run
            assert emitted == expected_ids(truth, stream), stream
            continue
        if stream == "attachments":  # those of the conversations read again, none other
            conversations = changed["conversations"] | at_bookmark(
                truth, "conversations", bookmark, 300
            )
            rows = truth["streams"]["attachments"]
            of = {r["id"] for r in rows if r["conversationId"] in conversations}
            live = {r["id"] for r in rows if r["conversationId"] in changed["conversations"]}
            assert live & expected_ids(truth, stream) <= emitted <= of, stream
            continue
        assert changed.get(stream, set()) <= emitted, stream
        # and those at the bookmark or, for a search stream, in the look-back (300 s) before it
        reread = at_bookmark(truth, stream, bookmark, 300 if issubclass(cls, SearchStream) else 0)
        assert emitted <= changed.get(stream, set()) | reread, stream
    new_state = json.loads(project.run("state", "get", STATE_ID).stdout)["singer_state"]
    for stream in ("customers", "conversations"):  # tags is a full table
        assert (
            new_state["bookmarks"][stream]["updated_at"] > state["bookmarks"][stream]["updated_at"]
        ), stream
