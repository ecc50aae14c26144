#!/usr/bin/env bash
# System packages CI needs beyond Python: each tool script is idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
for script in tools/install_chromium.sh tools/local_slurm.sh; do
    if [ -f "$script" ]; then
        bash "$script"
    fi
done
