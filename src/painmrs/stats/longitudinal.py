"""Pre/post-treatment contrasts with linear mixed models (statsmodels MixedLM).

Parallel arms: ``value ~ arm * time + covariates + (1 | subject)``; the arm x time interaction
(difference in change vs the reference arm) is the primary contrast. Subjects with a missing
session still contribute their other session to the mixed model (no listwise deletion); the
table reports how many did. Also: within-arm paired changes and the correlation of metabolite
change with score change, with its attenuation-corrected r (correlation.attenuation_corrected;
the change's error variance is the sum of the two sessions' CRLB variances, so the reliability
of a change score is low when the true change is small next to two scans' noise).

Crossover: ``value ~ treatment + period + sequence + (1 | subject)``; the treatment effect is
primary, the sequence term and Grizzle's test on subject totals check carry-over.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .config import LongitudinalStudy, StatsOptions
from .correlation import correlate, crlb_error_variance, default_scores, stable_seed
from .design import covariate_matrix, formula_terms, usable_covariates
from .effects import apply_fdr, mde_from_se
from .group import filter_rows, is_constant

UNIT = ["region", "acq", "metabolite", "measure"]
_REF_WORDS = re.compile(r"sham|placebo|^pl$|control|usual", re.I)


def infer_studies(table: pd.DataFrame) -> tuple[LongitudinalStudy, ...]:
    """Declare the treatment studies found in the table when the config lists none."""
    if "study" not in table.columns:
        return ()
    out = []
    for study in sorted(table["study"].dropna().astype(str).unique()):
        if not study:
            continue
        rows = table[table["study"].astype(str) == study]
        crossover = "period" in rows.columns and rows["period"].notna().any()
        arms = sorted(rows["arm"].dropna().astype(str).unique()) if "arm" in rows.columns else []
        if len(arms) < 1:
            continue
        ref = next((a for a in arms if _REF_WORDS.search(a)), arms[0])
        out.append(LongitudinalStudy(name=study, design="crossover" if crossover else "parallel",
                                     study=study, reference_arm=ref))
    return tuple(out)


def _time_levels(values, declared) -> list[str]:
    levels = sorted(set(map(str, values)))
    if declared and sum(t in levels for t in declared) >= 2:
        return [t for t in declared if t in levels]
    first = [t for t in levels if re.search(r"base|pre|^t?0$", t, re.I)]
    return first[:1] + [t for t in levels if t not in first[:1]]


def _fit_mixed(y, X: pd.DataFrame, groups):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = sm.MixedLM(y, X, groups=groups)
        fit = None
        for method in ("lbfgs", "powell", "nm"):
            try:
                fit = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
            if fit.converged and np.all(np.isfinite(np.asarray(fit.bse_fe))):
                break
    note = "" if fit is not None and fit.converged else "mixedlm_not_converged"
    if any("boundary" in str(w.message).lower() for w in caught):
        note = ";".join(filter(None, [note, "random_effect_variance_at_boundary"]))
    return fit, note


def _resid_shapiro_p(fit) -> float:
    """Residual diagnostic: Shapiro-Wilk p of the conditional residuals (observed minus fixed
    effects and the subject's predicted random intercept)."""
    if fit is None:
        return math.nan
    r = np.asarray(fit.resid, float)
    r = r[np.isfinite(r)]
    if len(r) < 3 or np.ptp(r) == 0:
        return math.nan
    return float(stats.shapiro(r).pvalue)


def parallel_arm_contrasts(table: pd.DataFrame, study: LongitudinalStudy, opts: StatsOptions):
    """Return (interaction table, within-arm change table, change-correlation table)."""
    needed = ["study", study.arm_column, study.time_column]
    if any(c not in table.columns for c in needed):  # declared, but no sessions data for it
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    df = table[table["qc_pass"] & (table["study"].astype(str) == study.study)]
    df = filter_rows(df, study.regions, study.metabolites, study.measures or opts.measures, study.groups)
    df = df.dropna(subset=[study.arm_column, study.time_column])
    df = df.assign(_arm=df[study.arm_column].astype(str), _time=df[study.time_column].astype(str))
    times = _time_levels(df["_time"], study.time_levels)
    arms = sorted(df["_arm"].unique())
    ref = study.reference_arm if study.reference_arm in arms else (arms[0] if arms else None)
    inter, within, chcorr = [], [], []
    if len(times) < 2 or ref is None:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    df = df[df["_time"].isin(times)]
    others = [a for a in arms if a != ref]
    scores = list(study.change_scores) or [
        s for s in default_scores(table, exclude=study.covariates) if s in df.columns
    ]
    for key, sub in df.groupby(UNIT, sort=True):
        if is_constant(sub["value"]):
            continue
        kept, notes, d = usable_covariates(sub, study.covariates, required=["value"])
        ids = dict(zip(UNIT, key))
        inter += _interaction_rows(d, ids, kept, notes, study, opts, times, ref, others)
        w, c = _paired_change_rows(d, ids, key, study, opts, times, arms, scores)
        within += w
        chcorr += c
    tabs = [pd.DataFrame(x) for x in (inter, within, chcorr)]
    q = study.fdr_q or opts.fdr_q
    if not tabs[0].empty:
        tabs[0] = apply_fdr(tabs[0], study.fdr_family, "p", q)
    if not tabs[1].empty:
        tabs[1] = apply_fdr(tabs[1], ("study", "arm", "measure"), "p", q)
    if not tabs[2].empty:
        tabs[2] = apply_fdr(tabs[2], ("study", "arm", "score", "measure"), "spearman_p", q)
    return tuple(tabs)


def _interaction_rows(d: pd.DataFrame, ids: dict, kept: list, notes: list, study: LongitudinalStudy,
                      opts: StatsOptions, times: list, ref: str, others: list) -> list[dict]:
    """Arm x time interactions of one unit (region, metabolite, measure) from the mixed model
    value ~ arm * time + covariates + (1 | subject); drops covariates from ``kept`` (noted)
    until the model is estimable."""
    base = d[d["_time"] == times[0]]["value"]
    base_mean = float(base.mean()) if len(base) else math.nan
    X0 = pd.DataFrame({"const": 1.0}, index=d.index)
    for a in others:
        X0[f"arm[{a}]"] = (d["_arm"] == a).astype(float)
    for t in times[1:]:
        X0[f"time[{t}]"] = (d["_time"] == t).astype(float)
        for a in others:
            X0[f"arm[{a}]:time[{t}]"] = X0[f"arm[{a}]"] * X0[f"time[{t}]"]
    while True:  # small samples: drop covariates (last first) until estimable
        X = pd.concat([X0, covariate_matrix(d, kept)], axis=1)
        if (len(d) > X.shape[1] + 2 and np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]) or not kept:
            break
        notes.append(f"{kept.pop()}:dropped_for_df")
    per_subj = d.groupby("subject")["_time"].nunique()
    n_complete = int((per_subj == len(times)).sum())
    n_partial = int((per_subj < len(times)).sum())
    formula = f"value ~ arm * time{' + ' + formula_terms(kept, d) if kept else ''} + (1 | subject)"
    fit, fit_note = (None, "too_few_subjects")
    if d["subject"].nunique() >= 4 and len(d) > X.shape[1] + 2 and np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]:
        fit, fit_note = _fit_mixed(d["value"].to_numpy(float), X, d["subject"].to_numpy())
    rows = []
    for a in others:
        for t in times[1:]:
            col = f"arm[{a}]:time[{t}]"
            row = {"study": study.name, **ids, "arm": a, "reference_arm": ref, "time": t,
                   "baseline_time": times[0], "formula": formula, "covariates_used": ",".join(kept),
                   "n_subjects": int(d["subject"].nunique()), "n_complete": n_complete,
                   "n_single_session": n_partial, "n_observations": len(d),
                   "notes": ";".join(filter(None, [*notes, fit_note]))}
            for arm_label in (a, ref):
                for tt in (times[0], t):
                    row[f"n_{arm_label}_{tt}"] = int(((d["_arm"] == arm_label) & (d["_time"] == tt)).sum())
            est = se = p = lo = hi = math.nan
            if fit is not None and col in fit.params.index:
                est, se, p = float(fit.params[col]), float(fit.bse[col]), float(fit.pvalues[col])
                lo, hi = map(float, fit.conf_int(opts.alpha).loc[col])
            row.update(estimate=est, se=se, ci_low=lo, ci_high=hi, p=p, baseline_mean=base_mean,
                       resid_shapiro_p=_resid_shapiro_p(fit))
            scale = 100 / base_mean if base_mean else math.nan
            row.update(estimate_pct=est * scale, ci_low_pct=lo * scale, ci_high_pct=hi * scale,
                       mde=mde_from_se(se, None, opts.alpha, opts.power),
                       mde_pct=mde_from_se(se, None, opts.alpha, opts.power) * abs(scale))
            rows.append(row)
    return rows


def _paired_change_rows(d: pd.DataFrame, ids: dict, key: tuple, study: LongitudinalStudy, opts: StatsOptions,
                        times: list, arms: list, scores: list) -> tuple[list[dict], list[dict]]:
    """(within-arm paired change rows, change-change correlation rows) of one unit."""
    wide = d.pivot_table(index=["subject", "_arm"], columns="_time", values="value", aggfunc="first")
    # per-scan CRLB error variance, for the attenuation-corrected change correlation
    err_wide = None
    if "crlb_pct" in d.columns:
        err_wide = (d.assign(_err=crlb_error_variance(d["value"], d["crlb_pct"]))
                    .groupby(["subject", "_arm", "_time"])["_err"].first().unstack("_time"))
    score_wide = {}
    for s in scores:
        if s in d.columns and pd.api.types.is_numeric_dtype(d[s]):
            score_wide[s] = d.pivot_table(index=["subject", "_arm"], columns="_time", values=s, aggfunc="first")
    within, chcorr = [], []
    for t in times[1:]:
        if times[0] not in wide.columns or t not in wide.columns:
            continue
        delta = (wide[t] - wide[times[0]]).dropna()
        # error variance of a difference of two independent scans: sum of both sessions'
        delta_err = None
        if err_wide is not None and times[0] in err_wide.columns and t in err_wide.columns:
            delta_err = err_wide[t] + err_wide[times[0]]
        for a in arms:
            within.append(_within_arm_row(delta, wide, a, ids, study, opts, times[0], t))
        for s, sw in score_wide.items():
            if times[0] not in sw.columns or t not in sw.columns:
                continue
            ds = (sw[t] - sw[times[0]])
            both = pd.concat([delta.rename("dm"), ds.rename("ds")], axis=1, join="inner").dropna()
            for a in [*arms, "pooled"]:
                sel = both if a == "pooled" else both[both.index.get_level_values("_arm") == a]
                if len(sel) < 6 or sel["ds"].nunique() < 3 or sel["dm"].nunique() < 3:
                    continue
                rng = stable_seed(20240601, study.name, *key, a, s, t)
                err = None if delta_err is None else delta_err.reindex(sel.index).to_numpy(float)
                res = correlate(sel["dm"].to_numpy(float), sel["ds"].to_numpy(float), None,
                                opts.correlation.n_bootstrap, rng, x_error_variance=err)
                chcorr.append({"study": study.name, **ids, "arm": a, "score": s, "time": t, **res})
    return within, chcorr


def _within_arm_row(delta, wide, a: str, ids: dict, study: LongitudinalStudy, opts: StatsOptions, t0, t) -> dict:
    """Paired change t0 -> t within arm ``a`` (one-sample t test of the changes)."""
    da = delta[delta.index.get_level_values("_arm") == a]
    bmean = wide[t0][wide.index.get_level_values("_arm") == a].mean()
    row = {"study": study.name, **ids, "arm": a, "time": t, "baseline_time": t0,
           "n_pairs": len(da), "mean_change": math.nan, "ci_low": math.nan, "ci_high": math.nan,
           "p": math.nan, "dz": math.nan}
    if len(da) >= 2 and da.std(ddof=1) > 0:
        res = stats.ttest_1samp(da.to_numpy(float), 0.0)
        ci = res.confidence_interval(1 - opts.alpha)
        row.update(mean_change=float(da.mean()), ci_low=float(ci.low), ci_high=float(ci.high),
                   p=float(res.pvalue), dz=float(da.mean() / da.std(ddof=1)))
    scale = 100 / bmean if bmean else math.nan
    se = float(da.std(ddof=1) / math.sqrt(len(da))) if len(da) >= 2 else math.nan
    mde = mde_from_se(se, len(da) - 1, opts.alpha, opts.power) if len(da) >= 2 else math.nan
    row.update(mean_change_pct=row["mean_change"] * scale, ci_low_pct=row["ci_low"] * scale,
               ci_high_pct=row["ci_high"] * scale, baseline_mean=float(bmean),
               mde=mde, mde_pct=mde * abs(scale))
    return row


def crossover_contrasts(table: pd.DataFrame, study: LongitudinalStudy, opts: StatsOptions) -> pd.DataFrame:
    if any(c not in table.columns for c in ("study", study.arm_column, study.period_column, study.sequence_column)):
        return pd.DataFrame()
    df = table[table["qc_pass"] & (table["study"].astype(str) == study.study)]
    df = filter_rows(df, study.regions, study.metabolites, study.measures or opts.measures, study.groups)
    cols = [study.arm_column, study.period_column, study.sequence_column]
    df = df.dropna(subset=cols)
    df = df.assign(_trt=df[study.arm_column].astype(str), _per=df[study.period_column].astype(str),
                   _seq=df[study.sequence_column].astype(str))
    trts = sorted(df["_trt"].unique())
    ref = study.reference_arm if study.reference_arm in trts else (trts[0] if trts else None)
    periods = sorted(df["_per"].unique())
    seqs = sorted(df["_seq"].unique())
    rows = []
    for key, d in df.groupby(UNIT, sort=True):
        if is_constant(d["value"]):
            continue
        ids = dict(zip(UNIT, key))
        X = pd.DataFrame({"const": 1.0}, index=d.index)
        actives = [t for t in trts if t != ref]
        for t in actives:
            X[f"treatment[{t}]"] = (d["_trt"] == t).astype(float)
        for p in periods[1:]:
            X[f"period[{p}]"] = (d["_per"] == p).astype(float)
        for s in seqs[1:]:
            X[f"sequence[{s}]"] = (d["_seq"] == s).astype(float)
        per_subj = d.groupby("subject")["_per"].nunique()
        fit, note = None, "too_few_subjects"
        if d["subject"].nunique() >= 4 and len(d) > X.shape[1] + 2 and np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]:
            fit, note = _fit_mixed(d["value"].to_numpy(float), X, d["subject"].to_numpy())
        ref_mean = float(d[d["_trt"] == ref]["value"].mean())
        # Grizzle carry-over test: subject totals over both periods differ between sequences.
        complete = per_subj[per_subj == len(periods)].index
        totals = d[d["subject"].isin(complete)].groupby(["subject", "_seq"])["value"].sum()
        carry_p = math.nan
        if len(seqs) == 2:
            a = totals[totals.index.get_level_values("_seq") == seqs[0]]
            b = totals[totals.index.get_level_values("_seq") == seqs[1]]
            if len(a) >= 2 and len(b) >= 2:
                carry_p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        for t in actives:
            col = f"treatment[{t}]"
            row = {"study": study.name, **ids, "treatment": t, "reference": ref,
                   "formula": "value ~ treatment + period + sequence + (1 | subject)",
                   "n_subjects": int(d["subject"].nunique()), "n_complete": int(len(complete)),
                   "n_single_period": int((per_subj < len(periods)).sum()), "n_observations": len(d),
                   f"n_{t}": int((d["_trt"] == t).sum()), f"n_{ref}": int((d["_trt"] == ref).sum()),
                   "reference_mean": ref_mean, "carryover_grizzle_p": carry_p, "notes": note}
            est = se = p = lo = hi = seq_p = math.nan
            if fit is not None and col in fit.params.index:
                est, se, p = float(fit.params[col]), float(fit.bse[col]), float(fit.pvalues[col])
                lo, hi = map(float, fit.conf_int(opts.alpha).loc[col])
                seq_cols = [c for c in fit.params.index if c.startswith("sequence[")]
                if seq_cols:
                    seq_p = float(fit.pvalues[seq_cols[0]])
            scale = 100 / ref_mean if ref_mean else math.nan
            row.update(estimate=est, se=se, ci_low=lo, ci_high=hi, p=p, sequence_p=seq_p,
                       resid_shapiro_p=_resid_shapiro_p(fit),
                       estimate_pct=est * scale, ci_low_pct=lo * scale, ci_high_pct=hi * scale,
                       mde=mde_from_se(se, None, opts.alpha, opts.power),
                       mde_pct=mde_from_se(se, None, opts.alpha, opts.power) * abs(scale))
            rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out = apply_fdr(out, study.fdr_family, "p", study.fdr_q or opts.fdr_q)
    return out
