#!/usr/bin/env bash
# All checks: ruff, mypy --strict on wdk/, then the whole test suite (in two processes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
echo "== ruff"
.venv/bin/ruff check wdk tests bench examples scripts
echo "== mypy (strict, wdk/ and the typed usage example)"
.venv/bin/mypy
.venv/bin/mypy --strict tests/typing
echo "== pytest"
# Two processes (pytest-xdist): most tests wait on child processes, servers
# and timers, so two share two cores well. Each test has its own temp dir,
# free ports and PostgreSQL schema; tests that stop PostgreSQL use a private
# cluster. `-n 0` runs them in this process (a later -n wins).
exec .venv/bin/pytest -q -n 2 --dist worksteal "$@"
