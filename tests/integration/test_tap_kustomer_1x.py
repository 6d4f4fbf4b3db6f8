"""Drop-in upgrade from singer-io tap-kustomer 1.x.

* Columns: tap-kustomer==1.1.0 is downloaded from PyPI (`pip download --no-deps`, once, into
  .venv-tools/tap-kustomer-1.1.0) and its nine schemas are read from the archive: every
  top-level column must exist in ours, and every change of type must be an intended one,
  named in README's "Upgrading from tap-kustomer 1.x".
* Config and state: a 1.x config file and a 1.x state file resume a sync against the sandbox
  where 1.x left off (no package index needed).
"""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest

from tap_kustomer.discover import load_schema
from tap_kustomer.streams import STREAMS, ListStream
from tests.e2e.harness import run_tap
from tests.integration.tools import DOWNLOADS, ROOT, downloaded

pytestmark = pytest.mark.integration

ONE_X_STREAMS = ("customers", "conversations", "messages", "notes", "kobjects", "users", "teams")
ONE_X_STREAMS += ("tags", "shortcuts")

# 1.1.0 columns we do not have, with the reason (which README's upgrading section must give,
# naming the column). None: every 1.x column is kept.
INTENDED_DIFFERENCES: dict[tuple[str, str], str] = {}

# 1.1.0 columns whose type changed (besides plain strings that became date-times, README's
# "Every timestamp is a `date-time`"), each with the README bullet that explains it.
ARRAYS = "Arrays are arrays"
TIMESTAMPS = "Every timestamp is a `date-time`"
INTENDED_TYPE_CHANGES: dict[tuple[str, str], str] = {
    ("customers", "deleted"): "Customers `deleted` is a boolean",
    ("conversations", "satisfaction"): "Conversations `satisfaction` is a number",
    **{
        ("customers", column): ARRAYS
        for column in [
            "tags",
            "socials",
            "watchers",
            "locations",
            "shared_emails",
            "shared_external_ids",
            "shared_phones",
            "shared_socials",
            "smooch_ids",
            "whatsapps",
            "urls",
            "facebook_ids",
            "instagram_ids",
            "active_users",
            "role_group_versions",
        ]
    },
    **{
        ("conversations", column): ARRAYS
        for column in ["suggested_tags", "suggested_shortcuts", "role_group_versions"]
    },
}


@pytest.fixture(scope="module")
def one_x_schemas(package_index) -> dict[str, dict]:
    """stream → 1.1.0's schema, read from the archive PyPI serves."""
    archive = downloaded("tap-kustomer-1.1.0", DOWNLOADS["tap-kustomer-1.1.0"])
    pattern = re.compile(r"(?:^|/)tap_kustomer/schemas/([a-z_]+)\.json$")
    files: dict[str, bytes] = {}
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as wheel:
            for name in wheel.namelist():
                if match := pattern.search(name):
                    files[match.group(1)] = wheel.read(name)
    else:
        with tarfile.open(archive) as sdist:
            for member in sdist.getmembers():
                match = pattern.search(member.name)
                extracted = sdist.extractfile(member) if match else None
                if match and extracted:
                    files[match.group(1)] = extracted.read()
    return {stream: json.loads(content) for stream, content in files.items()}


def upgrading_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Upgrading from tap-kustomer 1.x\n", 1)[1].split("\n## ", 1)[0]


def readme_bullet(reason: str) -> str:
    """The README bullet that starts with (or contains) `reason`; fails if there is none."""
    bullets = [" ".join(b.split()) for b in upgrading_section().split("\n- ")[1:]]
    found = [b for b in bullets if reason in b]
    assert found, f"README's upgrading section has no bullet saying {reason!r}"
    return found[0]


def names_column(bullet: str, column: str) -> bool:
    if f"`{column}`" in bullet:
        return True
    prefix = column.split("_", 1)[0]
    return f"`{prefix}_*`" in bullet


def kind(spec: dict[str, Any]) -> tuple[frozenset[str], str | None]:
    """A column's JSON types (without null) and format, looking inside anyOf."""
    if "anyOf" in spec:
        parts = [kind(branch) for branch in spec["anyOf"]]
        types = frozenset().union(*(types for types, _ in parts))
        return types, next((fmt for _, fmt in parts if fmt), None)
    declared = spec.get("type", [])
    declared = [declared] if isinstance(declared, str) else declared
    return frozenset(t for t in declared if t != "null"), spec.get("format")


def test_every_1x_stream_is_a_stream_of_ours_selected_by_default(one_x_schemas):
    """A drop-in upgrade: each stream 1.1.0 ships a schema for exists here by the same name
    and is synced without a catalog (the column checks below then cover each of them)."""
    default = {name for name, cls in STREAMS.items() if cls.selected_by_default}
    assert set(ONE_X_STREAMS) <= set(one_x_schemas) <= default


@pytest.mark.parametrize("stream", ONE_X_STREAMS)
def test_every_1x_column_is_still_there(one_x_schemas, stream):
    ours = load_schema(stream)["properties"]
    theirs = one_x_schemas[stream]["properties"]
    missing = sorted(
        column
        for column in theirs
        if column not in ours and (stream, column) not in INTENDED_DIFFERENCES
    )
    assert missing == [], f"{stream}: 1.x columns missing from our schema"


@pytest.mark.parametrize("stream", ONE_X_STREAMS)
def test_every_1x_column_keeps_its_type_or_the_change_is_intended(one_x_schemas, stream):
    ours = load_schema(stream)["properties"]
    unexplained = []
    for column, spec in one_x_schemas[stream]["properties"].items():
        if column not in ours:
            continue
        old, new = kind(spec), kind(ours[column])
        if old == new or (stream, column) in INTENDED_TYPE_CHANGES:
            continue
        if old == (frozenset({"string"}), None) and new == (frozenset({"string"}), "date-time"):
            continue  # TIMESTAMPS
        unexplained.append(f"{column}: {sorted(old[0])} {old[1]} -> {sorted(new[0])} {new[1]}")
    assert unexplained == [], f"{stream}: type changes README does not explain"


def test_intended_differences_are_the_ones_readme_gives(one_x_schemas):
    readme_bullet(TIMESTAMPS)
    for table in (INTENDED_DIFFERENCES, INTENDED_TYPE_CHANGES):
        for (stream, column), reason in table.items():
            assert column in one_x_schemas[stream]["properties"], (stream, column)
            assert names_column(readme_bullet(reason), column), (stream, column, reason)
    # ...and the type changes listed are real ones (a stale entry would hide nothing).
    for stream, column in INTENDED_TYPE_CHANGES:
        old = one_x_schemas[stream]["properties"][column]
        assert kind(old) != kind(load_schema(stream)["properties"][column]), (stream, column)


# -- a 1.x config and state file, used unchanged


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def one_x_stamp(stamp: str, micro: bool) -> str:
    """A timestamp as 1.x wrote its bookmarks: `.000Z` for some streams, `.000000Z` for others."""
    moment = parse(stamp)
    fraction = f"{moment.microsecond:06d}" if micro else f"{moment.microsecond // 1000:03d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def live(truth: dict, stream: str) -> list[dict]:
    """Rows a sync reaches: all but archive-only ones (deleted ones arrive flagged)."""
    rows = truth["streams"][stream]
    if issubclass(STREAMS[stream], ListStream):
        return rows
    return [r for r in rows if not r.get("archived")]


@pytest.mark.parametrize("interrupted", ["customers", "notes"])
def test_1x_config_and_state_resume_where_1x_left_off(sandbox, tmp_path, interrupted):
    truth = sandbox.truth()
    stamps = {s: sorted(r["updatedAt"] for r in live(truth, s)) for s in ONE_X_STREAMS}
    # 1.x bookmarks part-way through each stream; shortcuts has none (start_date applies).
    bookmarks = {
        stream: one_x_stamp(values[len(values) * 2 // 3], micro=i % 2 == 0)
        for i, (stream, values) in enumerate(stamps.items())
        if stream != "shortcuts"
    }
    start_date = parse(stamps["shortcuts"][len(stamps["shortcuts"]) // 3])
    config = {  # a 1.x config file as it was; base_url is the one addition (1.x hard-codes it)
        "api_token": sandbox.token,
        "start_date": start_date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_agent": "acme-data-team",
        "page_size_limit": "500",
        "date_window_size": "60",
    }
    state = {"bookmarks": bookmarks, "currently_syncing": interrupted}
    run = run_tap(
        tmp_path,
        sandbox.base_url,
        sandbox.token,
        # One stream at a time, so the order the streams start in is the order they print
        # their SCHEMA (with four at once, a stream done early let the fifth print first).
        config=config | {"base_url": sandbox.base_url, "max_workers": 1},
        state=state,
    )
    assert run.returncode == 0, run.stderr[-2000:]

    for stream in ONE_X_STREAMS:
        if STREAMS[stream].replication_method == "FULL_TABLE":  # tags: read whole every run
            assert set(run.ids(stream)) == {r["id"] for r in live(truth, stream)}, stream
            continue
        since = parse(bookmarks.get(stream, config["start_date"]))
        since = since.replace(microsecond=since.microsecond // 1000 * 1000)
        expected = {r["id"] for r in live(truth, stream) if parse(r["updatedAt"]) >= since}
        assert 0 < len(expected) < len(live(truth, stream)), stream  # a real resume
        assert set(run.ids(stream)) == expected, stream

    order = [m["stream"] for m in run.messages if m["type"] == "SCHEMA"]
    names = [name for name, cls in STREAMS.items() if cls.selected_by_default]
    names += ["kobject_ecomm_return", "kobject_order"]  # the sandbox's klasses, by name
    at = names.index(interrupted)
    assert order == names[at:] + names[:at]  # the interrupted stream first, then the rest
    final = run.state
    assert final["currently_syncing"] is None
    for stream, bookmark in bookmarks.items():  # rewritten in the standard shape, not behind
        if STREAMS[stream].replication_method == "FULL_TABLE":
            continue  # tags: read whole, no bookmark to compare
        assert parse(final["bookmarks"][stream]["updated_at"]) >= parse(bookmark), stream
    assert run.stderr.count("accepted for compatibility with tap-kustomer 1.x") == 2
    assert "used as page_size 500" in run.stderr
