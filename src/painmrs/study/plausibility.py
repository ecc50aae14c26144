"""Is the water reference water? Plausibility checks of a scan's water reference.

Water scaling divides every metabolite signal by the water reference's signal, so a wrong
file given as the water reference (a swapped or duplicated file, a common slip) silently
rescales every concentration: a water-suppressed metabolite scan used as its own "water"
gave tNAA 3,924 mM with ``qc_pass`` true (issue 14). :func:`check_water_reference` refuses:

- a dominant peak that is not water: the largest peak of the magnitude spectrum must lie
  within ``WATER_PPM_TOLERANCE`` of water (the header's ppm convention, ``MRSData.ppm``:
  4.65 ppm at the centre frequency);
- a water peak not far larger than the metabolite scan's residual water
  (``MIN_WATER_TO_RESIDUAL``);
- a water line too broad to be a water signal (``MAX_WATER_FWHM_PPM``);
- EchoTime, RepetitionTime or SpectrometerFrequency other than the metabolite scan's (or the
  configured ``quantify.water_te_s`` / ``water_tr_s``): the relaxation correction assumes them.

Each problem is an ``InputError`` naming the water reference file and the field; the message
gives the measured value and, for a mismatch, both values and both files. The spectra are
compared per stored trace (RMS over coils, transients and other axes of the magnitude
spectrum), so files storing different numbers of transients compare at one scale.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import InputError
from ..mrs import H2O_PPM, MRSData

#: Largest distance (ppm) of the water reference's dominant peak from water. The processing's
#: referencing searches metabolite peaks only 0.4 ppm (``processing.referencing_search_ppm``)
#: around their nominal shift, so a scan whose water is further off cannot be processed
#: correctly either. Measured on shared/data (Philips, Siemens 3 T/7 T): 4.60-4.66 ppm.
WATER_PPM_TOLERANCE = 0.4
#: The water reference's water peak over the metabolite scan's residual water peak (per trace).
#: Real pairs in shared/data: 36-40 (Philips PRESS TE 35, weak suppression), 320-490 (Philips
#: TE 30), 5,600-8,000 (Siemens Prisma sLASER / MEGA-PRESS); the same file twice gives 1.
MIN_WATER_TO_RESIDUAL = 5.0
#: Broadest plausible water line, full width at half maximum of the magnitude spectrum of the
#: unaligned raw reference. Real references in shared/data: 0.07-0.14 ppm (9-29 Hz); facts.md
#: 1.5: 6-9 Hz water at 3 T with good shimming; a spectrum with a 0.3 ppm water line (38 Hz at
#: 3 T) is far beyond any linewidth QC (NAA above 0.1 ppm is rejected).
MAX_WATER_FWHM_PPM = 0.3
#: Timing tolerances: TE as the scanner rounds it (as the inventory's TE check); TR: 10 ms
#: changes the water T1 saturation factor (1 - exp(-TR/T1)) by < 0.3 % at TR >= 1.5 s.
TE_TOLERANCE_MS = 1.0
TR_TOLERANCE_MS = 10.0
#: A water reference from another scanner frequency (as ``study.inventory.FREQUENCY_TOLERANCE``).
FREQUENCY_TOLERANCE = 0.005


def trace_profile(mrs: MRSData) -> np.ndarray:
    """RMS over every stored trace (coils, transients, edit states ...) of the magnitude
    spectrum: one spectrum per file, at the scale of one trace."""
    spec = np.fft.fftshift(np.fft.fft(mrs.fid.reshape(mrs.n_points, -1), axis=0), axes=0)
    return np.sqrt(np.mean(np.abs(spec) ** 2, axis=1))


def _fwhm_hz(profile: np.ndarray, i: int, bin_hz: float) -> float:
    """Full width at half maximum of the peak at index ``i`` (linear interpolation)."""
    half = profile[i] / 2.0
    lo = i
    while lo > 0 and profile[lo] > half:
        lo -= 1
    hi = i
    while hi < profile.size - 1 and profile[hi] > half:
        hi += 1
    left = lo + (half - profile[lo]) / (profile[lo + 1] - profile[lo]) if profile[lo] <= half < profile[lo + 1] else lo
    right = hi - (half - profile[hi]) / (profile[hi - 1] - profile[hi]) if profile[hi] <= half < profile[hi - 1] else hi
    return float(right - left) * bin_hz


def water_peak(mrs: MRSData) -> dict:
    """Position (ppm), height (per trace) and magnitude FWHM (Hz; NaN when the spectral
    resolution is too coarse to measure it) of the dominant peak of ``mrs``."""
    profile = trace_profile(mrs)
    ppm = mrs.ppm
    i = int(np.argmax(profile))
    bin_hz = 1.0 / (mrs.n_points * mrs.dwell_s)
    resolvable = bin_hz / mrs.spectrometer_mhz <= MAX_WATER_FWHM_PPM / 3.0
    return {"ppm": float(ppm[i]), "height": float(profile[i]),
            "fwhm_hz": _fwhm_hz(profile, i, bin_hz) if resolvable else float("nan")}


def residual_water(mrs: MRSData) -> float:
    """Largest per-trace magnitude within WATER_PPM_TOLERANCE of water (the nearest point
    when the window holds none)."""
    profile = trace_profile(mrs)
    dist = np.abs(mrs.ppm - mrs.ppm_reference)
    inside = dist <= WATER_PPM_TOLERANCE
    return float(profile[inside].max() if inside.any() else profile[int(np.argmin(dist))])


def _same_file(a, b) -> bool:
    try:
        return a is not None and b is not None and os.path.samefile(a, b)
    except OSError:
        return False


def _number(value) -> float | None:
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


#: Why a header TE may be shorter than the configured one (issue 13): spec2nii writes the
#: first of an sLASER sequence's inter-pulse intervals as EchoTime (Siemens Prisma sLASER:
#: 0.008 s for 8 + 12 + 10 ms), not the effective TE.
SHORT_HEADER_TE_NOTE = ("a header TE shorter than the configured one is what sLASER files converted by spec2nii hold: "
                        "EchoTime is then the first of the sequence's inter-pulse intervals (e.g. 8 ms of 8 + 12 + 10 ms "
                        "= TE 30 ms), not the effective TE; check that the configured value is the sequence's effective TE")


def header_disagreements(header, path, *, te_s: float | None = None, tr_s: float | None = None,
                         te_source: str = "the config", tr_source: str = "the config") -> list[str]:
    """Scan-level warnings (``header_te:`` / ``header_tr:``) where the header's EchoTime /
    RepetitionTime differs from the authoritative value (the config's, or ``painmrs fit
    --te/--tr``) by more than the TE / TR tolerance. The authoritative value is the one used
    (basis echo time, relaxation correction); each warning names the file and both values."""
    out = []
    for field, key, used, source, tolerance_ms in (("EchoTime", "te", te_s, te_source, TE_TOLERANCE_MS),
                                                   ("RepetitionTime", "tr", tr_s, tr_source, TR_TOLERANCE_MS)):
        mine = _number(header.get(field))
        if mine is None or used is None or abs(mine - used) * 1000.0 <= tolerance_ms:
            continue
        text = (f"header_{key}: {path}: the header's {field} is {mine * 1000:g} ms but {source} is {used * 1000:g} ms; "
                f"{used * 1000:g} ms is used ({'basis echo time and ' if key == 'te' else ''}relaxation correction)")
        if key == "te" and mine < used:
            text += f" ({SHORT_HEADER_TE_NOTE})"
        out.append(text)
    return out


def check_water_timing(water_header, scan_header, water_path, scan_path, *, water_te_s: float | None = None,
                       water_tr_s: float | None = None) -> None:
    """TE, TR and spectrometer frequency of the water reference against the metabolite scan's
    (or the configured water TE/TR). Values absent from either header are not checked."""
    for field, key, configured, tolerance_ms in (
        ("EchoTime", "TE", water_te_s, TE_TOLERANCE_MS), ("RepetitionTime", "TR", water_tr_s, TR_TOLERANCE_MS)
    ):
        mine = _number(water_header.get(field))
        if mine is None:
            continue
        if configured is not None:
            if abs(mine - configured) * 1000.0 > tolerance_ms:
                raise InputError(water_path, field,
                                 f"water reference {key} is {mine * 1000:g} ms but config quantify.water_{key.lower()}_s "
                                 f"is {configured * 1000:g} ms")
            continue
        theirs = _number(scan_header.get(field))
        if theirs is not None and abs(mine - theirs) * 1000.0 > tolerance_ms:
            raise InputError(water_path, field,
                             f"water reference {key} is {mine * 1000:g} ms but its scan {scan_path} has {key} "
                             f"{theirs * 1000:g} ms (set quantify.water_{key.lower()}_s if that is intended)")


def check_water_reference(water: MRSData, scan: MRSData, *, water_te_s: float | None = None,
                          water_tr_s: float | None = None) -> dict:
    """Refuse a water reference that is not water, or not of this scan (see the module
    docstring); returns the measured peak (ppm, height, fwhm_hz) and the residual-water ratio."""
    src = water.source
    if _same_file(water.source, scan.source):
        raise InputError(src, "water reference", f"is the metabolite scan itself ({scan.source}), not a water reference")
    if abs(water.spectrometer_mhz - scan.spectrometer_mhz) > FREQUENCY_TOLERANCE * scan.spectrometer_mhz:
        raise InputError(src, "SpectrometerFrequency",
                         f"water reference is at {water.spectrometer_mhz:g} MHz but its scan {scan.source} is at "
                         f"{scan.spectrometer_mhz:g} MHz: not the same scanner")
    check_water_timing(water.header, scan.header, src, scan.source, water_te_s=water_te_s, water_tr_s=water_tr_s)
    peak = water_peak(water)
    if not abs(peak["ppm"] - H2O_PPM) <= WATER_PPM_TOLERANCE:
        raise InputError(src, "water reference",
                         f"not water: its dominant peak is at {peak['ppm']:.2f} ppm, not within {WATER_PPM_TOLERANCE:g} ppm "
                         f"of water ({H2O_PPM:g} ppm): a water-suppressed or processed metabolite file?")
    residual = residual_water(scan)
    ratio = peak["height"] / residual if residual > 0 else float("inf")
    if not ratio >= MIN_WATER_TO_RESIDUAL:
        raise InputError(src, "water reference",
                         f"not an unsuppressed water reference: its water peak is {ratio:.3g} x the residual water of its "
                         f"scan {scan.source} (at least {MIN_WATER_TO_RESIDUAL:g} x expected): the metabolite file "
                         "again, or the two files swapped?")
    fwhm_ppm = peak["fwhm_hz"] / water.spectrometer_mhz
    if fwhm_ppm > MAX_WATER_FWHM_PPM:  # NaN (not resolvable) passes
        raise InputError(src, "water reference",
                         f"water line {peak['fwhm_hz']:.3g} Hz ({fwhm_ppm:.2f} ppm) wide at half height: more than "
                         f"{MAX_WATER_FWHM_PPM:g} ppm is no usable water reference (shim failure or not water)")
    return {**peak, "water_to_residual": ratio}
