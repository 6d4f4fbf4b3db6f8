"""External tools for the integration tests, each in its own virtual environment.

Each tool is installed once per machine under `.venv-tools/<tool>` at the repository top
(gitignored), never into the tap's environment: the venv is reused while the requirements
written in it are the ones asked for, and rebuilt otherwise (or after a failed install).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-tools"
INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
INSTALL_TIMEOUT = 600  # seconds, per pip command


@cache
def index_unreachable() -> str | None:
    """Why the package index cannot be used, or None when it answers."""
    url = f"{INDEX_URL}/pip/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as exc:
        return f"package index {INDEX_URL} unreachable ({exc}): cannot install the tools"
    return None


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """One installer per tool at a time, even across concurrent pytest runs."""
    TOOLS.mkdir(exist_ok=True)
    with open(TOOLS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def tool_venv(name: str, requirements: list[str]) -> Path:
    """The venv `.venv-tools/<name>` with `requirements` installed (once per machine)."""
    venv = TOOLS / name
    marker = venv / "tool-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    with _locked(name):
        python = venv / "bin" / "python"
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], f"creating the {name} venv")
        _run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
            f"pip install {' '.join(requirements)}",
        )
        marker.write_text(wanted)  # last: a half-done install is redone next time
    return venv


def downloaded(name: str, requirement: str) -> Path:
    """`pip download --no-deps requirement` into `.venv-tools/<name>` (once); the archive."""
    where = TOOLS / name
    with _locked(name):
        if not _archives(where):
            partial = TOOLS / f".{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(where, ignore_errors=True)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
            _run([*command, "-d", str(partial), requirement], f"pip download {requirement}")
            partial.rename(where)  # complete or absent, never half there
        archives = _archives(where)
    if not archives:
        raise RuntimeError(f"pip download {requirement} left no archive in {where}")
    return archives[0]


def _archives(where: Path) -> list[Path]:
    return sorted(where.glob("*.tar.gz")) + sorted(where.glob("*.whl"))
