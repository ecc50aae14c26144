"""Noise SD of a spectrum, measured on its signal-free regions."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .options import DEFAULT_NOISE_PPM


def estimate_noise_sd(spectrum: np.ndarray, ppm: np.ndarray, ranges=DEFAULT_NOISE_PPM, source=None) -> float:
    """SD of one real component of the spectral noise, from signal-free regions.

    Each region (clipped to the central 90 % of the band, where oversampling filters do not
    roll the noise off) is detrended with a quadratic in real and imaginary parts; the SD is
    pooled over all points of all regions.
    """
    lo_b, hi_b = np.quantile(ppm, [0.05, 0.95])
    resid = []
    for lo, hi in ranges:
        m = (ppm >= max(lo, lo_b)) & (ppm <= min(hi, hi_b))
        if m.sum() < 20:
            continue
        x = ppm[m] - ppm[m].mean()
        v = np.vander(x, 3)
        for comp in (spectrum[m].real, spectrum[m].imag):
            coef, *_ = np.linalg.lstsq(v, comp, rcond=None)
            resid.append(comp - v @ coef)
    if not resid:
        raise InputError(source, "noise region", f"no signal-free region {ranges} inside the spectral band")
    r = np.concatenate(resid)
    # Degrees of freedom: 3 coefficients per fitted component.
    dof = max(r.size - 3 * len(resid), 1)
    return float(np.sqrt(np.sum(r**2) / dof))
