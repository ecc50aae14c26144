"""ISMRM 2016 fitting challenge: the Cr water-scaling test and all 28 spectra.

Water-scaling truth. The challenge README says the Cr spectrum "should come out at 10 mM"
with conc = 29697 mM x 1.206 x metabolite area / water area. The files give 10.82 mM with
those constants, and the 8 % is in the water file, not in the fit, the basis or the formula:

- metabolite file: HSVD (model-free) gives Cr CH3 = 24.87 and CH2 = 16.59 at t = 0, i.e.
  8.290 per proton = 10 mM x exp(-30/160) x 1.000: the spectrum is on a scale of exactly one
  unit per proton per mM (asserted below to 0.5 %);
- water file: a single 6 Hz Lorentzian of 54865 at t = 0 (= its first point; not halved), i.e.
  27432 per proton. On the same scale the README's relaxation-corrected water concentration
  would need 29697 per proton (59394 in all): the file embodies 27432 mM, 0.924 x 29697.
- Proton counts (Cr 5 = CH3 3 + CH2 2, water 2), the t = 0 amplitude as the area (the whole
  line, tails included) and the relaxation factors are the README's; no choice among the
  conventions listed in the README (integrated vs t = 0 water area, Cr CH3 only, basis
  normalisation) moves the result by 8 %: the CH3/CH2 ratio is exactly 3/2, the water line
  is a pure Lorentzian (t = 0 amplitude = spectral integral), and our fitted Cr equals the
  model-free area.
So 29697 x 1.206 x 8.290 / 27432 = 10.82 mM is what these files give; FSL-MRS's own test
suite asserts the same (10.78 +- 0.1 mM molar, its Cr fit). We assert 10.82 +- 0.3 mM here
and not the README's 10.0, which cannot be reached without rescaling the water by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis.readers import load_basis
from painmrs.fitting import FitOptions, fit_spectrum
from painmrs.fitting._threads import limit_blas_threads
from painmrs.fitting.water import basis_proton_unit, fit_water, hsvd
from painmrs.io.lcmodel import read_lcmodel_raw
from painmrs.processing.water_removal import remove_water
from painmrs.quantify import QuantOptions, water_scaling
from painmrs.quantify.qc import QCRules, scan_flags
from painmrs.quantify.scan import with_macromolecules

limit_blas_threads(1)

CHALLENGE = "challenge2016"
T2_CHALLENGE = {**QuantOptions().t2_ms, "tCr": 160.0, "NAA": 160.0, "tCho": 160.0, "mI": 160.0, "Glu": 160.0,
                "Gln": 160.0, "GABA": 160.0, "GSH": 160.0, "other": 160.0, "water_GM": 110.0, "water_WM": 80.0}
QUANT = QuantOptions(t2_ms=T2_CHALLENGE)
FRACTIONS = {"GM": 0.6, "WM": 0.4, "CSF": 0.0}


@pytest.fixture(scope="module")
def basis(shared_data):
    return load_basis(shared_data / CHALLENGE / "basisset_LCModel" / "press3T_30ms.BASIS")


def _read(path):
    return read_lcmodel_raw(path, dwell_s=1 / 4000, spectrometer_mhz=123.2, echo_time_s=0.030)


def test_cr_water_scaling(shared_data, basis):
    root = shared_data / CHALLENGE / "Cr_water_scaling_LCModel"
    data = _read(root / "Cr_10mM_test_water_scaling.RAW")
    water = _read(root / "Cr_10mM_test_water_scaling.H2O")
    fit = fit_spectrum(data, basis, FitOptions())
    wfit = fit_water(water)
    unit, ref = basis_proton_unit(basis)
    assert ref == "Cr" and unit == pytest.approx(1 / 64, rel=1e-3)  # the challenge basis: 1/64 per proton
    ws = water_scaling(["tCr"], unit, wfit.area, FRACTIONS, QUANT, te_s=0.030, tr_s=1e6)
    conc = fit.amplitude("tCr") * ws.molar["tCr"]
    print(f"\nCr water-scaling test: {conc:.3f} mM (README formula target 10; data-consistent 10.82)")
    assert conc == pytest.approx(10.82, abs=0.3)
    # Model-free cross-check of the two areas.
    f, _, amp = hsvd(data.fid[1:], data.dwell_s, n_components=8)  # first point is halved in the file
    ppm = 4.65 + f / 123.2
    cr_area = np.abs(amp[(ppm > 2.9) & (ppm < 4.0)]).sum()  # CH3 + CH2 lines (one dwell later: < 0.5 % decay)
    fitted_area = fit.amplitude("tCr") * unit * 5
    assert fitted_area == pytest.approx(cr_area, rel=0.01)
    assert wfit.area == pytest.approx(54865, rel=0.002)
    # The decomposition in the module docstring: Cr is 1 unit / proton / mM after T2 decay,
    # and the water embodies 27432 mM per proton, not the README's 29697.
    assert cr_area / 5 == pytest.approx(10.0 * np.exp(-30 / 160), rel=0.005)
    assert wfit.area / 2 / (cr_area / 5 / (10.0 * np.exp(-30 / 160))) == pytest.approx(27432, rel=0.005)
    # Molal = molar / water volume fraction of the tissue (CSF 0).
    molal = fit.amplitude("tCr") * ws.molal["tCr"]
    assert molal == pytest.approx(conc / (0.6 * 0.78 + 0.4 * 0.65), rel=1e-6)


# A signal at the top edge of the fit range taller than every metabolite singlet is not
# metabolite signal (dataset 24: a water-like line of ~4000 at 4.06-4.25 ppm against NAA ~30):
# remove it with HLSVD over 4.0-5.5 ppm, as the processing pipeline does for residual water,
# and stop the fit at 4.0 ppm, below what the removal touches.
ARTEFACT_WINDOW_PPM = (4.0, 4.3)
SINGLET_WINDOW_PPM = (1.8, 3.4)


def _edge_artefact(data) -> bool:
    spec, ppm = np.abs(data.spectrum()), data.ppm
    edge = spec[(ppm >= ARTEFACT_WINDOW_PPM[0]) & (ppm <= ARTEFACT_WINDOW_PPM[1])].max()
    return bool(edge > spec[(ppm >= SINGLET_WINDOW_PPM[0]) & (ppm <= SINGLET_WINDOW_PPM[1])].max())


def test_all_28_challenge_spectra(shared_data, basis):
    # Some challenge spectra hold lipids: add the parametric lipid components (not for Cr test).
    basis = with_macromolecules(basis, ("Lip09", "Lip13", "Lip20"))
    root = shared_data / CHALLENGE / "datasets_LCModel"
    rows = []
    n_flagged = 0
    artefacts = []
    for i in range(1, 29):
        data = _read(root / f"dataset{i}.RAW")
        water = _read(root / f"dataset{i}.H2O")
        options = FitOptions()
        if _edge_artefact(data):
            artefacts.append(i)
            data = remove_water(data, window_ppm=(4.0, 5.5))
            options = FitOptions(ppm_range=(0.2, 4.0))
        fit = fit_spectrum(data, basis, options)
        wfit = fit_water(water)
        unit, _ = basis_proton_unit(basis)
        names = ["tNAA", "tCr", "tCho", "mI", "Glu", "Gln", "GABA", "GSH", "Lac"]
        ws = water_scaling(names, unit, wfit.area, FRACTIONS, QUANT, te_s=0.030, tr_s=1e6)
        conc = {n: fit.amplitude(n) * ws.molar[n] for n in names}
        crlb = {n: 100 * fit.sd(n) / fit.amplitude(n) if fit.amplitude(n) > 0 else np.inf for n in names}
        rows.append((i, conc, crlb, fit.fit_quality, fit.snr))
        assert all(np.isfinite(v) and v >= 0 for v in conc.values()), f"dataset{i}: {conc}"
        assert np.isfinite(fit.fit_quality) and np.all(np.isfinite(fit.crlb)), f"dataset{i}"
        # Physiological sanity for the main singlets (the challenge spectra are brain-like),
        # unless QC flags the fit as failed (residual far above the noise: dataset 24 carries a
        # large residual-water artefact at 4.15 ppm, inside the default 0.2-4.2 ppm range).
        # Datasets 25-28 are tumour-like (lipids, lactate, no NAA): only the range of tCr is checked.
        plausible = (i > 24 or 4 < conc["tNAA"] < 25) and 1 < conc["tCr"] < 20
        flagged = bool(scan_flags(fit.snr, fit.fwhm_hz, 123.2, fit.fit_quality, QCRules(max_fit_quality=3.0)))
        assert plausible or flagged, f"dataset{i}: implausible and not flagged {conc}"
        n_flagged += flagged
        if i == 24:  # the artefact removal makes it an ordinary brain-like fit
            assert not flagged and 10 < conc["tNAA"] < 20 and 8 < conc["tCr"] < 12, conc
    print("\nchallenge 2016, water-scaled molar mM (fit quality = residual var / noise var):")
    print("set " + " ".join(f"{n:>6s}" for n in rows[0][1]) + "  tNAA_CRLB%  fitQ   SNR")
    for i, conc, crlb, q, snr in rows:
        print(f"{i:3d} " + " ".join(f"{v:6.2f}" for v in conc.values()) + f"  {crlb['tNAA']:9.1f}  {q:5.2f} {snr:5.0f}")
    print(f"edge artefact removed in datasets {artefacts}")
    assert artefacts == [24]
    # Dataset 28 (lipid lines ~100x NAA at 0.9-2.4 ppm, more than three parametric lipids can
    # describe) is the one expected failure; one more is tolerated.
    assert n_flagged <= 2, f"{n_flagged} of 28 challenge fits failed QC"
