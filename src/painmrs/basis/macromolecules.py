"""Parametric macromolecule (MM) and lipid basis components: sums of Gaussian lines.

Each component is a list of (ppm, relative protons, FWHM in ppm); widths are kept in ppm so
that the components scale with field strength. A Gaussian line of FWHM w Hz has the
time-domain envelope exp(-(pi w t)^2 / (4 ln 2)); FID(0) equals the proton count, so MM
amplitudes are on the same per-proton scale as the simulated metabolites.

Sources (facts.md §1.6):
- MM09, MM12, MM14, MM17, MM20 and Lip09, Lip13a, Lip13b, Lip20: the LCModel-manual
  defaults (as coded in spant). "Lip13" is Lip13a + Lip13b.
- MM_3T: the Birch et al. MRM 2017 measured 3T MM spectrum (13 lines, widths given in Hz at
  128 MHz, converted to ppm), as one combined component.
- MM30: the co-edited MM at 3.0 ppm in the MEGA-PRESS difference spectrum (GABA+). Position
  3.00 ppm and 2 protons follow the FSL-MRS/MMSim MEGA MM models; the width (20 Hz at 3T,
  0.16 ppm) is our assumption -- no source gives it for 3T.
"""

from __future__ import annotations

import numpy as np

from ..mrs import H2O_PPM
from .basis_set import BasisSet

_BIRCH_MHZ = 128.0
# fmt: off
_BIRCH_2017 = (
    (0.90, 0.72, 21.2), (1.21, 0.28, 19.2), (1.38, 0.38, 15.9), (1.63, 0.05, 7.5), (2.01, 0.45, 29.0),
    (2.09, 0.36, 20.5), (2.25, 0.36, 17.9), (2.61, 0.04, 5.3), (2.96, 0.20, 14.0), (3.11, 0.11, 17.9),
    (3.67, 0.64, 33.5), (3.80, 0.07, 11.9), (3.96, 1.00, 37.5),
)

#: name -> ((ppm, protons, fwhm_ppm), ...)
MM_COMPONENTS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "MM09": ((0.91, 3.0, 0.14),),
    "MM12": ((1.21, 2.0, 0.15),),
    "MM14": ((1.43, 2.0, 0.17),),
    "MM17": ((1.67, 2.0, 0.15),),
    "MM20": ((2.08, 1.33, 0.15), (2.25, 0.33, 0.20), (1.95, 0.33, 0.15), (3.00, 0.40, 0.20)),
    "Lip09": ((0.89, 3.0, 0.14),),
    "Lip13a": ((1.28, 2.0, 0.15),),
    "Lip13b": ((1.28, 2.0, 0.089),),
    "Lip13": ((1.28, 2.0, 0.15), (1.28, 2.0, 0.089)),
    "Lip20": ((2.04, 1.33, 0.15), (2.25, 0.67, 0.15), (2.80, 0.87, 0.20)),
    "MM_3T": tuple((ppm, amp, hz / _BIRCH_MHZ) for ppm, amp, hz in _BIRCH_2017),
    "MM30": ((3.00, 2.0, 20.0 / 123.2),),
}

# fmt: on

#: Short-TE PRESS MM set (DEVELOPERS.md names).
DEFAULT_MM = ("MM09", "MM12", "MM14", "MM17", "MM20")
#: The co-edited MM for MEGA-PRESS DIFF.
EDITED_MM = ("MM30",)


def is_macromolecule(name: str) -> bool:
    """A macromolecule or lipid component by its name (MM*, Mac*, Lip*; as the fit groups them)."""
    return name.upper().startswith(("MM", "MAC", "LIP"))


def mm_fid(
    name: str, *, spectrometer_mhz: float, dwell_s: float, n_points: int, ppm_reference: float = H2O_PPM
) -> np.ndarray:
    try:
        peaks = MM_COMPONENTS[name]
    except KeyError:
        raise KeyError(f"unknown macromolecule/lipid component {name!r}; known: {', '.join(MM_COMPONENTS)}") from None
    t = np.arange(n_points) * dwell_s
    fid = np.zeros(n_points, dtype=complex)
    for ppm, protons, fwhm_ppm in peaks:
        nu = (ppm - ppm_reference) * spectrometer_mhz
        w = fwhm_ppm * spectrometer_mhz
        fid += protons * np.exp(2j * np.pi * nu * t - (np.pi * w * t) ** 2 / (4 * np.log(2)))
    return fid


def mm_basis(
    names=DEFAULT_MM,
    *,
    spectrometer_mhz: float,
    dwell_s: float,
    n_points: int,
    ppm_reference: float = H2O_PPM,
    sequence: str | None = None,
    echo_time_s: float | None = None,
) -> BasisSet:
    """Gaussian MM/lipid components as a ``BasisSet`` (FID(0) = relative proton count)."""
    names = tuple(names)
    fids = np.stack(
        [
            mm_fid(
                n, spectrometer_mhz=spectrometer_mhz, dwell_s=dwell_s, n_points=n_points, ppm_reference=ppm_reference
            )
            for n in names
        ],
        axis=1,
    )
    return BasisSet(
        names=names,
        fids=fids,
        dwell_s=dwell_s,
        spectrometer_mhz=spectrometer_mhz,
        ppm_reference=ppm_reference,
        echo_time_s=echo_time_s,
        sequence=sequence,
        source="painmrs.basis.macromolecules",
        meta={"macromolecules": list(names), "mm_components": {n: [list(p) for p in MM_COMPONENTS[n]] for n in names}},
    )
