"""A basis set moved onto another time grid (dwell time, number of points)."""

from __future__ import annotations

import numpy as np

from .basis_set import BasisSet


def resample_basis(basis: BasisSet, dwell_s: float, n_points: int) -> BasisSet:
    """The basis on another time grid (dwell ``dwell_s``, ``n_points`` points).

    Method: the FID is a continuous function of time that we sample anew.
    - New dwell an integer multiple k of the old one (incl. equal): take every k-th sample --
      exactly what an acquisition with that dwell records (components beyond the new
      bandwidth alias just as they would on the scanner).
    - Any other ratio: each FID is demodulated by its spectral centroid (so the residual
      oscillation is slow: >10 samples per cycle for 3T brain spectra), interpolated with a
      cubic spline (real and imaginary parts), and re-modulated. Relative error ~1e-4 for
      typical bases (tested against direct simulation).
    Points beyond the original acquisition time are zero (the FID has decayed by then).
    A simulated basis can also simply be re-simulated on the new grid (exact, cached lines).
    """
    from scipy.interpolate import CubicSpline

    n_points = int(n_points)
    if not (0 < dwell_s < 1) or n_points < 2:
        from ..errors import InputError

        raise InputError(basis.source, "resample grid", f"bad dwell {dwell_s!r} or points {n_points!r}")
    n_old, dt_old = basis.n_points, basis.dwell_s
    ratio = dwell_s / dt_old
    k = int(round(ratio))
    fids = np.zeros((n_points, basis.fids.shape[1]), dtype=complex)
    if k >= 1 and abs(ratio - k) < 1e-9 * max(ratio, 1):
        taken = basis.fids[::k][:n_points]
        fids[: taken.shape[0]] = taken
        method = f"decimation by {k}" if k > 1 else "truncation / zero-filling"
    else:
        t_old = basis.time_s
        t_new = np.arange(n_points) * dwell_s
        inside = t_new <= t_old[-1]
        spec = np.abs(np.fft.fft(basis.fids, axis=0)) ** 2
        nu = np.fft.fftfreq(n_old, dt_old)
        centroid = (nu[:, None] * spec).sum(axis=0) / np.maximum(spec.sum(axis=0), 1e-300)
        for j in range(basis.fids.shape[1]):
            slow = basis.fids[:, j] * np.exp(-2j * np.pi * centroid[j] * t_old)
            spline_re = CubicSpline(t_old, slow.real)
            spline_im = CubicSpline(t_old, slow.imag)
            tt = t_new[inside]
            fids[inside, j] = (spline_re(tt) + 1j * spline_im(tt)) * np.exp(2j * np.pi * centroid[j] * tt)
        method = "centroid-demodulated cubic spline"
    meta = dict(basis.meta)
    meta["resampled_from"] = {"dwell_s": dt_old, "n_points": n_old, "method": method}
    return basis.replace(fids=fids, dwell_s=float(dwell_s), meta=meta)
