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
    # residual variance / noise variance over the fit range (1: noise level); None: not checked
    max_fit_quality: float | None = 30.0
    # a lineshape or shift parameter within this fraction of its bound range of a bound
    fit_bound_tolerance: float = 0.005
    # leave the values of a scan with a fit flag (fit_at_bound, fit_eval_limit, fit_residual) out
    # of the statistics; false: the flags are recorded and shown as warnings only
    exclude_fit_flags: bool = True


def scan_flags(snr: float, fwhm_hz: float, spectrometer_mhz: float, fit_quality: float, rules: QCRules) -> list[str]:
    """Reasons the whole scan fails QC (empty: passes)."""
    flags = []  # a threshold of None switches its check off (the study table re-applies these rules)
    if rules.min_snr is not None and (not np.isfinite(snr) or snr < rules.min_snr):
        flags.append(f"snr<{rules.min_snr:g}")
    if rules.max_fwhm_ppm is not None and (not np.isfinite(fwhm_hz) or fwhm_hz / spectrometer_mhz > rules.max_fwhm_ppm):
        flags.append(f"fwhm>{rules.max_fwhm_ppm:g}ppm")
    if rules.max_fit_quality is not None and not fit_quality <= rules.max_fit_quality:
        flags.append(f"{FIT_RESIDUAL}>{rules.max_fit_quality:g}")
    return flags


#: The fit flags (a fit that is not a solution): every one starts with ``FIT_FLAG_PREFIX``.
FIT_FLAG_PREFIX = "fit_"
FIT_AT_BOUND = "fit_at_bound"
FIT_EVAL_LIMIT = "fit_eval_limit"
FIT_RESIDUAL = "fit_residual"
#: The upper bounds checked per lineshape group; the lower bound 0 of the added widths is not a
#: failure (the data are as narrow as the basis: 21 of 190 healthy demo PRESS fits end there).
_WIDTHS = ("lorentz_hz", "gauss_hz")


def _near(value: float, bound, span: float, tolerance: float) -> bool:
    return bound is not None and abs(value - bound) <= tolerance * span


def fit_flags(params: Mapping, fit_quality: float, rules: QCRules, spectrum: str | None = None) -> list[str]:
    """Flags of a fit that ended where no healthy fit ends (``FitResult.params``):

    - ``fit_at_bound:<group>.<parameter>``: a metabolite lineshape group's shift at either
      bound, or its added Lorentzian / Gaussian width at the upper bound, within
      ``fit_bound_tolerance`` x the bound range. Macromolecule/lipid groups (``mm``) are not
      checked: their broad lines reach the width bounds in healthy fits (real Philips PRESS
      sub-01: MM Lorentzian 12/12 Hz, Gaussian 25/25 Hz, tNAA/tCr 1.34). The phases are not
      bounded (a fixed first-order phase is not a bound);
    - ``fit_eval_limit``: the solver stopped at ``fit.max_evaluations`` before converging (and
      was not stationary there: ``painmrs.fitting.model.STATIONARY_COST_DROP``);
    - ``fit_residual>X``: residual variance above ``max_fit_quality`` x the noise variance.

    ``spectrum`` (e.g. ``diff``, ``off`` of a MEGA-PRESS scan) is appended as ``@<spectrum>``.
    """
    flags = []
    for group, bounds in sorted((params.get("bounds") or {}).items()):
        if group == "mm":
            continue
        values = params["groups"][group]
        for name in ("shift_hz", *_WIDTHS):
            lo, hi = bounds[name]
            if lo is None or hi is None or not hi - lo > 1e-9:  # unbounded or fixed
                continue
            span, v = hi - lo, float(values[name])
            if _near(v, hi, span, rules.fit_bound_tolerance) or (
                    name not in _WIDTHS and _near(v, lo, span, rules.fit_bound_tolerance)):
                flags.append(f"{FIT_AT_BOUND}:{group}.{name}")
    if params.get("evaluation_limit_reached"):
        flags.append(FIT_EVAL_LIMIT)
    if rules.max_fit_quality is not None and not fit_quality <= rules.max_fit_quality:
        flags.append(f"{FIT_RESIDUAL}>{rules.max_fit_quality:g}")
    return [f"{f}@{spectrum}" for f in flags] if spectrum else flags


def is_fit_flag(token: str) -> bool:
    return token.startswith(FIT_FLAG_PREFIX)


def metabolite_flags(name: str, crlb_pct: float, rules: QCRules) -> list[str]:
    limit = rules.max_crlb_pct_by_metabolite.get(name, rules.max_crlb_pct)
    if limit is not None and (not np.isfinite(crlb_pct) or crlb_pct > limit):
        return [f"crlb>{limit:g}%"]
    return []
