"""Small effect-size, multiplicity and power helpers shared by the analyses."""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.optimize
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower


def hedges_g(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Hedges' g of x - y (pooled SD, small-sample factor J) with a normal-approximation CI.

    SE from Hedges & Olkin (1985): sqrt((n1+n2)/(n1 n2) + g^2 / (2 (n1+n2))).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return (math.nan, math.nan, math.nan)
    sp = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if sp == 0:
        return (math.nan, math.nan, math.nan)
    d = (x.mean() - y.mean()) / sp
    j = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    g = j * d
    se = math.sqrt((n1 + n2) / (n1 * n2) + g * g / (2.0 * (n1 + n2)))
    z = stats.norm.ppf(0.5 + level / 2)
    return (g, g - z * se, g + z * se)


def bh_fdr(pvalues, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg adjusted p-values and rejections; NaN p-values stay NaN/False."""
    p = np.asarray(pvalues, float)
    adj = np.full(p.shape, np.nan)
    rej = np.zeros(p.shape, bool)
    ok = np.isfinite(p)
    if ok.any():
        r, a, _, _ = multipletests(p[ok], alpha=q, method="fdr_bh")
        adj[ok] = a
        rej[ok] = r
    return adj, rej


def apply_fdr(df, family: tuple[str, ...], p_col: str = "p", q: float = 0.05, prefix: str = ""):
    """Add ``<prefix>p_fdr``, ``<prefix>fdr_reject`` and ``fdr_family`` columns, per family."""
    df = df.copy()
    df[f"{prefix}p_fdr"] = np.nan
    df[f"{prefix}fdr_reject"] = False
    if df.empty:
        df["fdr_family"] = ""
        return df
    keys = [k for k in family if k in df.columns]
    if keys:
        labels = df[keys].astype(str).agg("|".join, axis=1)
    else:
        labels = np.repeat("all", len(df))
    df["fdr_family"] = labels
    for _, idx in df.groupby("fdr_family", sort=True).groups.items():
        adj, rej = bh_fdr(df.loc[idx, p_col].to_numpy(float), q)
        df.loc[idx, f"{prefix}p_fdr"] = adj
        df.loc[idx, f"{prefix}fdr_reject"] = rej
    df[f"{prefix}fdr_reject"] = df[f"{prefix}fdr_reject"].astype(bool)
    return df


@functools.lru_cache(maxsize=4096)  # root finding is slow; many tests share the same (n1, n2)
def mde_two_group_d(n1: int, n2: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest standardised difference detectable by a two-sided two-sample t-test."""
    if n1 < 2 or n2 < 2:
        return math.nan
    # Root-find the power curve ourselves: statsmodels' solve_power returns a 1-element array,
    # and for some (n1, n2) (e.g. 97 vs 220) the root of the wrong sign (-0.34), which the
    # unbalanced designs of real studies hit.
    analysis = TTestIndPower()

    def shortfall(d: float) -> float:
        achieved = float(analysis.power(effect_size=d, nobs1=n1, ratio=n2 / n1, alpha=alpha))
        # the noncentral t's tail underflows to NaN only where power is ~1
        return (achieved if math.isfinite(achieved) else 1.0) - power

    return float(scipy.optimize.brentq(shortfall, 1e-6, 20.0, xtol=1e-10))


def mde_from_se(se: float, df: float | None = None, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable effect for an estimate with standard error ``se``:
    (t_{1-alpha/2} + t_{power}) * se (normal quantiles when df is None)."""
    if not np.isfinite(se):
        return math.nan
    if df is None or not np.isfinite(df):
        return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)
    return float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se)


def mde_correlation(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest |r| detectable with n pairs (Fisher z approximation)."""
    if n <= 3:
        return math.nan
    return float(math.tanh((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) / math.sqrt(n - 3)))
