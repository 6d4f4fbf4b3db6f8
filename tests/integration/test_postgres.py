"""A sandbox sync loaded into PostgreSQL by MeltanoLabs' target-postgres.

PostgreSQL comes from the machine's packages: .ci/run installs Debian's `postgresql` when
its binaries are missing; this module only uses them. The test starts a throwaway cluster in
a temporary directory, listening on loopback only, on a free port, with fsync off (as the
`postgres` user when run as root, since initdb refuses root), and removes it afterwards.
target-postgres is installed once in .venv-tools/target-postgres.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tap_kustomer.streams import STREAMS
from tests.e2e.harness import EVERYTHING, by_default, expected_ids, ground_truth
from tests.integration.tools import VENVS, tool_venv

pytestmark = pytest.mark.integration

SCHEMA = "kustomer"
# (stream, column) → the PostgreSQL type target-postgres must give it, from our JSON schema.
COLUMN_TYPES = {
    **{(stream, "id"): "text" for stream, cls in STREAMS.items() if cls.selected_by_default},
    **{
        (stream, "updated_at"): "timestamp without time zone"
        for stream, cls in STREAMS.items()
        if cls.replication_key == "updated_at"
    },
    ("audit_logs", "created_at"): "timestamp without time zone",
    ("kobject_order", "custom"): "jsonb",
    ("companies", "custom"): "jsonb",
    ("sla_versions", "metrics"): "jsonb",
    ("custom_attribute_metadata", "tree"): "text",
    ("customers", "deleted"): "boolean",  # 1.x: the strings "True"/"False"
    ("customers", "tags"): "ARRAY",  # 1.x: a Python repr in a string
    ("customers", "custom"): "jsonb",
    ("customers", "rev"): "bigint",
    ("conversations", "satisfaction"): "numeric",
    ("conversations", "message_count"): "bigint",
    ("conversations", "created_at"): "timestamp without time zone",
    ("messages", "meta"): "jsonb",
    ("messages", "sent_at"): "timestamp without time zone",
    ("notes", "deleted"): "boolean",
    ("kobjects", "custom"): "jsonb",
    ("users", "name"): "text",
    ("teams", "members"): "ARRAY",
    ("tags", "deleted"): "boolean",
    ("shortcuts", "name"): "text",
}


def postgres_bin() -> Path:
    """The directory of initdb, pg_ctl and psql: Debian's newest, else the ones on PATH.

    They come from the machine's packages (.ci/run installs them); without them this module
    fails under CI and is skipped, saying why, elsewhere."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda initdb: float(initdb.parent.parent.name),
    )
    on_path = shutil.which("initdb")
    if found:
        return found[-1].parent
    if on_path and shutil.which("pg_ctl") and shutil.which("psql"):
        return Path(on_path).resolve().parent
    reason = "PostgreSQL's initdb, pg_ctl and psql are not installed (apt-get install postgresql)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: .ci/run installs them")
    pytest.skip(reason)


@dataclass
class Cluster:
    bin: Path
    port: int
    user: str = "tester"

    def sql(self, query: str) -> list[list[str]]:
        done = subprocess.run(
            [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
             "-d", "postgres", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
             "-c", query],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return [line.split("\t") for line in done.stdout.splitlines()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(package_index) -> Iterator[Cluster]:
    pg = postgres_bin()
    home = Path(tempfile.mkdtemp(prefix="tap-kustomer-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the package's user
        os.chown(home, pwd.getpwnam("postgres").pw_uid, -1)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", free_port()

    def run(*command: str) -> None:
        done = subprocess.run(
            [*as_user, *command], capture_output=True, text=True, timeout=120, check=False
        )
        log = home / "server.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        assert done.returncode == 0, f"{command[0]}:\n{done.stdout}{done.stderr}{tail}"

    try:
        run(str(pg / "initdb"), "-D", str(data), "-U", "tester", "--auth=trust", "-E", "UTF8",
            "--no-sync")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off"
        run(str(pg / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w",
            "-t", "60", "-o", options, "start")  # fmt: skip
        yield Cluster(pg, port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*as_user, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def target_postgres(package_index) -> Path:
    return tool_venv("target-postgres", VENVS["target-postgres"]) / "bin" / "target-postgres"


def sync_into(cluster: Cluster, target_postgres: Path, sandbox, where: Path) -> None:
    """One sync of the tap (every stream selected by default) piped into target-postgres."""
    tap_config, target_config = where / "tap.json", where / "target.json"
    tap_config.write_text(
        json.dumps(
            {"api_token": sandbox.token, "base_url": sandbox.base_url, "start_date": EVERYTHING}
        )
    )
    target_config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": cluster.port,
                "user": cluster.user,
                "password": "unused (trust authentication)",
                "database": "postgres",
                "default_target_schema": SCHEMA,
            }
        )
    )
    with (where / "tap.out").open("w") as out:
        tap = subprocess.run(
            [sys.executable, "-m", "tap_kustomer", "--config", str(tap_config)],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert tap.returncode == 0, tap.stderr[-2000:]
    with (where / "tap.out").open() as messages:
        target = subprocess.run(
            [str(target_postgres), "--config", str(target_config)],
            stdin=messages, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert target.returncode == 0, target.stderr[-4000:]


@pytest.fixture(scope="module")
def loaded(cluster, target_postgres, sandbox, tmp_path_factory) -> dict:
    """Sync every stream into the cluster; the sandbox's ground truth at that moment."""
    truth = ground_truth(sandbox)
    sync_into(cluster, target_postgres, sandbox, tmp_path_factory.mktemp("postgres"))
    return truth


def test_every_record_is_loaded_once(cluster, loaded):
    for stream in by_default(loaded):
        ids = [row[0] for row in cluster.sql(f"select id from {SCHEMA}.{stream}")]
        assert len(ids) == len(set(ids)), stream
        assert set(ids) == expected_ids(loaded, stream), stream


def test_columns_get_the_types_the_schemas_promise(cluster, loaded):
    rows = cluster.sql(
        "select table_name, column_name, data_type from information_schema.columns "
        f"where table_schema = '{SCHEMA}'"
    )
    types = {(table, column): kind for table, column, kind in rows}
    wrong = {
        key: (types.get(key), want) for key, want in COLUMN_TYPES.items() if types.get(key) != want
    }
    assert wrong == {}


def test_values_survive_the_round_trip(cluster, loaded):
    (row,) = cluster.sql(
        f"select count(*), count(*) filter (where deleted), min(updated_at)::text "
        f"from {SCHEMA}.tags"
    )
    total, deleted, oldest = row
    rows = loaded["streams"]["tags"]
    assert int(total) == len(rows)
    assert int(deleted) == sum(1 for r in rows if r.get("deleted"))
    assert oldest.replace(" ", "T")[:19] == min(r["updatedAt"] for r in rows)[:19]


def test_a_tag_gone_from_kustomer_leaves_the_table_through_activate_version(
    cluster, loaded, target_postgres, sandbox, tmp_path
):
    """tags is a full table: the second run's ACTIVATE_VERSION makes target-postgres mark the
    rows of the earlier version that the new read did not send (soft delete, its default).
    Runs last in this module: it changes the module's sandbox."""
    gone = loaded["streams"]["tags"][0]["id"]
    sandbox.remove("tags", [gone])
    sync_into(cluster, target_postgres, sandbox, tmp_path)
    rows = cluster.sql(f"select id, _sdc_deleted_at is not null from {SCHEMA}.tags")
    deleted = {tag for tag, is_deleted in rows if is_deleted == "t"}
    assert deleted == {gone}
    assert len(rows) == len(loaded["streams"]["tags"])  # the others stay, current
