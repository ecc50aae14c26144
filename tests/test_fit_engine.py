"""The fitting engine on simulated spectra with known truth; outputs; CLI; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from painmrs.basis.basis_set import BasisSet
from painmrs.basis.simulate import simulate_basis
from painmrs.errors import InputError
from painmrs.fitting import FitOptions, fit_spectrum
from painmrs.fitting._threads import limit_blas_threads
from painmrs.fitting.output import fit_to_mrs, plot_fit, write_fit_nifti
from painmrs.fitting.validation import NORMAL_BRAIN_MM, simulate_spectrum
from painmrs.fitting.water import fit_water
from painmrs.mrs import MRSData
from painmrs.quantify.scan import with_macromolecules

limit_blas_threads(1)
MHZ, DWELL, N = 123.2, 1 / 4000, 2048


@pytest.fixture(scope="module")
def basis():
    return with_macromolecules(simulate_basis(echo_time_ms=30, te1_ms=11, spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N))


def _truth():
    t = dict(NORMAL_BRAIN_MM)
    t.update(MM09=4.0, MM12=4.0, MM14=4.0, MM17=4.0, MM20=4.0)
    return t


def test_noise_free_recovery(basis):
    truth = _truth()
    mrs = simulate_spectrum(basis, truth, n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ, lorentz_hz=3.0,
                            gauss_fwhm_hz=5.0, shift_hz=2.5, phase_deg=20.0)
    fit = fit_spectrum(mrs, basis, FitOptions(noise_sd=1.0))
    for name in ("NAA", "Cr", "PCr", "GPC", "mI", "Glu", "Gln", "GSH", "GABA", "Tau"):
        assert fit.amplitude(name) == pytest.approx(truth[name], rel=0.01), name
    assert fit.amplitude("tNAA") == pytest.approx(12.0, rel=0.002)
    g = fit.params["groups"]["metab"]
    assert g["shift_hz"] == pytest.approx(2.5, abs=0.02)
    assert fit.params["phase0_deg"] + fit.params["phase1_deg_per_ppm"] * 0 == pytest.approx(20.0, abs=0.5)
    assert g["lorentz_hz"] == pytest.approx(3.0, abs=0.1)
    assert np.abs(fit.residual[fit.fit_mask]).max() < 1e-3 * np.abs(fit.data[fit.fit_mask]).max()


def test_crlb_matches_monte_carlo_sd_single_singlet():
    # One Voigt singlet (no parameter at a bound): the estimator is efficient, so the SD over noise
    # realisations must match the CRLB (and the noise SD estimate must match the truth).
    t = np.arange(N) * DWELL
    f = (3.027 - 4.65) * MHZ
    fid = 3.0 * np.exp(2j * np.pi * f * t - np.pi * 2.0 * t)
    b = BasisSet(names=("Cr",), fids=fid[:, None], dwell_s=DWELL, spectrometer_mhz=MHZ)
    rng = np.random.default_rng(7)
    noise_sd = 10.0
    est, crlb, sds = [], [], []
    for _ in range(60):
        y = 1.0 * fid * np.exp(-np.pi * 3.0 * t - (10.0 * t) ** 2) + noise_sd / np.sqrt(N) * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
        r = fit_spectrum(MRSData(fid=y, dwell_s=DWELL, spectrometer_mhz=MHZ), b,
                         FitOptions(ppm_range=(2.5, 3.5), baseline_stiffness=1e4, first_order_phase=False))
        est.append(r.amplitudes[0])
        crlb.append(r.crlb[0])
        sds.append(r.noise_sd)
    assert np.mean(sds) == pytest.approx(noise_sd, rel=0.03)
    assert np.mean(est) == pytest.approx(1.0, abs=3 * np.std(est) / np.sqrt(60) + 0.005)
    ratio = np.std(est, ddof=1) / np.mean(crlb)
    assert 0.75 < ratio < 1.3, ratio


def test_water_fit_recovers_area():
    t = np.arange(N) * DWELL
    fid = 5000 * np.exp(1j * 0.3) * np.exp(2j * np.pi * 4.0 * t - np.pi * 6.0 * t - (8.0 * t) ** 2)
    w = fit_water(MRSData(fid=fid, dwell_s=DWELL, spectrometer_mhz=MHZ))
    assert w.area == pytest.approx(5000, rel=1e-4)
    assert w.frequency_ppm == pytest.approx(4.65 + 4.0 / MHZ, abs=1e-4)


def test_outputs_valid_and_deterministic(basis, tmp_path):
    from nifti_mrs.nifti_mrs import NIFTI_MRS
    from nifti_mrs.validator import validate_nifti_mrs

    mrs = simulate_spectrum(basis, _truth(), n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ, lorentz_hz=3.0,
                            gauss_fwhm_hz=5.0, shift_hz=0.0, phase_deg=0.0, noise_sd=20.0)
    fit = fit_spectrum(mrs, basis)
    path = write_fit_nifti(tmp_path / "x_desc-fit_svs.nii.gz", fit, mrs)
    validate_nifti_mrs(NIFTI_MRS(str(path)))
    back = fit_to_mrs(fit, mrs)
    assert back.dim_tags == ("DIM_USER_0",)
    spec = np.fft.fftshift(np.fft.fft(back.fid, axis=0), axes=0)
    assert np.allclose(spec[:, 0] - spec[:, 1] - spec[:, 2], spec[:, 3])  # data - model - baseline = residual
    plot_fit(fit, tmp_path / "a.png", title="x")
    plot_fit(fit, tmp_path / "b.png", title="x")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_cli_fit_challenge_dataset(shared_data, tmp_path):
    from painmrs.cli import main

    root = shared_data / "challenge2016"
    rc = main(["fit", "--data", str(root / "datasets_LCModel" / "dataset1.RAW"),
               "--water", str(root / "datasets_LCModel" / "dataset1.H2O"),
               "--basis", str(root / "basisset_LCModel" / "press3T_30ms.BASIS"),
               "--te", "30", "--tr", "10000", "--tissue", "0.6", "0.4", "0",
               "--dwell", "0.00025", "--frequency", "123.2", "--out", str(tmp_path), "--name", "ds1"])
    assert rc == 0
    table = pd.read_csv(tmp_path / "ds1_fit.tsv", sep="\t", na_values="n/a")
    row = table.set_index("metabolite").loc["tNAA"]
    assert 8 < row.conc_mM < 25 and row.crlb_pct < 5 and row.ratio_tCr > 1
    assert (tmp_path / "ds1_fit.png").exists() and (tmp_path / "ds1_desc-fit_svs.nii.gz").exists()
    # Missing dwell time for a .RAW file is a clear error naming the field.
    rc = main(["fit", "--data", str(root / "datasets_LCModel" / "dataset1.RAW"),
               "--basis", str(root / "basisset_LCModel" / "press3T_30ms.BASIS"), "--out", str(tmp_path)])
    assert rc == 2


def test_bad_input_errors(basis):
    good = simulate_spectrum(basis, {"NAA": 10.0}, n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ, lorentz_hz=3.0,
                             gauss_fwhm_hz=5.0, shift_hz=0.0, phase_deg=0.0)
    with pytest.raises(InputError, match="1-D"):
        fit_spectrum(MRSData(fid=np.stack([good.fid, good.fid], 1), dwell_s=DWELL, spectrometer_mhz=MHZ,
                             dim_tags=("DIM_DYN",)), basis)
    with pytest.raises(InputError, match="MHz"):
        fit_spectrum(good.replace(spectrometer_mhz=297.2), basis)
    with pytest.raises(InputError, match="ppm_range"):
        fit_spectrum(good, basis, FitOptions(ppm_range=(30.0, 31.0)))
    with pytest.raises(InputError, match="not in basis"):
        fit_spectrum(good, basis, FitOptions(metabolites=("NAA", "Foo")))
    with pytest.raises(InputError, match="baseline_stiffness"):
        fit_spectrum(good, basis, FitOptions(baseline_stiffness="wiggly"))


def test_mega_scan_outputs_and_gaussian_cross_check(tmp_path):
    from painmrs.basis.simulate import simulate_mega_press_basis
    from painmrs.fitting.mega import fit_gaba_gaussian
    from painmrs.quantify.scan import fit_mega_scan

    sets = simulate_mega_press_basis(spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N, include_mm=True)
    truth = dict(NORMAL_BRAIN_MM, MM30=0.6, MM09=4.0, MM12=4.0, MM14=4.0, MM17=4.0, MM20=4.0)
    rng = np.random.default_rng(4)
    kw = dict(n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ, lorentz_hz=3.0, gauss_fwhm_hz=5.0, shift_hz=0.0,
              phase_deg=0.0, rng=rng)
    diff = simulate_spectrum(sets["DIFF"], truth, noise_sd=1.0, **kw)
    off = simulate_spectrum(sets["OFF"], truth, noise_sd=20.0, **kw)
    t = np.arange(N) * DWELL
    # Water: 2 protons x 55510 mM x water fraction, with the same header TE/TR as the spectra.
    water = off.replace(fid=2 * 35000.0 * np.exp(-np.pi * 6.0 * t), header={"EchoTime": 0.068, "RepetitionTime": 2.0})
    off = off.replace(header={"EchoTime": 0.068, "RepetitionTime": 2.0})
    names = ("GABA", "MM30", "Glu", "Gln", "GSH", "NAA", "NAAG")
    bdiff = sets["DIFF"].replace(names=names, fids=np.ascontiguousarray(sets["DIFF"].fids[:, [sets["DIFF"].index(n) for n in names]]))
    table = fit_mega_scan(diff, off, bdiff, sets["OFF"], tmp_path, "mega", water=water,
                          fractions={"GM": 0.6, "WM": 0.3, "CSF": 0.1}).set_index("metabolite")
    assert table.loc["GABA+", "spectrum"] == "diff" and table.loc["tCr", "spectrum"] == "off"
    assert table.loc["GABA+", "amplitude"] == pytest.approx(1.6, rel=0.1)
    assert table.loc["GABA+", "ratio_tCr"] == pytest.approx(1.6 / 9.5, rel=0.1)
    assert table.loc["GABA+_gauss", "amplitude"] == pytest.approx(table.loc["GABA+", "amplitude"], rel=0.25)
    assert np.isfinite(table.loc["GABA+", "alpha_corrected"]) and np.isnan(table.loc["tNAA", "alpha_corrected"])
    assert table.loc["GABA+", "conc_mM"] > 0
    for name in ("mega_fit.tsv", "mega_desc-fit_svs.nii.gz", "mega_desc-fitoff_svs.nii.gz", "mega_fit.png", "mega_fit.json"):
        assert (tmp_path / name).exists(), name
    g = fit_gaba_gaussian(diff.spectrum(), diff.ppm, MHZ)
    assert g.centre_ppm == pytest.approx(3.0, abs=0.05)
