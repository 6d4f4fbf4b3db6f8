"""Benchmark this tap against singer-io tap-kustomer 1.1.0 on the local sandbox.

Run it through ``bash benchmarks/run.sh`` (which builds the two venvs); see benchmarks/README.md.
Writes docs/benchmarks.md and docs/benchmarks.png; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from procs import Measured, Sandbox, log, measure
from report import Row, Target, write_chart, write_markdown

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-bench"
VENV_1X = ROOT / ".venv-bench-1x"
WRAPPER_1X = ROOT / "benchmarks" / "run_tap_1x.py"

SEARCH_STREAMS = ("customers", "conversations", "messages", "notes", "kobjects")
LIST_STREAMS = ("users", "teams", "tags", "shortcuts")
STREAMS = SEARCH_STREAMS + LIST_STREAMS
UNLIMITED = 10**9
UNLIMITED_FLAGS = ["--org-limit", str(UNLIMITED), "--search-limit", str(UNLIMITED)]
PAGE_SIZE = 500
# 1.1.0 loops forever on a tie block that fills its page. The sandbox's fixed tie blocks shrink
# with --scale below 1 (conversations 700 -> 490 at 0.7), so 0.7 is the largest scale where every
# block stays under 500; the customers' main block is set by --tie-block.
COMPARE_SCALE = 0.7
COMPARE_TIE_BLOCK = 400
# Kustomer's budgets per window, with the window shortened from 60 s (same counts).
SEARCH_BUDGET = 100
ORG_BUDGET = 1000
WINDOW_SECONDS = 10.0
LATENCY_MS = 400
# Standard search sees 730 days back; starting 725 days back keeps both taps off archive search,
# so both read the same records.
START_DAYS_BACK = 725
# A run that should finish is stopped after this many seconds all the same (a loop would show).
SAFETY_LIMIT = 600.0
# A run stopped by its time limit that found no new record for this long was looping.
STALLED = 10.0


@dataclass
class Bench:
    """Settings and results of one benchmark run."""

    args: argparse.Namespace
    work: Path
    settings: dict[str, object]
    catalog: Path | None = None
    catalog_1x: Path | None = None
    rows: list[Row] = field(default_factory=list)
    scenarios: list[dict[str, str]] = field(default_factory=list)
    incremental: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_before: float = 0.0

    def scale(self, value: float) -> str:
        return f"{value / 10 if self.args.quick else value:g}"

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)


# --------------------------------------------------------------------------- configs
def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, indent=1) + "\n")
    return path


def start_date(sb: Sandbox) -> str:
    now = datetime.fromisoformat(sb.config()["options"]["now"].replace("Z", "+00:00"))
    return (now - timedelta(days=START_DAYS_BACK)).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_new(b: Bench, sb: Sandbox, name: str, overrides: dict[str, object]) -> Path:
    config: dict[str, object] = {
        "api_token": sb.token,
        "base_url": sb.base_url,
        "start_date": start_date(sb),
        "page_size": PAGE_SIZE,
    }
    config.update(b.settings)
    config.update(overrides)
    return write_json(b.work / f"{name}.config.json", config)


def config_1x(b: Bench, sb: Sandbox, name: str) -> Path:
    config = {
        "api_token": sb.token,
        "start_date": start_date(sb),
        "user_agent": "tap-kustomer-benchmark",
        "page_size_limit": str(PAGE_SIZE),
    }
    return write_json(b.work / f"{name}.config-1x.json", config)


def select(catalog: dict, wanted: tuple[str, ...]) -> dict:
    """``catalog`` with exactly ``wanted`` selected (breadcrumb [] metadata)."""
    found = set()
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
        if stream["tap_stream_id"] in wanted:
            found.add(stream["tap_stream_id"])
    missing = sorted(set(wanted) - found)
    if missing:
        raise RuntimeError(f"the catalog has no stream {missing}")
    return catalog


def discover_new(b: Bench, sb: Sandbox) -> None:
    """This tap's catalog (its discovery reads klasses and custom attributes from the API)
    with the nine streams selected."""
    config = config_new(b, sb, "discover", {})
    command = [str(VENV / "bin" / "tap-kustomer"), "--config", str(config), "--discover"]
    done = run_quiet(command, os.environ.copy())
    b.catalog = write_json(b.work / "catalog.json", select(json.loads(done), STREAMS))


def discover_1x(b: Bench, sb: Sandbox) -> None:
    """1.1.0's catalog (its discovery calls the API) with the nine streams selected."""
    config = config_1x(b, sb, "discover")
    command = [*python_1x(), str(WRAPPER_1X), "-c", str(config), "--discover"]
    done = run_quiet(command, dict(os.environ, KUSTOMER_BASE_URL=sb.base_url))
    b.catalog_1x = write_json(b.work / "catalog-1x.json", select(json.loads(done), STREAMS))


def python_1x() -> list[str]:
    """1.1.0's interpreter, isolated: this checkout's tap_kustomer (same package name) or a
    PYTHONPATH can never shadow the released one."""
    return [str(VENV_1X / "bin" / "python"), "-I"]


def run_quiet(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(  # noqa: S603 - fixed local commands
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# --------------------------------------------------------------------------- runs
def run_new(
    b: Bench,
    sb: Sandbox,
    key: str,
    scenario: str,
    data: str,
    overrides: dict[str, object] | None = None,
    state: dict | None = None,
) -> Row:
    if b.catalog is None:
        discover_new(b, sb)
    config = config_new(b, sb, key, overrides or {})
    command = [str(VENV / "bin" / "tap-kustomer"), "--config", str(config)]
    command += ["--catalog", str(b.catalog)]
    if state is not None:
        command += ["--state", str(write_json(b.work / f"{key}.state.json", state))]
    return _run(b, sb, key, scenario, "this tap", data, command, os.environ.copy(), SAFETY_LIMIT)


def run_1x(
    b: Bench,
    sb: Sandbox,
    key: str,
    scenario: str,
    data: str,
    time_limit: float,
    loop_reason: str = "",
) -> Row:
    if b.catalog_1x is None:
        discover_1x(b, sb)
    config = config_1x(b, sb, key)
    command = [*python_1x(), str(WRAPPER_1X), "-c", str(config)]
    command += ["--catalog", str(b.catalog_1x)]
    env = dict(os.environ, KUSTOMER_BASE_URL=sb.base_url)
    return _run(b, sb, key, scenario, "1.1.0", data, command, env, time_limit, loop_reason)


def _run(
    b: Bench,
    sb: Sandbox,
    key: str,
    scenario: str,
    tap: str,
    data: str,
    command: list[str],
    env: dict[str, str],
    time_limit: float,
    loop_reason: str = "",
) -> Row:
    log(f"{key}: {tap} on {data} (time limit {time_limit:g} s) ...")
    sb.reset()
    measured = measure(command, env, b.work / f"{key}.stderr.log", time_limit)
    result = outcome(measured, time_limit, loop_reason)
    row = Row(key, scenario, tap, data, result, measured, sb.stats())
    b.rows.append(row)
    log(
        f"{key}: {row.result}; {row.records} records ({row.unique} unique), "
        f"CPU {measured.cpu_s:.1f} s, wall {measured.wall_s:.1f} s, "
        f"{row.requests} requests, peak RSS {measured.peak_rss_mb:.0f} MB"
    )
    return row


def outcome(m: Measured, time_limit: float, loop_reason: str) -> str:
    """finished, crashed (with its last error) or did not finish (looping when stalled)."""
    if m.killed:
        why = f" ({loop_reason})" if loop_reason and m.stalled_s >= STALLED else ""
        stalled = f", no new record in its last {m.stalled_s:.0f} s" if m.stalled_s >= 1 else ""
        return f"did not finish{why}: stopped at the {time_limit:g} s limit{stalled}"
    if m.exit_code != 0:
        return f"crashed (exit {m.exit_code}): {last_error(m.stderr_tail)}"
    return "finished"


def last_error(lines: list[str]) -> str:
    marked = [ln for ln in lines if ln.startswith("CRITICAL")]
    text = (marked or [ln for ln in lines if ln.strip()] or ["no message"])[-1]
    return text.removeprefix("CRITICAL ").strip()[:120]


# --------------------------------------------------------------------------- scenarios
def sandbox(b: Bench, name: str, flags: list[str], scenario: str, what: str) -> Sandbox:
    b.scenarios.append({"name": scenario, "sandbox": " ".join(flags), "what": what})
    log(f"starting sandbox for {scenario}: {' '.join(flags)}")
    return Sandbox(VENV / "bin" / "python", flags, b.work / f"sandbox-{name}.log")


def scenario_compare(b: Bench) -> None:
    flags = ["--scale", b.scale(COMPARE_SCALE), "--tie-block", str(COMPARE_TIE_BLOCK)]
    flags += ["--compat-1x", *UNLIMITED_FLAGS]
    what = (
        "Both taps, the nine streams, page size 500, zero latency, unlimited budgets. Every tie "
        "block is under 500 records and `--compat-1x` leaves out the shapes 1.1.0 aborts on, so "
        "1.1.0 can finish. This tap runs with `include_deleted: false` (1.1.0 never asks for "
        "deleted records), so both read the same records."
    )
    scenario = "1 comparison"
    with sandbox(b, "compare", flags, scenario, what) as sb:
        biggest = max(t["size"] for ts in sb.config()["tie_blocks"].values() for t in ts)
        log(f"largest tie block: {biggest} records")
        data = f"scale {flags[1]}, ties <= {biggest}, compat-1x"
        runs: dict[str, list[Row]] = {"S1-new": [], "S1-1.1.0": []}
        for i in range(1, b.args.repeats + 1):  # interleaved: both see the same conditions
            same = {"include_deleted": False}
            runs["S1-new"].append(run_new(b, sb, f"S1-new.{i}", scenario, data, same))
            runs["S1-1.1.0"].append(run_1x(b, sb, f"S1-1.1.0.{i}", scenario, data, SAFETY_LIMIT))
        for key, rows in runs.items():
            keep_median(b, key, rows)


def keep_median(b: Bench, key: str, rows: list[Row]) -> None:
    """Keep the run with the median CPU time as ``key``; note every run's CPU time."""
    ordered = sorted(rows, key=lambda r: r.m.cpu_s)
    median = ordered[len(ordered) // 2]
    for row in rows:
        b.rows.remove(row)
    b.rows.append(median)  # the scenario's rows keep the order of the runs' keys
    cpu = ", ".join(f"{r.m.cpu_s:.1f}" for r in rows)
    b.notes.append(
        f"{key}: the median of {len(rows)} interleaved runs by CPU time (CPU s: {cpu}; "
        f"shown: {median.key})."
    )
    median.key = key


def scenario_ties(b: Bench) -> None:
    flags = ["--scale", b.scale(1.0), "--compat-1x", *UNLIMITED_FLAGS]
    what = (
        "The sandbox's default tie blocks (customers 1,200 records on one `updatedAt`; "
        "conversations 700, messages 650) with `--compat-1x`. 1.1.0 runs under a time limit; "
        "this tap runs to the end with its default settings."
    )
    scenario = "2 tie blocks"
    with sandbox(b, "ties", flags, scenario, what) as sb:
        data = f"scale {flags[1]}, default ties, compat-1x"
        loop = "tie block larger than its page"
        run_1x(b, sb, "S2-1.1.0", scenario, data, b.args.time_limit_1x, loop)
        run_new(b, sb, "S2-new", scenario, data)


def scenario_default(b: Bench) -> None:
    flags = ["--scale", b.scale(1.0), *UNLIMITED_FLAGS]
    what = (
        "The default data (no compat): this tap's full run for CPU cost (3a), then the same run "
        "again with the state it ended with and nothing changed (3d). 1.1.0 is also run on it "
        "once, to show what the default data does to it."
    )
    scenario = "3a/3d default data"
    with sandbox(b, "default", flags, scenario, what) as sb:
        data = f"scale {flags[1]}, default"
        full = run_new(b, sb, "S3a-new", "3a CPU cost", data)
        if full.m.output.last_state is None:
            raise RuntimeError("the full run printed no STATE: cannot run the incremental one")
        state = full.m.output.last_state
        inc = run_new(b, sb, "S3d-new", "3d no-change incremental", data, None, state)
        inc.charted = False  # a handful of records: its ratios would dwarf every other bar
        b.incremental = requests_by_stream(inc.stats)
        run_1x(b, sb, "S3-1.1.0", "3a CPU cost", data, b.args.time_limit_1x)


def scenario_budget(b: Bench) -> None:
    flags = ["--scale", b.scale(3.0), "--latency-ms", str(LATENCY_MS)]
    flags += ["--search-limit", str(SEARCH_BUDGET), "--org-limit", str(ORG_BUDGET)]
    flags += ["--window-seconds", f"{WINDOW_SECONDS:g}"]
    what = (
        f"{LATENCY_MS} ms added to every response and Kustomer's budgets ({SEARCH_BUDGET} "
        f"searches per key, {ORG_BUDGET} requests per org, per window) with the window "
        f"shortened to {WINDOW_SECONDS:g} s (3b). Then, on the same sandbox, latency 0 and "
        "unlimited budgets for the larger volume's peak RSS (3c)."
    )
    scenario = "3b/3c budgets, large volume"
    with sandbox(b, "budget", flags, scenario, what) as sb:
        data = f"scale {flags[1]}, {LATENCY_MS} ms, {SEARCH_BUDGET}/{WINDOW_SECONDS:g} s"
        run_new(b, sb, "S3b-new", "3b latency and budgets", data)
        sb.unthrottle(UNLIMITED)
        run_new(b, sb, "S3c-large", "3c memory", f"scale {flags[1]}, default")


def scenario_small(b: Bench) -> None:
    flags = ["--scale", b.scale(0.3), *UNLIMITED_FLAGS]
    what = "A tenth of 3c's volume, zero latency, unlimited budgets (3c)."
    scenario = "3c small volume"
    with sandbox(b, "small", flags, scenario, what) as sb:
        run_new(b, sb, "S3c-small", "3c memory", f"scale {flags[1]}, default")


def requests_by_stream(stats: dict) -> dict[str, int]:
    """The sandbox's request counts, attributed to the nine streams (rest: ``other``)."""
    counts = dict.fromkeys(STREAMS, 0)
    counts["other"] = 0
    contexts = {s.removesuffix("s"): s for s in SEARCH_STREAMS}
    for context, n in stats.get("searches", {}).items():
        base = context.removeprefix("archive:").split("_")[0]
        counts[contexts.get(base, "other")] += n
    for endpoint, n in stats.get("requests", {}).items():
        if "/search" in endpoint:
            continue
        stream = endpoint.removeprefix("GET /v1/")
        counts[stream if stream in LIST_STREAMS else "other"] += n
    return counts


# --------------------------------------------------------------------------- targets
def targets(b: Bench) -> list[Target]:
    """The issue's five targets, each checked against the run that measures it."""
    return [
        target_speed(b),
        target_search_requests(b),
        target_ceiling(b),
        target_memory(b),
        target_incremental(b),
    ]


def target_speed(b: Bench) -> Target:
    name = "records per CPU-second >= 10x 1.1.0's on the same records (run S1)"
    new, old = b.row("S1-new"), b.row("S1-1.1.0")
    if not (new and old and new.unique_per_cpu and old.unique_per_cpu):
        return Target(name, "no comparison run", None)
    if old.result != "finished":
        return Target(name, f"1.1.0 {old.result}", None)
    ratio = new.unique_per_cpu / old.unique_per_cpu
    measured = (
        f"{ratio:.1f}x ({new.unique_per_cpu:,.0f} vs {old.unique_per_cpu:,.0f} unique "
        f"records per CPU-second)"
    )
    return Target(name, measured, ratio >= 10)


def target_search_requests(b: Bench) -> Target:
    name = "<= 2.1 search requests per 1,000 records on the search streams (run S3a)"
    row = b.row("S3a-new")
    if row is None or row.search_requests_per_1k is None:
        return Target(name, "no run", None)
    measured = (
        f"{row.search_requests_per_1k:.2f} ({row.search_requests} searches for "
        f"{row.search_unique:,} records)"
    )
    return Target(name, measured, row.search_requests_per_1k <= 2.1)


def ceiling_share(row: Row) -> float:
    """Records read through search / (elapsed windows * search budget * records per page)."""
    windows = row.m.wall_s / WINDOW_SECONDS
    return row.search_records / (windows * SEARCH_BUDGET * PAGE_SIZE)


def target_ceiling(b: Bench) -> Target:
    name = f">= 90% of the search ceiling with {LATENCY_MS} ms latency, zero 429s (run S3b)"
    row = b.row("S3b-new")
    if row is None or row.result != "finished":
        return Target(name, f"run {row.result if row else 'missing'}", None)
    share = ceiling_share(row)
    measured = (
        f"{share:.0%} ({row.search_records:,} search records in {row.m.wall_s:.0f} s = "
        f"{row.m.wall_s / WINDOW_SECONDS:.1f} windows x {SEARCH_BUDGET} x {PAGE_SIZE}); "
        f"{row.rate_limited} 429s"
    )
    return Target(name, measured, share >= 0.9 and row.rate_limited == 0)


def target_memory(b: Bench) -> Target:
    name = "peak RSS < 150 MB at both volumes (runs S3c-small, S3c-large)"
    rows = [b.row("S3c-small"), b.row("S3c-large")]
    if None in rows:
        return Target(name, "no run", None)
    measured = ", ".join(f"{r.key}: {r.m.peak_rss_mb:.0f} MB ({r.unique:,} records)" for r in rows)
    return Target(name, measured, all(r.m.peak_rss_mb < 150 for r in rows))


def target_incremental(b: Bench) -> Target:
    name = "no-change incremental <= 1 request per selected stream (run S3d)"
    if not b.incremental:
        return Target(name, "no run", None)
    counts = b.incremental
    over = [f"{s} {n}" for s, n in counts.items() if n > 1 and s != "other"]
    total = sum(counts.values())
    measured = f"{total} requests for {len(STREAMS)} streams" + (
        f" ({', '.join(over)})" if over else ""
    )
    if counts["other"]:
        measured += f", {counts['other']} not tied to a stream"
    return Target(name, measured, not over and total <= len(STREAMS))


def notes(b: Bench) -> list[str]:
    """What a reader needs to weigh the numbers."""
    out = [
        "Each tap is a child process measured with `os.wait4`; the sandbox is another process, "
        "so its CPU is not counted, but all three share the machine's cores, which shows in "
        "wall times.",
        f"Both taps use page size {PAGE_SIZE} and start_date = sandbox now - "
        f"{START_DAYS_BACK} days (inside the two-year search horizon: no archive search).",
        "1.1.0 runs unmodified except for its host: `benchmarks/run_tap_1x.py` sets "
        "`KustomerClient.base_url` to the sandbox after its constructor.",
        "1.1.0 aborts on the sandbox's default data (a relationship with `data: null` makes "
        "it call `.copy()` on None; a null custom number and the shortcuts' shapes fail its "
        "schemas), so scenarios 1 and 2 use the sandbox's `--compat-1x`, which leaves those "
        "shapes out; run S3-1.1.0 shows what the default data does to it.",
    ]
    row = b.row("S3b-new")
    if row is not None:
        per_window = row.search_requests / (row.m.wall_s / WINDOW_SECONDS)
        out.append(
            f"3b: {row.search_requests} searches in {row.m.wall_s:.0f} s, i.e. "
            f"{per_window:.0f} per {WINDOW_SECONDS:g}-s window of the {SEARCH_BUDGET} allowed; "
            "elapsed windows = wall time ÷ window length."
        )
    large = b.row("S3c-large")
    if large is not None and large.search_requests > SEARCH_BUDGET:
        out.append(
            f"S3c-large's wall time: the sandbox's budgets are unlimited there, but the tap "
            f"keeps to Kustomer's documented {SEARCH_BUDGET} searches per minute per key (an "
            "answer naming a larger limit describes the org's budget), so its "
            f"{large.search_requests} searches span several minutes. It measures memory only."
        )
    if b.incremental:
        out.append(
            "3d: list endpoints cannot filter or sort by `updatedAt`, and Kustomer's lists "
            "return at most 100 records a page (users and teams 500), so a list stream must "
            "read every page to know nothing changed: the sandbox's 180 tags and 240 shortcuts "
            "take 2 and 3 requests. Every search stream and every one-page list takes one."
        )
    return out + b.notes


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--tap-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra config for this tap (every run; VALUE parsed as JSON when it can be), "
        "e.g. max_workers=4; repeatable",
    )
    p.add_argument(
        "--time-limit-1x",
        type=float,
        default=60.0,
        help="seconds before 1.1.0 is stopped in the tie-block scenario (default: %(default)s)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each tap in the comparison; the median by CPU is reported "
        "(default: %(default)s)",
    )
    p.add_argument("--out-dir", type=Path, default=ROOT / "docs", help="where the report goes")
    p.add_argument("--work-dir", type=Path, default=ROOT / "benchmarks" / ".work")
    p.add_argument("--quick", action="store_true", help="a tenth of the data: a smoke test")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def parse_settings(pairs: list[str]) -> dict[str, object]:
    settings: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--tap-setting {pair!r}: expected KEY=VALUE")
        try:
            settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key] = raw
    return settings


WORK_FILES = ("*.stderr.log", "*.config.json", "*.config-1x.json", "*.state.json")
WORK_FILES += ("catalog.json", "catalog-1x.json", "sandbox-*.log")


def clean_work_dir(work: Path) -> None:
    """Create ``work``, removing what an earlier benchmark left in it (only its own files)."""
    work.mkdir(parents=True, exist_ok=True)
    for pattern in WORK_FILES:
        for path in work.glob(pattern):
            path.unlink()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clean_work_dir(args.work_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    b = Bench(args=args, work=args.work_dir, settings=parse_settings(args.tap_setting))
    started = time.monotonic()
    b.load_before = os.getloadavg()[0]
    log(f"this tap's extra settings: {b.settings or 'none'}; logs in {b.work}")
    for scenario in (
        scenario_compare,
        scenario_ties,
        scenario_default,
        scenario_budget,
        scenario_small,
    ):
        scenario(b)
    elapsed = time.monotonic() - started
    report = args.out_dir / "benchmarks.md"
    chart = args.out_dir / "benchmarks.png"
    write_chart(chart, b.rows)
    write_markdown(report, chart, b, targets(b), notes(b), elapsed, tap_versions())
    log(f"done in {elapsed / 60:.1f} min: {report} and {chart}")
    return 0


def tap_versions() -> dict[str, str]:
    new = run_quiet([str(VENV / "bin" / "tap-kustomer"), "--version"], os.environ.copy())
    code = "import importlib.metadata as m; print(m.version('tap-kustomer'))"
    old = run_quiet([*python_1x(), "-c", code], os.environ.copy())
    code = "import platform; print(platform.python_version())"
    python = run_quiet([*python_1x(), "-c", code], os.environ.copy())
    return {
        "this tap": f"{new.strip()} ({git_revision()}), editable install of this checkout",
        "singer-io tap-kustomer": f"{old.strip()} (Python {python.strip()} in .venv-bench-1x)",
    }


def git_revision() -> str:
    """The checked-out commit, read without taking git's index lock."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        head = run_quiet(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], env).strip()
        dirty = run_quiet(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"], env
        )
    except (OSError, RuntimeError):
        return "not a git checkout"
    return f"commit {head}" + (" + uncommitted changes" if dirty.strip() else "")


if __name__ == "__main__":
    sys.exit(main())
