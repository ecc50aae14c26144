"""GABA+ = GABA + MM30 in GABA-equivalent units (DEVELOPERS.md metabolite names).

Known truth: a 'GABA' basis of two Gaussian lines (2.93 and 3.07 ppm, 8 Hz FWHM, FID(0) 0.5
each: 1 edited unit per molecule) and the MM30 basis (3.00 ppm, 20 Hz, FID(0) 2: counted per
2 protons). One MM30 amplitude unit gives 2x the edited signal of one GABA unit (0.4 % of the
MM30 Gaussian lies outside the 2.8-3.2 ppm window: weight 1.992), so GABA 1.0 + MM30 0.5 is
2.0 GABA-equivalents (the plain amplitude sum, before the fix, gave 1.5).
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis.basis_set import BasisSet
from painmrs.basis.macromolecules import mm_fid
from painmrs.fitting import FitOptions, fit_spectrum
from painmrs.fitting.model import gaba_equivalent_weight
from painmrs.mrs import MRSData

MHZ, DWELL, N = 123.2, 1 / 2000, 2048


def _gauss(ppm, fwhm_hz, amp, t):
    return amp * np.exp(2j * np.pi * (ppm - 4.65) * MHZ * t - (np.pi * fwhm_hz * t) ** 2 / (4 * np.log(2)))


def test_gaba_plus_in_gaba_equivalents():
    t = np.arange(N) * DWELL
    gaba = _gauss(2.93, 8.0, 0.5, t) + _gauss(3.07, 8.0, 0.5, t)
    mm30 = mm_fid("MM30", spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N)
    assert mm30[0].real == pytest.approx(2.0, rel=1e-6)
    b = BasisSet(names=("GABA", "MM30"), fids=np.stack([gaba, mm30], 1), dwell_s=DWELL, spectrometer_mhz=MHZ)
    ppm = 4.65 + np.fft.fftshift(np.fft.fftfreq(N, DWELL)) / MHZ
    assert gaba_equivalent_weight(b.fids, b.names, ppm) == pytest.approx(1.992, abs=0.004)
    fit = fit_spectrum(MRSData(fid=1.0 * gaba + 0.5 * mm30, dwell_s=DWELL, spectrometer_mhz=MHZ), b,
                       FitOptions(ppm_range=(2.4, 3.6), baseline_stiffness=1e6, first_order_phase=False, noise_sd=1.0))
    assert fit.amplitude("GABA") == pytest.approx(1.0, rel=0.01)
    assert fit.amplitude("MM30") == pytest.approx(0.5, rel=0.01)
    assert fit.amplitude("GABA+") == pytest.approx(2.0, rel=0.01)
