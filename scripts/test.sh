#!/usr/bin/env bash
# All checks: ruff, mypy --strict on wdk/, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
echo "== ruff"
.venv/bin/ruff check wdk tests bench examples scripts
echo "== mypy (strict, wdk/ and the typed usage example)"
.venv/bin/mypy
.venv/bin/mypy --strict tests/typing
echo "== pytest"
exec .venv/bin/pytest -q "$@"
