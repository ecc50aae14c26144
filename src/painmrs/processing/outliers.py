"""Outlier (motion-corrupted) transient rejection after alignment.

Criterion (documented, configurable): for each aligned transient k, the deviation
d_k = sum over the ppm window of |X_k(nu) - M(nu)|^2, where M is the complex median
spectrum (real and imaginary parts separately). Its robust z-score
z_k = (d_k - median(d)) / (1.4826 * MAD(d)) is compared with ``z_threshold``; transients
with z_k > z_threshold are rejected (one-sided: only unusually *different* transients).
For pure noise d_k is close to Gaussian (hundreds of degrees of freedom), so z > 3 rejects
about 0.1-0.3% of clean transients. With fewer than ``min_transients`` transients no
transient is rejected (the median and MAD would not be robust).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..mrs import MRSData
from ._spectra import check_window, to_spectrum, transients


@dataclasses.dataclass(frozen=True)
class OutlierResult:
    rejected: np.ndarray  # indices along DIM_DYN
    z_score: np.ndarray  # (n_transients,)
    z_threshold: float
    window_ppm: tuple[float, float]


def find_outliers(
    data: MRSData,
    window_ppm: tuple[float, float] = (1.8, 4.2),
    *,
    z_threshold: float = 3.0,
    min_transients: int = 8,
    max_fraction: float = 0.5,
) -> OutlierResult:
    """Robust z-score of each transient's spectral deviation from the median (module docstring)."""
    fids = transients(data, "outlier rejection")
    k = fids.shape[1]
    if k < min_transients:
        return OutlierResult(np.array([], int), np.zeros(k), z_threshold, tuple(window_ppm))
    sel = check_window(data, window_ppm, "outliers.window_ppm")
    X = to_spectrum(fids)[sel]
    med = np.median(X.real, axis=1) + 1j * np.median(X.imag, axis=1)
    d = np.sum(np.abs(X - med[:, None]) ** 2, axis=0)
    centre = np.median(d)
    mad = 1.4826 * np.median(np.abs(d - centre))
    z = (d - centre) / (mad if mad > 0 else np.inf)
    rejected = np.flatnonzero(z > z_threshold)
    # Never throw away most of the scan: keep the least deviant if too many are flagged.
    max_reject = int(np.floor(max_fraction * k))
    if rejected.size > max_reject:
        rejected = np.sort(np.argsort(z)[::-1][:max_reject])
    return OutlierResult(rejected, z, z_threshold, tuple(window_ppm))


def reject_outliers(data: MRSData, result: OutlierResult | None = None, **find_kwargs) -> MRSData:
    """Drop the rejected transients from DIM_DYN (found with :func:`find_outliers` if not given)."""
    if result is None:
        result = find_outliers(data, **find_kwargs)
    fids = transients(data, "outlier rejection")
    keep = np.setdiff1d(np.arange(fids.shape[1]), result.rejected)
    details = {
        "method": "robust z-score of spectral deviation from the median transient",
        "window_ppm": list(result.window_ppm),
        "z_threshold": result.z_threshold,
        "rejected": [int(i) for i in result.rejected],
        "n_transients": int(fids.shape[1]),
    }
    out = fids[:, keep] if data.has_dim("DIM_DYN") else data.fid
    return data.with_step(out, "Outlier removal", details)
