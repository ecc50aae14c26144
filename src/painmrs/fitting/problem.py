"""The fit problem of :func:`painmrs.fitting.model.fit_spectrum`: everything that does not change
between evaluations (fit range, resampled basis, baseline projector, noise SD), the lineshape
model and the variable-projection residual and Jacobian (see :mod:`painmrs.fitting.model`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import nnls

from ..basis.basis_set import BasisSet
from ..basis.macromolecules import is_macromolecule
from ..errors import InputError
from ..mrs import MRSData, check_nucleus
from . import baseline as bl
from .noise import estimate_noise_sd
from .options import FitOptions
from .resample import resample_basis


def default_groups(names: Sequence[str]) -> dict[str, str]:
    return {n: ("mm" if is_macromolecule(n) else "metab") for n in names}


_PROJECTOR_CACHE: dict = {}  # (fit-range ppm axis, knot spacing, lambda) -> baseline projector


class FitProblem:
    def __init__(self, spectrum: MRSData, basis: BasisSet, options: FitOptions):
        src = spectrum.source
        if spectrum.fid.ndim != 1:
            raise InputError(src, "data", f"fit_spectrum needs one 1-D spectrum, got shape {spectrum.fid.shape}")
        check_nucleus(spectrum.nucleus, src)
        if not np.all(np.isfinite(spectrum.fid.view(float))):
            raise InputError(src, "data", "contains NaN or Inf")
        if abs(basis.spectrometer_mhz / spectrum.spectrometer_mhz - 1) > 0.02:
            raise InputError(
                basis.source,
                "spectrometer frequency",
                f"basis is for {basis.spectrometer_mhz:.2f} MHz but the data are at {spectrum.spectrometer_mhz:.2f} MHz",
            )
        if options.metabolites is not None:
            missing = [m for m in options.metabolites if m not in basis.names]
            if missing:
                raise InputError(basis.source, "metabolites", f"not in basis: {missing}")
            idx = [basis.index(m) for m in options.metabolites]
            basis = basis.replace(names=tuple(options.metabolites), fids=np.ascontiguousarray(basis.fids[:, idx]))
        self.names = basis.names
        self.basis_ppm_reference = float(basis.ppm_reference)
        groups = dict(default_groups(basis.names))
        if options.groups:
            groups.update({k: v for k, v in options.groups.items() if k in groups})
        self.group_names = tuple(sorted(set(groups.values()), key=lambda g: (g != "metab", g)))
        self.group_of = np.array([self.group_names.index(groups[n]) for n in basis.names])
        self.onehot = np.zeros((len(self.names), len(self.group_names)))
        self.onehot[np.arange(len(self.names)), self.group_of] = 1.0
        n = spectrum.n_points
        self.n = n
        self.t = spectrum.time_s
        self.ppm_full = spectrum.ppm
        self.freq_full = spectrum.frequency_hz
        lo, hi = sorted(options.ppm_range)
        self.mask = (self.ppm_full >= lo) & (self.ppm_full <= hi)
        if self.mask.sum() < 20:
            raise InputError(src, "ppm_range", f"{options.ppm_range} holds fewer than 20 points of the spectrum")
        sel = np.nonzero(self.mask)[0]
        self.sel_shifted = sel
        self.sel_unshifted = (sel - n // 2) % n  # rows of the raw fft that land in the range
        self.ppm = self.ppm_full[sel]
        self.ppm_c = float(np.mean(self.ppm))
        self.data_full = spectrum.spectrum()
        self.y = self.data_full[sel]
        self.fids = resample_basis(basis, n, spectrum.dwell_s)
        self.mhz = spectrum.spectrometer_mhz
        self.options = options
        # baseline
        self.S = bl.spline_design(self.ppm, options.baseline_knot_spacing_ppm)
        self.D = bl.difference_penalty(self.S.shape[1])
        self.noise_source = "given" if options.noise_sd else "signal-free region"
        if options.noise_sd:
            self.noise_sd = float(options.noise_sd)
        else:
            try:
                self.noise_sd = estimate_noise_sd(self.data_full, self.ppm_full, options.noise_ppm_ranges, src)
            except InputError:
                # Narrow bands (e.g. 1200 Hz Siemens data) hold no signal-free region: the SD is
                # then taken from the fit residual in _finish (LCModel-style).
                self.noise_sd = None
                self.noise_source = "fit residual"

        self._cache_key = None

    # -- lineshape -------------------------------------------------------------------------
    def n_groups(self):
        return len(self.group_names)

    def unpack(self, x):
        g = self.n_groups()
        phi0, phi1 = x[0], x[1]
        d, l, s = x[2 : 2 + g], x[2 + g : 2 + 2 * g], x[2 + 2 * g : 2 + 3 * g]
        return phi0, phi1, d, l, s

    def basis_time(self, d, l, s):
        t = self.t[:, None]
        decay = np.exp((-np.pi * l + 2j * np.pi * d) * t - (s * t) ** 2)  # (n, G)
        return self.fids * decay[:, self.group_of]

    def to_range(self, fid_block):
        return np.fft.fft(fid_block, axis=0)[self.sel_unshifted]

    def rotated_data(self, phi0, phi1):
        return self.y * np.exp(-1j * (phi0 + phi1 * (self.ppm - self.ppm_c)))

    def set_stiffness(self, lam):
        self.lam = float(lam)
        key = (self.ppm.tobytes(), self.options.baseline_knot_spacing_ppm, self.lam)
        P = _PROJECTOR_CACHE.get(key)
        if P is None:
            if len(_PROJECTOR_CACHE) > 64:  # spectra of one study share a few geometries
                _PROJECTOR_CACHE.clear()
            P = _PROJECTOR_CACHE[key] = bl.complement_projector(self.S, self.D, self.lam)
        self.P = P

    def project(self, z):
        """Projected, stacked real/imag of complex (n_sel, ...) array."""
        if z.ndim == 1:
            return (self.P @ np.stack([z.real, z.imag], axis=1)).T.reshape(-1)
        k = z.shape[1]
        out = self.P @ np.concatenate([z.real, z.imag], axis=1)
        return np.concatenate([out[:, :k], out[:, k:]], axis=0)

    # -- variable projection ---------------------------------------------------------------
    def evaluate(self, x):
        key = x.tobytes()
        if key == self._cache_key:
            return self._cache
        phi0, phi1, d, l, s = self.unpack(x)
        bkey = x[2:].tobytes()
        if bkey == getattr(self, "_basis_key", None):  # lineshape unchanged (phase or stiffness moved)
            bt, B = self._basis_cache
        else:
            bt = self.basis_time(d, l, s)
            B = self.to_range(bt)
            self._basis_key, self._basis_cache = bkey, (bt, B)
        yr = self.rotated_data(phi0, phi1)
        A = self.project(B)
        b = self.project(yr)
        a, _ = nnls(A, b, maxiter=50 * A.shape[1])
        r = b - A @ a
        self._cache_key = key
        self._cache = (bt, B, yr, A, b, a, r)
        return self._cache

    def residual(self, x):
        return self.evaluate(x)[-1]

    def model_derivatives(self, x, bt, a):
        """d(B a)/d(group params) over the range: (n_sel, 3G) in order d, l, s."""
        _, _, d, l, s = self.unpack(x)
        sg = (bt * a) @ self.onehot  # (n, G) per-group time-domain model
        t = self.t[:, None]
        blocks = np.concatenate([2j * np.pi * t * sg, -np.pi * t * sg, -2.0 * s * t**2 * sg], axis=1)
        return self.to_range(blocks)

    def jacobian(self, x):
        """Full variable-projection Jacobian (Golub & Pereyra 1973) of the projected residual.

        -P_A dA a (Kaufman's part) - (A^+)^T dA^T r over the active (non-zero) amplitudes;
        the second term matters here because the residual is noise, not ~0.
        """
        bt, B, yr, A, b, a, r = self.evaluate(x)
        _, _, d, l, s = self.unpack(x)
        t = self.t[:, None]
        K, G = len(a), self.n_groups()
        sk = s[self.group_of]
        # d/d(shift) and d/d(Lorentz) are both t x basis (factors 2 pi i and -pi): two FFTs, not three.
        spec = self.to_range(np.concatenate([t * bt, -2.0 * sk * t**2 * bt], axis=1))
        dA = self.project(np.concatenate([2j * np.pi * spec[:, :K], -np.pi * spec[:, :K], spec[:, K:]], axis=1))
        dAa = np.concatenate([(dA[:, p * K:(p + 1) * K] * a) @ self.onehot for p in range(3)], axis=1)
        dy = np.stack([-1j * yr, -1j * (self.ppm - self.ppm_c) * yr], axis=1)
        if not self.options.first_order_phase:
            dy[:, 1] = 0
        J = np.concatenate([self.project(dy), -dAa], axis=1)
        active = a > 0
        if active.any():
            q, rr = np.linalg.qr(A[:, active])
            J = J - q @ (q.T @ J)
            groups_act = self.group_of[active]
            for p in range(3):
                m = dA[:, p * K:(p + 1) * K][:, active].T @ r  # (n_active,)
                for g in range(G):
                    v = np.where(groups_act == g, m, 0.0)
                    if np.any(v):
                        J[:, 2 + p * G + g] -= q @ solve_triangular(rr.T, v, lower=True)
        return J
