"""The per-scan pipeline (PRESS and MEGA-PRESS) against simulated truth, file outputs and QC table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from painmrs.errors import InputError
from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData
from painmrs.processing import ProcessingOptions, collect_qc, process_scan, split_edit_conditions, write_processed
from painmrs.processing._spectra import ppm_window
from painmrs.processing.qc import fwhm
from painmrs.demo.synthetic import make_scan

DWELL, MHZ = 5e-4, 127.75


def true_fwhm(fid):
    return fwhm(MRSData(fid, DWELL, MHZ), (-100, 100), zero_fill=64)[0]


@pytest.fixture(scope="module")
def press():
    metab, water, truth = make_scan(31, snr=60.0, n_corrupted=3)
    return metab, water, truth, process_scan(metab, water, stem="sub-T01_acq-press_voi-ACC")


def test_press_qc_matches_truth(press):
    metab, water, truth, scan = press
    qc = scan.qc
    w = scan.coil_weights.weights
    gain = abs(w @ truth["coil_sensitivities"])
    n_kept = metab.fid.shape[-1] - qc["n_rejected"]
    var_t = np.real(w @ truth["noise_covariance"] @ w.conj()) / n_kept
    noise_sd = np.sqrt(metab.n_points * var_t / 2)
    naa = truth["parts"]["NAA"]
    height = gain * np.max(np.fft.fft(naa).real)
    snr_true = height / noise_sd
    fw_naa, fw_cr, fw_w = true_fwhm(naa), true_fwhm(truth["parts"]["tCr"]), true_fwhm(truth["clean_water"])
    print(
        f"PRESS QC: SNR {qc['snr']:.1f} vs true {snr_true:.1f}; FWHM NAA {qc['fwhm_naa_hz']:.2f} vs {fw_naa:.2f} Hz, "
        f"tCr {qc['fwhm_tcr_hz']:.2f} vs {fw_cr:.2f}, water {qc['fwhm_water_hz']:.2f} vs {fw_w:.2f}; "
        f"SNR FSL-style {qc['snr_fsl_style']:.1f}, Gannet-style {qc['snr_gannet_style']:.1f}"
    )
    assert qc["snr"] == pytest.approx(snr_true, rel=0.10)
    assert abs(qc["fwhm_naa_hz"] - fw_naa) <= 0.5
    assert abs(qc["fwhm_tcr_hz"] - fw_cr) <= 0.5
    assert abs(qc["fwhm_water_hz"] - fw_w) <= 0.5
    assert qc["fwhm_naa_ppm"] == pytest.approx(qc["fwhm_naa_hz"] / MHZ)
    assert sorted(qc["rejected_transients"]) == sorted(truth["corrupted"])
    # drift: linear (-10 -> 10 Hz) plus random walk; QC reports the kept transients' drift
    kept = np.setdiff1d(np.arange(metab.fid.shape[-1]), truth["corrupted"])
    assert qc["freq_drift_range_hz"] == pytest.approx(np.ptp(truth["freq_hz"][kept]), abs=1.0)
    # the Gannet-style value divides by twice the noise SD
    assert qc["snr_gannet_style"] == pytest.approx(qc["snr"] / 2, rel=0.25)
    assert qc["residual_water_ratio_naa"] < 0.2 < qc["removed_water_ratio_naa"]


def test_press_spectrum_is_referenced_and_phased(press):
    _, _, truth, scan = press
    out = scan.outputs["processed"]
    assert out.fid.ndim == 1 and out.dim_tags == ()
    spec = out.spectrum().real
    naa = ppm_window(out.ppm, (1.9, 2.1))
    assert out.ppm[naa][np.argmax(spec[naa])] == pytest.approx(2.008, abs=0.005)
    methods = [h["Method"] for h in out.processing_history]
    assert methods == [
        "RF coil combination", "Frequency and phase correction", "Outlier removal", "Signal averaging",
        "Eddy current correction", "Nuisance peak removal", "Frequency referencing", "Zero-order phase correction",
    ]
    # the clean spectrum, scaled by the combination gain, matches the output up to noise
    gain = scan.coil_weights.weights @ truth["coil_sensitivities"]
    ref = np.fft.fftshift(np.fft.fft(truth["clean_fid"] * gain)).real
    assert np.sum(spec[naa]) == pytest.approx(np.sum(ref[naa]), rel=0.03)


CONC_MM = {"NAA": 10, "NAAG": 1.5, "Cr": 4.5, "PCr": 4, "GPC": 1, "PCh": 0.5, "GABA": 1.2, "Glu": 9, "Gln": 3, "mI": 6, "GSH": 1.5}


def realistic_mega_fids():
    """OFF/ON from the density-matrix MEGA-PRESS basis (painmrs.basis.simulate), with MM and MM30."""
    from painmrs.basis.simulate import simulate_mega_press_basis
    from painmrs.lineshape import voigt_decay

    basis = simulate_mega_press_basis(list(CONC_MM), spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=2048, linewidth_hz=3.0, include_mm=True)
    gauss = voigt_decay(np.arange(2048) * DWELL, 0.0, 4.0)
    off = (basis["OFF"].fids @ np.array([CONC_MM.get(n, 1.0) for n in basis["OFF"].names])) * gauss
    on = (basis["ON"].fids @ np.array([CONC_MM.get(n, 1.0) for n in basis["ON"].names])) * gauss
    on = on + basis["DIFF"].fids[:, basis["DIFF"].names.index("MM30")] * gauss  # co-edited MM in ON only
    scale = 200.0 / np.max(np.fft.fft(off).real)  # NAA height comparable to the singlet spectra
    return off * scale, on * scale


@pytest.mark.slow
@pytest.mark.parametrize("spectra", ["singlets", "density-matrix basis"])
def test_mega_press_diff_integral_matches_true_gaba(spectra):
    clean = None if spectra == "singlets" else realistic_mega_fids()
    ratios, modes = [], []
    # GABA+ SNR 20 in DIFF (facts.md 1.5: 10-30); 160 OFF/ON pairs, drift -8..8 Hz, 10 deg jitter.
    for seed in range(2):
        metab, water, truth = make_scan(
            40 + seed, mega=True, snr=20.0, n_transients=160, n_corrupted=4, drift_hz=(-8.0, 8.0), clean_fids=clean
        )
        scan = process_scan(metab, water)
        assert set(scan.outputs) == {"off", "on", "diff", "sum"}
        gain = abs(scan.coil_weights.weights @ truth["coil_sensitivities"])
        diff = truth["clean_diff"]
        true_spec = np.fft.fftshift(np.fft.fft(diff)).real
        sel = ppm_window(scan.outputs["diff"].ppm, (2.8, 3.2))
        true_integral = true_spec[sel].sum() / (diff.size * DWELL)
        ratios.append(scan.qc["gaba_diff_integral_2p8_3p2"] / gain / true_integral)
        modes.append(scan.qc["subspectra_alignment"])
        found = set(scan.qc["rejected_transients_off"]) | set(scan.qc["rejected_transients_on"])
        assert set(truth["corrupted"]) <= found
    print(f"MEGA-PRESS ({spectra}) DIFF 2.8-3.2 ppm integral / truth: {np.round(ratios, 4)} (sub-spectra: {modes})")
    assert all(abs(r - 1) <= 0.05 for r in ratios)


def test_mega_edit_conditions_from_data_when_no_edit_axis():
    metab, _, truth = make_scan(50, mega=True, snr=15.0, n_transients=16, n_coils=2, eddy_current=False, residual_water=0)
    # interleave OFF, ON, OFF, ON ... along DIM_DYN and drop DIM_EDIT
    fid = metab.fid.reshape(metab.n_points, 2, -1)  # (n, coil, dyn*edit) in acquisition order
    data = MRSData(fid, DWELL, MHZ, dim_tags=("DIM_COIL", "DIM_DYN"))
    parts = split_edit_conditions(data)
    idx_off = json.loads(parts["off"].processing_history[-1]["Details"])["indices"]
    assert idx_off == list(range(0, 32, 2))
    flat = MRSData(np.repeat(metab.fid[:, :, :, :1], 2, axis=3).reshape(metab.n_points, 2, -1), DWELL, MHZ,
                   dim_tags=("DIM_COIL", "DIM_DYN"), source="x.nii.gz")
    with pytest.raises(InputError, match="cannot be told apart"):
        split_edit_conditions(flat)


def test_written_outputs_are_valid_deterministic_and_collected(press, tmp_path):
    _, _, _, scan = press
    stem = "sub-T01_acq-press_voi-ACC"
    paths = write_processed(scan, tmp_path / "a", stem)
    again = write_processed(scan, tmp_path / "b", stem)
    assert sorted(p.name for p in paths.values()) == sorted(
        [f"{stem}_desc-processed_svs.nii.gz", f"{stem}_desc-processed_mrsref.nii.gz", f"{stem}_qc.json", f"{stem}_qc.png"]
    )
    for key in paths:
        assert paths[key].read_bytes() == again[key].read_bytes(), key
    back = nifti_mrs.read(paths["processed"])
    assert np.allclose(back.fid, scan.outputs["processed"].fid, rtol=1e-5, atol=1e-3)
    from nifti_mrs.nifti_mrs import NIFTI_MRS
    from nifti_mrs.validator import validate_nifti_mrs

    validate_nifti_mrs(NIFTI_MRS(str(paths["processed"])))
    validate_nifti_mrs(NIFTI_MRS(str(paths["water"])))
    qc = json.loads(paths["qc_json"].read_text())
    assert qc["stem"] == stem and "snr_definition" in qc
    table = collect_qc([paths["qc_json"]])
    assert table.loc[0, "stem"] == stem and table.loc[0, "n_rejected"] == scan.qc["n_rejected"]
    bad = tmp_path / "bad_qc.json"
    bad.write_text("{")
    with pytest.raises(InputError, match="bad_qc.json"):
        collect_qc([bad])


def test_options_from_config_reject_unknown_keys():
    opts = ProcessingOptions.from_config({"water_window_ppm": [4.4, 5.0], "outlier_z_threshold": 4})
    assert opts.water_window_ppm == (4.4, 5.0) and opts.outlier_z_threshold == 4
    with pytest.raises(InputError, match="processing.bogus"):
        ProcessingOptions.from_config({"bogus": 1}, source="config.yaml")
    with pytest.raises(InputError, match="align_window_ppm"):
        ProcessingOptions.from_config({"align_window_ppm": 3})


def test_cli_process_writes_derived_files(tmp_path):
    from painmrs import cli

    metab, water, _ = make_scan(60, n_transients=16, n_coils=4)
    bids = tmp_path / "in"
    mpath = nifti_mrs.write(metab, bids / "sub-T02_acq-press_voi-ACC_svs.nii.gz")
    wpath = nifti_mrs.write(water, bids / "sub-T02_acq-press_voi-ACC_mrsref.nii.gz")
    config = tmp_path / "config.yaml"
    config.write_text("processing:\n  outlier_z_threshold: 3.5\n")
    out = tmp_path / "out"
    assert cli.main(["process", "--metab", str(mpath), "--water", str(wpath), "--out", str(out), "--config", str(config)]) == 0
    stem = "sub-T02_acq-press_voi-ACC"
    for suffix in ("_desc-processed_svs.nii.gz", "_desc-processed_mrsref.nii.gz", "_qc.json", "_qc.png"):
        assert (out / f"{stem}{suffix}").is_file(), suffix
    config.write_text("processing:\n  no_such_option: 1\n")
    assert cli.main(["process", "--metab", str(mpath), "--out", str(out), "--config", str(config)]) == 2


def test_mega_outputs_written_and_valid(tmp_path):
    from nifti_mrs.nifti_mrs import NIFTI_MRS
    from nifti_mrs.validator import validate_nifti_mrs

    metab, water, _ = make_scan(61, mega=True, snr=20.0, n_transients=16, n_coils=2)
    scan = process_scan(metab, water)
    stem = "sub-T03_acq-megapress_voi-ACC"
    paths = write_processed(scan, tmp_path, stem)
    for key in ("off", "on", "diff", "sum"):
        assert paths[key].name == f"{stem}_desc-{key}_svs.nii.gz"
        validate_nifti_mrs(NIFTI_MRS(str(paths[key])))
        back = nifti_mrs.read(paths[key])
        assert back.dim_tags == () and back.processing_history[-1]["Method"]
    assert np.allclose(scan.outputs["diff"].fid, scan.outputs["on"].fid - scan.outputs["off"].fid)
    qc = json.loads(paths["qc_json"].read_text())
    assert qc["sequence"] == "MEGA-PRESS" and "gaba_diff_integral_2p8_3p2" in qc
