"""Basis FIDs resampled onto the data's time grid (in the frequency domain)."""

from __future__ import annotations

import numpy as np

from ..basis.basis_set import BasisSet


def resample_basis(basis: BasisSet, n_points: int, dwell_s: float) -> np.ndarray:
    """Basis FIDs on the data's time grid (n_points, K).

    Always in the frequency domain, which keeps line positions and shapes (linear interpolation
    of the FID in time does not): the basis FID is zero-padded in time (exact) to a duration
    that is a whole number of data dwell times, so its spectrum and the new one share one
    frequency step; the band is then cropped (basis band wider than the data's) or zero-padded
    (narrower) to the data's bandwidth and inverse-transformed. The FID scale is kept (the
    first point is unchanged), then the result is cut or zero-filled to ``n_points``.
    """
    fids = basis.fids
    nb = basis.n_points
    if np.isclose(basis.dwell_s, dwell_s, rtol=1e-6, atol=0):
        out = fids
    else:
        from fractions import Fraction

        r = basis.dwell_s / dwell_s  # new points per basis point
        q_frac = Fraction(r).limit_denominator(1000)
        if abs(float(q_frac) - r) <= 1e-9 * r:
            q = q_frac.denominator
            nb_pad = -(-nb // q) * q
        else:  # no small rational ratio: the padding length with the least duration mismatch
            cand = np.arange(nb, 2 * nb + 1)
            nb_pad = int(cand[np.argmin(np.abs(cand * r - np.rint(cand * r)))])
        n_new = int(round(nb_pad * r))
        spec = np.fft.fft(fids, n=nb_pad, axis=0)  # zero-pads in time
        duration = nb_pad * basis.dwell_s
        f_new = np.fft.fftfreq(n_new, dwell_s)
        idx = np.rint(f_new * duration).astype(int)
        inside = np.abs(f_new) < 0.5 / basis.dwell_s
        spec_new = np.zeros((n_new, fids.shape[1]), complex)
        spec_new[inside] = spec[idx[inside] % nb_pad]
        out = np.fft.ifft(spec_new, axis=0) * (n_new / nb_pad)
    if out.shape[0] >= n_points:
        return np.ascontiguousarray(out[:n_points])
    pad = np.zeros((n_points - out.shape[0], out.shape[1]), complex)
    return np.vstack([out, pad])
