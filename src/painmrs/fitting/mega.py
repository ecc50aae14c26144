"""MEGA-PRESS: linear-combination fit of DIFF (edited) and OFF (unedited), plus the classic
single-Gaussian GABA+ fit at 3.0 ppm as a cross-check.

DIFF is fitted over ~2.6-4.1 ppm with the edited basis (GABA and the co-edited MM30 -> GABA+;
Glu/Gln -> Glx; GSH); OFF (or SUM) over the usual range for tNAA, tCr, tCho, mI. Amplitudes of
basis sets simulated together (ON/OFF/DIFF) share one scale, so GABA+/tCr mixes the two fits.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import curve_fit

from ..basis.basis_set import BasisSet
from ..errors import InputError
from ..mrs import MRSData
from .model import FitOptions, FitResult, fit_spectrum

# DIFF: narrow range, few components, so a fixed moderately stiff baseline (no AIC grid).
# The co-edited MM30 shares the metabolites' lineshape (B0 broadening acts on every resonance
# alike). With its own shift/width parameters, the one broad MM30 peak under the GABA
# pseudo-doublet left those parameters undetermined: the optimiser ran into its evaluation
# limit, and GABA+'s empirical SD was 0.6x its CRLB (100 Monte Carlo realisations).
# Tied, the fit converges in a few evaluations and SD/CRLB is 1.0-1.1 (bench/bench_fit.py).
DIFF_OPTIONS = FitOptions(ppm_range=(2.6, 4.1), baseline_knot_spacing_ppm=0.3, baseline_stiffness=100.0,
                          first_order_phase=False, groups={"MM30": "metab"})


@dataclasses.dataclass(frozen=True)
class GaussianPeakFit:
    area: float  # height * sqrt(2 pi) * sigma, in (spectrum units x ppm)
    centre_ppm: float
    fwhm_hz: float  # true Gaussian FWHM (2.355 sigma)
    height: float
    fit_error_pct: float  # 100 * SD(residual) / height (Gannet's "FitError")


@dataclasses.dataclass(frozen=True)
class MegaPressFit:
    diff: FitResult
    off: FitResult | None
    gaba_gaussian: GaussianPeakFit
    gaba_gaussian_amplitude: float  # the Gaussian area in GABA+ basis units (cross-check of GABA+)


def _gauss(x, h, c, s, b0, b1):
    return h * np.exp(-0.5 * ((x - c) / s) ** 2) + b0 + b1 * (x - 3.0)


def fit_gaba_gaussian(spectrum: np.ndarray, ppm: np.ndarray, spectrometer_mhz: float, window=(2.79, 3.55)) -> GaussianPeakFit:
    """One Gaussian + linear baseline on the real DIFF spectrum over ``window`` ppm."""
    m = (ppm >= window[0]) & (ppm <= window[1])
    x, y = ppm[m], spectrum[m].real
    if x.size < 8:
        raise InputError(None, "GABA window", f"{window} ppm holds too few points")
    near = np.abs(x - 3.0) < 0.1
    h0 = max(float(y[near].max() - np.median(y)), 1e-12)
    p0 = [h0, 3.0, 0.05, float(np.median(y)), 0.0]
    lo = [0.0, 2.9, 0.01, -np.inf, -np.inf]
    hi = [np.inf, 3.1, 0.2, np.inf, np.inf]
    try:
        p, _ = curve_fit(_gauss, x, y, p0=p0, bounds=(lo, hi), maxfev=2000)
    except RuntimeError:
        p = np.array(p0)
    h, c, s = p[:3]
    resid = y - _gauss(x, *p)
    return GaussianPeakFit(
        area=float(h * s * np.sqrt(2 * np.pi)),
        centre_ppm=float(c),
        fwhm_hz=float(2.3548 * s * spectrometer_mhz),
        height=float(h),
        fit_error_pct=float(100 * resid.std() / h) if h > 0 else float("inf"),
    )


def fit_mega_press(
    diff: MRSData,
    basis_diff: BasisSet,
    off: MRSData | None = None,
    basis_off: BasisSet | None = None,
    diff_options: FitOptions = DIFF_OPTIONS,
    off_options: FitOptions | None = None,
) -> MegaPressFit:
    fd = fit_spectrum(diff, basis_diff, diff_options)
    fo = None
    if off is not None:
        if basis_off is None:
            raise InputError(off.source, "basis", "OFF spectrum given without an OFF basis")
        fo = fit_spectrum(off, basis_off, off_options or FitOptions())
    g = fit_gaba_gaussian(fd.data, fd.ppm, fd.spectrometer_mhz)
    # Calibrate the Gaussian area into GABA+ basis units with the same Gaussian fit applied
    # to the fitted (noise-free) GABA+ components: area per unit amplitude.
    amp = np.nan
    names = [n for n in ("GABA", "MM30") if n in fd.names]
    if names:
        total = sum(fd.amplitudes[fd.names.index(n)] for n in names)
        comp = sum(fd.components[:, fd.names.index(n)] for n in names)
        if total > 0:
            gm = fit_gaba_gaussian(comp, fd.ppm, fd.spectrometer_mhz)
            if gm.area > 0:
                amp = g.area / (gm.area / total)
    return MegaPressFit(diff=fd, off=fo, gaba_gaussian=g, gaba_gaussian_amplitude=float(amp))
