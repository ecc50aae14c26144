"""``BasisSet``: the metabolite (and macromolecule) basis spectra a fit combines.

Time-domain FIDs in the NIfTI-MRS convention (see :mod:`painmrs.mrs`): a column's spectrum
is fftshift(fft(fid)) and its ppm axis is ppm_reference + f / spectrometer_MHz. Readers of
other formats (LCModel stores the complex conjugate) convert to this convention on load.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import InputError
from ..mrs import H2O_PPM


@dataclasses.dataclass(frozen=True, eq=False)
class BasisSet:
    names: tuple[str, ...]
    fids: np.ndarray  # (n_points, n_basis) complex128
    dwell_s: float
    spectrometer_mhz: float
    ppm_reference: float = H2O_PPM
    echo_time_s: float | None = None
    sequence: str | None = None  # e.g. "PRESS", "MEGA-PRESS:ON", "MEGA-PRESS:OFF", "MEGA-PRESS:DIFF"
    source: str | None = None
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        fids = np.ascontiguousarray(self.fids, dtype=np.complex128)
        if fids.ndim == 1:
            fids = fids[:, None]
        object.__setattr__(self, "fids", fids)
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "meta", MappingProxyType(json.loads(json.dumps(dict(self.meta)))))
        if fids.ndim != 2 or fids.shape[1] != len(self.names):
            raise InputError(self.source, "basis", f"{len(self.names)} names but FID array of shape {fids.shape}")
        if len(set(self.names)) != len(self.names):
            raise InputError(self.source, "basis names", f"duplicate metabolite names in {self.names}")
        if not (np.isfinite(self.dwell_s) and 0 < self.dwell_s < 1):
            raise InputError(self.source, "dwell time", f"must be in (0, 1) s, got {self.dwell_s!r}")
        if not (np.isfinite(self.spectrometer_mhz) and self.spectrometer_mhz > 0):
            raise InputError(self.source, "spectrometer frequency", f"must be > 0 MHz, got {self.spectrometer_mhz!r}")
        if not np.all(np.isfinite(fids.view(float))):
            raise InputError(self.source, "basis data", "contains NaN or Inf")

    @property
    def n_points(self) -> int:
        return int(self.fids.shape[0])

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.n_points) * self.dwell_s

    @property
    def frequency_hz(self) -> np.ndarray:
        return np.fft.fftshift(np.fft.fftfreq(self.n_points, self.dwell_s))

    @property
    def ppm(self) -> np.ndarray:
        return self.ppm_reference + self.frequency_hz / self.spectrometer_mhz

    def spectra(self) -> np.ndarray:
        return np.fft.fftshift(np.fft.fft(self.fids, axis=0), axes=0)

    def fid(self, name: str) -> np.ndarray:
        return self.fids[:, self.index(name)]

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} not in basis ({', '.join(self.names)})") from None

    def subset(self, names: Sequence[str]) -> "BasisSet":
        idx = [self.index(n) for n in names]
        return dataclasses.replace(self, names=tuple(names), fids=self.fids[:, idx])

    def replace(self, **changes) -> "BasisSet":
        return dataclasses.replace(self, **changes)
