# Sourced by demo.sh and test.sh: create (or refresh) the project's virtual environment
# at .venv with the pinned dependencies, so both commands work on a fresh clone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PAINMRS_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.painmrs-installed"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[painmrs] creating virtual environment at $VENV" >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[painmrs] installing pinned dependencies (pyproject.toml changed or first run)" >&2
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]" >&2
    echo "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export MPLBACKEND=Agg
