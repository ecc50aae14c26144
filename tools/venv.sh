# Sourced by demo.sh and test.sh: create (or refresh) the project's virtual environment at
# .venv with the pinned dependencies (constraints.txt), so both commands work on a fresh clone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PAINMRS_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
stamp="$VENV/.painmrs-installed"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[painmrs] creating virtual environment at $VENV" >&2
    "$PY" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[painmrs] installing pinned dependencies into $VENV (log: $VENV/install.log)" >&2
    if ! "$VENV/bin/python" -m pip install -c "$ROOT/constraints.txt" -e "$ROOT[test]" >"$VENV/install.log" 2>&1; then
        tail -n 30 "$VENV/install.log" >&2
        echo "[painmrs] dependency installation failed; full log: $VENV/install.log" >&2
        exit 1
    fi
    echo "$want" >"$stamp"
fi
export PATH="$VENV/bin:$PATH"
export MPLBACKEND=Agg
# Small matrices everywhere: multi-threaded BLAS only adds contention (measured 10-20x slower
# fits on 2 busy cores). Parallelism comes from Snakemake jobs and pytest workers instead.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
