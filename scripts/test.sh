#!/usr/bin/env bash
# The test command: builds a virtual environment (.venv-test), installs the tap with its test
# dependencies, then runs the linter and every test (unit and end-to-end). Extra arguments go
# to pytest, e.g. `bash scripts/test.sh -k paging`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-test
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ./sandbox -e ".[test]"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy" # strict, on the tap: pyproject.toml [tool.mypy]
"$VENV/bin/python" -m pytest "$@"
