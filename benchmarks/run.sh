#!/usr/bin/env bash
# The benchmark: this tap vs singer-io tap-kustomer 1.1.0 on the local sandbox.
#   bash benchmarks/run.sh [--tap-setting KEY=VALUE ...] [--quick] [--time-limit-1x S]
# Builds (or reuses) two venvs at the repository top, then writes docs/benchmarks.md and
# docs/benchmarks.png. Progress on stderr. See benchmarks/README.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  log "needs Python 3.11 or newer as \$PYTHON or python3 (found $("$python" --version 2>&1))"
  exit 2
}

# venv DIR MARKER-TEXT PIP-ARGS...: (re)build DIR unless its marker says it holds MARKER-TEXT.
venv() {
  local dir="$1" want="$2"
  shift 2
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.bench-requirements" 2>/dev/null)" = "$want" ]; then
    log "reusing $dir"
    return
  fi
  log "building $dir ($*)"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
  printf '%s' "$want" > "$dir/.bench-requirements" # last: a half-done install is redone
}

# This tap (editable, so the benchmark measures the working tree) plus matplotlib for the chart;
# rebuilt when pyproject.toml changes.
venv .venv-bench "tap-kustomer -e . -e ./sandbox $(cat pyproject.toml sandbox/pyproject.toml | sha256sum | cut -c1-16) matplotlib" -e . -e ./sandbox matplotlib
venv .venv-bench-1x "tap-kustomer==1.1.0" "tap-kustomer==1.1.0"

exec .venv-bench/bin/python benchmarks/bench.py "$@"
