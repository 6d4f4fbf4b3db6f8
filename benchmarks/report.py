"""The benchmark's results: one row per tap run, the Markdown report and the PNG chart."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from procs import Measured

SEARCH_STREAMS = ("customers", "conversations", "messages", "notes", "kobjects")
SEARCH_ENDPOINTS = ("POST /v1/customers/search", "POST /v1/customers/archive/search")


@dataclass
class Row:
    """One tap run and what the sandbox counted during it."""

    key: str
    scenario: str
    tap: str
    data: str
    result: str
    m: Measured
    stats: dict
    charted: bool = True
    load: float = 0.0  # the machine's 1-min load average as the run started
    started_at: float = 0.0  # epoch seconds (the sandbox's budget windows align to them)
    # From the tap's stderr (this tap only): retries of partial answers (meta.timed_out) and the
    # end-of-run summary's look-back column (records older than a bookmark, read again).
    timed_out_retries: int = 0
    lookback: int | None = None
    # Scenario 4, against the sandbox's truth: what the run had to emit, and how it did.
    behaviour: str = ""
    expected: int | None = None
    missing: int = 0
    extra: int = 0
    reread: int | None = None  # an incremental run: records emitted again that had not changed

    @property
    def records(self) -> int:
        return sum(self.m.output.records.values())

    @property
    def unique(self) -> int:
        return sum(self.m.output.unique_counts().values())

    @property
    def search_records(self) -> int:
        return sum(self.m.output.records[s] for s in SEARCH_STREAMS)

    @property
    def search_unique(self) -> int:
        counts = self.m.output.unique_counts()
        return sum(counts.get(s, 0) for s in SEARCH_STREAMS)

    @property
    def requests(self) -> int:
        return int(self.stats.get("total_requests", 0))

    @property
    def search_requests(self) -> int:
        counts = self.stats.get("requests", {})
        return sum(int(counts.get(e, 0)) for e in SEARCH_ENDPOINTS)

    @property
    def duplicates(self) -> int:
        return self.records - self.unique

    @property
    def searches_less_retries(self) -> int:
        """Search calls, not counting the retries of timed-out (partial) answers."""
        return self.search_requests - self.timed_out_retries

    @property
    def searches_less_retries_per_1k(self) -> float | None:
        if not self.search_unique:
            return None
        return 1000 * self.searches_less_retries / self.search_unique

    @property
    def rate_limited(self) -> int:
        return int(self.stats.get("rate_limited", 0))

    @property
    def unique_per_cpu(self) -> float | None:
        return self.unique / self.m.cpu_s if self.m.cpu_s > 0 and self.unique else None

    @property
    def requests_per_1k(self) -> float | None:
        return 1000 * self.requests / self.unique if self.unique else None

    @property
    def search_requests_per_1k(self) -> float | None:
        return 1000 * self.search_requests / self.search_unique if self.search_unique else None


@dataclass
class Target:
    """One of the issue's targets, checked against a run."""

    name: str
    measured: str
    passed: bool | None  # None: could not be measured in this run


# --------------------------------------------------------------------------- Markdown
def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def machine() -> list[tuple[str, str]]:
    """CPU model, cores, memory, OS and Python of this machine."""
    model = "unknown"
    memory = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
        with open("/proc/meminfo") as f:
            kib = int(next(ln.split()[1] for ln in f if ln.startswith("MemTotal")))
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    implementation = platform.python_implementation()
    return [
        ("CPU", model),
        ("logical cores", str(os.cpu_count())),
        ("memory", memory),
        ("OS", platform.platform()),
        ("Python (benchmark, this tap)", f"{platform.python_version()} ({implementation})"),
    ]


def runs_table(rows: list[Row]) -> list[str]:
    out = [
        "| run | scenario | tap | data | result | records | unique | unique records / CPU-s "
        "| CPU s | wall s | requests / 1k records | search requests / 1k search records "
        "| peak RSS MB | 429s | load at start |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        out.append(
            f"| {r.key} | {r.scenario} | {r.tap} | {r.data} | {r.result} | {r.records:,} "
            f"| {r.unique:,} | {fmt(r.unique_per_cpu, 0)} | {r.m.cpu_s:.1f} | {r.m.wall_s:.1f} "
            f"| {fmt(r.requests_per_1k, 2)} | {fmt(r.search_requests_per_1k, 2)} "
            f"| {r.m.peak_rss_mb:.0f} | {r.rate_limited} | {r.load:.2f} |"
        )
    return out


def targets_table(targets: list[Target]) -> list[str]:
    out = ["| target | measured | result |", "|---|---|---|"]
    for t in targets:
        verdict = {True: "**PASS**", False: "**FAIL**", None: "not measured"}[t.passed]
        out.append(f"| {t.name} | {t.measured} | {verdict} |")
    return out


def incremental_table(runs: dict[str, dict[str, int]]) -> list[str]:
    """Requests per stream of each no-change incremental run (label -> counts)."""
    streams = list(next(iter(runs.values())))
    out = ["| run | " + " | ".join(streams) + " | total |", "|" + "---|" * (len(streams) + 2)]
    for label, counts in runs.items():
        cells = " | ".join(str(counts.get(s, 0)) for s in streams)
        out.append(f"| {label} | {cells} | {sum(counts.values())} |")
    return out


def realism_table(rows: list[Row]) -> list[str]:
    """Scenario 4: per run, what arrived against the truth, duplicates, searches, retries."""
    out = [
        "| run | behaviour | result | records | unique | expected | missing | not expected "
        "| duplicates (records - unique) | records emitted again, unchanged (look-back column) "
        "| searches | timed-out retries | search requests / 1k search records "
        "| same, less timed-out retries |",
        "|" + "---|" * 14,
    ]
    for r in rows:
        again = "full run" if r.reread is None else f"{r.reread:,} ({fmt(r.lookback, 0)})"
        out.append(
            f"| {r.key} | {r.behaviour} | {r.result} | {r.records:,} | {r.unique:,} "
            f"| {fmt(r.expected, 0)} | {r.missing:,} | {r.extra:,} | {r.duplicates:,} "
            f"| {again} | {r.search_requests} | {r.timed_out_retries} "
            f"| {fmt(r.search_requests_per_1k, 2)} | {fmt(r.searches_less_retries_per_1k, 2)} |"
        )
    return out


def write_markdown(
    path: Path,
    chart: Path,
    bench: Any,
    targets: list[Target],
    notes: list[str],
    elapsed: float,
    versions: dict[str, str],
) -> None:
    """docs/benchmarks.md: machine, scenarios, every run, the targets and the notes."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `bash benchmarks/run.sh` (see `benchmarks/README.md`); do not edit by "
        "hand. This tap side by side with singer-io tap-kustomer 1.1.0 on the same data, in "
        "the same run, against the local sandbox (`kustomer-sandbox`, its own process).",
        "",
    ]
    if bench.args.quick:
        lines += ["**Quick run (`--quick`, a tenth of the data): not representative.**", ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine()]
    load = f"{bench.load_before:.2f} / {os.getloadavg()[0]:.2f}"
    lines += [f"| load average (1 min) at start / end | {load} |"]
    lines += [f"| date | {when} |", f"| benchmark wall time | {elapsed / 60:.1f} min |"]
    lines += [f"| {name} | {version} |" for name, version in versions.items()]
    settings = ", ".join(f"`{k}={v!r}`" for k, v in bench.settings.items()) or "none"
    lines += [f"| this tap's extra settings (`--tap-setting`) | {settings} |", ""]
    lines += ["## Targets", "", *targets_table(targets), ""]
    lines += ["## Runs", "", f"![benchmark chart]({chart.name})", "", *runs_table(bench.rows)]
    lines += ["", *legend(), "", "## Scenarios", ""]
    lines += ["| scenario | sandbox flags | what |", "|---|---|---|"]
    lines += [f"| {s['name']} | `{s['sandbox']}` | {s['what']} |" for s in bench.scenarios]
    if bench.incremental:
        lines += ["", "### 3d: requests per stream, no-change incremental runs", ""]
        lines += incremental_table(bench.incremental)
    realism = [r for r in bench.rows if r.behaviour]
    if realism:
        lines += ["", "### 4: search realism, each run against the sandbox's truth", ""]
        lines += realism_table(realism)
        lines += ["", *realism_legend()]
    lines += ["", "## Notes", "", *[f"- {n}" for n in notes], ""]
    path.write_text("\n".join(lines))


def legend() -> list[str]:
    return [
        "Columns: *records* = RECORD messages printed; *unique* = distinct (stream, id). "
        "*unique records / CPU-s* = unique records ÷ the tap process's user + system CPU "
        "(`os.wait4` rusage; a duplicate earns nothing). *requests* = every `/v1` request the "
        "sandbox received during the run (1.1.0's token check before each request included); "
        "*search requests / 1k search records* = search calls ÷ unique records of the five "
        "search streams. *peak RSS* = `ru_maxrss` of the tap process. *429s* = responses the "
        "sandbox refused for budget. *load at start* = the machine's 1-minute load average as "
        "the run started (2 cores: above 2, something else was competing for them).",
    ]


def realism_legend() -> list[str]:
    return [
        "*expected* = the records the run must emit, from `GET /__sandbox/truth`: for a full "
        "run every record of the nine streams with `updatedAt` >= start_date (soft-deleted ones "
        "included, as `include_deleted` is on by default; archived ones are older than "
        "start_date); for the incremental run the customers updated since the full run. "
        "*missing* = expected ids not emitted; *not expected* = ids emitted beyond them (a full "
        "run only). *records emitted again, unchanged* = an incremental run's unique records "
        "that were not updated since the run its state came from; in brackets the tap's own "
        "count of them older than the bookmark (the run summary's look-back column, stderr). "
        "*timed-out retries* = the tap's WARNING lines retrying a `meta.timed_out` answer; each "
        "retry is one more search request.",
    ]


# --------------------------------------------------------------------------- chart
def write_chart(path: Path, rows: list[Row]) -> None:
    """Three panels: unique records per CPU-second, search requests per 1k, peak RSS."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.unique and r.charted]
    labels = [r.key for r in shown]
    colors = ["#1f77b4" if r.tap == "this tap" else "#ff7f0e" for r in shown]
    per_1k = [r.search_requests_per_1k for r in shown]
    panels = [
        ("unique records per CPU-second (higher is better)", [r.unique_per_cpu for r in shown], 0),
        ("search requests per 1,000 search records (lower)", per_1k, 2),
        ("peak RSS, MB (lower)", [r.m.peak_rss_mb for r in shown], 0),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(16, 0.45 * len(shown) + 2), sharey=True)
    for ax, (title, values, digits) in zip(axes, panels, strict=True):
        numbers = [v or 0.0 for v in values]
        bars = ax.barh(labels, numbers, color=colors)
        ax.bar_label(bars, labels=[fmt(v, digits) for v in values], padding=3)
        ax.set_title(title, fontsize=10)
        ax.margins(x=0.25)
    axes[0].invert_yaxis()  # shared: the first run on top in every panel
    fig.suptitle("tap-kustomer (blue) vs singer-io tap-kustomer 1.1.0 (orange), local sandbox")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
