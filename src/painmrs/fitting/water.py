"""Unsuppressed-water fit (area for water scaling) and the basis proton calibration.

Water: a single Voigt line exp(i(2 pi f t + phi) - pi l t - (s t)^2) fitted to the FID in the
time domain; its amplitude at t = 0 is the area of the whole line (tails included), which a
windowed spectral integral would truncate.

Basis calibration: water scaling needs the basis signal of one proton of a 1-unit
metabolite. It is taken from the singlets of a reference metabolite of the basis itself
(Cr: CH3 + CH2 = 5 protons; else PCr; else the NAA CH3 = 3 protons), decomposed into lines by
HSVD so that narrow basis lines, their dispersion tails and LCModel's 0-ppm reference peak do
not bias it. A consistently normalised basis (LCModel, simulated) then gives every metabolite
on the same per-proton scale.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import least_squares

from ..basis.basis_set import BasisSet
from ..errors import InputError
from ..mrs import MRSData

# reference metabolite -> (ppm window holding the counted protons, number of protons)
CALIBRATION_REFERENCES = (("Cr", (2.5, 4.5), 5), ("PCr", (2.5, 4.5), 5), ("NAA", (1.9, 2.1), 3))


@dataclasses.dataclass(frozen=True)
class WaterFit:
    area: float  # amplitude of the fitted water line at t = 0 (data units)
    frequency_ppm: float
    phase_deg: float
    lorentz_hz: float
    gauss_hz: float
    fwhm_hz: float


def hsvd(fid: np.ndarray, dwell_s: float, n_components: int = 12, n_points: int = 1024):
    """Lines (frequency Hz, damping 1/s, complex amplitude) of a FID by HSVD (Barkhuijsen 1987)."""
    x = np.asarray(fid[: min(n_points, fid.shape[0])])
    n = x.size
    rows = n // 2
    hank = np.lib.stride_tricks.sliding_window_view(x, n - rows + 1)[:rows]
    u, _, _ = np.linalg.svd(hank, full_matrices=False)
    uk = u[:, :n_components]
    z = np.linalg.eigvals(np.linalg.lstsq(uk[:-1], uk[1:], rcond=None)[0])
    vander = np.vander(z, n, increasing=True).T
    amp = np.linalg.lstsq(vander, x, rcond=None)[0]
    return np.angle(z) / (2 * np.pi * dwell_s), -np.log(np.abs(z)) / dwell_s, amp


def basis_proton_unit(basis: BasisSet) -> tuple[float, str]:
    """Signal (FID amplitude) of one proton at unit amplitude, and the metabolite it came from."""
    for name, (lo, hi), protons in CALIBRATION_REFERENCES:
        if name in basis.names:
            f, _, amp = hsvd(basis.fid(name), basis.dwell_s)
            ppm = basis.ppm_reference + f / basis.spectrometer_mhz
            inside = (ppm > lo) & (ppm < hi)
            total = np.abs(amp[inside].sum())
            if total > 0:
                return float(total / protons), name
    raise InputError(basis.source, "basis names", "water scaling needs Cr, PCr or NAA in the basis for calibration")


def fit_water(water: MRSData) -> WaterFit:
    """Fit the unsuppressed water reference (1-D FID) with one Voigt line."""
    src = water.source
    if water.fid.ndim != 1:
        raise InputError(src, "data", f"water reference must be one combined FID, got shape {water.fid.shape}")
    y = water.fid
    if not np.all(np.isfinite(y.view(float))) or not np.any(y):
        raise InputError(src, "data", "water reference is empty or contains NaN/Inf")
    t = water.time_s
    spec = water.spectrum()
    k = int(np.argmax(np.abs(spec)))
    f0 = water.frequency_hz[k]
    half = np.abs(spec) >= np.abs(spec[k]) / 2
    fwhm0 = max(half.sum() * (water.frequency_hz[1] - water.frequency_hz[0]), 1.0)

    def shape(p):
        f, l, s = p
        return np.exp((2j * np.pi * f - np.pi * l) * t - (s * t) ** 2)

    def resid(p):
        b = shape(p)
        amp = np.vdot(b, y) / np.vdot(b, b)
        r = y - amp * b
        return np.concatenate([r.real, r.imag])

    sol = least_squares(resid, [f0, fwhm0 / 2, fwhm0 / 2], bounds=([f0 - 50, 0, 0], [f0 + 50, 200, 200]), x_scale=[1, 1, 1])
    b = shape(sol.x)
    amp = np.vdot(b, y) / np.vdot(b, b)
    f, l, s = sol.x
    # FWHM of the fitted line from a zero-filled model spectrum.
    n4 = 8 * y.size
    line = np.fft.fftshift(np.fft.fft(np.exp(-np.pi * l * t - (s * t) ** 2), n=n4)).real
    freq = np.fft.fftshift(np.fft.fftfreq(n4, water.dwell_s))
    above = freq[line >= line.max() / 2]
    fwhm = float(above.max() - above.min())
    return WaterFit(
        area=float(np.abs(amp)),
        frequency_ppm=float(water.ppm_reference + f / water.spectrometer_mhz),
        phase_deg=float(np.degrees(np.angle(amp))),
        lorentz_hz=float(l),
        gauss_hz=float(s),
        fwhm_hz=fwhm,
    )
