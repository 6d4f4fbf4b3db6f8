#!/usr/bin/env bash
# The whole pipeline, no Kustomer account needed: builds the tap's virtual environment
# (.venv-demo) and a separate one for the target (.venv-demo-target), starts the local Kustomer
# sandbox, discovers, keeps the default selection (every stream but conversation_events), syncs
# into DuckDB through target-duckdb, checks a per-stream table against the sandbox's ground
# truth, changes records in the sandbox, runs an incremental sync, checks it, and stops.
# Exit 0 only if every figure matches (CI runs it: tests/test_demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TAP_VENV=.venv-demo
TARGET_VENV=.venv-demo-target
mkdir -p .demo-logs
install() {  # quiet pip; its output is shown only if it fails
  if ! "$@" >.demo-logs/pip.log 2>&1; then cat .demo-logs/pip.log; exit 1; fi
}
[ -x "$TAP_VENV/bin/python" ] || "$PYTHON" -m venv "$TAP_VENV"
echo "installing tap-kustomer into $TAP_VENV ..."
install "$TAP_VENV/bin/python" -m pip install --disable-pip-version-check -e . -e ./sandbox
if [ ! -x "$TARGET_VENV/bin/target-duckdb" ]; then
  echo "installing target-duckdb into $TARGET_VENV ..."
  "$PYTHON" -m venv "$TARGET_VENV"
  # target-duckdb 0.8.0 loads zero rows, silently, with duckdb 2.x: keep duckdb below 1.2.
  install "$TARGET_VENV/bin/python" -m pip install --disable-pip-version-check \
    "target-duckdb==0.8.0" "duckdb<1.2"
fi
exec "$TAP_VENV/bin/python" scripts/demo.py --tap-venv "$TAP_VENV" --target-venv "$TARGET_VENV" "$@"
