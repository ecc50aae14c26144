#!/usr/bin/env bash
# Install Debian's headless-capable chromium for the report test, if it is not already present.
# Idempotent: exits at once when a chromium binary is on PATH. Needs root (or sudo) and apt.
set -euo pipefail
for exe in chromium chromium-browser; do
    if command -v "$exe" >/dev/null 2>&1; then
        echo "[install_chromium] $(command -v "$exe") already installed" >&2
        exit 0
    fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[install_chromium] apt-get not found; install chromium by hand (report test will skip)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "[install_chromium] not root and no sudo; skipping (report test will skip)" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
echo "[install_chromium] installed $(command -v chromium)" >&2
