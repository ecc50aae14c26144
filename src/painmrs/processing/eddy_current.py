"""Eddy-current correction (Klose, MRM 1990): remove the water reference's phase from the data.

Both scans share the gradient-induced phase phi_ec(t); the unsuppressed water reference is
one strong line whose phase is phi_ec(t) + 2 pi f_w t + phi_w, so metabolite_fid(t) *
exp(-i angle(water_fid(t))) removes the eddy currents (and the water's frequency offset and
phase, which frequency referencing handles afterwards). Where the water signal has decayed
into the noise its phase is meaningless: from the first point where |water| drops below
``noise_factor`` x its noise SD, the phase is continued by a straight line fitted to the
preceding well-determined stretch (the residual off-resonance), instead of injecting noise.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..mrs import MRSData


def water_phase(water: MRSData, noise_factor: float = 5.0) -> np.ndarray:
    """Unwrapped phase of a single water FID, extrapolated where it is noise (module docstring)."""
    if water.fid.ndim != 1:
        raise InputError(water.source, "dim_tags", f"eddy-current correction needs an averaged, coil-combined water reference; got {water.dim_tags}")
    w = water.fid.astype(np.complex128)
    n = w.size
    tail = w[-max(16, n // 4) :]
    noise_sd = np.std(tail - tail.mean()) / np.sqrt(2)
    phase = np.unwrap(np.angle(w))
    weak = np.flatnonzero(np.abs(w) < noise_factor * max(noise_sd, 1e-30) * np.sqrt(2))
    cut = int(weak[0]) if weak.size else n
    if cut < n:
        start = max(0, cut // 2)
        if cut - start >= 4:
            t = np.arange(start, cut)
            slope, intercept = np.polyfit(t, phase[start:cut], 1)
            phase[cut:] = intercept + slope * np.arange(cut, n)
        else:
            phase[cut:] = phase[max(cut - 1, 0)]
    return phase


def eddy_current_correction(data: MRSData, water: MRSData, noise_factor: float = 5.0) -> MRSData:
    """Multiply every FID in ``data`` by exp(-i phase(water)) (Klose)."""
    if abs(water.dwell_s - data.dwell_s) > 1e-9 * data.dwell_s:
        raise InputError(water.source, "dwell time", f"water reference dwell {water.dwell_s} s differs from the scan's {data.dwell_s} s")
    phase = water_phase(water, noise_factor)
    n = data.n_points
    if phase.size < n:
        # shorter water FID: continue its phase linearly (last quarter's slope)
        m = max(4, phase.size // 4)
        slope = np.polyfit(np.arange(m), phase[-m:], 1)[0]
        phase = np.concatenate([phase, phase[-1] + slope * np.arange(1, n - phase.size + 1)])
    corr = np.exp(-1j * phase[:n]).reshape((n,) + (1,) * (data.fid.ndim - 1))
    out = (data.fid * corr).astype(np.result_type(data.fid.dtype, np.complex64), copy=False)
    details = {"method": "Klose", "noise_factor": noise_factor, "water_points": int(water.n_points)}
    return data.with_step(out, "Eddy current correction", details)
