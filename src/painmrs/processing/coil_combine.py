"""Coil combination: noise pre-whitening and SVD (rank-1) sensitivity weights.

Model per time point: y = s * x(t) + n with n ~ CN(0, Psi) (Psi = coil noise covariance).
The SNR-optimal linear combination is a^T y with a proportional to conj(Psi^-1 s) (Roemer).

- Psi is estimated from the signal-free edges of the spectrum (see
  ``estimate_noise_covariance``).
- s is estimated in the whitened domain by SVD of the (time-and-transient x coil) matrix of
  the first ``weight_points`` points of the reference (water reference if given, else the
  metabolite scan): all rows share one coil profile, so it is the first right singular
  vector, whatever each transient's phase. This is the whitened-SVD method (WSVD) used by
  Osprey/FID-A; written here from the model above.
- Weights are scaled so that the combined reference has the amplitude of the coherent sum
  of the coils' signals (keeps the data in its original units) and phased so the combined
  reference's first point is real and positive.
The same weights must be applied to the water reference and the metabolite scan, so that
water scaling stays valid: the pipeline does that.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

from ..errors import InputError
from ..mrs import MRSData
from ._spectra import to_spectrum


@dataclasses.dataclass(frozen=True)
class CoilWeights:
    """combined = sum_c weights[c] * fid[..., c, ...]."""

    weights: np.ndarray  # (n_coils,) complex
    noise_covariance: np.ndarray  # (n_coils, n_coils), E[n n^H] per sample, estimated
    sensitivities: np.ndarray  # (n_coils,) estimated relative coil profile
    source: str  # "water reference" | "metabolite scan"

    def snr_gain(self, sensitivities: np.ndarray, covariance: np.ndarray) -> float:
        """|a^T s| / sqrt(a^T Psi a*) for given (e.g. true) sensitivities and covariance."""
        a = self.weights
        return float(abs(a @ sensitivities) / np.sqrt(np.real(a @ covariance @ a.conj())))


def _coils_last(data: MRSData) -> np.ndarray:
    if not data.has_dim("DIM_COIL"):
        raise InputError(data.source, "dim_tags", f"no DIM_COIL axis to combine (tags {data.dim_tags})")
    return np.moveaxis(data.fid, data.axis("DIM_COIL"), -1)


def estimate_noise_covariance(data: MRSData, noise_fraction: float = 0.25) -> np.ndarray:
    """Coil noise covariance E[n n^H] per time sample, from the spectral band edges.

    The outer ``noise_fraction`` of the spectrum (half at each edge: far from water and
    metabolites) of every coil and transient is used after removing a quadratic trend per
    edge, coil and transient (the far tails of a strong water line are smooth there; in the
    time domain, by contrast, a strong water signal has not always decayed by the end of the
    FID and would leak into the covariance and defeat the whitening). For white noise the
    unnormalised FFT has per-bin covariance n_points x Psi, hence the division.
    """
    y = _coils_last(data)
    n = y.shape[0]
    m = int(round(n * noise_fraction / 2))
    if not 0 < noise_fraction < 1 or m < 16:
        raise InputError(data.source, "noise_fraction", f"need 0 < fraction < 1 giving >= 16 points per edge, got {noise_fraction}")
    spec = to_spectrum(y.astype(np.complex128))
    blocks = []
    x = np.linspace(-1.0, 1.0, m)
    vander = np.stack([np.ones(m), x, x**2], axis=1)
    proj = np.eye(m) - vander @ np.linalg.pinv(vander)  # removes a quadratic trend
    for edge in (spec[:m], spec[n - m :]):
        resid = np.tensordot(proj, edge, axes=(1, 0))
        blocks.append(resid.reshape(-1, y.shape[-1]))
    x_all = np.concatenate(blocks, axis=0)
    n_groups = 2 * int(np.prod(y.shape[1:-1], dtype=int))
    cov = x_all.T @ x_all.conj() / (x_all.shape[0] - 3 * n_groups) / n
    if not np.all(np.isfinite(cov)) or np.any(np.real(np.diag(cov)) <= 0):
        raise InputError(data.source, "data", "cannot estimate coil noise: a coil has zero or non-finite noise")
    return cov


def estimate_coil_weights(
    reference: MRSData,
    noise_covariance: np.ndarray | None = None,
    *,
    weight_points: int = 16,
    noise_fraction: float = 0.25,
    source: str = "water reference",
) -> CoilWeights:
    """Whitened-SVD weights from ``reference`` (see module docstring)."""
    y = _coils_last(reference)
    n_coils = y.shape[-1]
    cov = estimate_noise_covariance(reference, noise_fraction) if noise_covariance is None else noise_covariance
    # Small diagonal loading keeps the Cholesky factor stable for nearly dead channels.
    cov_loaded = cov + np.eye(n_coils) * 1e-9 * np.real(np.trace(cov)) / n_coils
    chol = scipy.linalg.cholesky(cov_loaded, lower=True)
    rows = y[: max(2, weight_points)].astype(np.complex128).reshape(-1, n_coils)
    white = scipy.linalg.solve_triangular(chol, rows.T, lower=True).T  # rows of L^-1 y
    _, _, vh = np.linalg.svd(white, full_matrices=False)
    s_white = vh[0]  # whitened profile (unit norm): each row is x_r * (L^-1 s)^T
    # In original coil space: s = L s_w and a^T = s_w^H L^-1  (i.e. a = L^-T conj(s_w)).
    a = scipy.linalg.solve_triangular(chol.T, s_white.conj(), lower=False)
    sens = chol @ s_white
    # Phase: combined reference starts real and positive. Scale: a^T s = sum |s|.
    first = y[0].astype(np.complex128).reshape(-1, n_coils) @ a  # t = 0 of every transient
    a = a * np.exp(-1j * np.angle(np.sum(first)))
    a = a * (np.sum(np.abs(sens)) / np.abs(a @ sens))
    return CoilWeights(weights=a, noise_covariance=cov, sensitivities=sens, source=source)


def combine_coils(data: MRSData, weights: CoilWeights | None = None, **estimate_kwargs) -> MRSData:
    """Combine the DIM_COIL axis with ``weights`` (estimated from ``data`` itself if None)."""
    if weights is None:
        weights = estimate_coil_weights(data, source="metabolite scan", **estimate_kwargs)
    y = _coils_last(data)
    if y.shape[-1] != weights.weights.size:
        raise InputError(
            data.source, "DIM_COIL", f"{y.shape[-1]} coils but weights for {weights.weights.size} (water reference mismatch?)"
        )
    combined = y @ weights.weights.astype(np.result_type(y.dtype, np.complex64))
    tags = tuple(t for t in data.dim_tags if t != "DIM_COIL")
    details = {
        "method": "noise-whitened SVD (WSVD)",
        "weights_from": weights.source,
        "n_coils": int(weights.weights.size),
        "weights_abs": np.round(np.abs(weights.weights), 6),
        "weights_phase_deg": np.round(np.degrees(np.angle(weights.weights)), 3),
    }
    return data.with_step(combined, "RF coil combination", details, dim_tags=tags)
