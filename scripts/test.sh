#!/usr/bin/env bash
# The test command: builds a virtual environment (.venv-test), installs the tap with its test
# dependencies, then runs the linters, the type checker and the tests on three workers (pytest-xdist; the tests of
# one module stay on one worker, as they share its sandbox).
#
#   bash scripts/test.sh           every test: unit, sandbox end to end, and integration (the
#                                  external tools, installed into .venv-tools/ in the
#                                  background while the linters and the first tests run)
#   bash scripts/test.sh --quick   unit and sandbox end-to-end tests only: no external tool
#                                  (pytest -m "not integration")
#
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k paging`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-test
QUICK=0
if [ "${1:-}" = "--quick" ]; then
  QUICK=1
  shift
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# (Re)install only when a pyproject.toml changed since the last install: pip takes seconds
# even when everything is already there.
WANT="$(cat pyproject.toml sandbox/pyproject.toml | sha256sum)"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ./sandbox -e ".[test]"
  printf '%s' "$WANT" >"$VENV/.installed"
fi

TOOLS_PID=""
if [ "$QUICK" = 0 ] && [ "$#" = 0 ]; then
  # A full run: install the integration tools now, each venv by its own pip process; each test
  # that needs one waits for its lock (tests/integration/tools.py). Stopped if we end first.
  mkdir -p .venv-tools
  "$VENV/bin/python" -m tests.integration.tools >.venv-tools/install.log 2>&1 &
  TOOLS_PID=$!
  trap '[ -z "$TOOLS_PID" ] || kill "$TOOLS_PID" 2>/dev/null || true' EXIT
fi

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy" # strict, on the tap and the sandbox: pyproject.toml [tool.mypy]

# Three workers on this 2-core machine: much of a test's time is spent waiting on a tap
# subprocess or on the sandbox (measured: the quick tier 114 s with two, 98 s with three).
if [ "$QUICK" = 1 ]; then
  "$VENV/bin/python" -m pytest -n 3 --dist loadfile -m "not integration" "$@"
else
  "$VENV/bin/python" -m pytest -n 3 --dist loadfile "$@"
fi
