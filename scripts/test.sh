#!/usr/bin/env bash
# Install everything the tests need (venv, package, Debian's chromium for the browser tests) and run
# lint, type checks and the test suite. Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check bot knowledge indexer escalation tests bench
.venv/bin/mypy
.venv/bin/lint-imports | grep -E "KEPT|BROKEN|Contracts:" || { .venv/bin/lint-imports; exit 1; }
.venv/bin/python -m pytest "$@"
