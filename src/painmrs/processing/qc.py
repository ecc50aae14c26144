"""Quality-control measures of a processed spectrum, and the study QC table.

SNR definitions (facts.md §2.3; the JSON records which is which):
- ``snr`` (painmrs default, Osprey/FID-A style): NAA peak height = max |S| in 1.8-2.2 ppm
  minus the mean of Re(S) in the noise window; noise = SD of Re(S) over -2..0 ppm after
  removing a 2nd-order polynomial. SNR = height / noise SD.
- ``snr_fsl_style`` (FSL-MRS): max Re(S) in 0.2-4.2 ppm over sqrt(2) x SD of Re(S) in the
  region outside -2..10 ppm (the complex-noise SD).
- ``snr_gannet_style`` (Gannet; LCModel also divides by twice the noise): NAA height over
  2 x the smaller detrended noise SD of two 1-ppm windows far downfield (10-11 and 11-12 ppm,
  or 8-9 and 9-10 ppm, whichever lie inside the spectral width; else the -2..0 ppm window).
FWHM: measured directly on the real part of the 8x zero-filled, phased spectrum (first FID
point halved, so a noise-free line sits on a zero baseline): the width between the linearly
interpolated half-maximum crossings of the largest peak in its window (Hz and ppm). No local
baseline is removed: on real data a broad baseline under the peak widens it slightly.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import InputError
from ..mrs import MRSData
from ._spectra import detrended_sd, ppm_axis, ppm_window, to_spectrum

NOISE_WINDOW_PPM = (-2.0, 0.0)
NAA_WINDOW_PPM = (1.8, 2.2)
PEAK_WINDOWS_PPM = {"NAA": (1.90, 2.12), "tCr": (2.94, 3.10), "water": (4.2, 5.1)}

SNR_DEFINITION = (
    "NAA peak height (max |S| in 1.8-2.2 ppm minus the noise-window mean of Re S) / SD of Re S "
    "over -2..0 ppm after a 2nd-order polynomial detrend (Osprey/FID-A style)"
)


def _noise_sd(spec: np.ndarray, ppm: np.ndarray, window) -> tuple[float, float]:
    idx = ppm_window(ppm, window)
    if idx.size < 16:
        return float("nan"), float("nan")
    y = spec.real[idx]
    return detrended_sd(y, ppm[idx]), float(y.mean())


def noise_window(ppm: np.ndarray) -> tuple[float, float]:
    """-2..0 ppm when the spectral width covers it (>= 32 points); else 9..12 ppm, else the
    upfield 5% of the axis (narrow-band data, e.g. 1200 Hz Siemens RDA at 3T)."""
    for window in (NOISE_WINDOW_PPM, (9.0, 12.0)):
        if ppm_window(ppm, window).size >= 32:
            return window
    lo = float(ppm.min())
    return (lo, lo + 0.05 * float(np.ptp(ppm)))


def snr_values(data: MRSData, peak_window=NAA_WINDOW_PPM) -> dict:
    """SNR by the three conventions (module docstring) for a single spectrum."""
    spec = data.spectrum()
    ppm = data.ppm
    idx = ppm_window(ppm, peak_window)
    window = noise_window(ppm)
    noise, offset = _noise_sd(spec, ppm, window)
    height = float(np.max(np.abs(spec[idx])) - offset) if idx.size else float("nan")
    out = {"snr": height / noise if noise > 0 else float("nan"), "noise_sd": noise, "naa_height": height,
           "noise_window_ppm": [round(float(w), 3) for w in window]}
    # FSL-MRS style
    sel = ppm_window(ppm, (0.2, 4.2))
    outside = np.flatnonzero((ppm < -2.0) | (ppm > 10.0))
    if outside.size >= 16:
        fsl_noise = math.sqrt(2) * float(np.std(spec.real[outside]))
    else:
        fsl_noise = math.sqrt(2) * noise
    out["snr_fsl_style"] = float(np.max(spec.real[sel])) / fsl_noise if fsl_noise > 0 else float("nan")
    # Gannet / LCModel style: twice the noise SD
    candidates = []
    for pair in (((10.0, 11.0), (11.0, 12.0)), ((8.0, 9.0), (9.0, 10.0))):
        sds = [_noise_sd(spec, ppm, w)[0] for w in pair]
        if all(np.isfinite(sds)) and all(abs(ppm_window(ppm, w).size) >= 16 for w in pair):
            candidates.append(min(sds))
            break
    g_noise = candidates[0] if candidates else noise
    out["snr_gannet_style"] = height / (2 * g_noise) if g_noise > 0 else float("nan")
    return out


def fwhm(data: MRSData, window_ppm, zero_fill: int = 8) -> tuple[float, float]:
    """(FWHM Hz, peak ppm) of the largest peak of Re(S) in ``window_ppm`` (module docstring)."""
    n = data.n_points * zero_fill
    fid = np.array(data.fid, dtype=np.complex128)
    fid[0] *= 0.5  # the discrete FFT counts t=0 fully: halving it removes a constant offset
    spec = to_spectrum(fid, n).real
    ppm = ppm_axis(n, data.dwell_s, data.spectrometer_mhz, data.ppm_reference)
    idx = ppm_window(ppm, window_ppm)
    if idx.size < 5:
        return float("nan"), float("nan")
    y = spec[idx]
    x = ppm[idx]
    j = int(np.argmax(y))
    half = y[j] / 2
    if half <= 0:
        return float("nan"), float("nan")
    # walk out from the peak to the first half-maximum crossing on each side
    left = np.flatnonzero(y[:j] < half)
    right = np.flatnonzero(y[j:] < half)
    if left.size == 0 or right.size == 0:
        return float("nan"), float(x[j])
    i1 = left[-1]
    i2 = j + right[0]
    x1 = x[i1] + (half - y[i1]) * (x[i1 + 1] - x[i1]) / (y[i1 + 1] - y[i1])
    x2 = x[i2 - 1] + (half - y[i2 - 1]) * (x[i2] - x[i2 - 1]) / (y[i2] - y[i2 - 1])
    return float(abs(x2 - x1) * data.spectrometer_mhz), float(x[j])


def round_floats(obj, digits: int = 6):
    """JSON-ready copy with floats rounded (byte-stable sidecars) and NaN -> None."""
    if isinstance(obj, dict):
        return {str(k): round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return [round_floats(v, digits) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return None if not math.isfinite(v) else round(v, digits)
    return obj


def dumps(qc: dict) -> str:
    return json.dumps(round_floats(qc), sort_keys=True, indent=2) + "\n"


def collect_qc(qc_json_paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Study QC table: one row per scan sidecar, scalar fields as columns, lists comma-joined."""
    rows = []
    for path in qc_json_paths:
        try:
            with open(path, encoding="utf-8") as fh:
                qc = json.load(fh)
        except FileNotFoundError:
            raise InputError(path, None, "QC sidecar does not exist") from None
        except json.JSONDecodeError as exc:
            raise InputError(path, None, f"QC sidecar is not valid JSON: {exc}") from None
        if not isinstance(qc, dict) or "stem" not in qc:
            raise InputError(path, "stem", "QC sidecar has no 'stem'")
        row = {}
        for key, value in qc.items():
            if isinstance(value, dict):
                continue  # definitions and nested details stay in the sidecar
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            row[key] = value
        rows.append(row)
    table = pd.DataFrame(rows)
    if not table.empty:
        first = [c for c in ("stem", "acq") if c in table.columns]
        table = table[first + sorted(c for c in table.columns if c not in first)]
        table = table.sort_values("stem", kind="stable").reset_index(drop=True)
    return table
