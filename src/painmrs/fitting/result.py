"""The result of one linear-combination fit (:func:`painmrs.fitting.model.fit_spectrum`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


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
