#!/usr/bin/env bash
# The main job: a real workflow on the embedded local world, crash and resume included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
exec .venv/bin/python examples/demo.py "$@"
