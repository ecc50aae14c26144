"""The self-contained HTML study report (results/report/index.html).

One file: figures are base64 PNG data URIs, styles and the small render-check script are
inline, and a Content-Security-Policy forbids any network fetch. jinja2 autoescaping escapes
every string that comes from users (labels, config values, headers, provenance).
Optional inputs (QC table, processed spectra, per-scan fit figures, recovery table,
provenance manifest) degrade gracefully: their sections say what is missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
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
from ..configuration import StudyOptions, study_options
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


def _primary_measure(table: pd.DataFrame, options: StudyOptions) -> str:
    want = options.report.primary_measure
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


SPECTRA_PPM = np.linspace(4.2, 0.2, 801)  # the common axis of the mean +- SD spectra (0.005 ppm)
WATER_BAND = (4.25, 5.05)
TCR_BAND = (2.95, 3.10)


def _mean_spectrum(mrs) -> tuple[np.ndarray, np.ndarray]:
    """(ppm ascending, complex spectrum averaged over any extra dimension)."""
    spec = mrs.spectrum()
    spec = spec.reshape(spec.shape[0], -1).mean(axis=1)
    ppm = np.asarray(mrs.ppm, float)
    order = np.argsort(ppm)
    return ppm[order], spec[order]


def _band_integral(ppm, spec, band, phase_free: bool) -> float:
    sel = (ppm >= band[0]) & (ppm <= band[1])
    if sel.sum() < 2:
        return math.nan
    step = float(np.mean(np.diff(ppm[sel])))
    total = spec[sel].sum() * step
    # |complex integral| does not depend on the zero-order phase (water references are not phased);
    # the tCr area uses the real part of the phased metabolite spectrum.
    return float(abs(total)) if phase_free else float(total.real)


def spectra_cells(table: pd.DataFrame, derivatives, max_per_cell: int = 40) -> dict:
    """Normalised processed spectra of QC-passing scans on one ppm axis (``SPECTRA_PPM``).

    Returns {(acq, region): {"norm": "water" | "tCr", "groups": {group: matrix n_scans x 801}}}.
    PRESS: the processed spectrum; MEGA-PRESS: the difference spectrum. Each spectrum is divided
    by the area of its processed water reference when every scan of the cell has one (so tissue
    water, not a metabolite, sets the scale), else by its own tCr area (MEGA-PRESS: the OFF
    spectrum's), which removes coil loading and voxel size but hides a tCr group difference.
    """
    cells: dict = {}
    if derivatives is None or not Path(derivatives).is_dir():
        return cells
    from ..io import nifti_mrs

    scan_ok = table.groupby("stem")["qc_pass"].any()
    scans = table.drop_duplicates("stem")[["stem", "region", "acq", "group"]]
    scans = scans[scans["stem"].map(scan_ok).fillna(False).astype(bool)]
    index = {p.name: p for p in Path(derivatives).rglob("*.nii.gz")}
    raw: dict = {}
    for s in scans.sort_values("stem").itertuples(index=False):
        met = next((index[c] for c in (f"{s.stem}_desc-processed_svs.nii.gz", f"{s.stem}_desc-diff_svs.nii.gz") if c in index), None)
        if met is None:
            continue
        per_group = raw.setdefault((s.acq, s.region), {}).setdefault(s.group, [])
        if len(per_group) >= max_per_cell:
            continue
        try:
            ppm, spec = _mean_spectrum(nifti_mrs.read(met))
            water = index.get(f"{s.stem}_desc-processed_mrsref.nii.gz")
            w_area = _band_integral(*_mean_spectrum(nifti_mrs.read(water)), WATER_BAND, True) if water else math.nan
            off = index.get(f"{s.stem}_desc-off_svs.nii.gz")
            tcr_src = _mean_spectrum(nifti_mrs.read(off)) if met.name.endswith("_desc-diff_svs.nii.gz") and off else (ppm, spec)
            if met.name.endswith("_desc-diff_svs.nii.gz") and off is None:
                tcr_src = None
            tcr = _band_integral(*tcr_src, TCR_BAND, False) if tcr_src is not None else math.nan
        except (InputError, OSError, ValueError):
            continue
        if not (ppm.min() <= SPECTRA_PPM.min() and ppm.max() >= SPECTRA_PPM.max()):
            continue
        on_axis = np.interp(SPECTRA_PPM, ppm, spec.real)
        per_group.append((on_axis, w_area, tcr))
    for key, groups in sorted(raw.items()):
        items = [it for g in groups.values() for it in g]
        if not items:
            continue
        use_water = all(np.isfinite(w) and w > 0 for _, w, _ in items)
        norm = "water" if use_water else "tCr"
        out = {}
        for g, its in sorted(groups.items()):
            rows = [sp / (w if use_water else t) for sp, w, t in its if (w if use_water else t) > 0]
            if rows:
                out[g] = np.vstack(rows)
        if out:
            cells[key] = {"norm": norm, "groups": out}
    return cells


def _spectra_figures(table: pd.DataFrame, derivatives, max_per_cell: int = 40) -> tuple[list[dict], dict]:
    """Mean +- SD spectra per region x group (PRESS processed, MEGA-PRESS difference), and the
    acquisition headers of one processed scan per acquisition (for the MRSinMRS checklist)."""
    figs, headers = [], {}
    if derivatives is None or not Path(derivatives).is_dir():
        return figs, headers
    from ..io import nifti_mrs

    for acq, d in table.drop_duplicates("stem").sort_values("stem").groupby("acq", sort=True):
        for stem in d["stem"]:
            hit = next(iter(sorted(Path(derivatives).rglob(f"{stem}_desc-*_svs.nii.gz"))), None)
            if hit is not None:
                try:
                    headers[acq] = header_summary(nifti_mrs.read(hit))
                except (InputError, OSError, ValueError):
                    continue
                break
    for (acq, region), cell in spectra_cells(table, derivatives, max_per_cell).items():
        unit = "water reference area" if cell["norm"] == "water" else "tCr area (2.95-3.10 ppm)"
        kind = "difference spectrum" if acq.lower().startswith("mega") else "processed spectrum"
        data = {g: (SPECTRA_PPM, m) for g, m in cell["groups"].items()}
        figs.append({"title": f"{region} ({acq}): mean ± SD {kind} per group, QC-passing scans, normalised to the {unit}",
                     "uri": figures.mean_sd_spectra(data, f"{region} {acq}", ylabel=f"signal / {cell['norm']} area")})
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
    options: StudyOptions | None = None,
    table_path=None,
    figures_dir=None,
    qc_table=None,
    derivatives=None,
    bids=None,
    recovery=None,
    provenance=None,
    max_figures: int = 8,
    title: str = "painmrs study report",
) -> Path:
    """Render the report for ``table`` (the study table) and write it atomically to ``out_path``.

    ``table_path``: the study table's file (hashed into the run provenance); ``figures_dir``:
    also write the main figures there as PNG files (for Snakemake's own report).
    ``options``: the study's parsed configuration (``painmrs.configuration``), the one source
    of every setting the report states; None: the stage defaults."""
    options = options if options is not None else study_options({})
    tabs, metas = _load_stats(stats_dir)
    versions = software_versions()
    measure = _primary_measure(table, options)
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
    rules = options.qc  # the one set of QC thresholds (config qc:)
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
    excluded_scans, scan_warnings = _excluded_and_warned(qc_tab)

    # ---- group comparisons
    gc = tabs.get("group_comparisons", pd.DataFrame())
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
    gc_sorted = gc.sort_values(["p"]) if not gc.empty else gc

    # ---- correlations
    cor = tabs.get("correlations", pd.DataFrame())
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

    missing = _missing_sessions_text(par, cro)
    diagnostics = html_table(_diagnostics(gc, par, cro, opts_alpha=options.stats.alpha))

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
    checklist = mrsinmrs_checklist(headers, options, table_info)
    methods = methods_paragraph(options, versions, table_info, metas)
    run_prov = json.dumps(run_provenance(options, {"study table": table_path, "QC table": qc_table,
                                                  "recovery table": recovery}, stats_dir),
                          indent=2, sort_keys=True)
    prov = None
    if provenance is not None and Path(provenance).is_file():
        try:
            prov = json.dumps(json.loads(Path(provenance).read_text()), indent=2, sort_keys=True)
        except json.JSONDecodeError:
            prov = Path(provenance).read_text()[:20000]
    # the resolved configuration: every option as the stages ran it (config values over defaults)
    config_text = json.dumps(json.loads(options.to_json()), indent=2, sort_keys=True)

    # Scans whose water-scaled values rest on assumed (not segmented) tissue fractions.
    n_assumed_tissue = (int(table.loc[table["tissue_source"].astype(str) == "assumed", "stem"].nunique())
                        if "tissue_source" in table.columns else 0)
    html = _env().get_template("index.html.j2").render(
        title=title, design=design, versions=versions, n_assumed_tissue=n_assumed_tissue,
        n_cell=html_table(n_cell), exclusions=html_table(excl),
        qc_figs=qc_figs, spectra_figs=spectra_figs, fit_figs=fit_figs, qc_table=html_table(qc_tab, max_rows=300),
        excluded_scans=html_table(excluded_scans, max_rows=1000), scan_warnings=html_table(scan_warnings, max_rows=1000),
        group_figs=group_figs, box_figs=box_figs, groups_note=groups_note, gc_table=html_table(gc_sorted, gc_cols, 150),
        cor_figs=cor_figs, cor_table=html_table(cor.sort_values("spearman_p") if not cor.empty else cor, cor_cols, 100),
        long_figs=long_figs, par_table=html_table(par.sort_values("p") if not par.empty else par, par_cols, 100),
        within_table=html_table(tabs.get("longitudinal_within_arm"), None, 100),
        cro_table=html_table(cro.sort_values("p") if not cro.empty else cro, cro_cols, 100),
        rec_table=html_table(rec, None, 300), rec_summary=json.dumps(rec_summary, indent=1, sort_keys=True) if rec_summary else None,
        rec_fig=rec_fig, rec_summary_table=rec_summary_table, checklist=checklist, methods=methods, provenance=prov, config_text=config_text,
        model_notes=[(k, v.get("model", "")) for k, v in sorted(metas.items()) if v.get("model")],
        missing_sessions=missing, diagnostics=diagnostics, run_provenance=run_prov,
    )
    if figures_dir is not None:
        main = [("qc", f) for f in qc_figs] + [("spectra", f) for f in spectra_figs] + [("group", f) for f in group_figs] \
            + [("correlation", f) for f in cor_figs[:2]] + [("longitudinal", f) for f in long_figs[:3]] \
            + ([("recovery", {"title": "recovery", "uri": rec_fig})] if rec_fig else [])
        write_figures(main, figures_dir)
    out_path = Path(out_path)
    atomic.write_text(out_path, html)
    return out_path


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


def write_figures(items, figures_dir) -> list[Path]:
    """The main figures as numbered PNG files (Snakemake report); stale ones are removed."""
    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    written = []
    for i, (section, f) in enumerate(items):
        path = out / f"{i + 1:02d}_{section}.png"
        atomic.write_bytes(path, base64.b64decode(f["uri"].split(",", 1)[1]))
        written.append(path)
    return written


def _sha256(path) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_provenance(options: StudyOptions, inputs: Mapping[str, Any], stats_dir=None) -> dict:
    """What this report was made from: the resolved options' SHA-256 and the config's seeds, the git commit and
    package versions, and the SHA-256 of every table read (the full run manifest,
    results/provenance/manifest.json, is written after the report and hashes it)."""
    from ..provenance.hashing import sha256_json
    from ..provenance.manifest import git_state, package_versions

    files = {k: _sha256(v) for k, v in inputs.items() if v is not None and _sha256(v)}
    if stats_dir is not None:
        for name in STATS_TABLES:
            h = _sha256(Path(stats_dir) / f"{name}.tsv")
            if h:
                files[f"stats/{name}.tsv"] = h
    seeds = {**options.seeds, "stats.correlation.seed": options.stats.correlation.seed}
    return {"options_sha256": sha256_json(json.loads(options.to_json())), "seeds": seeds,
            "git": git_state(Path(__file__).resolve().parents[3]),
            "packages": {k: v for k, v in package_versions().items() if v},
            "inputs_sha256": files}


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


def _excluded_and_warned(qc_tab: pd.DataFrame | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Scans the stages excluded (execution.on_bad_scan: exclude; scan_qc_pass false with the
    error as qc_reason) and scans with warnings (e.g. no water reference), from the QC table."""
    if qc_tab is None or qc_tab.empty or "stem" not in qc_tab.columns:
        return None, None
    excluded = warned = None
    if "qc_reason" in qc_tab.columns:
        reason = qc_tab["qc_reason"].fillna("").astype(str)
        excluded = qc_tab.loc[reason != "", ["stem"]].assign(reason=reason[reason != ""])
    if "qc_warnings" in qc_tab.columns:
        text = qc_tab["qc_warnings"].fillna("").astype(str)
        warned = qc_tab.loc[text != "", ["stem"]].assign(warning=text[text != ""])
    return excluded, warned
