#!/usr/bin/env bash
# Install everything the tests need (venv, package, Debian's chromium and PostgreSQL) and run
# lint, type checks and the test suite. Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# Debian packages the tests drive for real: chromium (browser tests), PostgreSQL 15's server (the
# contract suite and the two-replica test start a throwaway cluster with initdb + pg_ctl), Dovecot
# (the IMAP poller reads a throwaway mailbox)
want=()
[ -x /usr/bin/chromium ] || want+=(chromium fonts-noto-cjk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ -x /usr/sbin/dovecot ] || want+=(dovecot-imapd)  # a real IMAP server for the mailbox poller
if [ ${#want[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's ${want[*]} for the tests" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check bot knowledge indexer escalation tests bench
.venv/bin/mypy
.venv/bin/lint-imports | grep -E "KEPT|BROKEN|Contracts:" || { .venv/bin/lint-imports; exit 1; }
.venv/bin/python -m pytest "$@"
