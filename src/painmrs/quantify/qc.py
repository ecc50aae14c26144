"""QC flags per metabolite and per scan from configurable rules.

Defaults follow common practice (facts.md section 2.5 and the demo's analysis plan): relative
CRLB above 20 % (50 % for GABA, GABA+ and Gln), SNR below 10, linewidth above 0.1 ppm.
These rules (config ``qc:``) are the one source of truth: the fit tables' ``qc_flags`` and the
study table's exclusions (``painmrs.stats.study_table.apply_exclusions``) both apply them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class QCRules:
    max_crlb_pct: float | None = 20.0
    max_crlb_pct_by_metabolite: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"GABA": 50.0, "GABA+": 50.0, "GABA+_gauss": 50.0, "Gln": 50.0}
    )
    min_snr: float | None = 10.0
    max_fwhm_ppm: float | None = 0.1
    max_fit_quality: float | None = None  # residual variance / noise variance; None: not checked


def scan_flags(snr: float, fwhm_hz: float, spectrometer_mhz: float, fit_quality: float, rules: QCRules) -> list[str]:
    """Reasons the whole scan fails QC (empty: passes)."""
    flags = []  # a threshold of None switches its check off (the study table re-applies these rules)
    if rules.min_snr is not None and (not np.isfinite(snr) or snr < rules.min_snr):
        flags.append(f"snr<{rules.min_snr:g}")
    if rules.max_fwhm_ppm is not None and (not np.isfinite(fwhm_hz) or fwhm_hz / spectrometer_mhz > rules.max_fwhm_ppm):
        flags.append(f"fwhm>{rules.max_fwhm_ppm:g}ppm")
    if rules.max_fit_quality is not None and not fit_quality <= rules.max_fit_quality:
        flags.append(f"fit_quality>{rules.max_fit_quality:g}")
    return flags


def metabolite_flags(name: str, crlb_pct: float, rules: QCRules) -> list[str]:
    limit = rules.max_crlb_pct_by_metabolite.get(name, rules.max_crlb_pct)
    if limit is not None and (not np.isfinite(crlb_pct) or crlb_pct > limit):
        return [f"crlb>{limit:g}%"]
    return []
