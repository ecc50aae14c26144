"""The spectrum object every processing step takes and returns.

``MRSData`` is an immutable single-voxel NIfTI-MRS dataset held in memory: the complex
time-domain signal with the time axis first, one dimension tag per further axis
(``DIM_COIL``, ``DIM_DYN``, ``DIM_EDIT`` ...), and the header extension. Processing steps
are pure functions ``MRSData -> MRSData`` that call :meth:`MRSData.with_step`, which
returns a new object and appends an entry to the NIfTI-MRS ``ProcessingApplied`` history.

Conventions (NIfTI-MRS / FSL-MRS): spectrum = fftshift(fft(fid)) along time; frequency
axis f = fftshift(fftfreq(n, dwell)) in Hz; ppm = ppm_reference + f / spectrometer_MHz
with ppm_reference = 4.65 (water at 37 degC) for 1H, so a peak exp(i 2 pi f t) with
f = (2.008 - 4.65) * MHz lands at 2.008 ppm (NAA).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from . import __version__
from .errors import InputError

H2O_PPM = 4.65
#: The one nucleus painmrs analyses: the ppm axis (water at 4.65 ppm), the basis simulation,
#: the metabolite list and the water scaling are all for protons.
NUCLEUS = "1H"


def check_nucleus(nucleus, path, what: str = "spectrum") -> None:
    """Refuse a spectrum of another nucleus than 1H (NIfTI-MRS ``ResonantNucleus``): before
    this check a 31P spectrum was processed and fitted as 1H. ``InputError`` naming the file."""
    if str(nucleus).strip().upper() != NUCLEUS.upper():
        raise InputError(
            path, "ResonantNucleus",
            f"{what} is of nucleus {nucleus!r}, but painmrs analyses {NUCLEUS} spectra only (the ppm axis about water "
            f"at {H2O_PPM} ppm, the basis sets and the water scaling are for {NUCLEUS}): it would be fitted as {NUCLEUS}",
        )

# Dimension tags defined by the NIfTI-MRS standard.
DIMENSION_TAGS = (
    "DIM_COIL",
    "DIM_DYN",
    "DIM_INDIRECT_0",
    "DIM_INDIRECT_1",
    "DIM_INDIRECT_2",
    "DIM_PHASE_CYCLE",
    "DIM_EDIT",
    "DIM_MEAS",
    "DIM_USER_0",
    "DIM_USER_1",
    "DIM_USER_2",
    "DIM_ISIS",
)

def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # Deep-copy through JSON so that callers cannot mutate our header behind our back, and
    # so that only JSON-serialisable values ever reach a NIfTI-MRS header extension.
    return MappingProxyType(json.loads(json.dumps(dict(mapping or {}))))


@dataclasses.dataclass(frozen=True, eq=False)
class MRSData:
    """One single-voxel MRS dataset (see module docstring for conventions)."""

    fid: np.ndarray
    dwell_s: float
    spectrometer_mhz: float
    dim_tags: tuple[str, ...] = ()
    nucleus: str = "1H"
    affine: np.ndarray = dataclasses.field(default_factory=lambda: np.eye(4))
    header: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ppm_reference: float = H2O_PPM
    source: str | None = None  # file it was read from, for error messages

    def __post_init__(self):
        fid = np.asarray(self.fid)
        if not np.iscomplexobj(fid):
            fid = fid.astype(np.complex128)
        object.__setattr__(self, "fid", fid)
        object.__setattr__(self, "dim_tags", tuple(self.dim_tags))
        object.__setattr__(self, "affine", np.array(self.affine, dtype=float))
        object.__setattr__(self, "header", _freeze(self.header))
        if fid.ndim < 1 or fid.shape[0] < 2:
            raise InputError(self.source, "data", f"need at least 2 time points, got shape {fid.shape}")
        if fid.ndim - 1 != len(self.dim_tags):
            raise InputError(
                self.source,
                "dim_tags",
                f"{fid.ndim - 1} non-time axes but {len(self.dim_tags)} tags {self.dim_tags}",
            )
        for tag in self.dim_tags:
            if tag not in DIMENSION_TAGS:
                raise InputError(self.source, "dim_tags", f"unknown NIfTI-MRS dimension tag {tag!r}")
        if not (np.isfinite(self.dwell_s) and 0 < self.dwell_s < 1):
            raise InputError(self.source, "dwell time (pixdim[4])", f"must be in (0, 1) s, got {self.dwell_s!r}")
        if not (np.isfinite(self.spectrometer_mhz) and self.spectrometer_mhz > 0):
            raise InputError(
                self.source, "SpectrometerFrequency", f"must be a positive number of MHz, got {self.spectrometer_mhz!r}"
            )
        if self.affine.shape != (4, 4) or not np.all(np.isfinite(self.affine)):
            raise InputError(self.source, "affine", "must be a finite 4x4 matrix")

    # ---- axes -------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return int(self.fid.shape[0])

    @property
    def bandwidth_hz(self) -> float:
        return 1.0 / self.dwell_s

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.n_points) * self.dwell_s

    @property
    def frequency_hz(self) -> np.ndarray:
        return np.fft.fftshift(np.fft.fftfreq(self.n_points, self.dwell_s))

    @property
    def ppm(self) -> np.ndarray:
        return self.ppm_reference + self.frequency_hz / self.spectrometer_mhz

    def spectrum(self) -> np.ndarray:
        """Complex spectrum along the time axis (same shape as ``fid``)."""
        return np.fft.fftshift(np.fft.fft(self.fid, axis=0), axes=0)

    def axis(self, tag: str) -> int:
        """Array axis of a dimension tag (raises ``KeyError`` if absent)."""
        try:
            return 1 + self.dim_tags.index(tag)
        except ValueError:
            raise KeyError(f"{tag} not in {self.dim_tags}") from None

    def has_dim(self, tag: str) -> bool:
        return tag in self.dim_tags

    # ---- header conveniences ---------------------------------------------------------
    @property
    def echo_time_s(self) -> float | None:
        value = self.header.get("EchoTime")
        return None if value is None else float(value)

    @property
    def repetition_time_s(self) -> float | None:
        value = self.header.get("RepetitionTime")
        return None if value is None else float(value)

    @property
    def voxel_size_mm(self) -> np.ndarray:
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def processing_history(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.header.get("ProcessingApplied", ()))

    # ---- derivation ------------------------------------------------------------------
    def replace(self, **changes) -> "MRSData":
        """A copy with fields changed (no history entry: use for metadata-only edits)."""
        return dataclasses.replace(self, **changes)

    def with_step(
        self,
        fid: np.ndarray,
        method: str,
        details: Mapping[str, Any],
        *,
        dim_tags: tuple[str, ...] | None = None,
        header_updates: Mapping[str, Any] | None = None,
        **field_changes,
    ) -> "MRSData":
        """New dataset holding ``fid``, with the step recorded in ``ProcessingApplied``.

        ``method`` should be one of the NIfTI-MRS standard's method names where one fits
        (e.g. "RF coil combination", "Frequency and phase correction", "Signal averaging",
        "Eddy current correction", "Nuisance peak removal", "Zero-order phase correction",
        "Frequency referencing", "Outlier removal", "Subspectrum alignment").
        ``details`` are the parameters (and key results) of the step, JSON-serialisable.
        """
        header = dict(self.header)
        if header_updates:
            header.update(header_updates)
        entry = {
            "Program": "painmrs",
            "Version": __version__,
            "Method": method,
            "Details": json.dumps(dict(details), sort_keys=True, default=_json_default),
        }
        header["ProcessingApplied"] = list(header.get("ProcessingApplied", [])) + [entry]
        return dataclasses.replace(
            self,
            fid=fid,
            dim_tags=self.dim_tags if dim_tags is None else tuple(dim_tags),
            header=header,
            **field_changes,
        )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
