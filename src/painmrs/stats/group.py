"""Patients vs controls, per region x metabolite x measure: ANCOVA with sensitivity analyses.

For each patient group against the control group: OLS ``value ~ patient + covariates`` (the
patient indicator's coefficient is the covariate-adjusted difference), Hedges' g, Welch's t,
Mann-Whitney U, Shapiro-Wilk on the residuals, Levene (median-centred) on the groups, the
minimum detectable effect at the configured power, and Benjamini-Hochberg FDR per family.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .config import StatsOptions
from .design import covariate_matrix, formula_terms, usable_covariates
from .effects import apply_fdr, hedges_g, mde_two_group_d

def is_constant(y) -> bool:
    y = np.asarray(y, float)
    return len(y) == 0 or float(np.ptp(y)) <= 1e-9 * max(1.0, float(np.abs(y).max()))


KEYS = ["group", "control", "region", "acq", "metabolite", "measure"]


def select_sessions(df: pd.DataFrame, sessions) -> pd.DataFrame:
    """Rows from the listed sessions (with or without the ses- prefix) or with no session;
    one row per subject: the first listed session wins."""
    wanted = [s.removeprefix("ses-") for s in sessions]
    sess = df["session"].fillna("").astype(str).str.removeprefix("ses-")
    rank = sess.map({s: i for i, s in enumerate(wanted)})
    rank = rank.where(sess != "", -1)
    out = df.assign(_rank=rank)[rank.notna()]
    out = out.sort_values("_rank", kind="mergesort")
    out = out.drop_duplicates(["subject", "region", "acq", "metabolite", "measure"], keep="first")
    return out.drop(columns="_rank")


def ancova_two_groups(
    data: pd.DataFrame,
    patient_group: str,
    control_group: str,
    covariates=("age", "sex", "f_gm"),
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict:
    """One patient-vs-control comparison on rows with columns value, group and the covariates."""
    d = data[data["group"].isin([patient_group, control_group])]
    kept, notes, d = usable_covariates(d, covariates, required=["value"])
    y = d["value"].to_numpy(float)
    is_pat = (d["group"] == patient_group).to_numpy()
    n_p, n_c = int(is_pat.sum()), int((~is_pat).sum())
    out = {
        "n_patient": n_p,
        "n_control": n_c,
        "covariates_used": ",".join(kept),
        "notes": ";".join(notes),
        "formula": f"value ~ group{' + ' + formula_terms(kept, d) if kept else ''}",
    }
    nan_fields = [
        "mean_control", "sd_control", "mean_patient", "sd_patient", "diff_adj", "diff_adj_se",
        "diff_adj_ci_low", "diff_adj_ci_high", "diff_adj_pct", "diff_adj_pct_ci_low",
        "diff_adj_pct_ci_high", "p", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high", "welch_t",
        "welch_p", "mwu_u", "mwu_p", "shapiro_w", "shapiro_p", "levene_w", "levene_p", "resid_sd",
        "mde_d", "mde_pct", "df_resid",
    ]
    out.update({k: math.nan for k in nan_fields})
    if n_p < 2 or n_c < 2:
        out["notes"] = ";".join([*notes, "too_few_subjects"])
        return out
    if is_constant(y):
        # e.g. tCr/tCr: nothing to test, and float noise would give meaningless p-values.
        out["notes"] = ";".join([*notes, "constant_value"])
        return out
    yp, yc = y[is_pat], y[~is_pat]
    out.update(
        mean_control=yc.mean(), sd_control=yc.std(ddof=1), mean_patient=yp.mean(), sd_patient=yp.std(ddof=1)
    )
    # Small samples: drop covariates (last declared first) until the model keeps >= 2 residual
    # degrees of freedom and full rank, and say so, rather than report nothing.
    X, estimable = _estimable_design(d, kept, is_pat, notes)
    out["covariates_used"] = ",".join(kept)
    out["formula"] = f"value ~ group{' + ' + formula_terms(kept, d) if kept else ''}"
    out["notes"] = ";".join(notes)
    if estimable:
        fit = sm.OLS(y, X.to_numpy()).fit()
        est, se = float(fit.params[1]), float(fit.bse[1])
        lo, hi = fit.conf_int(alpha)[1]
        out.update(
            diff_adj=est, diff_adj_se=se, diff_adj_ci_low=lo, diff_adj_ci_high=hi,
            p=float(fit.pvalues[1]), resid_sd=float(np.sqrt(fit.scale)), df_resid=float(fit.df_resid),
        )
        if len(y) >= 3:
            out["shapiro_w"], out["shapiro_p"] = map(float, stats.shapiro(fit.resid))
    else:
        out["notes"] = ";".join([*notes, "model_not_estimable"])
    mc = yc.mean()
    if mc != 0 and np.isfinite(out["diff_adj"]):
        out["diff_adj_pct"] = 100 * out["diff_adj"] / mc
        out["diff_adj_pct_ci_low"] = 100 * out["diff_adj_ci_low"] / mc
        out["diff_adj_pct_ci_high"] = 100 * out["diff_adj_ci_high"] / mc
    out["hedges_g"], out["hedges_g_ci_low"], out["hedges_g_ci_high"] = hedges_g(yp, yc)
    out.update(_unadjusted_tests(yp, yc))
    out["mde_d"] = mde_two_group_d(n_p, n_c, alpha, power)
    if np.isfinite(out["resid_sd"]) and mc != 0:
        out["mde_pct"] = 100 * out["mde_d"] * out["resid_sd"] / abs(mc)
    return out


def _estimable_design(d: pd.DataFrame, kept: list, is_pat: np.ndarray, notes: list):
    """(design matrix, estimable): drops covariates from ``kept`` (last first, noted in
    ``notes``) until the model keeps >= 2 residual degrees of freedom and full rank."""
    n = len(is_pat)
    while True:
        X = covariate_matrix(d, kept)
        X.insert(0, "patient", is_pat.astype(float))
        X.insert(0, "const", 1.0)
        estimable = n - X.shape[1] >= 2 and np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]
        if estimable or not kept:
            return X, estimable
        notes.append(f"{kept.pop()}:dropped_for_df")


def _unadjusted_tests(yp: np.ndarray, yc: np.ndarray) -> dict:
    """Welch t, Mann-Whitney U and Levene (median) tests of patients vs controls."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        w = stats.ttest_ind(yp, yc, equal_var=False)
        out["welch_t"], out["welch_p"] = float(w.statistic), float(w.pvalue)
        u = stats.mannwhitneyu(yp, yc, alternative="two-sided")
        out["mwu_u"], out["mwu_p"] = float(u.statistic), float(u.pvalue)
        lev = stats.levene(yp, yc, center="median")
        out["levene_w"], out["levene_p"] = float(lev.statistic), float(lev.pvalue)
    return out


def filter_rows(df: pd.DataFrame, regions=(), metabolites=(), measures=(), groups=()) -> pd.DataFrame:
    """Rows of the declared regions / metabolites / measures / groups (empty filter: all)."""
    for col, keep in (("region", regions), ("metabolite", metabolites), ("measure", measures), ("group", groups)):
        if keep:
            df = df[df[col].isin(keep)]
    return df


def _families(opts: StatsOptions, kind: str) -> list:
    """Declared families of one kind, or the default family built from the stage options."""
    from .config import Family

    fams = [f for f in opts.families if f.kind == kind]
    return fams or [Family(name="", kind=kind, measures=opts.measures)]


def group_comparisons(table: pd.DataFrame, opts: StatsOptions) -> pd.DataFrame:
    """Every patient group vs the control group, per region x acq x metabolite x measure.

    Runs once per declared ``group`` family (one BH correction each); without declared
    families, one default family with FDR per ``opts.group.fdr_family``.
    """
    outs = []
    for fam in _families(opts, "group"):
        df = filter_rows(table[table["qc_pass"]], fam.regions, fam.metabolites, fam.measures or opts.measures)
        df = select_sessions(df, fam.sessions if fam.sessions is not None else opts.group.sessions)
        covariates = fam.covariates if fam.covariates is not None else opts.group.covariates
        present = set(df["group"])
        wanted = [g for g in (fam.groups or opts.patient_groups) if g != opts.control_group]
        groups = [g for g in wanted if g in present] if wanted else sorted(present - {opts.control_group})
        rows = []
        for (region, acq, met, meas), sub in df.groupby(["region", "acq", "metabolite", "measure"], sort=True):
            if opts.control_group not in set(sub["group"]):
                continue
            for g in groups:
                if g not in set(sub["group"]):
                    continue
                res = ancova_two_groups(sub, g, opts.control_group, covariates, opts.alpha, opts.power)
                rows.append({"family": fam.name, "group": g, "control": opts.control_group, "region": region,
                             "acq": acq, "metabolite": met, "measure": meas, **res})
        out = pd.DataFrame(rows)
        if out.empty:
            continue
        family = ("family",) if fam.name else opts.group.fdr_family
        outs.append(apply_fdr(out, family, "p", fam.fdr_q or opts.fdr_q))
    if not outs:
        return pd.DataFrame(columns=["family", *KEYS, "p", "p_fdr", "fdr_reject"])
    out = pd.concat(outs, ignore_index=True)
    return out.sort_values(["family", *KEYS], kind="mergesort").reset_index(drop=True)


def covariate_slopes(table: pd.DataFrame, opts: StatsOptions, covariate: str = "age", per: float = 10.0) -> pd.DataFrame:
    """Slope of value on ``covariate`` (per ``per`` units, % of mean) adjusted for group and the
    other covariates (declared ``age`` families: their groups only): recovers planted age effects."""
    if covariate not in table.columns:
        return pd.DataFrame()
    outs = []
    for fam in _families(opts, "age"):
        df = filter_rows(table[table["qc_pass"]], fam.regions, fam.metabolites, fam.measures or opts.measures, fam.groups)
        df = select_sessions(df, fam.sessions if fam.sessions is not None else opts.group.sessions)
        covs = fam.covariates if fam.covariates is not None else opts.group.covariates
        others = [c for c in covs if c != covariate]
        rows = []
        for (region, acq, met, meas), sub in df.groupby(["region", "acq", "metabolite", "measure"], sort=True):
            if is_constant(sub["value"]):
                continue
            kept, notes, d = usable_covariates(sub, [covariate, "group", *others], required=["value"])
            if covariate not in kept or len(d) < len(kept) + 5:
                continue
            X = covariate_matrix(d, kept)
            X.insert(0, "const", 1.0)
            fit = sm.OLS(d["value"].to_numpy(float), X.to_numpy()).fit()
            j = list(X.columns).index(covariate)
            mean = d["value"].mean()
            lo, hi = fit.conf_int(opts.alpha)[j]
            rows.append({
                "family": fam.name, "covariate": covariate, "region": region, "acq": acq, "metabolite": met,
                "measure": meas, "n": len(d), "groups": ",".join(sorted(set(d["group"]))),
                "slope_per_unit": fit.params[j], "p": fit.pvalues[j],
                "pct_per": 100 * per * fit.params[j] / mean, "pct_per_ci_low": 100 * per * lo / mean,
                "pct_per_ci_high": 100 * per * hi / mean, "per_units": per,
                "formula": f"value ~ {formula_terms(kept, d)}", "notes": ";".join(notes),
            })
        out = pd.DataFrame(rows)
        if not out.empty:
            outs.append(apply_fdr(out, ("family", "covariate", "measure"), "p", fam.fdr_q or opts.fdr_q))
    if not outs:
        return pd.DataFrame()
    out = pd.concat(outs, ignore_index=True)
    return out.sort_values(["family", "covariate", "region", "acq", "metabolite", "measure"]).reset_index(drop=True)
