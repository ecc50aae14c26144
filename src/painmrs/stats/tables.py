"""Deterministic TSV + JSON-sidecar writing for every statistics table."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import atomic

FLOAT_FORMAT = "%.6g"


def software_versions() -> dict[str, str]:
    import scipy
    import statsmodels

    from .. import __version__

    return {
        "painmrs": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
    }


def format_table(df: pd.DataFrame, sort_by: list[str] | None = None) -> str:
    """TSV text with sorted rows and a fixed float format, so reruns are byte-identical."""
    out = df.copy()
    if sort_by:
        keys = [c for c in sort_by if c in out.columns]
        if keys:
            out = out.sort_values(keys, kind="mergesort", na_position="last")
    out = out.reset_index(drop=True)
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
    return out.to_csv(sep="\t", index=False, float_format=FLOAT_FORMAT, lineterminator="\n", na_rep="n/a")


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (set, tuple)):
        return sorted(value) if isinstance(value, set) else list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def sidecar_text(sidecar: Mapping[str, Any]) -> str:
    return json.dumps(sidecar, indent=2, sort_keys=True, default=_json_default, allow_nan=False) + "\n"


def write_table(
    df: pd.DataFrame,
    path: str | os.PathLike,
    sidecar: Mapping[str, Any],
    sort_by: list[str] | None = None,
) -> Path:
    """Write ``df`` as TSV and ``sidecar`` (plus software versions) as ``<path stem>.json``."""
    path = Path(path)
    atomic.write_text(path, format_table(df, sort_by))
    meta = dict(sidecar)
    meta.setdefault("software", software_versions())
    meta.setdefault("n_rows", int(len(df)))
    atomic.write_text(path.with_suffix(".json"), sidecar_text(_clean_nan(meta)))
    return path


def _clean_nan(obj):
    if isinstance(obj, Mapping):
        return {str(k): _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    from ..errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "table not found")
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a", "NA", ""], keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot parse TSV: {exc}") from exc
