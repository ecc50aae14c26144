"""The per-scan ``*_fit.tsv`` table: one row per basis spectrum and combination.

Columns: metabolite, spectrum (press | diff | off), amplitude, crlb_sd, crlb_pct, ratio_tCr
(+ ratio_tNAA if configured), conc_mM (Gasparovic molar, CSF-corrected), conc_molal,
alpha_corrected (Harris 2015, GABA targets only), snr, fwhm_hz, f_gm, f_wm, f_csf, fit_qc_pass,
qc_flags (the metabolite's CRLB flag and the scan's SNR, linewidth and fit flags,
:func:`painmrs.quantify.qc.fit_flags`), warnings (scan-level, e.g. no water reference, a header
that disagrees with the config). Missing values are written as ``n/a`` (BIDS).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..fitting.model import FitResult
from .concentrations import QuantOptions, alpha_corrected, water_scaling
from .qc import QCRules, fit_flags, is_fit_flag, metabolite_flags, scan_flags

COLUMNS = (
    "metabolite", "spectrum", "amplitude", "crlb_sd", "crlb_pct", "ratio_tCr", "ratio_tNAA", "conc_mM",
    "conc_molal", "alpha_corrected", "snr", "fwhm_hz", "spectrometer_mhz", "f_gm", "f_wm", "f_csf", "tissue_source", "fit_qc_pass", "qc_flags", "warnings",
)
#: Scan-level warning when there is no water reference: ratios are computed, the water-scaled
#: columns stay n/a (never 0) and the QC table and report show this text.
NO_WATER_WARNING = "no_water_reference: conc_mM, conc_molal and alpha_corrected unavailable (n/a)"
#: Scan-level warning when there is no segmentation and quantify.assumed_fractions is 'refuse'.
REFUSED_FRACTIONS_WARNING = ("no_segmentation: assumed tissue fractions refused (quantify.assumed_fractions: refuse); "
                             "conc_mM, conc_molal and alpha_corrected unavailable (n/a)")


def fit_table(
    fits: Sequence[tuple[str, FitResult]],
    *,
    extra_rows: Sequence[tuple[str, str, float, float]] = (),
    water_area: float | None = None,
    proton_unit: float | None = None,
    fractions: Mapping[str, float] | None = None,
    te_s: float | None = None,
    tr_s: float | None = None,
    quant: QuantOptions | None = None,
    qc: QCRules | None = None,
    warnings: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows from one or more fits (``(label, fit)`` or ``(label, fit, names)`` to report only
    ``names`` of that fit; earlier labels win name clashes).

    ``extra_rows``: (name, label, amplitude, sd) e.g. the Gaussian GABA+ cross-check.
    ``warnings``: further scan-level warnings (e.g. a header TE other than the config's).
    The scan-level SNR / FWHM come from the last fit (OFF for MEGA-PRESS, the PRESS fit).
    """
    quant = quant or QuantOptions()
    qc = qc or QCRules()
    rows, seen = [], set()
    for label, fit, *keep in fits:
        keep = set(keep[0]) if keep and keep[0] is not None else None
        for name, amp, sd in fit.rows():
            if name not in seen and (keep is None or name in keep):
                seen.add(name)
                rows.append((name, label, amp, sd))
    for name, label, amp, sd in extra_rows:
        if name not in seen:
            seen.add(name)
            rows.append((name, label, amp, sd))
    ref_fit = fits[-1][1]
    amps = {r[0]: r[2] for r in rows}
    df = pd.DataFrame(rows, columns=["metabolite", "spectrum", "amplitude", "crlb_sd"])
    with np.errstate(divide="ignore", invalid="ignore"):
        df["crlb_pct"] = np.where(df.amplitude > 0, 100 * df.crlb_sd / df.amplitude, np.inf)
    for ref in ("tCr", "tNAA"):
        if ref in quant.ratio_references:
            a_ref = amps.get(ref, np.nan)
            df[f"ratio_{ref}"] = df.amplitude / a_ref if np.isfinite(a_ref) and a_ref > 0 else np.nan
        else:
            df[f"ratio_{ref}"] = np.nan
    df["conc_mM"] = np.nan
    df["conc_molal"] = np.nan
    df["alpha_corrected"] = np.nan
    fr = None
    refused = fractions is None and quant.assumed_fractions == "refuse"
    have_water = water_area is not None and proton_unit is not None and te_s is not None and tr_s is not None
    if have_water and not refused:
        ws = water_scaling(list(df.metabolite), proton_unit, water_area, fractions, quant, te_s=te_s, tr_s=tr_s)
        fr = ws.fractions
        df["conc_mM"] = [a * ws.molar[n] for n, a in zip(df.metabolite, df.amplitude)]
        df["conc_molal"] = [a * ws.molal[n] for n, a in zip(df.metabolite, df.amplitude)]
        if fractions is not None:
            df["alpha_corrected"] = [
                alpha_corrected(a * ws.tissue_corrected[n], fr["GM"], fr["WM"], quant.alpha)
                if n in quant.alpha_targets else np.nan
                for n, a in zip(df.metabolite, df.amplitude)
            ]
    df["snr"] = ref_fit.snr
    df["fwhm_hz"] = ref_fit.fwhm_hz
    # The scan's own frequency: the study table turns fwhm_hz into ppm with it (multi-field studies).
    df["spectrometer_mhz"] = float(ref_fit.spectrometer_mhz)
    for t in ("GM", "WM", "CSF"):
        df[f"f_{t.lower()}"] = (fr or {}).get(t, np.nan) if fractions is not None else np.nan
    # Scan-level flags: SNR and linewidth of the reference fit, then every fit's own fit flags
    # (painmrs.quantify.qc.fit_flags; a MEGA-PRESS scan's carry @diff / @off).
    scan = _scan_flags(fits, ref_fit, qc)
    flags = [";".join(scan + metabolite_flags(n, p, qc)) for n, p in zip(df.metabolite, df.crlb_pct)]
    df["fit_qc_pass"] = [not f for f in flags]  # this fit's own checks (not the study inclusion)
    df["qc_flags"] = [f or "" for f in flags]
    # Where the water scaling's tissue fractions came from: segmentation (f_gm... columns),
    # assumed (quantify.assumed_fractions, f_* n/a), or none (not water-scaled).
    df["tissue_source"] = "segmentation" if fractions is not None else ("assumed" if have_water and not refused else "none")
    own = NO_WATER_WARNING if not have_water else (REFUSED_FRACTIONS_WARNING if refused else "")
    df["warnings"] = "; ".join(w for w in (own, *warnings) if w)
    return df[list(COLUMNS)]


def _scan_flags(fits, ref_fit, qc: QCRules) -> list[str]:
    """SNR and linewidth of the reference fit, then every fit's own fit flags."""
    scan = scan_flags(ref_fit.snr, ref_fit.fwhm_hz, ref_fit.spectrometer_mhz, math.nan,
                      dataclasses.replace(qc, max_fit_quality=None))
    for label, fit, *_ in fits:
        scan += fit_flags(getattr(fit, "params", {}), fit.fit_quality, qc, label if len(fits) > 1 else None)
    return scan


def table_fit_flags(table: pd.DataFrame) -> list[str]:
    """The scan's fit flags (``fit_at_bound:...``, ``fit_eval_limit``, ``fit_residual>X``) in a fit table."""
    if "qc_flags" not in table.columns or not len(table):
        return []
    first = str(table["qc_flags"].iloc[0] or "")
    return [t for t in first.split(";") if is_fit_flag(t)]


def write_fit_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Deterministic TSV (6 significant digits, n/a for missing)."""
    text = table.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g", lineterminator="\n")
    write_text(path, text)
