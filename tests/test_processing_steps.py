"""Processing steps against simulated truth (demo.acquisition model, exact parameters known).

Numbers asserted (issue 3): coil combination >= 95% of the optimal SNR; alignment residual
<= 0.3 Hz RMS and phase within 2 deg RMS (or within 25% of the Cramer-Rao bound when the
bound itself is above 2 deg, see test; pooled over seeds and drifts of +/-2, 5, 10 Hz the
realistic spectrum must be <= 2 deg and within 15% of the bound); outliers >= 90% of planted found, <= 2% of clean
rejected; water removal >= 95% of the water area while NAA and tCr areas change < 1%.
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.errors import InputError
from painmrs.mrs import MRSData
from painmrs.processing import (
    align_transients,
    average,
    combine_coils,
    eddy_current_correction,
    estimate_alignment,
    estimate_coil_weights,
    estimate_noise_covariance,
    find_outliers,
    reference_and_phase,
    reject_outliers,
    remove_water,
    water_component,
)
from painmrs.processing._spectra import ppm_window
from painmrs.demo.synthetic import make_scan, press_fid
from painmrs.processing.water_removal import hlsvd

DWELL, MHZ = 5e-4, 127.75


def optimal_snr_gain(truth):
    s, cov = truth["coil_sensitivities"], truth["noise_covariance"]
    return float(np.sqrt(np.real(s.conj() @ np.linalg.solve(cov, s))))


@pytest.mark.parametrize("source", ["water reference", "metabolite scan"])
def test_coil_combination_reaches_optimal_snr(source):
    efficiencies = []
    for seed in range(3):
        metab, water, truth = make_scan(seed)
        ref = water if source == "water reference" else metab
        weights = estimate_coil_weights(ref, source=source)
        efficiencies.append(weights.snr_gain(truth["coil_sensitivities"], truth["noise_covariance"]) / optimal_snr_gain(truth))
    print(f"coil combination SNR / optimal ({source}): {np.round(efficiencies, 4)}")
    assert min(efficiencies) >= 0.95


def test_noise_covariance_estimate_and_combined_history():
    metab, _, truth = make_scan(5)
    cov = estimate_noise_covariance(metab)
    rel = np.linalg.norm(cov - truth["noise_covariance"]) / np.linalg.norm(truth["noise_covariance"])
    assert rel < 0.05  # 64 transients x 512 tail points per coil
    combined = combine_coils(metab)
    assert combined.dim_tags == ("DIM_DYN",)
    assert combined.processing_history[-1]["Method"] == "RF coil combination"


def test_coil_combination_without_coil_axis_is_an_input_error():
    data = MRSData(np.zeros((64, 4), complex), DWELL, MHZ, dim_tags=("DIM_DYN",), source="x.nii.gz")
    with pytest.raises(InputError, match="DIM_COIL"):
        combine_coils(data)


def crlb_f_phi(truth, weights, n_points):
    """Cramer-Rao SDs (Hz, deg) of frequency and phase of one combined transient (full band)."""
    gain = weights.weights @ truth["coil_sensitivities"]
    var = np.real(weights.weights @ truth["noise_covariance"] @ weights.weights.conj())
    t = np.arange(n_points) * DWELL
    m = gain * truth["clean_fid"]
    jac = np.stack([2j * np.pi * t * m, 1j * m], axis=1)
    fisher = 2 * np.real(jac.conj().T @ jac) / var
    cov = np.linalg.inv(fisher)
    return float(np.sqrt(cov[0, 0])), float(np.degrees(np.sqrt(cov[1, 1])))


def alignment_errors(al, truth, keep):
    ef = al.freq_hz[keep] + truth["freq_hz"][keep]
    ef = ef - ef.mean()
    ep = np.angle(np.exp(1j * (al.phase_rad[keep] + np.deg2rad(truth["phase_deg"][keep]))))
    ep = np.angle(np.exp(1j * (ep - np.angle(np.mean(np.exp(1j * ep))))))
    return float(np.sqrt(np.mean(ef**2))), float(np.degrees(np.sqrt(np.mean(ep**2))))


def realistic_press_fid():
    """Full TE 30 ms PRESS spectrum from the density-matrix basis (painmrs.basis.simulate) + MM."""
    from painmrs.basis.simulate import simulate_basis
    from painmrs.lineshape import voigt_decay

    conc = {"NAA": 10, "NAAG": 1.5, "Cr": 4.5, "PCr": 4, "GPC": 1, "PCh": 0.5, "GABA": 1.2, "Glu": 9, "Gln": 3,
            "mI": 6, "GSH": 1.5, "Tau": 1.5, "Lac": 0.5}
    basis = simulate_basis(list(conc), sequence="PRESS", echo_time_ms=30, spectrometer_mhz=MHZ, dwell_s=DWELL,
                           n_points=2048, linewidth_hz=3.0, include_mm=True)
    clean = (basis.fids @ np.array([conc.get(n, 1.0) for n in basis.names])) * voigt_decay(np.arange(2048) * DWELL, 0, 4.0)
    return clean * 200 / np.max(np.fft.fft(clean).real)


@pytest.mark.parametrize(
    "drift, spectra",
    [((-10.0, 10.0), "singlets"), ((10.0, -10.0), "singlets"), ((0.0, 6.0), "singlets"), ((-10.0, 10.0), "basis")],
)
def test_alignment_recovers_drift_at_demo_snr(drift, spectra):
    clean = realistic_press_fid() if spectra == "basis" else None
    metab, water, truth = make_scan(11, drift_hz=drift, snr=60.0, eddy_current=False, clean_fids=clean)
    weights = estimate_coil_weights(water)
    data = combine_coils(metab, weights)
    al = estimate_alignment(data)
    keep = np.arange(data.fid.shape[1])
    f_rms, p_rms = alignment_errors(al, truth, keep)
    f_crlb, p_crlb = crlb_f_phi(truth, weights, metab.n_points)
    print(f"{spectra}, drift {drift}: freq RMS {f_rms:.3f} Hz (CRLB {f_crlb:.3f}), phase RMS {p_rms:.2f} deg (CRLB {p_crlb:.2f})")
    assert np.ptp(truth["freq_hz"]) > 5
    assert f_rms <= 0.3
    # The 2 deg target is below the Cramer-Rao bound of the 4-singlet spectrum at
    # NAA SNR 60 (about 2.6 deg per transient): we require 2 deg or 1.25 x the bound.
    assert p_rms <= max(2.0, 1.25 * p_crlb)
    aligned = align_transients(data, al)
    assert aligned.processing_history[-1]["Method"] == "Frequency and phase correction"


@pytest.fixture(scope="module")
def basis_clean_fid():
    return realistic_press_fid()


@pytest.mark.parametrize("apodise_hz, max_ratio", [(2.0, 1.15), (0.0, 1.25)], ids=["apodise-2Hz", "no-apodisation"])
def test_alignment_pooled_over_seeds_and_drifts_is_near_the_bound(basis_clean_fid, apodise_hz, max_ratio):
    """Realistic TE 30 spectrum at the demo's NAA SNR 60 (64 transients x 8 coils), drifts of
    +/-2, +/-5 and +/-10 Hz, 3 seeds each: pooled RMS over 576 transients (a single scan's RMS
    of 64 transients scatters by about 9%, too much to compare with a bound).

    Residual error (standard definition): phase at t = 0 of each transient's estimated
    correction plus its true phase, relative to the circular mean over the set (a common phase
    is removed by zero-order phasing later); frequency likewise relative to the mean.
    Bound: Cramer-Rao SD of (f, phi) jointly, full band, for one combined transient with the
    true weights (crlb_f_phi). Measured (12 seeds): 1.78 deg / 0.165 Hz with 2 Hz apodisation
    (1.07x the bound), 1.93 deg / 0.179 Hz without (1.16x). The tolerance ratios 1.15 / 1.25
    were set from those measurements plus 3 SD of the pooled estimate's scatter. Before the
    Jacobian was taken from the reference, the unapodised estimate was 2.33 deg (1.40x).
    """
    errors, bounds = [], []
    for drift in (2.0, 5.0, 10.0):
        for seed in range(3):
            metab, water, truth = make_scan(300 + seed, drift_hz=(-drift, drift) if seed % 2 else (drift, -drift), snr=60.0,
                                            eddy_current=False, clean_fids=basis_clean_fid)
            weights = estimate_coil_weights(water)
            data = combine_coils(metab, weights)
            al = estimate_alignment(data, apodise_hz=apodise_hz)
            keep = np.arange(data.fid.shape[1])
            f_rms, p_rms = alignment_errors(al, truth, keep)
            errors.append((f_rms, p_rms))
            bounds.append(crlb_f_phi(truth, weights, metab.n_points))
    f_rms, p_rms = np.sqrt(np.mean(np.square(errors), axis=0))
    f_crlb, p_crlb = np.sqrt(np.mean(np.square(bounds), axis=0))
    print(f"pooled (apodise {apodise_hz} Hz): freq RMS {f_rms:.3f} Hz (CRLB {f_crlb:.3f}), phase RMS {p_rms:.2f} deg (CRLB {p_crlb:.2f}); "
          f"per scan phase {np.round(np.array(errors)[:, 1], 2)}")
    assert f_rms <= 0.3 and f_rms <= max_ratio * f_crlb
    assert p_rms <= max_ratio * p_crlb
    if apodise_hz > 0:  # the default estimator
        assert p_rms <= 2.0


def test_mega_press_alignment_within_each_edit_condition():
    """MEGA-PRESS at the demo's GABA+ SNR 15 (320 transients = 160 OFF/ON pairs, 8 coils),
    drift -10 -> +10 Hz: each condition aligned on its own, errors as above (relative to the
    condition's mean). Measured: OFF 0.05 Hz / 0.6 deg, ON 0.05 Hz / 0.8 deg."""
    from painmrs.processing.mega_press import split_edit_conditions

    metab, water, truth = make_scan(200, mega=True, snr=15.0, n_transients=160, drift_hz=(-10.0, 10.0), eddy_current=False)
    weights = estimate_coil_weights(water)
    conditions = split_edit_conditions(combine_coils(metab, weights))
    for e, name in enumerate(("off", "on")):
        data = conditions[name]
        cond_truth = {"freq_hz": truth["freq_hz"][:, e], "phase_deg": truth["phase_deg"][:, e],
                      "clean_fid": truth["clean_fid"][:, e], "coil_sensitivities": truth["coil_sensitivities"],
                      "noise_covariance": truth["noise_covariance"]}
        f_rms, p_rms = alignment_errors(estimate_alignment(data), cond_truth, np.arange(data.fid.shape[1]))
        f_crlb, p_crlb = crlb_f_phi(cond_truth, weights, metab.n_points)
        print(f"MEGA {name}: freq RMS {f_rms:.3f} Hz (CRLB {f_crlb:.3f}), phase RMS {p_rms:.2f} deg (CRLB {p_crlb:.2f})")
        assert np.ptp(cond_truth["freq_hz"]) > 10
        assert f_rms <= 0.3 and p_rms <= 2.0
        assert f_rms <= 1.25 * f_crlb and p_rms <= 1.25 * p_crlb


def test_alignment_phase_within_two_degrees_at_higher_snr():
    metab, water, truth = make_scan(12, drift_hz=(-10.0, 10.0), snr=100.0, eddy_current=False)
    data = combine_coils(metab, estimate_coil_weights(water))
    f_rms, p_rms = alignment_errors(estimate_alignment(data), truth, np.arange(data.fid.shape[1]))
    print(f"NAA SNR 100: freq RMS {f_rms:.3f} Hz, phase RMS {p_rms:.2f} deg")
    assert f_rms <= 0.3 and p_rms <= 2.0


def test_outlier_rejection_finds_planted_corrupted_transients():
    planted = clean_total = found = false = 0
    for seed in range(3):
        metab, water, truth = make_scan(20 + seed, n_corrupted=6, snr=60.0)
        data = combine_coils(metab, estimate_coil_weights(water))
        data = align_transients(data)
        result = find_outliers(data)
        corrupted = set(truth["corrupted"])
        rejected = set(int(i) for i in result.rejected)
        planted += len(corrupted)
        found += len(corrupted & rejected)
        false += len(rejected - corrupted)
        clean_total += data.fid.shape[1] - len(corrupted)
        kept = reject_outliers(data, result)
        assert kept.fid.shape[1] == data.fid.shape[1] - len(rejected)
    print(f"outliers: {found}/{planted} planted rejected, {false}/{clean_total} clean rejected")
    assert found / planted >= 0.90
    assert false / clean_total <= 0.02


def test_water_removal_removes_water_and_keeps_metabolites():
    clean, parts = press_fid()
    t = np.arange(clean.size) * DWELL
    ppm = MRSData(clean, DWELL, MHZ).ppm
    naa, cr = ppm_window(ppm, (1.9, 2.12)), ppm_window(ppm, (2.94, 3.10))
    from painmrs.demo.acquisition import random_residual_water

    worst = {"water": 1.0, "naa": 0.0, "cr": 0.0}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        water = sum(c.fid(t) for c in random_residual_water(rng, 20.0))
        noise = 0.02 * (rng.standard_normal(t.size) + 1j * rng.standard_normal(t.size))
        data = MRSData(clean + water + noise, DWELL, MHZ)
        out = remove_water(data)
        spec = lambda f: np.fft.fftshift(np.fft.fft(f))  # noqa: E731
        removed_fraction = 1 - np.sum(np.abs(spec(out.fid - clean - noise))) / np.sum(np.abs(spec(water)))
        ref = spec(clean + noise).real
        got = spec(out.fid).real
        worst["water"] = min(worst["water"], removed_fraction)
        worst["naa"] = max(worst["naa"], abs(got[naa].sum() / ref[naa].sum() - 1))
        worst["cr"] = max(worst["cr"], abs(got[cr].sum() / ref[cr].sum() - 1))
        assert out.processing_history[-1]["Method"] == "Nuisance peak removal"
    print(f"water removal: worst water area removed {worst['water']:.4f}, NAA change {worst['naa']:.4%}, tCr change {worst['cr']:.4%}")
    assert worst["water"] >= 0.95
    assert worst["naa"] < 0.01 and worst["cr"] < 0.01


def test_hlsvd_recovers_known_lines():
    t = np.arange(1024) * DWELL
    fid = 2.0 * np.exp((2j * np.pi * 50 - np.pi * 8) * t) + (0.5 + 0.5j) * np.exp((-2j * np.pi * 120 - np.pi * 4) * t)
    freq, rate, amps = hlsvd(fid, DWELL, n_components=4)
    big = np.argsort(np.abs(amps))[::-1][:2]
    got = sorted(zip(freq[big], rate[big] / np.pi, np.abs(amps[big])))
    assert got[0][0] == pytest.approx(-120, abs=1e-6) and got[0][1] == pytest.approx(4, abs=1e-6)
    assert got[1][0] == pytest.approx(50, abs=1e-6) and got[1][2] == pytest.approx(2.0, rel=1e-6)


def test_eddy_current_correction_removes_the_shared_phase():
    from painmrs.demo.acquisition import EddyCurrent

    clean, _ = press_fid()
    t = np.arange(clean.size) * DWELL
    ecc = np.exp(1j * EddyCurrent().phase(t))
    water = MRSData(3000 * np.exp(-np.pi * 6 * t) * ecc, DWELL, MHZ)
    data = MRSData(clean * ecc, DWELL, MHZ)
    out = eddy_current_correction(data, water)
    assert np.max(np.abs(out.fid - clean)) < 1e-9 * np.max(np.abs(clean)) + 1e-12
    with pytest.raises(InputError, match="dwell"):
        eddy_current_correction(data, MRSData(water.fid, DWELL * 2, MHZ))


@pytest.mark.parametrize("shift_hz, phase_deg", [(7.0, 30.0), (-15.0, -60.0), (0.0, 0.0)])
def test_referencing_and_phasing_recover_known_offsets(shift_hz, phase_deg):
    clean, _ = press_fid()
    t = np.arange(clean.size) * DWELL
    data = MRSData(clean * np.exp(1j * (2 * np.pi * shift_hz * t + np.deg2rad(phase_deg))), DWELL, MHZ)
    out = reference_and_phase(data)
    residual = out.fid / clean
    # the whole correction is a frequency shift and a phase: compare at t = 0 and the slope
    assert np.degrees(abs(np.angle(residual[0]))) < 0.5
    slope_hz = np.polyfit(t[:200], np.unwrap(np.angle(residual[:200])), 1)[0] / (2 * np.pi)
    assert abs(slope_hz) < 0.05
    methods = [h["Method"] for h in out.processing_history]
    assert methods == ["Frequency referencing", "Zero-order phase correction"]


def test_averaging_and_steps_reject_wrong_dimensions():
    data = MRSData(np.ones((64, 4, 3), complex), DWELL, MHZ, dim_tags=("DIM_COIL", "DIM_DYN"), source="f.nii.gz")
    with pytest.raises(InputError, match="DIM_DYN"):
        estimate_alignment(data)
    avg = average(MRSData(np.ones((64, 5), complex), DWELL, MHZ, dim_tags=("DIM_DYN",)))
    assert avg.fid.shape == (64,) and avg.dim_tags == ()
    with pytest.raises(InputError, match="window"):
        estimate_alignment(MRSData(np.ones((64, 5), complex), DWELL, MHZ, dim_tags=("DIM_DYN",)), (20.0, 21.0))
    with pytest.raises(InputError):
        water_component(data)
