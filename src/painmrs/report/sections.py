"""The report's sections, each a function of the study and statistics tables that returns
its template variables (figures, tables, notes)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..configuration import StudyOptions
from ..stats.tables import read_table
from . import figures


MEASURE_PREFERENCE = ["conc_molal", "conc_mM", "ratio_tCr", "gaba_alpha", "ratio_tNAA", "amplitude"]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "n/a"
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.4g}"
    return str(v)


def html_table(df: pd.DataFrame | None, columns: list[str] | None = None, max_rows: int = 200) -> dict:
    """Plain strings for the template (escaped there); never pre-rendered HTML."""
    if df is None or df.empty:
        return {"columns": [], "rows": [], "truncated": 0}
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    d = df[cols]
    rows = [[_fmt(v) for v in r] for r in d.head(max_rows).itertuples(index=False)]
    return {"columns": cols, "rows": rows, "truncated": max(0, len(d) - max_rows)}


def _measure_for(df: pd.DataFrame, preferred: str) -> str:
    """The preferred measure if the table has it, else the first present by preference."""
    if df is None or df.empty or "measure" not in df.columns:
        return preferred
    present = list(dict.fromkeys(df["measure"].astype(str)))
    if preferred in present:
        return preferred
    return next((m for m in MEASURE_PREFERENCE if m in present), present[0])


def _overview(table: pd.DataFrame, ok: pd.DataFrame, scans: pd.DataFrame, tabs: Mapping, measure: str) -> dict:
    """The study design and the counts per group x session x region, and the exclusions."""
    regions = sorted(table["region"].unique())
    n_cell = (ok.drop_duplicates(["subject", "session", "region", "acq"])
              .assign(session=lambda d: d["session"].replace("", "(none)"))
              .groupby(["group", "session", "region"])["subject"].nunique().unstack("region", fill_value=0)
              .reset_index())
    excl = tabs.get("exclusions")
    if excl is None:
        from ..stats.study_table import exclusion_counts
        excl = exclusion_counts(table)
    design = {
        "n_subjects": int(table["subject"].nunique()), "n_scans": int(scans["stem"].nunique()),
        "groups": ", ".join(f"{g} (n={n})" for g, n in table.drop_duplicates("subject").groupby("group").size().items()),
        "regions": ", ".join(regions), "measures": ", ".join(sorted(table["measure"].unique())),
        "primary_measure": measure,
        "studies": ", ".join(sorted(map(str, table["study"].dropna().unique()))) if "study" in table.columns else "",
        "n_rows": int(len(table)), "n_excluded": int((~table["qc_pass"]).sum()),
        "n_scans_excluded": int((~table.groupby("stem")["qc_pass"].any()).sum()),
    }

    # Scans whose water-scaled values rest on assumed (not segmented) tissue fractions.
    n_assumed = (int(table.loc[table["tissue_source"].astype(str) == "assumed", "stem"].nunique())
                 if "tissue_source" in table.columns else 0)
    return {"design": design, "n_cell": n_cell, "excl": excl, "n_assumed_tissue": n_assumed}


def _qc_figures(scans: pd.DataFrame, rules) -> list[dict]:
    """SNR and linewidth histograms per acquisition, with the exclusion limits (``QCRules``)."""
    qc_figs = []
    snr = {a: d["snr"].to_numpy(float) for a, d in scans.groupby("acq")} if "snr" in scans else {}
    fwhm = {a: d["fwhm_hz"].to_numpy(float) for a, d in scans.groupby("acq")} if "fwhm_hz" in scans else {}
    if any(np.isfinite(v).any() for v in snr.values()):
        qc_figs.append({"title": "SNR per scan (dashed: exclusion limit)", "uri": figures.histograms(snr, "SNR", rules.min_snr, "exclusion limit")})
    if "spectrometer_mhz" in scans and "fwhm_hz" in scans:
        # In ppm with each scan's own spectrometer frequency: one limit line for every field strength.
        fwhm = {a: d["fwhm_hz"].to_numpy(float) / pd.to_numeric(d["spectrometer_mhz"], errors="coerce").to_numpy(float)
                for a, d in scans.groupby("acq")}
        if any(np.isfinite(v).any() for v in fwhm.values()):
            qc_figs.append({"title": "Linewidth per scan, ppm (dashed: exclusion limit)",
                            "uri": figures.histograms(fwhm, "FWHM (ppm)", rules.max_fwhm_ppm, "exclusion limit")})
    elif any(np.isfinite(v).any() for v in fwhm.values()):
        qc_figs.append({"title": "Linewidth per scan (Hz; no spectrometer frequency, no limit line)",
                        "uri": figures.histograms(fwhm, "FWHM (Hz)", None, "exclusion limit")})
    return qc_figs


def _group_section(gc: pd.DataFrame, ok: pd.DataFrame, options: StudyOptions, design: Mapping, measure: str,
                   max_figures: int) -> dict:
    """Forest and box plots of the group comparisons, or why there are none."""
    group_figs, box_figs = [], []
    control_group = options.stats.control_group
    present = sorted(map(str, ok["group"].dropna().unique())) if "group" in ok else []
    if control_group not in present or len(present) < 2:
        # say why, so a single-subject or patients-only study reads as such, not as a failure
        groups_note = (f"No group comparisons were computed: they need the control group "
                       f"'{control_group}' and at least one patient group with scans passing QC; "
                       f"this study has {design['groups'] or 'no participants'}.")
    else:
        groups_note = "No group comparisons were computed (see the statistics log)."
    if not gc.empty:
        gm = gc[gc["measure"] == _measure_for(gc, measure)].drop_duplicates(["group", "region", "acq", "metabolite", "measure"]).copy()
        for g, d in gm.groupby("group", sort=True):
            d = d.sort_values(["region", "metabolite"])
            group_figs.append({"title": f"{g} vs {d['control'].iloc[0]}: adjusted difference (% of control mean, 95% CI; red = FDR significant)",
                               "uri": figures.forest(d, "diff_adj_pct", "diff_adj_pct_ci_low", "diff_adj_pct_ci_high",
                                                     ["region", "metabolite"], f"{g} vs control ({measure})", "% difference",
                                                     highlight="fdr_reject", max_rows=60)})
        top = gm.dropna(subset=["p"]).sort_values(["p", "group", "region", "metabolite"]).head(max_figures)
        control = gc["control"].iloc[0]
        base = _cross_sectional(ok, options.stats.group.sessions)
        for r in top.itertuples(index=False):
            d = base[(base["region"] == r.region) & (base["acq"] == r.acq) & (base["metabolite"] == r.metabolite)
                     & (base["measure"] == r.measure) & base["group"].isin([control, r.group])]
            box_figs.append({"title": f"{r.region} {r.metabolite}: {r.group} vs {control} (p={_fmt(r.p)}, FDR p={_fmt(r.p_fdr)})",
                             "uri": figures.box_strip({control: d[d["group"] == control]["value"], r.group: d[d["group"] == r.group]["value"]},
                                                      f"{r.region} {r.metabolite}", r.measure)})
    gc_cols = ["group", "control", "region", "acq", "metabolite", "measure", "n_patient", "n_control", "diff_adj_pct",
               "diff_adj_pct_ci_low", "diff_adj_pct_ci_high", "p", "p_fdr", "fdr_reject", "hedges_g", "welch_p",
               "mwu_p", "shapiro_p", "levene_p", "mde_pct", "notes"]
    return {"group_figs": group_figs, "box_figs": box_figs, "groups_note": groups_note,
            "gc_table": html_table(gc.sort_values(["p"]) if not gc.empty else gc, gc_cols, 150)}


def _correlation_section(cor: pd.DataFrame, ok: pd.DataFrame, options: StudyOptions, measure: str, max_figures: int) -> dict:
    """Scatter plots of the strongest metabolite-score correlations, and their table."""
    cor_figs = []
    if not cor.empty:
        base = _cross_sectional(ok, options.stats.correlation.sessions)
        top = cor[cor["measure"] == _measure_for(cor, measure)].dropna(subset=["spearman_p"]).sort_values(["spearman_p", "group", "region"]).head(max_figures)
        for r in top.itertuples(index=False):
            d = base[(base["region"] == r.region) & (base["acq"] == r.acq) & (base["metabolite"] == r.metabolite)
                     & (base["measure"] == r.measure)]
            if r.group != "pooled":
                d = d[d["group"] == r.group]
            d = d.dropna(subset=["value", r.score]) if r.score in d.columns else d.iloc[0:0]
            if len(d) >= 3:
                cor_figs.append({"title": f"{r.group} {r.region} {r.metabolite} vs {r.score}: rho={_fmt(r.spearman_rho)}, r={_fmt(r.pearson_r)} [{_fmt(r.pearson_ci_low)}, {_fmt(r.pearson_ci_high)}]",
                                 "uri": figures.scatter_fit(d[r.score], d["value"], f"{r.group} {r.region}", r.score, f"{r.metabolite} ({r.measure})")})
    cor_cols = ["group", "region", "acq", "metabolite", "measure", "score", "n", "pearson_r", "pearson_ci_low",
                "pearson_ci_high", "spearman_rho", "spearman_ci_low", "spearman_ci_high", "spearman_p", "p_fdr",
                "partial_r", "partial_p", "mde_r"]

    return {"cor_figs": cor_figs,
            "cor_table": html_table(cor.sort_values("spearman_p") if not cor.empty else cor, cor_cols, 100)}


def _longitudinal_section(par: pd.DataFrame, cro: pd.DataFrame, ok: pd.DataFrame, measure: str, max_figures: int) -> dict:
    """Treatment studies: forest plots of the contrasts, spaghetti plots, and their tables."""
    long_figs = []
    if not par.empty:
        sel = par[par["measure"] == _measure_for(par, measure)].dropna(subset=["p"]).sort_values(["p", "study", "region"]).head(max_figures)
        for r in sel.itertuples(index=False):
            d = ok[(ok["study"].astype(str) == str(r.study)) & (ok["region"] == r.region) & (ok["acq"] == r.acq)
                   & (ok["metabolite"] == r.metabolite) & (ok["measure"] == r.measure)]
            d = d.dropna(subset=["arm", "time"]).assign(arm=lambda x: x["arm"].astype(str), time=lambda x: x["time"].astype(str))
            if d.empty:
                continue
            times = [r.baseline_time, r.time]
            long_figs.append({"title": f"{r.study}: {r.region} {r.metabolite}, {r.arm} vs {r.reference_arm} interaction {_fmt(r.estimate_pct)}% [{_fmt(r.ci_low_pct)}, {_fmt(r.ci_high_pct)}], p={_fmt(r.p)}",
                              "uri": figures.spaghetti(d[d["time"].isin(times)], times, f"{r.study} {r.region} {r.metabolite}", r.measure)})
    for name, tab, est, lo, hi, labels in (
            ("arm x time interaction", par, "estimate_pct", "ci_low_pct", "ci_high_pct", ["study", "arm", "region", "metabolite"]),
            ("crossover treatment effect", cro, "estimate_pct", "ci_low_pct", "ci_high_pct", ["study", "treatment", "region", "metabolite"])):
        if tab is not None and not tab.empty and est in tab.columns:
            d = tab[tab["measure"] == _measure_for(tab, measure)].sort_values(labels)
            if d[est].notna().any():
                long_figs.insert(0, {"title": f"{name}: % of baseline/reference mean, 95% CI (red = FDR significant)",
                                     "uri": figures.forest(d, est, lo, hi, labels, name, "% difference",
                                                           highlight="fdr_reject", max_rows=60)})
    par_cols = ["study", "region", "acq", "metabolite", "measure", "arm", "reference_arm", "time", "n_subjects",
                "n_complete", "n_single_session", "estimate_pct", "ci_low_pct", "ci_high_pct", "p", "p_fdr", "mde_pct", "notes"]
    cro_cols = ["study", "region", "acq", "metabolite", "measure", "treatment", "reference", "n_subjects", "n_complete",
                "estimate_pct", "ci_low_pct", "ci_high_pct", "p", "p_fdr", "carryover_grizzle_p", "sequence_p", "mde_pct", "notes"]

    return {"long_figs": long_figs, "par_table": html_table(par.sort_values("p") if not par.empty else par, par_cols, 100),
            "cro_table": html_table(cro.sort_values("p") if not cro.empty else cro, cro_cols, 100)}


def _recovery_section(recovery) -> dict:
    """A simulated study's recovery of the planted effects (table, summary, figure)."""
    rec = None
    rec_summary = None
    rec_summary_table = html_table(None)
    rec_fig = None
    if recovery is not None and Path(recovery).is_file():
        rec = read_table(recovery)
        side = Path(recovery).with_suffix(".json")
        if side.is_file():
            rec_summary = json.loads(side.read_text()).get("summary")
        if not rec.empty and "estimate" in rec:
            rec_fig = figures.recovery_plot(rec)
        summ = Path(recovery).with_name("recovery_summary.tsv")
        if summ.is_file():
            rec_summary_table = html_table(read_table(summ))

    return {"rec_table": html_table(rec, None, 300),
            "rec_summary": json.dumps(rec_summary, indent=1, sort_keys=True) if rec_summary else None,
            "rec_fig": rec_fig, "rec_summary_table": rec_summary_table}


def _cross_sectional(ok: pd.DataFrame, sessions) -> pd.DataFrame:
    from ..stats.group import select_sessions

    return select_sessions(ok, list(sessions) or ["baseline"])


def _snr_fwhm_text(scans: pd.DataFrame) -> str:
    parts = []
    for acq, d in scans.groupby("acq"):
        # a table without the snr / fwhm_hz columns (pd.to_numeric(None) is a scalar NaN)
        s = pd.to_numeric(d["snr"], errors="coerce") if "snr" in d else None
        f = pd.to_numeric(d["fwhm_hz"], errors="coerce") if "fwhm_hz" in d else pd.Series(dtype=float)
        if s is not None and s.notna().any():
            parts.append(f"{acq}: SNR {s.mean():.1f} ± {s.std():.1f}, FWHM {f.mean():.2f} ± {f.std():.2f} Hz (mean ± SD over scans; definitions in QC stage)")
    return "; ".join(parts) or "not reported"


def _missing_sessions_text(par: pd.DataFrame, cro: pd.DataFrame) -> list[str]:
    """One line per treatment study: subjects with a missing session, kept by the mixed model."""
    lines = []
    for tab, col, what in ((par, "n_single_session", "session"), (cro, "n_single_period", "period")):
        if tab is None or tab.empty or col not in tab.columns:
            continue
        for study, d in tab.groupby("study", sort=True):
            n_sub = pd.to_numeric(d["n_subjects"], errors="coerce")
            n_miss = pd.to_numeric(d[col], errors="coerce")
            lines.append(f"{study}: {int(n_miss.max())} of {int(n_sub.max())} participants (largest test) have a "
                         f"missing {what}; they stay in the mixed model with their other {what} (no listwise deletion), "
                         f"while the paired within-arm changes use complete pairs only")
    return lines


def _diagnostics(gc: pd.DataFrame, par: pd.DataFrame, cro: pd.DataFrame, opts_alpha: float = 0.05) -> pd.DataFrame:
    """How many tests' residuals look non-normal (Shapiro-Wilk) or variances unequal (Levene),
    and how often the Welch / Mann-Whitney sensitivity analyses disagree with the ANCOVA."""
    rows = []

    def count(tab, name, col, what):
        if tab is not None and not tab.empty and col in tab.columns:
            v = pd.to_numeric(tab[col], errors="coerce").dropna()
            if len(v):
                rows.append({"analysis": name, "check": what, "n_tests": len(v),
                             "n_p_below_alpha": int((v < opts_alpha).sum()),
                             "fraction": float((v < opts_alpha).mean())})

    count(gc, "group comparisons", "shapiro_p", "residual normality (Shapiro-Wilk on ANCOVA residuals)")
    count(gc, "group comparisons", "levene_p", "equal variances (Levene, median-centred)")
    count(par, "arm x time", "resid_shapiro_p", "residual normality (Shapiro-Wilk on mixed-model residuals)")
    count(cro, "crossover", "resid_shapiro_p", "residual normality (Shapiro-Wilk on mixed-model residuals)")
    count(cro, "crossover", "carryover_grizzle_p", "carry-over (Grizzle: subject totals differ by sequence)")
    if gc is not None and not gc.empty and {"p", "welch_p", "mwu_p"} <= set(gc.columns):
        p = pd.to_numeric(gc["p"], errors="coerce") < opts_alpha
        for col, what in (("welch_p", "Welch t"), ("mwu_p", "Mann-Whitney U")):
            q = pd.to_numeric(gc[col], errors="coerce") < opts_alpha
            ok = gc["p"].notna() & gc[col].notna()
            rows.append({"analysis": "group comparisons", "check": f"sensitivity: {what} disagrees with ANCOVA at alpha",
                         "n_tests": int(ok.sum()), "n_p_below_alpha": int((p != q)[ok].sum()),
                         "fraction": float((p != q)[ok].mean()) if ok.any() else math.nan})
    return pd.DataFrame(rows)


def _excluded_and_warned(qc_tab: pd.DataFrame | None, exclude_fit_flags: bool = True
                         ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Scans the stages excluded (execution.on_bad_scan: exclude; scan_qc_pass false with the
    error as qc_reason), scans whose fit is flagged (``fit_flags``: excluded from the statistics
    with ``qc.exclude_fit_flags``, else warned) and scans with warnings (e.g. no water
    reference, a header that disagrees with the config), from the QC table."""
    if qc_tab is None or qc_tab.empty or "stem" not in qc_tab.columns:
        return None, None

    def column(name):
        return qc_tab[name].fillna("").astype(str) if name in qc_tab.columns else pd.Series("", index=qc_tab.index)

    reason, warning, flags = column("qc_reason"), column("qc_warnings"), column("fit_flags")
    flagged = flags.map(lambda f: f"fit flags: {f}" if f else "")
    if exclude_fit_flags:
        flagged = flagged.map(lambda f: f"{f} (values left out of the statistics: qc.exclude_fit_flags)" if f else "")
        reason = (reason + "; " + flagged).str.strip("; ").where(reason != "", flagged)
    else:
        flagged = flagged.map(lambda f: f"{f} (not excluded: qc.exclude_fit_flags is false)" if f else "")
        warning = (warning + "; " + flagged).str.strip("; ").where(warning != "", flagged)
    excluded = qc_tab.loc[reason != "", ["stem"]].assign(reason=reason[reason != ""])
    warned = qc_tab.loc[warning != "", ["stem"]].assign(warning=warning[warning != ""])
    return excluded, warned
