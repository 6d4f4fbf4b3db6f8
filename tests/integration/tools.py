"""External tools for the integration tests, each in its own virtual environment.

Each tool is installed once per machine under `.venv-tools/<tool>` at the repository top
(gitignored), never into the tap's environment: the venv is reused while the requirements
written in it are the ones asked for, and rebuilt otherwise (or after a failed install).

`python -m tests.integration.tools` installs all of them at once, each venv by its own pip
process; scripts/test.sh starts it in the background at the beginning of a full run, so the
installs overlap the linters and the unit tests. A test that needs a tool meanwhile waits for
its lock, then finds it installed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-tools"
INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
INSTALL_TIMEOUT = 600  # seconds, per pip command

# Every tool of the integration tests: venv name → requirements, archive name → requirement.
VENVS = {
    "meltano": ["meltano==4.4.1"],
    "target-postgres": ["meltanolabs-target-postgres==0.8.1"],
    "singer-tools": ["singer-tools==0.4.1"],
}
DOWNLOADS = {"tap-kustomer-1.1.0": "tap-kustomer==1.1.0"}


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


_RUNNING: set[subprocess.Popen] = set()  # the pip processes of install_all, to stop them
_RUNNING_LOCK = threading.Lock()


def _run(command: list[str], what: str) -> None:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    try:
        _, stderr = process.communicate(timeout=INSTALL_TIMEOUT)
    finally:
        process.kill()  # only if still running (a timeout)
        process.wait()
        with _RUNNING_LOCK:
            _RUNNING.discard(process)
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed ({process.returncode}):\n{stderr[-3000:]}")


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


def install_all() -> int:
    """Every venv and archive the integration tests use, concurrently; 1 if any failed (the
    test that needs it then tries again and fails with pip's message)."""
    reason = index_unreachable()
    if reason:
        sys.stderr.write(f"{reason}\n")
        return 1

    def stop(signum: int, frame: object) -> None:  # scripts/test.sh ended early: stop pip
        with _RUNNING_LOCK:
            for process in _RUNNING:
                process.kill()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    jobs = {name: (tool_venv, (name, requirements)) for name, requirements in VENVS.items()}
    jobs |= {name: (downloaded, (name, requirement)) for name, requirement in DOWNLOADS.items()}
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job, *args) for name, (job, args) in jobs.items()}
    failed = 0
    for name, future in futures.items():
        if future.exception() is not None:
            sys.stderr.write(f"{name}: {future.exception()}\n")
            failed = 1
        else:
            sys.stderr.write(f"{name}: ready\n")
    return failed


if __name__ == "__main__":
    sys.exit(install_all())
