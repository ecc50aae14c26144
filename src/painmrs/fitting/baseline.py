"""Penalised cubic B-spline baseline (P-spline, Eilers & Marx 1996) over the fit range.

A dense cubic B-spline basis with a second-difference penalty on its coefficients gives a
baseline whose stiffness is one number (``lam``) instead of a knot placement problem; its
effective degrees of freedom (trace of the hat matrix) make stiffness comparable across
spectra and drive the automatic choice in :mod:`painmrs.fitting.model`.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import BSpline


def spline_design(x: np.ndarray, knot_spacing: float) -> np.ndarray:
    """Cubic B-spline design matrix (len(x), n_splines) with equally spaced knots."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    n_int = max(int(np.ceil((hi - lo) / knot_spacing)), 1)
    step = (hi - lo) / n_int
    knots = np.concatenate([lo - step * np.arange(3, 0, -1), np.linspace(lo, hi, n_int + 1), hi + step * np.arange(1, 4)])
    return BSpline.design_matrix(np.clip(x, knots[3], knots[-4]), knots, 3, extrapolate=False).toarray()


def difference_penalty(n: int, order: int = 2) -> np.ndarray:
    """Finite-difference operator D (n-order, n): penalty is ||D c||^2."""
    return np.diff(np.eye(n), n=order, axis=0)


def complement_projector(design: np.ndarray, penalty: np.ndarray, lam: float) -> np.ndarray:
    """Matrix P with ||P v||^2 = min_c ||v - S c||^2 + lam ||D c||^2 for every v.

    P is the data-row part of the orthogonal complement of the augmented [S; sqrt(lam) D]
    (full QR), so the baseline is eliminated exactly from the linear problem once per
    stiffness instead of once per iteration.
    """
    aug = np.vstack([design, np.sqrt(lam) * penalty])
    q, _ = np.linalg.qr(aug, mode="complete")
    n_rows, n_cols = design.shape
    return np.ascontiguousarray(q[:n_rows, n_cols:].T)


def baseline_coefficients(design: np.ndarray, penalty: np.ndarray, lam: float, residual: np.ndarray) -> np.ndarray:
    """Penalised LS coefficients of the baseline for ``residual`` (real, last axis = points)."""
    lhs = design.T @ design + lam * penalty.T @ penalty
    return np.linalg.solve(lhs, design.T @ residual.T).T


def effective_dof(design: np.ndarray, penalty: np.ndarray, lam: float) -> float:
    """Trace of the baseline hat matrix S (S'S + lam D'D)^-1 S'."""
    lhs = design.T @ design + lam * penalty.T @ penalty
    return float(np.trace(np.linalg.solve(lhs, design.T @ design)))
