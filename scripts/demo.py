"""Demo driver (run by scripts/demo.sh): sandbox → tap-kustomer → target-duckdb, twice.

It discovers, keeps the catalog's default selection (every stream but conversation_events and
attachments),
syncs into DuckDB, checks every stream against the sandbox, changes records, syncs again from
the saved state and checks that too. Expected figures come from the sandbox's ground truth
(GET /__sandbox/truth, archived records included) for every stream the truth lists, and for
the others (the small full-table lists and audit logs, which the truth does not list) from the
sandbox's API read directly, page by page. Any mismatch prints MISMATCH and exits 1.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

WORK = Path(".demo")
CHANGES = {"customers": 25, "conversations": 10, "messages": 40, "tags": 3}
START_DATE = "2000-01-01T00:00:00Z"  # everything, the archive (older than two years) included
PROGRESS_EVERY = 5.0  # seconds between progress lines while a sync runs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tap-venv", required=True)
    parser.add_argument("--target-venv", required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--plant-mismatch",
        action="store_true",
        help="expect one record too many in customers (proves that a mismatch fails)",
    )
    args = parser.parse_args()
    tap_bin, target_bin = Path(args.tap_venv) / "bin", Path(args.target_venv) / "bin"
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    started = time.monotonic()

    sandbox = subprocess.Popen(
        [tap_bin / "kustomer-sandbox", "--port", "0", "--seed", str(args.seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        hello = json.loads(sandbox.stdout.readline())
        api = Api(hello["base_url"], hello["token"])
        print(f"sandbox listening on {api.base_url}")
        config = {"api_token": api.token, "base_url": api.base_url, "start_date": START_DATE}
        (WORK / "config.json").write_text(json.dumps(config))
        target = {"filepath": str(WORK / "warehouse.duckdb"), "default_target_schema": "kustomer"}
        (WORK / "target.json").write_text(json.dumps(target))

        catalog = json.loads(
            run([tap_bin / "tap-kustomer", "--config", WORK / "config.json", "--discover"])
        )
        streams = selected_by_default(catalog)
        (WORK / "catalog.json").write_text(json.dumps(catalog))
        left_out = [n for n in names(catalog) if n not in streams]
        print(
            f"discovered {len(names(catalog))} streams; syncing the {len(streams)} selected by "
            f"default (left out: {', '.join(left_out)}, one request per conversation each: "
            f"{len(api.truth()['conversations'])} requests for this sandbox)"
        )

        expected = api.expected(streams)
        if args.plant_mismatch:
            expected["customers"].add("planted-mismatch")
        print("\nfull sync")
        emitted, state = sync(tap_bin, target_bin, None)
        loaded = row_counts(target_bin)
        rows, ok = [], True
        for n in streams:
            got = set(emitted[n])
            good = got == expected[n] and loaded.get(n) == len(expected[n])
            ok &= good
            rows.append([n, len(expected[n]), len(emitted[n]), loaded.get(n, 0), mark(good)])
        table(["stream", "in sandbox", "emitted", "rows in DuckDB", ""], rows)

        before = api.truth()
        changed = {n: set(api.update(n, c)) for n, c in CHANGES.items()}
        print(f"\nchanged in the sandbox: {', '.join(f'{len(c)} {n}' for n, c in changed.items())}")
        expected = api.expected(streams)
        print("incremental sync (from the state the first run left)")
        emitted2, _ = sync(tap_bin, target_bin, state)
        loaded2 = row_counts(target_bin)
        lookback = timedelta(seconds=300)  # the tap's default lookback_seconds
        rows = []
        for n in streams:
            got, want = set(emitted2[n]), changed.get(n, set())
            bookmark = state["bookmarks"].get(n, {})
            truth_rows = Api.rows(before, n)
            if truth_rows is not None and "updated_at" in bookmark:  # incremental
                mark_at = parse(bookmark["updated_at"])
                search = n not in ("users", "teams", "shortcuts")
                low = mark_at - lookback if search else mark_at
                overlap = {r["id"] for r in truth_rows if low <= parse(r["updatedAt"]) <= mark_at}
                good = want <= got <= want | overlap
            elif "created_at" in bookmark:  # audit logs: none is created by the demo
                good = got <= expected[n]
            else:  # full table: every row, every run
                good = got == expected[n]
            good &= loaded2.get(n) == len(expected[n])
            ok &= good
            rows.append([n, len(want), len(got), len(got - want), loaded2.get(n, 0), mark(good)])
        table(["stream", "changed", "emitted", "re-read", "rows in DuckDB", ""], rows)
        print(
            "\nIncremental streams re-read only the changed records plus those in the look-back "
            "before each bookmark (lookback_seconds, 300 s; the target upserts them on id); "
            "full-table streams send every row each run."
        )
        print(
            f"\n{'OK' if ok else 'MISMATCH'}: whole demo took {time.monotonic() - started:.0f} s; "
            f"data in {WORK / 'warehouse.duckdb'}"
        )
        return 0 if ok else 1
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def mark(good: bool) -> str:
    return "ok" if good else "MISMATCH"


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def selected_by_default(catalog: dict) -> list[str]:
    """Select each stream as its metadata recommends; the selected names, in catalog order."""
    chosen = []
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = item["metadata"]["selected-by-default"]
                if item["metadata"]["selected"]:
                    chosen.append(entry["tap_stream_id"])
    return chosen


def names(catalog: dict) -> list[str]:
    return [entry["tap_stream_id"] for entry in catalog["streams"]]


def run(command: list) -> str:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, check=True
    ).stdout


def sync(tap_bin: Path, target_bin: Path, state: dict | None) -> tuple[dict, dict]:
    """tap | target, collecting record ids per stream on the way; returns the final state."""
    command = [tap_bin / "tap-kustomer", "--config", WORK / "config.json"]
    command += ["--catalog", WORK / "catalog.json"]
    if state is not None:
        (WORK / "state.json").write_text(json.dumps(state))
        command += ["--state", WORK / "state.json"]
    target_command = [target_bin / "target-duckdb", "--config", WORK / "target.json"]
    ids: dict[str, list[str]] = defaultdict(list)
    done = threading.Event()
    started = time.monotonic()

    def progress() -> None:  # a line every few seconds, so the console is never silent
        while not done.wait(PROGRESS_EVERY):
            counts = Counter({n: len(v) for n, v in list(ids.items())})
            top = ", ".join(f"{n} {c}" for n, c in counts.most_common(3))
            print(
                f"  ... {sum(counts.values())} records after {time.monotonic() - started:.0f} s"
                f" ({top})",
                flush=True,
            )

    with open(WORK / "tap.log", "a") as tap_log, open(WORK / "target.log", "a") as target_log:
        tap = subprocess.Popen([str(c) for c in command], stdout=subprocess.PIPE, stderr=tap_log)
        target = subprocess.Popen(
            [str(c) for c in target_command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=target_log,
        )
        reporter = threading.Thread(target=progress, daemon=True)
        reporter.start()
        try:
            for line in tap.stdout:
                message = json.loads(line)  # compact or spaced JSON alike
                if message.get("type") == "RECORD":
                    ids[message["stream"]].append(message["record"]["id"])
                target.stdin.write(line)
            target.stdin.close()
            states = target.stdout.read().decode().splitlines()
        finally:
            done.set()
        if tap.wait() != 0 or target.wait() != 0:
            sys.exit(f"MISMATCH: sync failed: see {WORK / 'tap.log'} and {WORK / 'target.log'}")
    print(f"  {sum(len(v) for v in ids.values())} records in {time.monotonic() - started:.0f} s")
    return ids, json.loads(states[-1])


def row_counts(target_bin: Path) -> dict[str, int]:
    code = (
        "import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps({t: c.execute(f'select count(*) from kustomer.\"{t}\"').fetchone()[0] "
        'for (t,) in c.execute("select table_name from information_schema.tables '
        "where table_schema='kustomer'\").fetchall()}))"
    )
    return json.loads(run([target_bin / "python", "-c", code, WORK / "warehouse.duckdb"]))


class Api:
    """The sandbox: its control endpoints (ground truth, updates) and, for streams the truth
    does not list, its API read directly."""

    LISTS: ClassVar[dict[str, str]] = {
        "brands": "/v1/brands",
        "queues": "/v1/routing/queues",
        "business_schedules": "/v1/schedules",
        "workflows": "/v1/workflows",
        "satisfaction_surveys": "/v1/satisfaction",
    }

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # loopback only
            return json.loads(response.read())

    def truth(self) -> dict[str, list[dict]]:
        return self.call("GET", "/__sandbox/truth")["streams"]

    def update(self, stream: str, count: int) -> list[str]:
        return self.call("POST", "/__sandbox/update", {"stream": stream, "count": count})["ids"]

    @staticmethod
    def rows(truth: dict[str, list[dict]], name: str) -> list[dict] | None:
        """A stream's ground-truth rows: its own, or for kobject_<klass> its klass's kobjects;
        None for a stream the truth does not list."""
        if name in truth:
            return truth[name]
        if name.startswith("kobject_"):
            return [
                r
                for r in truth["kobjects"]
                if name == "kobject_" + re.sub(r"[^a-z0-9_]", "_", r["klass"].lower())
            ]
        return None

    def expected(self, streams: list[str]) -> dict[str, set[str]]:
        """Ids a full sync from START_DATE must load, per stream: every record, archived and
        deleted ones included (deleted ones arrive with deleted: true)."""
        truth = self.truth()
        expected: dict[str, set[str]] = {}
        for name in streams:
            rows = self.rows(truth, name)
            if rows is None:
                expected[name] = self.listed(name)
            elif name == "notes":  # archive search has no notes: older ones cannot be read
                expected[name] = {r["id"] for r in rows if not r["archived"]}
            else:
                expected[name] = {r["id"] for r in rows}
        return expected

    def listed(self, name: str) -> set[str]:
        """The ids the sandbox's API serves for a stream its truth does not list."""
        if name in self.LISTS:
            return self.pages(self.LISTS[name] + "?pageSize=100")
        if name == "klasses":
            return self.pages("/v1/klasses?status=enabled") | self.pages(
                "/v1/klasses?status=disabled"
            )
        if name in ("slas", "sla_versions"):
            document = self.call("GET", "/v1/slas?versions=all")
            part = document["data"] if name == "slas" else document.get("included", [])
            return {r["id"] for r in part}
        if name == "audit_logs":
            return self.pages("/v1/audit-logs?count=1000")
        if name == "custom_attribute_metadata":
            klasses = []  # every klass, disabled ones too
            for status in ("enabled", "disabled"):
                klasses += self.call("GET", f"/v1/klasses?status={status}")["data"]
            resources = ["customer", "conversation", "message", "company"]
            resources += [f"kobject.{k['attributes']['name']}" for k in klasses]
            ids = set()
            for resource in resources:
                try:
                    document = self.call("GET", f"/v1/metadata/{resource}")
                except urllib.error.HTTPError as exc:  # 404: no attribute defined
                    if exc.code != 404:
                        raise
                    continue
                properties = document["data"]["attributes"].get("properties") or {}
                ids |= {f"{resource}.{attribute}" for attribute in properties}
            return ids
        raise SystemExit(f"MISMATCH: the demo does not know how to count {name}")

    def pages(self, path: str) -> set[str]:
        ids: set[str] = set()
        while path:
            document = self.call("GET", path)
            ids |= {r["id"] for r in document["data"]}
            path = (document.get("links") or {}).get("next")
        return ids


def table(header: list[str], rows: list[list]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    for i, row in enumerate([header, *rows]):
        print(
            "  ".join(
                str(x).ljust(w) if j in (0, len(row) - 1) else str(x).rjust(w)
                for j, (x, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if i == 0:
            print("  ".join("-" * w for w in widths if w).rstrip())


if __name__ == "__main__":
    sys.exit(main())
