"""Options of the linear-combination fit (:func:`painmrs.fitting.model.fit_spectrum`) and
their defaults: the metabolite combinations reported and the signal-free noise regions."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

DEFAULT_COMBINATIONS: dict[str, tuple[str, ...]] = {
    "tNAA": ("NAA", "NAAG"),
    "tCr": ("Cr", "PCr"),
    "tCho": ("GPC", "PCh"),
    "Glx": ("Glu", "Gln"),
    "GABA+": ("GABA", "MM30"),
}

# Signal-free regions for the noise SD (1H): no metabolite, water or lipid resonances.
DEFAULT_NOISE_PPM = ((-3.0, -0.8), (9.2, 12.0))


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Options of :func:`fit_spectrum` (config section ``fit``)."""

    ppm_range: tuple[float, float] = (0.2, 4.2)
    metabolites: tuple[str, ...] | None = None  # subset of the basis to fit (None: all)
    groups: Mapping[str, str] | None = None  # basis name -> lineshape group (default: MM*/Lip* -> "mm")
    baseline_knot_spacing_ppm: float = 0.15
    baseline_stiffness: float | str = "auto"  # penalty lambda, or "auto" (AIC over a lambda grid)
    baseline_min_stiffness: float = 1.0  # floor for "auto": keeps the baseline from eating broad peaks
    max_shift_hz: float = 12.0
    max_lorentz_hz: float = 12.0  # added Lorentzian FWHM, per group
    max_gauss_hz: float = 25.0  # added Gaussian width parameter s (FWHM = 0.53 s), per group
    first_order_phase: bool = True
    noise_ppm_ranges: tuple[tuple[float, float], ...] = DEFAULT_NOISE_PPM
    combinations: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_COMBINATIONS))
    # per solve (Levenberg-Marquardt, its bounded restart, the auto-stiffness polish); healthy fits
    # converge in 5-115. At 60, healthy demo MEGA-PRESS fits stopped at the limit in a flat
    # valley (amplitudes within 0.01 % of the converged ones), flagged fit_eval_limit.
    max_evaluations: int = 200
    noise_sd: float | None = None  # known noise SD per real component of the spectrum (else estimated)
