#!/usr/bin/env bash
# All checks: ruff, mypy --strict on wdk/, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
echo "== ruff"
.venv/bin/ruff check wdk tests bench examples scripts
echo "== mypy (strict, wdk/)"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/pytest -q "$@"
