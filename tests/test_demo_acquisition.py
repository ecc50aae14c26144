"""Raw-acquisition model: the truth it returns describes the data it made, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.demo import acquisition as acq
from painmrs.errors import InputError

DWELL = 1 / 2000
MHZ = 123.2
N = 2048
T = np.arange(N) * DWELL


def naa_singlet(amplitude=30.0, lorentz=3.0, gauss=5.0):
    return amplitude * np.exp(2j * np.pi * (2.008 - 4.65) * MHZ * T) * acq.voigt_decay(T, lorentz, gauss)


def gaba_like():
    return 2.0 * np.exp(2j * np.pi * (3.01 - 4.65) * MHZ * T) * acq.voigt_decay(T, 3.0, 5.0)


def corrected_average(mrs, truth, keep=None):
    """Optimal coil combination with the true weights, undo each transient's freq/phase, average."""
    w = acq.optimal_combination_weights(truth["coil_sensitivities"], truth["noise_covariance"])
    x = np.einsum("c,nc...->n...", w, mrs.fid.astype(complex))
    freq, phase = np.asarray(truth["freq_hz"]), np.asarray(truth["phase_deg"])
    x = x * np.exp(-1j * (np.deg2rad(phase)[None] + 2 * np.pi * freq[None] * T.reshape((-1,) + (1,) * freq.ndim)))
    if keep is not None:
        x = x[:, keep]
    return x.mean(axis=1)


def test_noise_free_transients_match_the_truth_exactly():
    clean = naa_singlet()
    ecc = acq.EddyCurrent(amplitude_hz=12.0, tau_s=0.04)
    water = [acq.WaterComponent(200.0, 3.0, 40.0, 8.0)]
    mrs, truth = acq.simulate_raw_scan(
        clean,
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_transients=24,
        n_coils=4,
        noise_sd=0.0,
        rng=np.random.default_rng(1),
        drift_hz=(-3.0, 6.0),
        n_corrupted=2,
        eddy_current=ecc,
        residual_water=water,
    )
    assert mrs.fid.shape == (N, 4, 24) and mrs.dim_tags == ("DIM_COIL", "DIM_DYN")
    assert len(truth["corrupted"]) == 2 and all(0 <= i < 24 for i in truth["corrupted"])
    assert np.all(np.abs(truth["freq_hz"]) <= 10.0 + 12.0)  # drift clipped to 10 Hz; corrupted add <= 12 Hz
    # Every transient = sens * amp * exp(i(phi + 2 pi f t)) * broadening * exp(i ecc) * (clean + water).
    base = (clean + truth["residual_water_fid"]) * np.exp(1j * truth["ecc_phase_rad"])
    for d in range(24):
        model = (
            truth["amplitude"][d]
            * np.exp(1j * (np.deg2rad(truth["phase_deg"][d]) + 2 * np.pi * truth["freq_hz"][d] * T))
            * np.exp(-np.pi * truth["extra_lorentz_hz"][d] * T)
            * base
        )
        for c in range(4):
            np.testing.assert_allclose(
                mrs.fid[:, c, d], truth["coil_sensitivities"][c] * model, atol=2e-3 * np.abs(clean).max()
            )
    good = [d for d in range(24) if d not in truth["corrupted"]]
    assert np.allclose(truth["amplitude"][good], 1.0)
    assert all(0.3 <= truth["amplitude"][d] <= 0.7 for d in truth["corrupted"])
    # The linear part of the drift goes from -3 to +6 Hz (random walk SD 0.3 Hz/step on top).
    good_f = truth["freq_hz"][good]
    slope = np.polyfit(np.array(good, float), good_f, 1)[0]
    assert slope == pytest.approx(9.0 / 23, abs=0.15)


def test_drift_can_be_given_per_transient_and_is_returned_verbatim():
    drift = np.linspace(-10, 10, 16)
    _, truth = acq.simulate_raw_scan(
        naa_singlet(),
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_transients=16,
        n_coils=2,
        noise_sd=1.0,
        rng=np.random.default_rng(0),
        drift_hz=drift,
    )
    np.testing.assert_array_equal(truth["freq_hz"], drift)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_snr_of_optimal_combination_is_the_target(seed):
    """SNR (NAA height / SD of the real noise spectrum) after true-weight combination: within 10 %."""
    clean = naa_singlet()
    target = 60.0
    mrs, truth = acq.simulate_raw_scan(
        clean,
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_transients=32,
        n_coils=6,
        noise_sd=None,
        snr_target=target,
        rng=np.random.default_rng(seed),
        drift_hz=(2.0, -4.0),
        eddy_current=acq.EddyCurrent(),
        residual_water=acq.random_residual_water(np.random.default_rng(9), 300.0),
    )
    assert truth["snr_expected"] == pytest.approx(target, rel=1e-9)
    avg = corrected_average(mrs, truth)
    signal = (clean + truth["residual_water_fid"]) * np.exp(1j * truth["ecc_phase_rad"])
    noise = avg - signal
    noise_sd = np.std(np.fft.fft(noise).real)
    snr = acq.peak_height(clean, DWELL, MHZ) / noise_sd
    assert snr == pytest.approx(target, rel=0.10)
    # Osprey-style estimate on the processed spectrum itself (noise window -2..0 ppm).
    processed = avg * np.exp(-1j * truth["ecc_phase_rad"]) - truth["residual_water_fid"]
    osprey = acq.peak_height(processed, DWELL, MHZ) / acq.spectral_noise_sd(processed, DWELL, MHZ)
    assert osprey == pytest.approx(target, rel=0.15)


def test_coil_noise_has_the_stated_covariance():
    n_coils = 5
    mrs, truth = acq.simulate_raw_scan(
        np.zeros(N),
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_transients=64,
        n_coils=n_coils,
        noise_sd=2.0,
        rng=np.random.default_rng(11),
        phase_jitter_deg=0.0,
    )
    x = np.moveaxis(mrs.fid.astype(complex), 1, -1).reshape(-1, n_coils)
    sample = x.T @ x.conj() / x.shape[0]
    cov = truth["noise_covariance"]
    assert np.mean(np.real(np.diag(cov))) == pytest.approx(2 * 2.0**2, rel=1e-9)
    np.testing.assert_allclose(sample, cov, atol=0.03 * np.abs(cov).max())
    offdiag = np.abs(cov[~np.eye(n_coils, dtype=bool)]) / np.mean(np.real(np.diag(cov)))
    assert offdiag.max() > 0.05  # coils are really correlated
    mags = np.abs(truth["coil_sensitivities"])
    assert mags.max() / mags.min() > 1.2 and np.ptp(np.angle(truth["coil_sensitivities"])) > 0.5


def test_mega_press_layout_and_gaba_snr():
    off = naa_singlet(30.0)
    on = off + gaba_like()
    mrs, truth = acq.simulate_raw_scan(
        None,
        edit_fids={"OFF": off, "ON": on},
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_transients=40,
        n_coils=3,
        noise_sd=None,
        snr_target=15.0,
        rng=np.random.default_rng(2),
        n_corrupted=1,
    )
    assert mrs.fid.shape == (N, 3, 40, 2)
    assert mrs.dim_tags == ("DIM_COIL", "DIM_DYN", "DIM_EDIT")
    assert mrs.header["painmrs_dim_meta"]["DIM_EDIT_header"] == {"EditCondition": ["OFF", "ON"]}
    assert truth["freq_hz"].shape == (40, 2) and truth["clean_fid"].shape == (N, 2)
    keep = [d for d in range(40) if d not in truth["corrupted"]]
    avg = corrected_average(mrs, truth, keep)
    diff_noise = (avg[:, 1] - avg[:, 0]) - (on - off)
    snr = acq.peak_height(on - off, DWELL, MHZ, acq.GABA_WINDOW_PPM) / np.std(np.fft.fft(diff_noise).real)
    assert snr == pytest.approx(15.0 * np.sqrt(len(keep) / 40), rel=0.10)


def test_water_reference_shares_the_eddy_current_phase():
    ecc = acq.EddyCurrent(amplitude_hz=20.0, tau_s=0.03)
    water = 5e4 * np.exp(-np.pi * 6 * T)
    kwargs = dict(
        dwell_s=DWELL,
        spectrometer_mhz=MHZ,
        n_coils=2,
        noise_sd=0.0,
        eddy_current=ecc,
        phase_jitter_deg=0.0,
        drift_walk_hz=0.0,
    )
    met, tm = acq.simulate_raw_scan(naa_singlet(), n_transients=4, rng=np.random.default_rng(0), **kwargs)
    ref, tw = acq.simulate_raw_scan(water, n_transients=2, rng=np.random.default_rng(1), **kwargs)
    np.testing.assert_array_equal(tm["ecc_phase_rad"], tw["ecc_phase_rad"])
    # Klose: dividing by the water phase removes the eddy-current phase from the metabolite signal.
    s_met = met.fid[:, 0, 0].astype(complex) / tm["coil_sensitivities"][0]
    s_w = ref.fid[:, 0, 0].astype(complex)
    corrected = s_met * np.exp(-1j * np.angle(s_w))
    phase_err = np.angle(corrected / naa_singlet())[:400]
    assert np.ptp(phase_err) < 0.01  # only a constant receiver-phase offset remains


def test_bad_arguments_raise_input_errors():
    with pytest.raises(InputError, match="n_corrupted"):
        acq.simulate_raw_scan(
            naa_singlet(),
            dwell_s=DWELL,
            spectrometer_mhz=MHZ,
            n_transients=4,
            n_coils=2,
            noise_sd=1.0,
            rng=np.random.default_rng(0),
            n_corrupted=5,
        )
    with pytest.raises(InputError, match="drift_hz"):
        acq.simulate_raw_scan(
            naa_singlet(),
            dwell_s=DWELL,
            spectrometer_mhz=MHZ,
            n_transients=4,
            n_coils=2,
            noise_sd=1.0,
            rng=np.random.default_rng(0),
            drift_hz=np.zeros(7),
        )
    with pytest.raises(InputError, match="OFF and ON"):
        acq.simulate_raw_scan(
            None,
            edit_fids={"ON": naa_singlet()},
            dwell_s=DWELL,
            spectrometer_mhz=MHZ,
            n_transients=4,
            n_coils=2,
            noise_sd=1.0,
            rng=np.random.default_rng(0),
        )
