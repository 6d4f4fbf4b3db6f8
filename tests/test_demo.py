"""The README's first command, end to end: `bash scripts/demo.sh` (its own venvs, the sandbox,
tap-kustomer, target-duckdb) prints what the README shows and exits 0; a planted mismatch makes
it print MISMATCH and exit 1. Needs the package index on the first run (target-duckdb)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # target-duckdb, installed by scripts/demo.sh

ROOT = Path(__file__).resolve().parents[1]


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/demo.sh", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def comparable(text: str) -> list[str]:
    """Lines without what changes from run to run: progress, the port, seconds taken."""
    lines = []
    for line in text.splitlines():
        if line.startswith(("  ... ", "installing ")):
            continue
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", line)
        line = re.sub(r"\b\d+ s\b", "<n> s", line)
        lines.append(line.rstrip())
    return lines


def readme_demo_output() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("`bash scripts/demo.sh` does all of it", 1)[1]
    return section.split("```text\n", 1)[1].split("```", 1)[0]


def test_the_demo_prints_the_readmes_tables_and_succeeds():
    result = demo()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "MISMATCH" not in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("OK: whole demo took ")
    assert comparable(result.stdout) == comparable(readme_demo_output()), (
        "README's demo output is stale: paste what `bash scripts/demo.sh` prints"
    )


def test_a_planted_mismatch_fails_the_demo():
    result = demo("--plant-mismatch")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISMATCH" in result.stdout.splitlines()[-1]
