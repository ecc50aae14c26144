"""The fitted linewidth looks for the reference singlet on the basis's own ppm axis."""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis.basis_set import BasisSet
from painmrs.fitting import FitOptions, fit_spectrum
from painmrs.mrs import MRSData

MHZ, DWELL, N = 123.2, 1 / 2000, 2048


@pytest.mark.parametrize("ref", [4.65, 3.0])
def test_linewidth_uses_basis_ppm_reference(ref):
    # NAA singlet at 2.008 ppm, 1 Hz in the basis; data broadened to 6 Hz Lorentzian FWHM. With a
    # receiver reference of 3.0 ppm the line sits at -122 Hz; the former hard-coded 4.65 ppm
    # searched at -325 Hz and measured the wrong peak (nan / a tail), not 6 Hz.
    t = np.arange(N) * DWELL
    line = np.exp(2j * np.pi * (2.008 - ref) * MHZ * t - np.pi * 1.0 * t)
    cr = np.exp(2j * np.pi * (3.027 - ref) * MHZ * t - np.pi * 1.0 * t)
    b = BasisSet(names=("NAA", "Cr"), fids=np.stack([line, cr], 1), dwell_s=DWELL, spectrometer_mhz=MHZ, ppm_reference=ref)
    y = (2.0 * line + 1.0 * cr) * np.exp(-np.pi * 5.0 * t)
    fit = fit_spectrum(MRSData(fid=y, dwell_s=DWELL, spectrometer_mhz=MHZ, ppm_reference=ref), b,
                       FitOptions(ppm_range=(1.5, 3.5), baseline_stiffness=1e6, first_order_phase=False, noise_sd=1.0))
    assert fit.amplitude("NAA") == pytest.approx(2.0, rel=0.01)
    assert fit.fwhm_hz == pytest.approx(6.0, rel=0.05)
