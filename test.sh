#!/usr/bin/env bash
# The test suite: sets up the environment, then runs pytest (unit, workflow and real-data tests).
# Usage: ./test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
source tools/venv.sh
workers="${PAINMRS_TEST_WORKERS:-2}"
exec python -m pytest -n "$workers" --dist loadgroup "$@"
