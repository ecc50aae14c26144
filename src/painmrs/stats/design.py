"""Covariate handling shared by the models: which covariates are usable, and design matrices."""

from __future__ import annotations

import pandas as pd


def is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def usable_covariates(df: pd.DataFrame, covariates, required=()) -> tuple[list[str], list[str], pd.DataFrame]:
    """Keep covariates present, not all-missing and not constant; drop rows missing a kept one.

    Returns (kept, notes, rows). Dropped covariates and dropped rows are named in ``notes``
    so the output tables say exactly what the model used.
    """
    kept, notes = [], []
    for c in covariates:
        if c not in df.columns or df[c].isna().all():
            notes.append(f"{c}:absent")
            continue
        if df[c].dropna().nunique() < 2:
            notes.append(f"{c}:constant")
            continue
        kept.append(c)
    rows = df.dropna(subset=[*required, *kept])
    if len(rows) < len(df):
        notes.append(f"rows_missing_covariates:{len(df) - len(rows)}")
    return kept, notes, rows


def covariate_matrix(df: pd.DataFrame, covariates) -> pd.DataFrame:
    """Numeric covariates as-is (centred, so intercepts stay interpretable); categorical ones as
    treatment-coded dummies against their first sorted level."""
    cols = {}
    for c in covariates:
        s = df[c]
        if is_categorical(s):
            levels = sorted(s.astype(str).unique())
            for lev in levels[1:]:
                cols[f"{c}[{lev}]"] = (s.astype(str) == lev).astype(float).to_numpy()
        else:
            v = s.astype(float).to_numpy()
            cols[c] = v - v.mean()
    return pd.DataFrame(cols, index=df.index)


def formula_terms(covariates, df: pd.DataFrame | None = None) -> str:
    parts = []
    for c in covariates:
        if df is not None and c in df.columns and is_categorical(df[c]):
            parts.append(f"C({c})")
        else:
            parts.append(c)
    return " + ".join(parts)
