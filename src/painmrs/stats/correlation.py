"""Metabolite-pain correlations: Pearson, Spearman, partial (covariate-adjusted) correlation,
percentile bootstrap CIs with a seed derived from the test's identity (order-independent), and
an attenuation-corrected Pearson r.

Attenuation correction (Spearman 1904): measurement error in the metabolite estimate shrinks
the correlation with a score by sqrt(reliability), where reliability = true-score variance /
observed variance of the metabolite measure within the tested set. The per-scan error variance
comes from the fit: the CRLB is the SD of the estimate as % of it, so
``error_var = (crlb_pct / 100 * value) ** 2`` (on the scale the correlation uses: the study
table's linear values); for a change score it is the sum over the two sessions. Then::

    reliability = 1 - mean(error_var) / var(observed)      (var with ddof=1)
    r_corrected = r / sqrt(reliability)                     (score treated as error-free)
    CI          = Fisher-z CI of r / sqrt(reliability), clipped to [-1, 1]

The CI ignores the sampling error of the reliability estimate itself (it is slightly
anti-conservative for small n). Not reported (NaN, with ``reliability_note``) when no CRLB is
available or reliability <= MIN_RELIABILITY (the correction would multiply r by > 3.2 and its
noise with it). Raw r stays the primary statistic; the corrected r is for comparing with
true-concentration effect sizes (the demo study's planted r).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
from scipy import stats

from .config import StatsOptions
from .design import covariate_matrix, usable_covariates
from .effects import apply_fdr, mde_correlation
from .group import select_sessions

KEYS = ["group", "region", "acq", "metabolite", "measure", "score"]
MIN_RELIABILITY = 0.1
CORRECTED_COLUMNS = ["reliability", "pearson_r_corrected", "pearson_r_corrected_ci_low",
                     "pearson_r_corrected_ci_high", "reliability_note"]
COLUMN_DOCS = {
    "reliability": "reliability of the metabolite measure within the tested set: "
                   "1 - mean(CRLB error variance) / var(observed); error SD per scan = crlb_pct/100 x value "
                   "(change scores: sum of both sessions' error variances)",
    "pearson_r_corrected": "attenuation-corrected Pearson r = pearson_r / sqrt(reliability) (Spearman 1904; "
                           "score treated as error-free), clipped to [-1, 1]; n/a when reliability <= "
                           f"{MIN_RELIABILITY} or no CRLB (see reliability_note). Secondary: pearson_r is primary",
    "pearson_r_corrected_ci_low": "Fisher-z 95% CI of pearson_r divided by sqrt(reliability), clipped to [-1, 1] "
                                  "(ignores the reliability estimate's own sampling error)",
    "pearson_r_corrected_ci_high": "see pearson_r_corrected_ci_low",
    "reliability_note": "why pearson_r_corrected is n/a (no_crlb | reliability_le_0.1) or crlb_missing:k/n "
                        "(error variance averaged over the scans with a CRLB); empty otherwise",
}


def stable_seed(seed: int, *parts) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32("|".join(map(str, parts)).encode())])


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def _residualise(v: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Residuals of v (..., n) on design Z (..., n, k), batched over leading axes."""
    ztz = np.swapaxes(Z, -1, -2) @ Z
    zty = np.swapaxes(Z, -1, -2) @ v[..., None]
    beta = np.linalg.pinv(ztz) @ zty
    return v - (Z @ beta)[..., 0]


def partial_correlation(x, y, Z) -> tuple[float, float, int]:
    """Pearson correlation of x and y after regressing both on Z (with intercept).

    p from t = r sqrt(df / (1 - r^2)), df = n - 2 - k (k covariates): identical to the
    t-test of x's coefficient in the regression of y on x and Z.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    Z = np.column_stack([np.ones(n), np.asarray(Z, float).reshape(n, -1)])
    k = Z.shape[1] - 1
    rx, ry = _residualise(x, Z), _residualise(y, Z)
    r = float(_rowwise_pearson(rx, ry))
    df = n - 2 - k
    if df < 1 or not np.isfinite(r) or abs(r) >= 1:
        return r, math.nan, df
    t = r * math.sqrt(df / (1 - r * r))
    return r, float(2 * stats.t.sf(abs(t), df)), df


def crlb_error_variance(value, crlb_pct) -> np.ndarray:
    """Per-scan measurement error variance of ``value`` from its CRLB (% of the estimate)."""
    return (np.asarray(crlb_pct, float) / 100.0 * np.asarray(value, float)) ** 2


def attenuation_corrected(r: float, ci_low: float, ci_high: float, x, x_error_variance,
                          min_reliability: float = MIN_RELIABILITY) -> dict:
    """Spearman's correction of r for measurement error in x (see the module docstring).

    ``x_error_variance``: per-observation error variance of x (NaN where unknown), or None.
    Returns the CORRECTED_COLUMNS; NaN estimates with a reliability_note when not estimable.
    """
    out = dict.fromkeys(CORRECTED_COLUMNS[:-1], math.nan)
    out["reliability_note"] = ""
    x = np.asarray(x, float)
    ev = np.full(len(x), np.nan) if x_error_variance is None else np.asarray(x_error_variance, float)
    known = np.isfinite(ev)
    if known.sum() < 3 or len(x) < 3:
        out["reliability_note"] = "no_crlb"
        return out
    notes = [] if known.all() else [f"crlb_missing:{int((~known).sum())}/{len(x)}"]
    var_obs = float(np.var(x, ddof=1))
    rel = 1.0 - float(ev[known].mean()) / var_obs if var_obs > 0 else math.nan
    out["reliability"] = rel
    if not np.isfinite(rel) or rel <= min_reliability:
        out["reliability_note"] = ";".join([*notes, f"reliability_le_{min_reliability:g}"])
        return out
    k = 1.0 / math.sqrt(rel)
    clip = lambda v: float(min(1.0, max(-1.0, v * k)))  # noqa: E731
    out.update(pearson_r_corrected=clip(r), pearson_r_corrected_ci_low=clip(ci_low),
               pearson_r_corrected_ci_high=clip(ci_high), reliability_note=";".join(notes))
    return out


def correlate(x, y, Z=None, n_boot: int = 2000, rng=None, level: float = 0.95, x_error_variance=None) -> dict:
    """Pearson and Spearman (with bootstrap percentile CIs), partial Pearson/Spearman, and the
    attenuation-corrected Pearson r for error in x (``x_error_variance`` per observation)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    out = {"n": n}
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    out.update(pearson_r=float(pr.statistic), pearson_p=float(pr.pvalue),
               spearman_rho=float(sr.statistic), spearman_p=float(sr.pvalue))
    ci = pr.confidence_interval(level)
    out.update(pearson_fisher_ci_low=float(ci.low), pearson_fisher_ci_high=float(ci.high))
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    for k in ("pearson_ci_low", "pearson_ci_high", "spearman_ci_low", "spearman_ci_high",
              "partial_r_ci_low", "partial_r_ci_high"):
        out[k] = math.nan
    has_z = Z is not None and np.asarray(Z).size > 0
    Zm = np.column_stack([np.ones(n), np.asarray(Z, float).reshape(n, -1)]) if has_z else np.ones((n, 1))
    if has_z:
        out["partial_r"], out["partial_p"], out["partial_df"] = partial_correlation(x, y, Zm[:, 1:])
        out["partial_spearman"], out["partial_spearman_p"], _ = partial_correlation(
            stats.rankdata(x), stats.rankdata(y), Zm[:, 1:])
    else:
        out["partial_r"], out["partial_p"], out["partial_df"] = out["pearson_r"], out["pearson_p"], n - 2
        out["partial_spearman"], out["partial_spearman_p"] = out["spearman_rho"], out["spearman_p"]
    if n_boot > 0 and n >= 4:
        rng = rng or np.random.default_rng(0)
        idx = rng.integers(0, n, size=(n_boot, n))
        xb, yb = x[idx], y[idx]
        rp = _rowwise_pearson(xb, yb)
        rs = _rowwise_pearson(stats.rankdata(xb, axis=1), stats.rankdata(yb, axis=1))
        zb = Zm[idx]
        rpart = _rowwise_pearson(_residualise(xb, zb), _residualise(yb, zb)) if has_z else rp
        for name, arr in (("pearson", rp), ("spearman", rs), ("partial_r", rpart)):
            arr = arr[np.isfinite(arr)]
            if len(arr) >= 0.9 * n_boot:
                out[f"{name}_ci_low"], out[f"{name}_ci_high"] = map(float, np.percentile(arr, [lo_q, hi_q]))
    out.update(attenuation_corrected(out["pearson_r"], out["pearson_fisher_ci_low"],
                                     out["pearson_fisher_ci_high"], x, x_error_variance))
    return out


def default_scores(table: pd.DataFrame, exclude=()) -> list[str]:
    """Numeric participant/session columns that are not design columns or covariates."""
    from .study_table import CORE_COLUMNS

    design = {"group", "age", "sex", "study", "arm", "time", "period", "sequence_order", "handedness"}
    out = []
    for c in table.columns:
        if c in CORE_COLUMNS or c in design or c in exclude or c.startswith("_"):
            continue
        if pd.api.types.is_numeric_dtype(table[c]) and table[c].notna().any():
            out.append(c)
    return out


def pain_correlations(table: pd.DataFrame, opts: StatsOptions) -> pd.DataFrame:
    """Within each patient group (and pooled, if configured), every score x region x metabolite
    x measure; once per declared ``correlation`` family (one BH correction each)."""
    from .group import _families, filter_rows

    co = opts.correlation
    outs = []
    for fam in _families(opts, "correlation"):
        df = filter_rows(table[table["qc_pass"]], fam.regions, fam.metabolites, fam.measures or opts.measures)
        df = select_sessions(df, fam.sessions if fam.sessions is not None else co.sessions)
        covariates = list(fam.covariates if fam.covariates is not None else co.covariates)
        scores = list(fam.scores or co.scores) or default_scores(table, exclude=covariates)
        groups = [g for g in (fam.groups or co.groups) if g != opts.control_group] or sorted(
            set(df["group"]) - {opts.control_group})
        subsets = [(g, df[df["group"] == g], covariates) for g in groups]
        if co.pooled:
            subsets.append(("pooled", df[df["group"].isin(groups)], [*covariates, "group"]))
        rows = []
        for label, gdf, covs in subsets:
            for score in scores:
                if score not in gdf.columns:
                    continue
                for (region, acq, met, meas), sub in gdf.groupby(["region", "acq", "metabolite", "measure"], sort=True):
                    kept, notes, d = usable_covariates(sub, covs, required=["value", score])
                    if len(d) < co.min_n or d[score].nunique() < 3 or d["value"].nunique() < 3:
                        continue
                    Z = covariate_matrix(d, kept).to_numpy() if kept else None
                    rng = stable_seed(co.seed, label, region, acq, met, meas, score)
                    # reliability on exactly the rows correlated (after QC and covariate filtering)
                    err = crlb_error_variance(d["value"], d["crlb_pct"]) if "crlb_pct" in d.columns else None
                    res = correlate(d["value"].to_numpy(float), d[score].to_numpy(float), Z, co.n_bootstrap, rng,
                                    x_error_variance=err)
                    res["mde_r"] = mde_correlation(res["n"], opts.alpha, opts.power)
                    rows.append({"family": fam.name, "group": label, "region": region, "acq": acq, "metabolite": met,
                                 "measure": meas, "score": score, "covariates_used": ",".join(kept),
                                 "notes": ";".join(notes), **res})
        out = pd.DataFrame(rows)
        if out.empty:
            continue
        family = ("family",) if fam.name else co.fdr_family
        q = fam.fdr_q or opts.fdr_q
        # FDR on the Spearman test (robust primary); Pearson and partial p-values adjusted alongside.
        out = apply_fdr(out, family, "spearman_p", q)
        out = apply_fdr(out, family, "pearson_p", q, prefix="pearson_")
        out = apply_fdr(out, family, "partial_p", q, prefix="partial_")
        outs.append(out)
    if not outs:
        return pd.DataFrame(columns=["family", *KEYS, "spearman_p", "p_fdr", "fdr_reject"])
    out = pd.concat(outs, ignore_index=True)
    return out.sort_values(["family", *KEYS], kind="mergesort").reset_index(drop=True)
