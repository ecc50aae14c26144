"""Lineshape primitives shared by the analysis stages and the demo simulator (numpy only, so
every stage can import it without importing the simulator)."""

from __future__ import annotations

import numpy as np


def voigt_decay(t: np.ndarray, lorentz_hz: float, gauss_hz: float) -> np.ndarray:
    """Time-domain Voigt envelope: Lorentzian FWHM ``lorentz_hz`` times Gaussian FWHM ``gauss_hz``."""
    return np.exp(-np.pi * lorentz_hz * t - (np.pi * gauss_hz * t) ** 2 / (4 * np.log(2)))
