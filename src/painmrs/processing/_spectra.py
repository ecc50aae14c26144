"""Small array helpers shared by the processing steps (spectra, ppm windows, transient axes).

Conventions are those of :mod:`painmrs.mrs`: time axis first, spectrum = fftshift(fft(fid)),
ppm = 4.65 + f / MHz.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..errors import InputError
from ..mrs import MRSData


def to_spectrum(fid: np.ndarray, n: int | None = None) -> np.ndarray:
    """Spectrum along axis 0 (optionally zero-filled to ``n`` points)."""
    return scipy.fft.fftshift(scipy.fft.fft(fid, n=n, axis=0, workers=1), axes=0)


def ppm_axis(n: int, dwell_s: float, mhz: float, reference: float = 4.65) -> np.ndarray:
    return reference + scipy.fft.fftshift(scipy.fft.fftfreq(n, dwell_s)) / mhz


def ppm_window(ppm: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Indices of ``ppm`` inside ``window`` (given in either order)."""
    lo, hi = min(window), max(window)
    return np.flatnonzero((ppm >= lo) & (ppm <= hi))


def check_window(data: MRSData, window: tuple[float, float], field: str, min_points: int = 4) -> np.ndarray:
    """Indices of a ppm window in ``data``; ``InputError`` if it holds too few points."""
    idx = ppm_window(data.ppm, window)
    if idx.size < min_points:
        lo, hi = float(data.ppm.min()), float(data.ppm.max())
        raise InputError(
            data.source, field, f"ppm window {tuple(window)} has {idx.size} points in this spectrum ({lo:.2f}..{hi:.2f} ppm)"
        )
    return idx


def transients(data: MRSData, step: str) -> np.ndarray:
    """The data as a (n_points, n_transients) array: DIM_DYN second, nothing else allowed.

    A dataset with no DIM_DYN axis is a single transient (n_points, 1).
    """
    other = [t for t in data.dim_tags if t != "DIM_DYN"]
    if other:
        raise InputError(
            data.source,
            "dim_tags",
            f"{step} needs data with only a DIM_DYN axis besides time (combine coils and split edit "
            f"conditions first); got {data.dim_tags}",
        )
    if not data.has_dim("DIM_DYN"):
        return data.fid.reshape(-1, 1)
    return data.fid


def detrended_sd(y: np.ndarray, x: np.ndarray, order: int = 2) -> float:
    """SD of ``y`` after removing a polynomial trend in ``x`` (ddof = order + 1)."""
    if y.size <= order + 2:
        return float("nan")
    xc = (x - x.mean()) / (np.ptp(x) or 1.0)
    trend = np.polyval(np.polyfit(xc, y, order), xc)
    return float(np.std(y - trend, ddof=order + 1))
