"""The self-contained HTML study report (results/report/index.html).

One file: figures are base64 PNG data URIs, styles and the small render-check script are
inline, and a Content-Security-Policy forbids any network fetch. jinja2 autoescaping escapes
every string that comes from users (labels, config values, headers, provenance).
Optional inputs (QC table, processed spectra, per-scan fit figures, recovery table,
provenance manifest) degrade gracefully: their sections say what is missing.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Mapping

import jinja2
import numpy as np
import pandas as pd

from .. import atomic
from ..errors import InputError
from ..stats.tables import read_table, software_versions
from . import figures
from .checklist import header_summary, methods_paragraph, mrsinmrs_checklist

MEASURE_PREFERENCE = ["conc_molal", "conc_mM", "ratio_tCr", "gaba_alpha", "ratio_tNAA", "amplitude"]
STATS_TABLES = ["group_comparisons", "correlations", "longitudinal_parallel", "longitudinal_within_arm",
                "longitudinal_change_correlations", "crossover", "covariate_effects", "exclusions"]


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,  # every string is escaped unless explicitly marked safe; we mark none
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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


def _load_stats(stats_dir) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    tabs, metas = {}, {}
    if stats_dir is None:
        return tabs, metas
    stats_dir = Path(stats_dir)
    for name in STATS_TABLES:
        p = stats_dir / f"{name}.tsv"
        if p.is_file() and p.stat().st_size > 1:
            try:
                tabs[name] = read_table(p)
            except InputError:
                tabs[name] = pd.DataFrame()
            side = p.with_suffix(".json")
            if side.is_file():
                metas[name] = json.loads(side.read_text())
    return tabs, metas


def _primary_measure(table: pd.DataFrame, config: Mapping) -> str:
    want = ((config.get("report", {}) or {}).get("primary_measure"))
    present = list(dict.fromkeys(table["measure"]))
    if want in present:
        return want
    return next((m for m in MEASURE_PREFERENCE if m in present), present[0] if present else "")


def _measure_for(df: pd.DataFrame, preferred: str) -> str:
    """The preferred measure if the table has it, else the first present by preference."""
    if df is None or df.empty or "measure" not in df.columns:
        return preferred
    present = list(dict.fromkeys(df["measure"].astype(str)))
    if preferred in present:
        return preferred
    return next((m for m in MEASURE_PREFERENCE if m in present), present[0])


def _find(root: Path | None, pattern: str) -> list[Path]:
    if root is None or not Path(root).is_dir():
        return []
    return sorted(Path(root).rglob(pattern))


def _spectra_figures(table: pd.DataFrame, derivatives, max_per_cell: int = 40) -> tuple[list[dict], dict]:
    """Mean +- SD spectra per region x group (PRESS processed, MEGA-PRESS difference)."""
    figs, headers = [], {}
    if derivatives is None or not Path(derivatives).is_dir():
        return figs, headers
    from ..io import nifti_mrs

    scans = table.drop_duplicates("stem")[["stem", "region", "acq", "group", "qc_pass"]]
    index = {p.name: p for p in Path(derivatives).rglob("*_svs.nii.gz")}
    cells: dict[tuple[str, str], dict[str, list]] = {}
    for s in scans.itertuples(index=False):
        cand = [f"{s.stem}_desc-processed_svs.nii.gz", f"{s.stem}_desc-diff_svs.nii.gz"]
        path = next((index[c] for c in cand if c in index), None)
        if path is None:
            continue
        cell = cells.setdefault((s.acq, s.region), {})
        if len(cell.get(s.group, [])) >= max_per_cell:
            continue
        try:
            mrs = nifti_mrs.read(path)
        except (InputError, OSError, ValueError):
            continue
        if s.acq not in headers:
            headers[s.acq] = header_summary(mrs)
        spec = mrs.spectrum()
        spec = spec.reshape(spec.shape[0], -1).mean(axis=1).real
        ppm = mrs.ppm
        band = (ppm > 0.5) & (ppm < 4.2)
        scale = np.max(np.abs(spec[band])) if band.any() else 1.0
        cell.setdefault(s.group, []).append((ppm, spec / (scale or 1.0)))
    for (acq, region), groups in sorted(cells.items()):
        data = {}
        for g, items in groups.items():
            ppm0 = items[0][0]
            mats = [sp for p, sp in items if len(p) == len(ppm0)]
            data[g] = (ppm0, np.vstack(mats))
        if data:
            figs.append({"title": f"{region} ({acq}): mean ± SD spectrum per group",
                         "uri": figures.mean_sd_spectra(data, f"{region} {acq} (normalised to max 0.5-4.2 ppm)")})
    return figs, headers


def _bids_headers(bids) -> dict:
    headers = {}
    if bids is None or not Path(bids).is_dir():
        return headers
    from ..io import nifti_mrs

    for acq in ("press", "megapress"):
        files = sorted(Path(bids).glob(f"sub-*/**/mrs/*_acq-{acq}_*_svs.nii.gz"))
        if files:
            try:
                headers[acq] = header_summary(nifti_mrs.read(files[0]))
            except (InputError, OSError, ValueError):
                pass
    return headers


def _png_uri(path: Path, max_bytes: int = 400_000) -> str | None:
    data = path.read_bytes()
    if len(data) > max_bytes or not data.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def build_report(
    table: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    stats_dir=None,
    config: Mapping[str, Any] | None = None,
    qc_table=None,
    derivatives=None,
    bids=None,
    recovery=None,
    provenance=None,
    max_figures: int = 8,
    title: str = "painmrs study report",
) -> Path:
    """Render the report for ``table`` (the study table) and write it atomically to ``out_path``."""
    config = dict(config or {})
    tabs, metas = _load_stats(stats_dir)
    versions = software_versions()
    measure = _primary_measure(table, config)
    ok = table[table["qc_pass"]]
    scans = table.drop_duplicates("stem")
    regions = sorted(table["region"].unique())

    # ---- overview
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

    # ---- QC
    qc_figs = []
    snr = {a: d["snr"].to_numpy(float) for a, d in scans.groupby("acq")} if "snr" in scans else {}
    fwhm = {a: d["fwhm_hz"].to_numpy(float) for a, d in scans.groupby("acq")} if "fwhm_hz" in scans else {}
    ex_cfg = (config.get("stats", {}) or {}).get("exclusion", {}) or {}
    if any(np.isfinite(v).any() for v in snr.values()):
        qc_figs.append({"title": "SNR per scan", "uri": figures.histograms(snr, "SNR", ex_cfg.get("snr_min", 10), "exclusion limit")})
    if any(np.isfinite(v).any() for v in fwhm.values()):
        mhz = ex_cfg.get("spectrometer_mhz", 123.2)
        lim = ex_cfg.get("fwhm_ppm_max", 0.1)
        qc_figs.append({"title": "Linewidth per scan", "uri": figures.histograms(fwhm, "FWHM (Hz)", lim * mhz if lim else None, "exclusion limit")})
    spectra_figs, headers = _spectra_figures(table, derivatives)
    if not headers:
        headers = _bids_headers(bids)
    fit_figs = []
    for p in _find(Path(derivatives) if derivatives else None, "*_fit.png")[: min(4, max_figures)]:
        uri = _png_uri(p)
        if uri:
            fit_figs.append({"title": f"example fit: {p.name}", "uri": uri})
    qc_tab = None
    if qc_table is not None and Path(qc_table).is_file():
        qc_tab = read_table(qc_table)
    else:
        qc_tab = scans[[c for c in ["stem", "region", "acq", "group", "snr", "fwhm_hz", "f_gm", "f_wm", "f_csf"] if c in scans]]

    # ---- group comparisons
    gc = tabs.get("group_comparisons", pd.DataFrame())
    group_figs, box_figs = [], []
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
        base = _cross_sectional(ok, config)
        for r in top.itertuples(index=False):
            d = base[(base["region"] == r.region) & (base["acq"] == r.acq) & (base["metabolite"] == r.metabolite)
                     & (base["measure"] == r.measure) & base["group"].isin([control, r.group])]
            box_figs.append({"title": f"{r.region} {r.metabolite}: {r.group} vs {control} (p={_fmt(r.p)}, FDR p={_fmt(r.p_fdr)})",
                             "uri": figures.box_strip({control: d[d["group"] == control]["value"], r.group: d[d["group"] == r.group]["value"]},
                                                      f"{r.region} {r.metabolite}", r.measure)})
    gc_cols = ["group", "control", "region", "acq", "metabolite", "measure", "n_patient", "n_control", "diff_adj_pct",
               "diff_adj_pct_ci_low", "diff_adj_pct_ci_high", "p", "p_fdr", "fdr_reject", "hedges_g", "welch_p",
               "mwu_p", "shapiro_p", "levene_p", "mde_pct", "notes"]
    gc_sorted = gc.sort_values(["p"]) if not gc.empty else gc

    # ---- correlations
    cor = tabs.get("correlations", pd.DataFrame())
    cor_figs = []
    if not cor.empty:
        base = _cross_sectional(ok, config, which="correlation")
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

    # ---- longitudinal
    par = tabs.get("longitudinal_parallel", pd.DataFrame())
    cro = tabs.get("crossover", pd.DataFrame())
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

    # ---- recovery
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

    # ---- checklist, methods, provenance
    table_info = {
        "regions": regions, "measures": sorted(table["measure"].unique()), "painmrs_version": versions["painmrs"],
        "n_subjects": design["n_subjects"], "n_scans": design["n_scans"], "n_excluded_rows": design["n_excluded"],
        "has_spectra": bool(spectra_figs or fit_figs),
        "snr_fwhm": _snr_fwhm_text(scans),
    }
    checklist = mrsinmrs_checklist(headers, config, table_info)
    methods = methods_paragraph(config, versions, table_info, metas)
    prov = None
    if provenance is not None and Path(provenance).is_file():
        try:
            prov = json.dumps(json.loads(Path(provenance).read_text()), indent=2, sort_keys=True)
        except json.JSONDecodeError:
            prov = Path(provenance).read_text()[:20000]
    config_text = json.dumps(config, indent=2, sort_keys=True, default=str)

    html = _env().get_template("index.html.j2").render(
        title=title, design=design, versions=versions,
        n_cell=html_table(n_cell), exclusions=html_table(excl),
        qc_figs=qc_figs, spectra_figs=spectra_figs, fit_figs=fit_figs, qc_table=html_table(qc_tab, max_rows=300),
        group_figs=group_figs, box_figs=box_figs, gc_table=html_table(gc_sorted, gc_cols, 150),
        cor_figs=cor_figs, cor_table=html_table(cor.sort_values("spearman_p") if not cor.empty else cor, cor_cols, 100),
        long_figs=long_figs, par_table=html_table(par.sort_values("p") if not par.empty else par, par_cols, 100),
        within_table=html_table(tabs.get("longitudinal_within_arm"), None, 100),
        cro_table=html_table(cro.sort_values("p") if not cro.empty else cro, cro_cols, 100),
        rec_table=html_table(rec, None, 300), rec_summary=json.dumps(rec_summary, indent=1, sort_keys=True) if rec_summary else None,
        rec_fig=rec_fig, rec_summary_table=rec_summary_table, checklist=checklist, methods=methods, provenance=prov, config_text=config_text,
        model_notes=[(k, v.get("model", "")) for k, v in sorted(metas.items()) if v.get("model")],
    )
    out_path = Path(out_path)
    atomic.write_text(out_path, html)
    return out_path


def _cross_sectional(ok: pd.DataFrame, config: Mapping, which: str = "group_comparison") -> pd.DataFrame:
    from ..stats.group import select_sessions

    sessions = (((config.get("stats", {}) or {}).get(which, {}) or {}).get("sessions")) or ["baseline"]
    return select_sessions(ok, sessions)


def _snr_fwhm_text(scans: pd.DataFrame) -> str:
    parts = []
    for acq, d in scans.groupby("acq"):
        s = pd.to_numeric(d.get("snr"), errors="coerce")
        f = pd.to_numeric(d.get("fwhm_hz"), errors="coerce")
        if s is not None and s.notna().any():
            parts.append(f"{acq}: SNR {s.mean():.1f} ± {s.std():.1f}, FWHM {f.mean():.2f} ± {f.std():.2f} Hz (mean ± SD over scans; definitions in QC stage)")
    return "; ".join(parts) or "not reported"
