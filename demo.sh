#!/usr/bin/env bash
# The main job: generate the simulated demo study and run the whole workflow on it.
# Usage: ./demo.sh [extra snakemake arguments], e.g. ./demo.sh --configfile config/full.yaml
set -euo pipefail
cd "$(dirname "$0")"
source tools/venv.sh
cores="${PAINMRS_CORES:-$(python -c 'import os; print(len(os.sched_getaffinity(0)))')}"
exec snakemake --cores "$cores" --rerun-incomplete "$@"
