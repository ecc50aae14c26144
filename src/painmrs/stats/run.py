"""Run every configured analysis on the study table and write results/stats/*.tsv + sidecars."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .config import StatsOptions
from .correlation import COLUMN_DOCS as CORRECTED_DOCS, pain_correlations
from .group import KEYS as GROUP_KEYS, covariate_slopes, group_comparisons, select_sessions
from .longitudinal import crossover_contrasts, infer_studies, parallel_arm_contrasts
from .recovery import read_truth, recover, summary_table
from .study_table import exclusion_counts
from .tables import write_table

COLUMN_DOCS = {
    "group_comparisons": {
        "diff_adj": "covariate-adjusted difference patient - control (ANCOVA coefficient), measure units",
        "diff_adj_pct": "diff_adj as % of the control mean (CI likewise)",
        "p": "ANCOVA p of the group term", "p_fdr": "Benjamini-Hochberg adjusted p within fdr_family",
        "hedges_g": "Hedges' g (unadjusted), normal-approximation 95% CI",
        "welch_t": "Welch t (sensitivity)", "mwu_u": "Mann-Whitney U (sensitivity)",
        "shapiro_p": "Shapiro-Wilk on ANCOVA residuals", "levene_p": "Levene (median) equal variances",
        "mwu_p": "Mann-Whitney U two-sided p (sensitivity)", "welch_p": "Welch t-test p (sensitivity)",
        "mde_d": "minimum detectable standardised difference at the configured power",
        "mde_pct": "mde_d x residual SD as % of control mean",
    },
    "correlations": {
        "pearson_ci_low": "percentile bootstrap CI", "spearman_ci_low": "percentile bootstrap CI",
        "partial_r": "Pearson correlation after regressing both variables on the covariates",
        "p_fdr": "BH-adjusted Spearman p", "pearson_p_fdr": "BH-adjusted Pearson p",
        "mde_r": "smallest |r| detectable at the configured power (Fisher z)",
        **CORRECTED_DOCS,
    },
    "longitudinal_parallel": {
        "estimate": "arm x time interaction: change in arm minus change in reference arm",
        "estimate_pct": "estimate as % of the baseline mean", "n_single_session": "subjects with one session (kept in the mixed model)",
        "resid_shapiro_p": "Shapiro-Wilk on the mixed model's conditional residuals",
        "mde_pct": "minimum detectable interaction at the configured power (normal approximation, from its SE), % of baseline mean",
    },
    "longitudinal_within_arm": {"mean_change": "paired post - baseline mean change (complete pairs)"},
    "longitudinal_change_correlations": {"pearson_r": "correlation of metabolite change with score change",
                                         **CORRECTED_DOCS},
    "crossover": {"estimate": "treatment - reference (mixed model)", "carryover_grizzle_p": "Welch t on subject totals between sequences", "sequence_p": "sequence term p (aliased with carry-over)",
                  "resid_shapiro_p": "Shapiro-Wilk on the mixed model's conditional residuals",
                  "mde_pct": "minimum detectable treatment effect at the configured power, % of reference mean"},
    "covariate_effects": {"pct_per": "slope per per_units of the covariate, % of the mean"},
}


def _declared(opts: StatsOptions, kind: str) -> list[dict]:
    return [dict(f.__dict__) for f in opts.families if f.kind == kind]


def _n_per_cell(table: pd.DataFrame, sessions) -> dict:
    d = select_sessions(table[table["qc_pass"]], sessions)
    n = d.groupby(["region", "group"])["subject"].nunique()
    return {f"{r}|{g}": int(v) for (r, g), v in n.items()}


def run_statistics(table: pd.DataFrame, opts: StatsOptions, out_dir: str | os.PathLike | None = None,
                   truth_dir: str | os.PathLike | None = None, recovery_path=None) -> dict[str, pd.DataFrame]:
    """Compute every analysis; write tables when ``out_dir`` is given. Returns the tables."""
    from ..errors import InputError

    groups = sorted(set(table["group"].astype(str)))
    if len(groups) > 1 and opts.control_group not in groups:
        raise InputError(None, "stats.control_group",
                         f"control group {opts.control_group!r} not among the study's groups {groups}")
    results: dict[str, pd.DataFrame] = {}
    meta: dict[str, dict] = {}
    _cross_sectional(table, opts, results, meta)
    _longitudinal(table, opts, results, meta)
    if truth_dir is not None and (Path(truth_dir) / "effects.tsv").is_file():
        truth = read_truth(Path(truth_dir) / "effects.tsv")
        rec, summary = recover(truth, results, opts.recovery_measures, opts.fdr_q)
        results["recovery"] = rec
        results["recovery_summary"] = summary_table(summary)
        meta["recovery"] = {"description": "planted effects vs estimates (truth never read by the analysis)",
                            "summary": summary, "truth": str(Path(truth_dir) / "effects.tsv"),
                            "measure_preference": list(opts.recovery_measures)}
    if out_dir is not None:
        _write_results(results, meta, Path(out_dir), recovery_path)
    return results


def _cross_sectional(table: pd.DataFrame, opts: StatsOptions, results: dict, meta: dict) -> None:
    """Exclusion counts, group comparisons, age slopes and pain correlations (tables into
    ``results``, their sidecars into ``meta``)."""
    results["exclusions"] = exclusion_counts(table)
    meta["exclusions"] = {"description": "excluded rows/scans per region x acq x metabolite x reason",
                          "model": "none (counts of the QC exclusions; rules: config qc section)",
                          "fdr": {"method": "none", "family": []},
                          "n_per_cell": {f"{r}|{g}": int(v) for (r, g), v in table[~table["qc_pass"]]
                                         .groupby(["region", "group"])["stem"].nunique().items()},
                          "n_rows_total": int(len(table)), "n_rows_excluded": int((~table["qc_pass"]).sum())}
    cov = ", ".join(opts.group.covariates)
    results["group_comparisons"] = group_comparisons(table, opts)
    meta["group_comparisons"] = {
        "description": "patients vs controls per region x metabolite x measure",
        "model": f"OLS value ~ group + {cov} (ANCOVA; per test, covariates absent/constant are dropped, see covariates_used)",
        "sessions": list(opts.group.sessions), "control_group": opts.control_group,
        "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q,
                "family": list(opts.group.fdr_family) if not _declared(opts, "group") else ["family"]},
        "declared_families": _declared(opts, "group"),
        "n_per_cell": _n_per_cell(table, opts.group.sessions), "power": opts.power, "alpha": opts.alpha,
    }
    results["covariate_effects"] = covariate_slopes(table, opts, "age", 10.0)
    meta["covariate_effects"] = {"description": "age slope per decade adjusted for group and covariates",
                                 "n_per_cell": _n_per_cell(table, opts.group.sessions),
                                 "model": f"OLS value ~ age + group + {cov}",
                                 "declared_families": _declared(opts, "age"),
                                 "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "family": ["family", "covariate", "measure"]}}
    co = opts.correlation
    results["correlations"] = pain_correlations(table, opts)
    meta["correlations"] = {
        "description": "metabolite-score correlations within patient groups" + (" and pooled" if co.pooled else ""),
        "model": f"Pearson, Spearman; partial correlation controlling {', '.join(co.covariates)}",
        "bootstrap": {"n": co.n_bootstrap, "seed": co.seed, "ci": "percentile"}, "sessions": list(co.sessions),
        "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "p": "spearman_p",
                "family": list(co.fdr_family) if not _declared(opts, "correlation") else ["family"]},
        "declared_families": _declared(opts, "correlation"),
    }
    meta["correlations"]["n_per_cell"] = _n_per_cell(table[table["group"] != opts.control_group], co.sessions)


def _longitudinal(table: pd.DataFrame, opts: StatsOptions, results: dict, meta: dict) -> None:
    """Parallel-arm and crossover analyses of the declared (or inferred) studies."""
    studies = opts.longitudinal if opts.longitudinal is not None else infer_studies(table)
    par, wit, chc, cro = [], [], [], []
    for st in studies:
        if st.design == "parallel":
            a, b, c = parallel_arm_contrasts(table, st, opts)
            par.append(a), wit.append(b), chc.append(c)
        else:
            cro.append(crossover_contrasts(table, st, opts))
    cat = lambda xs: pd.concat([x for x in xs if not x.empty], ignore_index=True) if any(not x.empty for x in xs) else pd.DataFrame()  # noqa: E731
    results["longitudinal_parallel"] = cat(par)
    results["longitudinal_within_arm"] = cat(wit)
    results["longitudinal_change_correlations"] = cat(chc)
    results["crossover"] = cat(cro)
    declared = [st.__dict__ for st in studies]
    long_cells = {}
    if "study" in table.columns:
        ok = table[table["qc_pass"] & table["study"].notna()]
        for cols in (["study", "arm", "time"], ["study", "arm", "period"]):
            if all(c in ok.columns for c in cols):
                n = ok.dropna(subset=cols).groupby(cols)["subject"].nunique()
                long_cells.update({"|".join(map(str, k)): int(v) for k, v in n.items()})
    meta["longitudinal_parallel"] = {"description": "parallel-arm arm x time interaction (primary)",
                                     "model": "MixedLM value ~ arm * time + covariates + (1 | subject), REML",
                                     "studies": declared, "missing_sessions": "kept: the mixed model uses every observation",
                                     "n_per_cell": long_cells,
                                     "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "family": "per study: see LongitudinalStudy.fdr_family"}}
    meta["longitudinal_within_arm"] = {"description": "within-arm paired change (complete pairs), one-sample t CI",
                                       "model": "paired t: post - baseline", "n_per_cell": long_cells,
                                       "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "family": ["study", "arm", "measure"]}}
    meta["longitudinal_change_correlations"] = {"description": "metabolite change vs score change, per arm and pooled",
                                                "n_per_cell": long_cells,
                                                "model": "Pearson/Spearman of (post - baseline) differences, bootstrap CI",
                                                "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "family": ["study", "arm", "score", "measure"]}}
    meta["crossover"] = {"description": "crossover treatment effect", "studies": declared, "n_per_cell": long_cells,
                         "model": "MixedLM value ~ treatment + period + sequence + (1 | subject), REML",
                         "fdr": {"method": "Benjamini-Hochberg", "q": opts.fdr_q, "family": "per study: see LongitudinalStudy.fdr_family"}}


_SORT_KEYS = {"group_comparisons": ["family", *GROUP_KEYS],
              "correlations": ["family", "group", "region", "acq", "metabolite", "measure", "score"],
              "longitudinal_parallel": ["study", "region", "acq", "metabolite", "measure", "arm", "time"],
              "longitudinal_within_arm": ["study", "region", "acq", "metabolite", "measure", "arm", "time"],
              "longitudinal_change_correlations": ["study", "region", "acq", "metabolite", "measure", "arm", "score", "time"],
              "crossover": ["study", "region", "acq", "metabolite", "measure", "treatment"],
              "covariate_effects": ["family", "covariate", "region", "acq", "metabolite", "measure"],
              "exclusions": ["region", "acq", "metabolite", "reason"]}


def _write_results(results: dict, meta: dict, out_dir: Path, recovery_path) -> None:
    """results/stats/<name>.tsv with sidecars, and the recovery tables under validation/."""
    for name, df in results.items():
        if name.startswith("recovery"):
            continue
        if df.columns.empty:  # nothing to analyse: still write a header, never a blank file
            df = pd.DataFrame(columns=_SORT_KEYS.get(name, []) + ["estimate", "p", "p_fdr", "fdr_reject"])
        side = dict(meta.get(name, {}))
        side["columns"] = {c: COLUMN_DOCS.get(name, {}).get(c, "") for c in df.columns}
        write_table(df, out_dir / f"{name}.tsv", side, _SORT_KEYS.get(name))
    if "recovery" in results:
        rp = Path(recovery_path) if recovery_path else out_dir.parent / "validation" / "recovery.tsv"
        write_table(results["recovery"], rp, meta["recovery"], ["kind", "effect_id", "matched_region", "acq"])
        write_table(results["recovery_summary"], rp.with_name("recovery_summary.tsv"),
                    {"description": "recovery summary rates"}, None)
