"""Auto-filled MRSinMRS minimum reporting checklist (Lin et al. 2021; facts.md §3.2) and the
generated methods paragraph. Values come from NIfTI-MRS headers and the config; anything not
found is marked "not reported" rather than guessed."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

NOT_REPORTED = "not reported"


def _first(header: Mapping, *keys, default=None):
    for k in keys:
        v = header.get(k)
        if v not in (None, "", []):
            return v
    return default


def header_summary(mrs) -> dict[str, Any]:
    """Acquisition facts from one MRSData (any object with header, dwell_s, spectrometer_mhz...)."""
    h = dict(getattr(mrs, "header", {}) or {})
    out = {
        "field_T": round(float(mrs.spectrometer_mhz) / 42.577, 2) if getattr(mrs, "spectrometer_mhz", None) else None,
        "spectrometer_mhz": getattr(mrs, "spectrometer_mhz", None),
        "manufacturer": _first(h, "Manufacturer"),
        "model": _first(h, "ManufacturersModelName"),
        "software": _first(h, "SoftwareVersions"),
        "tx_coil": _first(h, "TxCoil", "TransmitCoilName"),
        "rx_coil": _first(h, "RxCoil", "ReceiveCoilName"),
        "sequence": _first(h, "SequenceName", "PulseSequenceName", "ProtocolName"),
        "te_ms": None if h.get("EchoTime") is None else 1000 * float(h["EchoTime"]),
        "tr_ms": None if h.get("RepetitionTime") is None else 1000 * float(h["RepetitionTime"]),
        "spectral_width_hz": 1.0 / float(mrs.dwell_s) if getattr(mrs, "dwell_s", None) else None,
        "n_points": int(np.asarray(mrs.fid).shape[0]) if getattr(mrs, "fid", None) is not None else None,
        "water_suppression": _first(h, "WaterSuppressionType", "WaterSuppressed"),
        "edit_pulse": _first(h, "EditPulse"),
        "n_transients": _first(h, "NumberOfTransients", "Averages"),
        "processing": [str(p.get("Method", "")) for p in h.get("ProcessingApplied", []) if isinstance(p, Mapping)],
    }
    try:
        vox = np.asarray(mrs.voxel_size_mm, float)
        out["voxel_mm"] = [round(float(v), 1) for v in vox]
        out["voxel_ml"] = round(float(np.prod(vox)) / 1000.0, 2)
    except (AttributeError, TypeError, ValueError):
        out["voxel_mm"] = None
    return out


def _fmt(v, unit=""):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return NOT_REPORTED
    if isinstance(v, float):
        v = f"{v:g}"
    if isinstance(v, (list, tuple)):
        v = " x ".join(map(str, v))
    return f"{v}{unit}"


def mrsinmrs_checklist(headers: Mapping[str, dict], options, table_info: Mapping) -> list[dict]:
    """Rows: section, item, value. ``headers`` maps acquisition label -> header_summary()."""

    def per_acq(key, unit=""):
        if not headers:
            return NOT_REPORTED
        return "; ".join(f"{acq}: {_fmt(h.get(key), unit)}" for acq, h in sorted(headers.items()))

    proc_steps = sorted({s for h in headers.values() for s in (h.get("processing") or [])})
    rows = [
        ("1 Hardware", "a. field strength", per_acq("field_T", " T")),
        ("1 Hardware", "b. manufacturer", per_acq("manufacturer")),
        ("1 Hardware", "c. model and software version", "; ".join(
            f"{a}: {_fmt(h.get('model'))}, {_fmt(h.get('software'))}" for a, h in sorted(headers.items())) or NOT_REPORTED),
        ("1 Hardware", "d. RF coils", "; ".join(
            f"{a}: Tx {_fmt(h.get('tx_coil'))}, Rx {_fmt(h.get('rx_coil'))}" for a, h in sorted(headers.items())) or NOT_REPORTED),
        ("1 Hardware", "e. additional hardware", NOT_REPORTED),
        ("2 Acquisition", "a. pulse sequence", per_acq("sequence")),
        ("2 Acquisition", "b. VOI location(s)", ", ".join(table_info.get("regions", [])) or NOT_REPORTED),
        ("2 Acquisition", "c. nominal VOI size", per_acq("voxel_ml", " mL")),
        ("2 Acquisition", "d. TR / TE", "; ".join(
            f"{a}: TR {_fmt(h.get('tr_ms'), ' ms')}, TE {_fmt(h.get('te_ms'), ' ms')}" for a, h in sorted(headers.items())) or NOT_REPORTED),
        ("2 Acquisition", "e. number of excitations", per_acq("n_transients")),
        ("2 Acquisition", "f. spectral width / points / editing", "; ".join(
            f"{a}: {_fmt(h.get('spectral_width_hz'), ' Hz')}, {_fmt(h.get('n_points'))} points, editing {_fmt(h.get('edit_pulse'))}"
            for a, h in sorted(headers.items())) or NOT_REPORTED),
        ("2 Acquisition", "g. water suppression", per_acq("water_suppression")),
        ("2 Acquisition", "h. shimming", NOT_REPORTED),
        ("2 Acquisition", "i. triggering / motion correction", NOT_REPORTED),
        ("3 Analysis", "a. analysis software", f"painmrs {table_info.get('painmrs_version', '')}"),
        ("3 Analysis", "b. processing steps", ", ".join(proc_steps) or NOT_REPORTED),
        ("3 Analysis", "c. output measures", ", ".join(table_info.get("measures", [])) or NOT_REPORTED),
        ("3 Analysis", "d. quantification references / fitting model", _fit_text(options)),
        ("4 Data quality", "a. SNR and linewidth", table_info.get("snr_fwhm", NOT_REPORTED)),
        ("4 Data quality", "b. exclusion criteria", _exclusion_text(options.qc)),
        ("4 Data quality", "c. fit quality measures", "CRLB (%), per metabolite; see QC table"),
        ("4 Data quality", "d. sample spectrum", "see QC section" if table_info.get("has_spectra") else NOT_REPORTED),
    ]
    return [{"section": s, "item": i, "value": v} for s, i, v in rows]


def _scalars(options) -> str:
    """``key=value`` for the scalar options of one option object (floats as %g)."""
    import dataclasses

    items = []
    for f in dataclasses.fields(options):
        v = getattr(options, f.name)
        if isinstance(v, float):
            items.append(f"{f.name}={v:g}")
        elif isinstance(v, (int, str, bool)) or v is None:
            items.append(f"{f.name}={v}")
        elif isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
            items.append(f"{f.name}={v[0]:g}-{v[1]:g}")
    return ", ".join(sorted(items))


def _has_mega(options) -> bool:
    return any(s.sequence == "MEGA-PRESS" for s in options.sequences.values())


def _fit_text(options) -> str:
    """The fitting model as run: the fit options, the MEGA-PRESS DIFF fit's own options (only
    when the study has MEGA-PRESS scans), the quantification references."""
    parts = [f"linear-combination fit of a {'supplied' if _any_supplied(options) else 'simulated'} basis "
             f"({_scalars(options.fit)})"]
    if _has_mega(options):
        parts.append(f"MEGA-PRESS DIFF spectra fitted with their own options, config fit.mega_diff "
                     f"({_scalars(options.mega_diff_fit)}); OFF spectra with the fit options above")
    q = options.quantify
    parts.append(f"water scaling with tissue correction (Gasparovic 2006; water {q.h2o_molal_mM:g} mM, "
                 f"ratios to {', '.join(q.ratio_references)})")
    return "; ".join(parts)


def _any_supplied(options) -> bool:
    return any(s.basis for s in options.sequences.values())


def _exclusion_text(r) -> str:
    """The QC exclusion rules (``QCRules``) in words."""
    off = "not applied"
    crlb = f"CRLB > {r.max_crlb_pct:g}%" if r.max_crlb_pct is not None else f"CRLB {off}"
    over = ", ".join(f"{k} > {v:g}%" for k, v in sorted(r.max_crlb_pct_by_metabolite.items()))
    parts = [crlb + (f" ({over})" if over else ""),
             f"SNR < {r.min_snr:g}" if r.min_snr is not None else f"SNR {off}",
             f"FWHM > {r.max_fwhm_ppm:g} ppm" if r.max_fwhm_ppm is not None else f"FWHM {off}"]
    fit = [f"a metabolite lineshape or shift parameter within {100 * r.fit_bound_tolerance:g}% of its bound range "
           "of a bound (fit_at_bound)", "the evaluation limit reached (fit_eval_limit)"]
    if r.max_fit_quality is not None:
        fit.append(f"fit residual/noise variance > {r.max_fit_quality:g} (fit_residual)")
    verdict = ("every value of such a scan was excluded" if r.exclude_fit_flags
               else "such scans were flagged but not excluded (qc.exclude_fit_flags: false)")
    parts.append(f"fit flags: {', '.join(fit)}; {verdict}")
    return "; ".join(parts) + "; failed QC-stage checks"


def methods_paragraph(options, versions: Mapping[str, str], table_info: Mapping, stats_meta: Mapping) -> str:
    """The methods paragraph, from the study's parsed options (``painmrs.configuration``)."""
    s = options.stats
    cov = ", ".join(s.group.covariates)
    co = s.correlation
    q = s.fdr_q
    power = s.power
    text = (
        f"Spectra were analysed with painmrs {versions.get('painmrs', '')} (Python {versions.get('python', '')}; "
        f"NumPy {versions.get('numpy', '')}, SciPy {versions.get('scipy', '')}, pandas {versions.get('pandas', '')}, "
        f"statsmodels {versions.get('statsmodels', '')}). "
        f"The study table held {table_info.get('n_subjects', 0)} participants, {table_info.get('n_scans', 0)} scans in "
        f"{len(table_info.get('regions', []))} regions; {table_info.get('n_excluded_rows', 0)} metabolite estimates were "
        f"excluded by the QC rules ({_exclusion_text(options.qc)}). "
        f"Each patient group was compared with the control group ({s.control_group}) per region, metabolite and "
        f"measure by ANCOVA (ordinary least squares) adjusting for {cov}; we report the adjusted difference with its 95% CI, "
        f"Hedges' g, Welch's t and Mann-Whitney U tests as sensitivity analyses, Shapiro-Wilk tests of the residuals and "
        f"Levene tests of equal variance. Correlations with pain scores were computed within each patient group "
        f"(Pearson, Spearman, and partial correlations controlling for {', '.join(co.covariates)}) "
        f"with percentile bootstrap 95% CIs ({co.n_bootstrap} resamples, seed {co.seed}). "
        f"Parallel-arm treatment studies were analysed with linear mixed models (value ~ arm x time + covariates + "
        f"(1 | subject), REML) using all available sessions, the arm x time interaction being the primary contrast; "
        f"crossover studies with value ~ treatment + period + sequence + (1 | subject) and Grizzle's test for carry-over. "
        f"P-values were adjusted with the Benjamini-Hochberg procedure (q = {q}) within declared families. "
        f"The minimum detectable effect at {int(100 * power)}% power was computed from the observed n and variance."
    )
    text += f" Parameters (resolved, config values over the stage defaults): {resolved_parameters(options)}."
    return text


def resolved_parameters(options) -> str:
    """Scalar processing / fit / quantify / QC options as the stages ran them (config over
    defaults), and the MEGA-PRESS DIFF fit's when the study has MEGA-PRESS scans."""
    sections = [("processing", options.processing), ("fit", options.fit)]
    if _has_mega(options):
        sections.append(("fit.mega_diff", options.mega_diff_fit))
    sections += [("quantify", options.quantify), ("qc", options.qc)]
    return "; ".join(f"{name}: {_scalars(opts)}" for name, opts in sections)
