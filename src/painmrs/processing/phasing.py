"""Frequency referencing and zero-order phasing of an averaged spectrum.

Frequency referencing: the magnitude spectrum (phase independent) in 1.7-3.5 ppm is
cross-correlated with a template of the reference singlets (default NAA 2.008 and tCr
3.027 ppm, Lorentzian magnitude lines) over +/- ``search_ppm``; each reference peak is then
located precisely by a parabola through the three highest points of the 4x zero-filled
magnitude spectrum near its expected position, and the mean offset is removed.
Zero-order phase: after referencing, the angle of the complex sum of the spectrum over
+/- ``phase_half_width_ppm`` around each reference peak: for a symmetric line the
dispersion part integrates to zero, so this angle is the line's phase.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InputError
from ..mrs import MRSData
from ._spectra import ppm_axis, to_spectrum
from .align import apply_shift

REFERENCE_PEAKS = {"NAA": 2.008, "tCr": 3.027}


@dataclasses.dataclass(frozen=True)
class Referencing:
    shift_hz: float  # frequency correction applied
    phase_rad: float  # zero-order phase correction applied
    peaks_ppm_found: dict  # where the peaks were before correction


def _peak_positions(fid, dwell_s, mhz, peaks, search_ppm, zero_fill=4):
    n = fid.shape[0]
    spec = np.abs(to_spectrum(fid, n * zero_fill))
    ppm = ppm_axis(n * zero_fill, dwell_s, mhz)
    # global template match (robust to a shift of up to search_ppm)
    step = abs(ppm[1] - ppm[0])
    lw = 8.0 / mhz  # 8 Hz template lines
    template_ppm = np.arange(1.6, 3.6, step)
    template = sum(1.0 / (1 + ((template_ppm - p) / (lw / 2)) ** 2) for p in peaks.values())
    max_lag = int(search_ppm / step)
    order = np.argsort(ppm)
    ppm_s, spec_s = ppm[order], spec[order]
    i0 = np.searchsorted(ppm_s, template_ppm[0])
    lo = max(0, i0 - max_lag)
    hi = min(spec_s.size, i0 + max_lag + template.size)
    scores = np.correlate(spec_s[lo:hi], template, mode="valid")  # one score per lag
    best = (lo + int(np.argmax(scores)) - i0) * step
    found = {}
    for name, p in peaks.items():
        sel = np.flatnonzero(np.abs(ppm_s - (p + best)) <= 0.06)
        if sel.size < 3:
            continue
        j = sel[np.argmax(spec_s[sel])]
        if 0 < j < spec_s.size - 1:
            ym, y0, yp = spec_s[j - 1], spec_s[j], spec_s[j + 1]
            denom = ym - 2 * y0 + yp
            frac = 0.5 * (ym - yp) / denom if denom != 0 else 0.0
            found[name] = float(ppm_s[j] + np.clip(frac, -0.5, 0.5) * step)
    return found


def _fine_spectrum(fid, dwell_s, mhz, zero_fill=8):
    f = np.array(fid, dtype=np.complex128)
    f[0] *= 0.5  # no constant offset from the t = 0 point
    n = f.size * zero_fill
    return ppm_axis(n, dwell_s, mhz), to_spectrum(f, n)


def _phase_from_peaks(ppm, spec, peaks, mhz, half_width_ppm, fwhm_hz):
    """Zero-order phase by linear least squares around each reference peak.

    Model in each window: c * L(nu) + b0 + b1 * nu (all complex), with L the complex
    Lorentzian (absorption + i dispersion) at the peak's position; the complex linear baseline
    absorbs the tails of neighbouring lines, which otherwise bias the phase. The phase is
    the angle of the (amplitude-weighted) sum of the c's.
    """
    total = 0j
    hw = fwhm_hz / 2
    for p in peaks.values():
        sel = np.flatnonzero(np.abs(ppm - p) <= half_width_ppm)
        if sel.size < 8:
            continue
        nu = (ppm[sel] - p) * mhz
        lor = hw / (hw - 1j * nu)  # = absorption + i dispersion, peak 1 at nu = 0
        design = np.stack([lor, np.ones_like(nu), nu / (half_width_ppm * mhz)], axis=1)
        coef = np.linalg.lstsq(design, spec[sel], rcond=None)[0]
        total += coef[0]
    return float(-np.angle(total)) if total != 0 else 0.0


def _refine_positions(ppm, real_spec, peaks, search=0.03):
    found = {}
    for name, p in peaks.items():
        sel = np.flatnonzero(np.abs(ppm - p) <= search)
        if sel.size < 3:
            continue
        j = sel[np.argmax(real_spec[sel])]
        if 0 < j < real_spec.size - 1:
            ym, y0, yp = real_spec[j - 1], real_spec[j], real_spec[j + 1]
            denom = ym - 2 * y0 + yp
            frac = 0.5 * (ym - yp) / denom if denom != 0 else 0.0
            found[name] = float(ppm[j] + np.clip(frac, -0.5, 0.5) * (ppm[j + 1] - ppm[j]))
    return found


def estimate_referencing(
    data: MRSData,
    peaks: dict | None = None,
    *,
    search_ppm: float = 0.4,
    phase_half_width_ppm: float = 0.08,
    phase: bool = True,
) -> Referencing:
    """Frequency shift and zero-order phase putting ``peaks`` at their ppm and in absorption.

    1. coarse: template match + magnitude peaks (phase independent);
    2. zero-order phase by a local Lorentzian + linear-baseline fit at each peak;
    3. the peak positions are refined on the phased real spectrum and the phase re-estimated.
    """
    peaks = dict(REFERENCE_PEAKS if peaks is None else peaks)
    if data.fid.ndim != 1:
        raise InputError(data.source, "dim_tags", f"referencing works on an averaged spectrum; got {data.dim_tags}")
    found = _peak_positions(data.fid, data.dwell_s, data.spectrometer_mhz, peaks, search_ppm)
    if not found:
        raise InputError(data.source, "referencing.peaks", f"none of the reference peaks {list(peaks)} found")
    mhz = data.spectrometer_mhz
    shift_hz = float(np.mean([peaks[k] - v for k, v in found.items()])) * mhz
    phase_rad = 0.0
    from .qc import fwhm  # local import keeps the module graph simple

    for _ in range(2):
        shifted = MRSData(apply_shift(data.fid, data.dwell_s, shift_hz, 0.0), data.dwell_s, mhz)
        ppm, spec = _fine_spectrum(shifted.fid, data.dwell_s, mhz)
        if phase:
            phase_rad = _phase_from_peaks(ppm, spec, peaks, mhz, phase_half_width_ppm, 6.0)
            phased = shifted.fid * np.exp(1j * phase_rad)
            widths = [fwhm(MRSData(phased, data.dwell_s, mhz), (p - 0.06, p + 0.06))[0] for p in peaks.values()]
            widths = [w for w in widths if np.isfinite(w) and w > 0]
            if widths:
                phase_rad = _phase_from_peaks(ppm, spec, peaks, mhz, phase_half_width_ppm, float(np.median(widths)))
        # refine the positions on the (phased) real spectrum: magnitude maxima are pulled by
        # the dispersion tails of neighbouring lines
        refined = _refine_positions(ppm, (spec * np.exp(1j * phase_rad)).real, peaks)
        if not refined:
            break
        shift_hz += float(np.mean([peaks[k] - v for k, v in refined.items()])) * mhz
    return Referencing(shift_hz=shift_hz, phase_rad=phase_rad, peaks_ppm_found=found)


def apply_referencing(data: MRSData, ref: Referencing) -> MRSData:
    """Apply a frequency shift and zero-order phase (recorded as two NIfTI-MRS steps)."""
    shifted = data.with_step(
        apply_shift(data.fid, data.dwell_s, ref.shift_hz, 0.0),
        "Frequency referencing",
        {"shift_hz": round(ref.shift_hz, 4), "peaks_found_ppm": {k: round(v, 4) for k, v in ref.peaks_ppm_found.items()}},
    )
    return shifted.with_step(
        apply_shift(shifted.fid, data.dwell_s, 0.0, ref.phase_rad),
        "Zero-order phase correction",
        {"phase_deg": round(float(np.degrees(ref.phase_rad)), 4), "method": "angle of the summed reference peaks"},
    )


def reference_and_phase(data: MRSData, peaks: dict | None = None, **kwargs) -> MRSData:
    """Frequency referencing then zero-order phasing (see module docstring)."""
    return apply_referencing(data, estimate_referencing(data, peaks, **kwargs))


def display_spectrum(data: MRSData, line_broadening_hz: float = 0.0, zero_fill: int = 1):
    """(ppm, complex spectrum) with optional exponential apodisation and zero filling.

    For figures only: fitting uses the unapodised, non-zero-filled data (Near et al. 2021).
    """
    if zero_fill < 1:
        raise InputError(data.source, "display.zero_fill", "must be >= 1")
    fid = data.fid * np.exp(-np.pi * line_broadening_hz * data.time_s).reshape((-1,) + (1,) * (data.fid.ndim - 1))
    n = data.n_points * zero_fill
    return ppm_axis(n, data.dwell_s, data.spectrometer_mhz, data.ppm_reference), to_spectrum(fid, n)
