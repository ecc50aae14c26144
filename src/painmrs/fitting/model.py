"""Frequency-domain linear-combination fit of one spectrum, solved by variable projection.

Model over the fit range (ppm ascending), in the data's frame rotated by the phase:

    exp(-i(phi0 + phi1 (ppm - ppm_c))) Y(f) = sum_k a_k B_k(f; theta_g(k)) + b_re(f) + i b_im(f) + noise

B_k is the FFT of basis FID k multiplied by exp((-pi l_g + i 2 pi d_g) t - (s_g t)^2), with one
Lorentzian width l, Gaussian width s and shift d per lineshape group g (metabolites, MM ...),
and b_re, b_im are penalised cubic B-splines (:mod:`.baseline`). Amplitudes a >= 0.

Why variable projection: the spline coefficients are eliminated exactly by a fixed projector
(the baseline design does not depend on the nonlinear parameters), the amplitudes by NNLS on
the projected system, and only 2 + 3 G nonlinear parameters remain for
``scipy.optimize.least_squares`` with the Kaufman Jacobian of the projected residual (one
batched FFT per evaluation). That is what makes a 20-metabolite fit take milliseconds.

CRLBs: Fisher information of the full model (amplitudes, nonlinear parameters, baseline
coefficients with their penalty as prior precision) at the solution, with the noise SD
measured on a signal-free part of the same spectrum (:func:`estimate_noise_sd`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import least_squares, nnls

from ..basis.basis_set import BasisSet
from ..basis.macromolecules import is_macromolecule
from ..errors import InputError
from ..mrs import MRSData
from . import baseline as bl

DEFAULT_COMBINATIONS: dict[str, tuple[str, ...]] = {
    "tNAA": ("NAA", "NAAG"),
    "tCr": ("Cr", "PCr"),
    "tCho": ("GPC", "PCh"),
    "Glx": ("Glu", "Gln"),
    "GABA+": ("GABA", "MM30"),
}

# Signal-free regions for the noise SD (1H): no metabolite, water or lipid resonances.
DEFAULT_NOISE_PPM = ((-3.0, -0.8), (9.2, 12.0))


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Options of :func:`fit_spectrum` (config section ``fit``)."""

    ppm_range: tuple[float, float] = (0.2, 4.2)
    metabolites: tuple[str, ...] | None = None  # subset of the basis to fit (None: all)
    groups: Mapping[str, str] | None = None  # basis name -> lineshape group (default: MM*/Lip* -> "mm")
    baseline_knot_spacing_ppm: float = 0.15
    baseline_stiffness: float | str = "auto"  # penalty lambda, or "auto" (AIC over a lambda grid)
    baseline_min_stiffness: float = 1.0  # floor for "auto": keeps the baseline from eating broad peaks
    max_shift_hz: float = 12.0
    max_lorentz_hz: float = 12.0  # added Lorentzian FWHM, per group
    max_gauss_hz: float = 25.0  # added Gaussian width parameter s (FWHM = 0.53 s), per group
    first_order_phase: bool = True
    noise_ppm_ranges: tuple[tuple[float, float], ...] = DEFAULT_NOISE_PPM
    combinations: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=lambda: dict(DEFAULT_COMBINATIONS))
    max_evaluations: int = 60
    noise_sd: float | None = None  # known noise SD per real component of the spectrum (else estimated)


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    names: tuple[str, ...]
    amplitudes: np.ndarray  # (K,) in basis units
    crlb: np.ndarray  # (K,) absolute SD
    covariance: np.ndarray  # (K, K) amplitude covariance
    combos: dict[str, tuple[float, float]]  # name -> (amplitude, CRLB SD)
    ppm: np.ndarray  # (n,) full axis
    fit_mask: np.ndarray  # (n,) bool, points inside the fit range
    data: np.ndarray  # (n,) complex spectrum
    model: np.ndarray  # (n,) metabolite + MM model (phased like the data)
    baseline: np.ndarray  # (n,) zero outside the fit range
    components: np.ndarray  # (n, K) each fitted component (phased like the data)
    params: dict[str, Any]  # nonlinear parameters and fit settings
    noise_sd: float
    snr: float
    fwhm_hz: float
    fit_quality: float  # residual variance / noise variance over the fit range (1 = noise level)
    dwell_s: float
    spectrometer_mhz: float

    @property
    def residual(self) -> np.ndarray:
        return self.data - self.model - self.baseline

    @property
    def crlb_pct(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.amplitudes > 0, 100.0 * self.crlb / self.amplitudes, np.inf)

    def amplitude(self, name: str) -> float:
        if name in self.names:
            return float(self.amplitudes[self.names.index(name)])
        return float(self.combos[name][0])

    def sd(self, name: str) -> float:
        if name in self.names:
            return float(self.crlb[self.names.index(name)])
        return float(self.combos[name][1])

    def rows(self) -> list[tuple[str, float, float]]:
        """(name, amplitude, CRLB SD) for every basis spectrum then every combination."""
        out = [(n, float(a), float(s)) for n, a, s in zip(self.names, self.amplitudes, self.crlb)]
        out += [(n, float(v[0]), float(v[1])) for n, v in self.combos.items()]
        return out


# ---------------------------------------------------------------------------------------
# helpers


def default_groups(names: Sequence[str]) -> dict[str, str]:
    return {n: ("mm" if is_macromolecule(n) else "metab") for n in names}


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


def estimate_noise_sd(spectrum: np.ndarray, ppm: np.ndarray, ranges=DEFAULT_NOISE_PPM, source=None) -> float:
    """SD of one real component of the spectral noise, from signal-free regions.

    Each region (clipped to the central 90 % of the band, where oversampling filters do not
    roll the noise off) is detrended with a quadratic in real and imaginary parts; the SD is
    pooled over all points of all regions.
    """
    lo_b, hi_b = np.quantile(ppm, [0.05, 0.95])
    resid = []
    for lo, hi in ranges:
        m = (ppm >= max(lo, lo_b)) & (ppm <= min(hi, hi_b))
        if m.sum() < 20:
            continue
        x = ppm[m] - ppm[m].mean()
        v = np.vander(x, 3)
        for comp in (spectrum[m].real, spectrum[m].imag):
            coef, *_ = np.linalg.lstsq(v, comp, rcond=None)
            resid.append(comp - v @ coef)
    if not resid:
        raise InputError(source, "noise region", f"no signal-free region {ranges} inside the spectral band")
    r = np.concatenate(resid)
    # Degrees of freedom: 3 coefficients per fitted component.
    dof = max(r.size - 3 * len(resid), 1)
    return float(np.sqrt(np.sum(r**2) / dof))


def _combo_sd(cov: np.ndarray, idx: list[int], weights=None) -> float:
    w = np.zeros(cov.shape[0])
    w[idx] = 1.0 if weights is None else weights
    return float(np.sqrt(max(w @ cov @ w, 0.0)))


#: The window over which an edited signal is integrated to put MM30 in GABA-equivalent units.
GABA_EDITED_WINDOW_PPM = (2.8, 3.2)  # as the demo's GABA window (demo.acquisition)


def gaba_equivalent_weight(fids: np.ndarray, names: Sequence[str], ppm: np.ndarray) -> float:
    """Factor turning an MM30 amplitude into GABA-equivalent units (GABA+ = GABA + w * MM30).

    The basis amplitudes count different things: GABA per molecule (its edited 3.0 ppm
    multiplet), MM30 per 2 protons. A GABA-equivalent is the GABA concentration that would
    give the same edited signal: w = (MM30 basis area) / (GABA basis area), both the real
    spectrum integrated over ``GABA_EDITED_WINDOW_PPM`` of the unbroadened basis on the data
    grid (``ppm`` in fftshift order). Without GABA or MM30 in the basis, or with a non-positive
    GABA area, w = 1 (plain sum)."""
    if "GABA" not in names or "MM30" not in names:
        return 1.0
    lo, hi = GABA_EDITED_WINDOW_PPM
    m = (ppm >= lo) & (ppm <= hi)
    spec = np.fft.fftshift(np.fft.fft(fids[:, [list(names).index("GABA"), list(names).index("MM30")]], axis=0), axes=0)
    area_gaba, area_mm = spec[m].real.sum(axis=0)
    return float(area_mm / area_gaba) if area_gaba > 0 else 1.0


def _fwhm_of(spec_real: np.ndarray, freq_hz: np.ndarray, centre_idx: int) -> float:
    """FWHM (Hz) of the peak at ``centre_idx`` by linear interpolation of the half-height points."""
    half = spec_real[centre_idx] / 2.0
    if not half > 0:
        return float("nan")
    right = np.nonzero(spec_real[centre_idx:] < half)[0]
    left = np.nonzero(spec_real[: centre_idx + 1][::-1] < half)[0]
    if right.size == 0 or left.size == 0:
        return float("nan")
    i_r = centre_idx + right[0]
    i_l = centre_idx - left[0]

    def cross(i0, i1):
        y0, y1 = spec_real[i0], spec_real[i1]
        return freq_hz[i0] + (half - y0) * (freq_hz[i1] - freq_hz[i0]) / (y1 - y0)

    return float(abs(cross(i_r - 1, i_r) - cross(i_l + 1, i_l)))


# ---------------------------------------------------------------------------------------
# the problem object: everything that does not change between evaluations


_PROJECTOR_CACHE: dict = {}  # (fit-range ppm axis, knot spacing, lambda) -> baseline projector


class _Problem:
    def __init__(self, spectrum: MRSData, basis: BasisSet, options: FitOptions):
        src = spectrum.source
        if spectrum.fid.ndim != 1:
            raise InputError(src, "data", f"fit_spectrum needs one 1-D spectrum, got shape {spectrum.fid.shape}")
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


# ---------------------------------------------------------------------------------------
# public API


def _complex_ls_cost(prob: _Problem, B: np.ndarray, yp: np.ndarray):
    """Residual of the unconstrained complex-amplitude fit (phase-free) and its coefficients."""
    pb = prob.project(B)
    half = pb.shape[0] // 2
    # project(i B) = [-P Im B; P Re B]: reuse the projected real/imaginary halves.
    M = np.concatenate([pb, np.concatenate([-pb[half:], pb[:half]], axis=0)], axis=1)
    g = M.T @ M
    rhs = M.T @ yp
    coef = np.linalg.solve(g + 1e-10 * np.trace(g) / g.shape[0] * np.eye(g.shape[0]), rhs)
    return float(yp @ yp - rhs @ coef), coef


# (Lorentzian FWHM Hz, Gaussian s) candidates for the starting lineshape: narrow to broad.
_START_WIDTHS = ((2.0, 6.0), (4.0, 12.0), (8.0, 20.0))


def _initial_guess(prob: _Problem) -> np.ndarray:
    """Shift and linewidth by a coarse grid, zero-order phase from complex amplitudes.

    Grid: whole-bin shifts of the basis spectra (a roll of the full spectrum) for a few
    starting linewidths, scored by the residual of an unconstrained complex-amplitude fit,
    which does not depend on the phase; then a parabolic refinement between bins.
    """
    g = prob.n_groups()
    df = prob.freq_full[1] - prob.freq_full[0]
    max_lag = int(np.floor(prob.options.max_shift_hz / df))
    lags = np.arange(-max_lag, max_lag + 1)
    yp = prob.project(prob.y)
    # Shift grid at a middle width, then the widths at the best shift and its neighbours.
    fulls = {}
    for lw, sw in _START_WIDTHS:
        fulls[lw, sw] = np.fft.fftshift(np.fft.fft(prob.basis_time(np.zeros(g), np.full(g, lw), np.full(g, sw)), axis=0), axes=0)
    mid = _START_WIDTHS[1]
    cost = np.array([_complex_ls_cost(prob, fulls[mid][prob.sel_shifted - lag], yp)[0] for lag in lags])
    k = int(np.argmin(cost))
    best = (cost[k], cost, k) + mid
    near = [j for j in (k - 1, k, k + 1) if 0 <= j < lags.size]
    for width in _START_WIDTHS:
        if width == mid:
            continue
        c = cost.copy()
        c[near] = [_complex_ls_cost(prob, fulls[width][prob.sel_shifted - lags[j]], yp)[0] for j in near]
        c[[j for j in range(lags.size) if j not in near]] = np.inf
        j = int(np.argmin(c))
        if c[j] < best[0]:
            best = (c[j], c, j) + width
    _, cost, k, lw, sw = best
    shift = lags[k] * df
    if 0 < k < len(cost) - 1 and np.all(np.isfinite(cost[k - 1:k + 2])):
        den = cost[k - 1] - 2 * cost[k] + cost[k + 1]
        if den > 0:
            shift += 0.5 * (cost[k - 1] - cost[k + 1]) / den * df
    d0 = np.full(g, shift)
    l0 = np.full(g, lw)
    s0 = np.full(g, sw)
    # Zero-order phase: unconstrained complex amplitudes against the baseline-projected data.
    B = prob.to_range(prob.basis_time(d0, l0, s0))
    _, coef = _complex_ls_cost(prob, B, yp)
    K = B.shape[1]
    c = coef[:K] + 1j * coef[K:]
    weights = np.linalg.norm(B, axis=0)
    phi0 = float(np.angle(np.sum(c * weights)))
    return np.concatenate([[phi0, 0.0], d0, l0, s0])


def _bounds(prob: _Problem, x0: np.ndarray):
    o = prob.options
    g = prob.n_groups()
    inf = np.inf
    lo = np.concatenate([[-inf, -inf if o.first_order_phase else -1e-12], np.full(g, -o.max_shift_hz), np.zeros(g), np.zeros(g)])
    hi = np.concatenate([[inf, inf if o.first_order_phase else 1e-12], np.full(g, o.max_shift_hz),
                         np.full(g, o.max_lorentz_hz), np.full(g, o.max_gauss_hz)])
    # MM components are broad already: let their own shift move only a little.
    for gi, name in enumerate(prob.group_names):
        if name == "mm":
            lo[2 + gi] = x0[2 + gi] - 5.0
            hi[2 + gi] = x0[2 + gi] + 5.0
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    x0 = np.clip(x0, lo + 1e-6 * span, hi - 1e-6 * span)
    return (lo, hi), x0


def _solve(prob: _Problem, x0: np.ndarray, max_nfev: int):
    """Levenberg-Marquardt (MINPACK) first: on this small, ill-conditioned problem (amplitude,
    width and baseline trade off along a flat valley) it converges in a few tens of
    evaluations where the bounded trust-region method crawls for hundreds. The Gaussian
    width enters squared, so its sign is free. If LM leaves the physical box (shift or
    widths out of range), the bounded trust-region solver restarts from the clipped point."""
    bounds, x0 = _bounds(prob, x0)
    lo, hi = bounds
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    try:
        sol = least_squares(prob.residual, x0, jac=prob.jacobian, method="lm", x_scale="jac", max_nfev=max_nfev,
                            xtol=1e-8, ftol=1e-8, gtol=1e-10)
    except ValueError:
        # The unbounded LM step can reach a negative linewidth large enough that the model
        # overflows (inf/NaN reach NNLS): restart bounded from the initial guess instead.
        xc = np.clip(x0, lo + 1e-6 * span, hi - 1e-6 * span)
        return least_squares(prob.residual, xc, jac=prob.jacobian, bounds=bounds, method="trf", x_scale="jac",
                             max_nfev=max_nfev, xtol=1e-8, ftol=1e-8, gtol=1e-10)
    x = sol.x.copy()
    g = prob.n_groups()
    x[2 + 2 * g:] = np.abs(x[2 + 2 * g:])
    if np.all((x >= lo) & (x <= hi)):
        sol.x = x
        return sol
    xc = np.clip(x, lo + 1e-6 * span, hi - 1e-6 * span)
    sol2 = least_squares(prob.residual, xc, jac=prob.jacobian, bounds=bounds, method="trf", x_scale="jac",
                         max_nfev=max_nfev, xtol=1e-8, ftol=1e-8, gtol=1e-10)
    sol2.nfev += sol.nfev
    return sol2


def _stiffness_grid(prob: _Problem) -> np.ndarray:
    return np.logspace(0, 5, 6) * max(prob.options.baseline_min_stiffness, 1e-6)


def fit_spectrum(spectrum: MRSData, basis: BasisSet, options: FitOptions | None = None) -> FitResult:
    """Fit one 1-D spectrum with a basis set (see module docstring for the model)."""
    options = options or FitOptions()
    prob = _Problem(spectrum, basis, options)
    stiff = options.baseline_stiffness
    if isinstance(stiff, str):
        if stiff != "auto":
            raise InputError(None, "fit.baseline_stiffness", f"must be a number or 'auto', got {stiff!r}")
        grid = _stiffness_grid(prob)
        prob.set_stiffness(grid[len(grid) // 2])
    else:
        if not (np.isfinite(stiff) and stiff > 0):
            raise InputError(None, "fit.baseline_stiffness", f"must be > 0, got {stiff!r}")
        prob.set_stiffness(float(stiff))
    # Start from a flexible baseline, which absorbs broad nuisance signal (residual water,
    # lipid tails) that would otherwise steer the coarse grid; the fit then uses its own.
    lam_fit = prob.lam
    prob.set_stiffness(max(options.baseline_min_stiffness, 1e-6))
    x0 = _initial_guess(prob)
    prob.set_stiffness(lam_fit)
    sol = _solve(prob, x0, options.max_evaluations)
    nfev = sol.nfev
    if isinstance(stiff, str):
        # Automatic stiffness: AIC of the linear fit at the nonlinear solution over the grid
        # (2 x effective baseline d.o.f. for real + imaginary parts), then polish.
        n_obs = 2 * prob.y.size
        best = None
        for lam in grid:
            prob.set_stiffness(lam)
            prob._cache_key = None
            r = prob.residual(sol.x)
            a = prob._cache[5]
            ed = bl.effective_dof(prob.S, prob.D, lam)
            aic = n_obs * np.log(np.sum(r**2) / n_obs) + 2 * (2 * ed + np.count_nonzero(a))
            if best is None or aic < best[0]:
                best = (aic, lam)
        if best[1] != prob.lam:
            prob.set_stiffness(best[1])
            prob._cache_key = None
            sol = _solve(prob, sol.x, max(options.max_evaluations // 4, 5))
            nfev += sol.nfev
        else:
            prob.set_stiffness(best[1])
            prob._cache_key = None
    return _finish(prob, sol.x, nfev, sol.status)


def _finish(prob: _Problem, x: np.ndarray, nfev: int, status: int) -> FitResult:
    prob._cache_key = None
    bt, B, yr, A, b, a, r = prob.evaluate(x)
    phi0, phi1, d, l, s = prob.unpack(x)
    o = prob.options
    # Baseline coefficients for the rotated residual.
    rem = yr - B @ a
    c_re = bl.baseline_coefficients(prob.S, prob.D, prob.lam, rem.real)
    c_im = bl.baseline_coefficients(prob.S, prob.D, prob.lam, rem.imag)
    base_sel = prob.S @ c_re + 1j * (prob.S @ c_im)
    model_sel = B @ a
    # Fisher information over all parameters (rotated frame; rotation keeps white noise white).
    full = model_sel + base_sel
    dm = prob.model_derivatives(x, bt, a)
    cols = [B, (1j * full)[:, None]]
    if o.first_order_phase:
        cols.append((1j * (prob.ppm - prob.ppm_c) * full)[:, None])
    cols += [dm, prob.S.astype(complex), 1j * prob.S]
    Jc = np.concatenate(cols, axis=1)
    J = np.concatenate([Jc.real, Jc.imag], axis=0)
    F = J.T @ J
    nb = prob.S.shape[1]
    pen = prob.lam * (prob.D.T @ prob.D)
    F[-2 * nb : -nb, -2 * nb : -nb] += pen
    F[-nb:, -nb:] += pen
    sigma = prob.noise_sd
    if sigma is None:
        resid = yr - model_sel - base_sel
        dof = max(2 * resid.size - (np.count_nonzero(a) + 2 + 3 * prob.n_groups()
                                    + 2 * bl.effective_dof(prob.S, prob.D, prob.lam)), 1.0)
        sigma = float(np.sqrt(np.sum(np.abs(resid) ** 2) / dof))
    K = B.shape[1]
    cov_full = sigma**2 * np.linalg.pinv(F, hermitian=True)
    cov = cov_full[:K, :K]
    crlb = np.sqrt(np.clip(np.diag(cov), 0, None))
    names = prob.names
    combos = {}
    # GABA+ is in GABA-equivalent units: MM30 (counted per 2 protons) weighted by its edited
    # signal relative to GABA's (gaba_equivalent_weight; DEVELOPERS.md metabolite names).
    w_mm30 = gaba_equivalent_weight(prob.fids, names, prob.ppm_full)
    for cname, members in o.combinations.items():
        present = [m for m in members if m in names]
        idx = [names.index(m) for m in present]
        if idx and cname not in names:
            w = np.array([w_mm30 if (cname == "GABA+" and m == "MM30") else 1.0 for m in present])
            combos[cname] = (float(a[idx] @ w), _combo_sd(cov, idx, w))
    # Full-length arrays in the data's frame.
    phase_full = np.exp(1j * (phi0 + phi1 * (prob.ppm_full - prob.ppm_c)))
    comp_full = np.fft.fftshift(np.fft.fft(bt, axis=0), axes=0) * a * phase_full[:, None]
    model_full = comp_full.sum(axis=1)
    base_full = np.zeros(prob.n, complex)
    base_full[prob.mask] = base_sel * phase_full[prob.mask]
    resid_sel = yr - model_sel - base_sel
    fit_quality = float(np.sum(np.abs(resid_sel) ** 2) / (2 * resid_sel.size * sigma**2))
    # SNR: tallest fitted metabolite peak (real, phased, without baseline) over noise SD.
    metab = np.array([not is_macromolecule(n_) for n_ in names])
    metab_spec = (B[:, metab] @ a[metab]).real
    snr = float(metab_spec.max() / sigma) if metab_spec.size else float("nan")
    fwhm = _linewidth(prob, bt, a, phi0, phi1)
    params = {
        "phase0_deg": float(np.degrees(phi0)),
        "phase1_deg_per_ppm": float(np.degrees(phi1)),
        "phase_pivot_ppm": prob.ppm_c,
        "groups": {g: {"shift_hz": float(d[i]), "lorentz_hz": float(l[i]), "gauss_hz": float(s[i])}
                   for i, g in enumerate(prob.group_names)},
        "baseline_lambda": prob.lam,
        "baseline_ed": bl.effective_dof(prob.S, prob.D, prob.lam),
        "ppm_range": list(map(float, o.ppm_range)),
        "n_evaluations": int(nfev),
        "noise_source": prob.noise_source,
        "optimizer_status": int(status),
    }
    return FitResult(
        names=tuple(names), amplitudes=a.copy(), crlb=crlb, covariance=cov, combos=combos,
        ppm=prob.ppm_full, fit_mask=prob.mask, data=prob.data_full, model=model_full, baseline=base_full,
        components=comp_full, params=params, noise_sd=sigma, snr=snr, fwhm_hz=fwhm, fit_quality=fit_quality,
        dwell_s=float(prob.t[1] - prob.t[0]), spectrometer_mhz=prob.mhz,
    )


def _linewidth(prob: _Problem, bt, a, phi0, phi1) -> float:
    """FWHM (Hz) of the fitted reference singlet (NAA 2.008, else Cr 3.027), zero-filled x4."""
    for name, centre in (("NAA", 2.008), ("Cr", 3.027), ("PCr", 3.029)):
        if name in prob.names and a[prob.names.index(name)] > 0:
            k = prob.names.index(name)
            n4 = 4 * prob.n
            spec = np.fft.fftshift(np.fft.fft(bt[:, k], n=n4))
            freq = np.fft.fftshift(np.fft.fftfreq(n4, prob.t[1] - prob.t[0]))
            ppm = prob.basis_ppm_reference + freq / prob.mhz  # the basis's own reference
            win = np.nonzero(np.abs(ppm - centre) < 0.1)[0]
            re = spec.real
            ci = win[np.argmax(re[win])]
            return _fwhm_of(re, freq, ci)
    return float("nan")
