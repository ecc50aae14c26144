"""Remove the frequency-reference singlet (DSS/TMS at 0 ppm) that some basis sets carry.

LCModel basis sets made with ``makebasis`` often include a reference singlet at 0 ppm in
every metabolite spectrum (the ISMRM 2016 challenge set does: about 5 % of the Cr CH3 area).
A fit range that reaches 0 ppm, or a baseline spanning it, would then fit a peak that is not
in the data. We fit a Voigt line at the reference position of each spectrum and subtract it.
On the challenge set this removes 82-87 % of the peak height (the residual is the part of the
reference lineshape a Voigt does not describe); the metabolite region changes by < 0.3 %.
"""

from __future__ import annotations

import numpy as np

from .basis_set import BasisSet


def remove_reference_peak(
    basis: BasisSet, ppm: float = 0.0, half_window_ppm: float = 0.08, max_offset_hz: float = 5.0
) -> BasisSet:
    """Basis with a fitted singlet at ``ppm`` subtracted from every spectrum that has one.

    A spectrum is changed only when the fitted line sits within ``max_offset_hz`` of ``ppm``
    and is narrower than 20 Hz (otherwise there is no reference peak to remove).
    """
    from .validation import fit_singlet  # lazy: keeps "python -m painmrs.basis.validation" clean

    t = basis.time_s
    fids = basis.fids.copy()
    removed = []
    nominal = (ppm - basis.ppm_reference) * basis.spectrometer_mhz
    for k, name in enumerate(basis.names):
        fit = fit_singlet(basis, fids[:, k], ppm, half_window_ppm=half_window_ppm)
        width = fit["lorentz_hz"] + fit["gauss_hz"]
        if abs(fit["freq_hz"] - nominal) > max_offset_hz or width > 20 or abs(fit["amplitude"]) == 0:
            continue
        fids[:, k] -= fit["amplitude"] * np.exp(
            2j * np.pi * fit["freq_hz"] * t
            - np.pi * fit["lorentz_hz"] * t
            - (np.pi * fit["gauss_hz"] * t) ** 2 / (4 * np.log(2))
        )
        removed.append(name)
    meta = dict(basis.meta)
    meta["reference_peak_removed"] = {"ppm": ppm, "from": removed}
    return basis.replace(fids=fids, meta=meta)
