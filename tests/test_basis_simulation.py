"""Density-matrix basis simulation: checked against analytic results.

Truths used: proton counts of each molecule (by hand from its formula, exchangeable protons
excluded); the AB-system line positions and intensities (textbook closed form); the
weak-coupling J modulation of the lactate CH3 doublet, 3 cos(pi J TE); the NAA singlet at
2.008 ppm; Gaussian MM components integrate to their proton count.
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis import DEFAULT_METABOLITES, mm_basis, resample_basis, simulate_basis, simulate_mega_press_basis
from painmrs.basis.density_matrix import mega_press, press, pulse_acquire, render_fid, simulate_system_lines
from painmrs.basis.simulate import clear_memory_cache, lines_key, metabolite_lines
from painmrs.basis.spin_systems import METABOLITES, SpinSystem, get_metabolite, singlet
from painmrs.errors import InputError

# Non-exchangeable protons per molecule (NAAG: acetyl 3 + Asp 3 + Glu 5; GPC: N(CH3)3 9 +
# glycerol 5 + choline 4; GSH: Gly 2 + Cys 3 + Glu 5; Glc: 7 per anomer).
# fmt: off
PROTONS = {
    "NAA": 6, "NAAG": 11, "Cr": 5, "PCr": 5, "GPC": 18, "PCh": 13, "mI": 6, "sI": 6, "Glu": 5, "Gln": 5,
    "GABA": 6, "GSH": 10, "Lac": 4, "Asp": 3, "Tau": 4, "Gly": 2, "Ala": 4, "Glc": 7, "PE": 4,
}
# fmt: on


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINMRS_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield
    clear_memory_cache()


def test_singlet_orientation_and_amplitude():
    for events in (pulse_acquire(), press(0.011, 0.019)):
        f, a = simulate_system_lines(singlet(2.008, 3), events, 123.2, 4.65)
        assert f == pytest.approx([(2.008 - 4.65) * 123.2])
        assert a == pytest.approx([3.0])  # absorption phase, 3 protons
    b = simulate_basis(["NAA"], sequence="FID", linewidth_hz=2.0)
    spec = b.spectra()[:, 0].real
    assert b.ppm[np.argmax(spec)] == pytest.approx(2.008, abs=0.5 / b.n_points / b.dwell_s / 123.2 + 1e-9)


def test_fid0_equals_proton_count_for_every_metabolite():
    b = simulate_basis(DEFAULT_METABOLITES, sequence="FID", linewidth_hz=0.0, n_points=16)
    for name in DEFAULT_METABOLITES:
        assert b.fid(name)[0] == pytest.approx(PROTONS[name], rel=1e-6), name
        assert get_metabolite(name).n_protons == pytest.approx(PROTONS[name])


def test_ab_system_matches_closed_form():
    # Two strongly coupled spins: lines at nu_c +- (D +- J)/2, D = sqrt(dnu^2 + J^2);
    # inner lines have relative intensity 1 + J/D, outer 1 - J/D (total 2 protons).
    mhz, J = 123.2, 12.0
    system = SpinSystem((3.00, 3.05), ((0, 1, J),))
    f, a = simulate_system_lines(system, pulse_acquire(), mhz, 4.65)
    keep = np.abs(a) > 1e-6
    f, a = f[keep], a[keep].real
    order = np.argsort(f)
    f, a = f[order], a[order]
    dnu = 0.05 * mhz
    d = np.hypot(dnu, J)
    centre = (3.025 - 4.65) * mhz
    assert f == pytest.approx(centre + np.array([-(d + J) / 2, -(d - J) / 2, (d - J) / 2, (d + J) / 2]), abs=1e-6)
    assert a == pytest.approx(0.5 * np.array([1 - J / d, 1 + J / d, 1 + J / d, 1 - J / d]), abs=1e-9)


@pytest.mark.parametrize("te_ms", [30.0, 144.0, 288.0])
def test_lactate_doublet_j_modulation(te_ms):
    f, a = metabolite_lines(METABOLITES["Lac"], press(te_ms / 2000, te_ms / 2000), 123.2, 4.65)
    ch3 = np.abs(f / 123.2 + 4.65 - 1.3142) < 0.05
    expected = 3 * np.cos(np.pi * 6.933 * te_ms / 1000)  # weak coupling; Dnu/J = 50 here
    assert a[ch3].sum().real == pytest.approx(expected, abs=0.01 * 3)
    if te_ms == 144.0:
        assert a[ch3].sum().real < -2.9  # inverted doublet at TE 144


def test_press_basis_shape_meta_and_determinism(tmp_path):
    b1 = simulate_basis(["NAA", "Glu", "GABA"], linewidth_hz=3.0, include_mm=True)
    assert b1.names == ("NAA", "Glu", "GABA", "MM09", "MM12", "MM14", "MM17", "MM20")
    assert b1.fids.shape == (2048, 8) and b1.dwell_s == 1 / 4000 and b1.spectrometer_mhz == 123.2
    assert b1.sequence == "PRESS" and b1.echo_time_s == 0.030
    assert b1.meta["sequence_timing"] == {"te1_ms": 11.0, "te2_ms": 19.0}
    assert b1.meta["gaba_set"] == "govindaraju"
    # disk cache written; memory cleared -> identical numbers read back from disk
    files = list((tmp_path / "cache" / "basis_lines").glob("*.npz"))
    assert len(files) == 3
    clear_memory_cache()
    b2 = simulate_basis(["NAA", "Glu", "GABA"], linewidth_hz=3.0, include_mm=True)
    np.testing.assert_array_equal(b1.fids, b2.fids)
    b3 = simulate_basis(["NAA", "Glu", "GABA"], linewidth_hz=3.0, include_mm=True, cache=False)
    np.testing.assert_array_equal(b1.fids, b3.fids)
    # the key changes with anything that changes the physics
    glu = METABOLITES["Glu"]
    assert lines_key(glu, press(0.011, 0.019), 123.2, 4.65) != lines_key(glu, press(0.012, 0.018), 123.2, 4.65)
    assert lines_key(glu, press(0.011, 0.019), 123.2, 4.65) != lines_key(glu, press(0.011, 0.019), 127.7, 4.65)


def test_corrupt_cache_file_is_recomputed(tmp_path):
    b1 = simulate_basis(["Lac"])
    for p in (tmp_path / "cache" / "basis_lines").glob("*.npz"):
        p.write_bytes(b"garbage")
    clear_memory_cache()
    np.testing.assert_array_equal(simulate_basis(["Lac"]).fids, b1.fids)


def test_field_strength_is_a_parameter():
    b = simulate_basis(["NAA", "Cr"], spectrometer_mhz=297.2, dwell_s=1 / 8000, n_points=4096, linewidth_hz=2.0)
    spec = b.spectra().real
    assert b.ppm[np.argmax(spec[:, 0])] == pytest.approx(2.008, abs=0.01)
    assert b.ppm[np.argmax(spec[:, 1])] == pytest.approx(3.027, abs=0.01)


def test_render_matches_direct_sum_and_linewidth():
    f = np.array([-100.0, 37.5])
    a = np.array([1.0 + 0.5j, 2.0])
    t = np.arange(300) * 2.5e-4
    direct = (np.exp(2j * np.pi * np.outer(t, f)) @ a) * np.exp(-np.pi * 4.0 * t)
    np.testing.assert_allclose(render_fid(f, a, t, lorentz_fwhm_hz=4.0), direct, atol=1e-10)
    # FWHM of a rendered singlet equals the requested Lorentzian width
    t = np.arange(65536) * 2.5e-4
    spec = np.fft.fftshift(np.fft.fft(render_fid(np.array([0.0]), np.array([1.0]), t, lorentz_fwhm_hz=6.0))).real
    hz = np.fft.fftshift(np.fft.fftfreq(t.size, 2.5e-4))
    above = hz[spec > spec.max() / 2]
    assert above.max() - above.min() == pytest.approx(6.0, abs=0.1)


def test_resample_matches_direct_simulation():
    fine = simulate_basis(["NAA", "mI", "Glu"], dwell_s=1 / 4000, n_points=4096, linewidth_hz=4.0)
    # integer ratio: exact sampling
    direct = simulate_basis(["NAA", "mI", "Glu"], dwell_s=1 / 2000, n_points=2048, linewidth_hz=4.0)
    res = resample_basis(fine, 1 / 2000, 2048)
    assert res.dwell_s == 1 / 2000 and res.n_points == 2048
    np.testing.assert_allclose(res.fids, direct.fids, atol=1e-9)
    # non-integer ratio (4000 -> 3000 Hz): spline on the demodulated FID
    direct = simulate_basis(["NAA", "mI", "Glu"], dwell_s=1 / 3000, n_points=3072, linewidth_hz=4.0)
    res = resample_basis(fine, 1 / 3000, 3072)
    err = np.abs(res.fids - direct.fids).max() / np.abs(direct.fids).max()
    assert err < 1e-3
    assert res.meta["resampled_from"]["method"] == "centroid-demodulated cubic spline"
    same = resample_basis(fine, 1 / 4000, 8192)  # same dwell: zero-filled
    np.testing.assert_array_equal(same.fids[:4096], fine.fids)
    assert not np.any(same.fids[4096:])


def test_mm_components_integrate_to_protons_and_sit_at_their_ppm():
    b = mm_basis(["MM09", "MM20", "MM_3T", "MM30", "Lip13"], spectrometer_mhz=123.2, dwell_s=2.5e-4, n_points=4096)
    assert b.fids[0].real == pytest.approx([3.0, 2.39, 4.66, 2.0, 4.0])
    spec = b.spectra().real
    assert b.ppm[np.argmax(spec[:, 0])] == pytest.approx(0.91, abs=0.01)
    assert b.ppm[np.argmax(spec[:, 3])] == pytest.approx(3.00, abs=0.01)
    above = b.ppm[spec[:, 0] > spec[:, 0].max() / 2]
    assert above.max() - above.min() == pytest.approx(0.14, abs=0.01)  # FWHM in ppm


def test_mega_diff_is_on_minus_off_and_off_is_press():
    sets = simulate_mega_press_basis(["GABA", "NAA"], n_points=1024)
    np.testing.assert_allclose(sets["DIFF"].fids, sets["ON"].fids - sets["OFF"].fids)
    assert [sets[k].sequence for k in ("ON", "OFF", "DIFF")] == ["MEGA-PRESS:ON", "MEGA-PRESS:OFF", "MEGA-PRESS:DIFF"]
    press_ = simulate_basis(["GABA", "NAA"], echo_time_ms=68.0, te1_ms=17.0, n_points=1024, gaba_set="near2013")
    np.testing.assert_allclose(sets["OFF"].fids, press_.fids, atol=1e-9)
    # an editing band that touches no spin leaves the ON experiment equal to PRESS too
    f_on, a_on = metabolite_lines(METABOLITES["NAA"], mega_press(0.017, 0.051, 7.5, 60.0), 123.2, 4.65)
    f_p, a_p = metabolite_lines(METABOLITES["NAA"], press(0.017, 0.051), 123.2, 4.65)
    np.testing.assert_allclose(a_on, a_p, atol=1e-12)


def test_bad_simulation_parameters():
    with pytest.raises(InputError, match="dwell_s"):
        simulate_basis(["NAA"], dwell_s=0)
    with pytest.raises(InputError, match="te1_ms"):
        simulate_basis(["NAA"], echo_time_ms=30, te1_ms=40)
    with pytest.raises(InputError, match="metabolites"):
        simulate_basis([])
    with pytest.raises(KeyError, match="Foo"):
        simulate_basis(["Foo"])
    with pytest.raises(InputError, match="include_mm"):
        simulate_mega_press_basis(["MM09"])


# ---- shaped (slice-selective) refocusing ------------------------------------------------------
def test_refocusing_profile_has_its_design_bandwidth_and_a_full_180():
    from painmrs.basis.pulses import RefocusingPulse, refocusing_fwhm_hz, spin_echo_profile

    for duration, bw in ((7.0, 1200.0), (5.2, 1000.0)):
        p = RefocusingPulse(duration, bw)
        # on resonance the pulse is an exact 180: the whole transverse magnetisation refocuses
        assert spin_echo_profile(p, [0.0])[0] == pytest.approx(1.0, abs=1e-12)
        assert p.nutation_hz().sum() * p.step_s * 2 == pytest.approx(1.0)  # sum of flips = pi
        # half-maximum of the profile at +-bandwidth/2 (independently measured on a fine grid)
        f = np.linspace(0, 2 * bw, 4001)
        prof = spin_echo_profile(p, f)
        assert np.abs(prof.imag).max() < 1e-9  # symmetric pulse: no phase dispersion
        edge = f[np.argmax(prof.real < 0.5)]
        assert 2 * edge == pytest.approx(bw, rel=2e-3)
        assert prof.real[f < 0.2 * bw].min() > 0.9  # a refocused centre ...
        assert np.abs(prof[f > 1.2 * bw]).max() < 0.1  # ... and little outside the slice
        assert refocusing_fwhm_hz(p.nutation_hz(), p.step_s) == pytest.approx(bw, rel=1e-3)
        # the sinc's small-tip bandwidth N / T is wider than the 180's refocusing band
        assert 1.2 < p.time_bandwidth / (duration * 1e-3 * bw) < 1.6


def test_shaped_pulse_engine_matches_spinor_profile_at_single_positions():
    # One uncoupled spin, one position: the density-matrix engine (Strang-split steps in the
    # eigenbasis) must give the Cayley-Klein beta^2 of the pulse (exact per-step rotations).
    from painmrs.basis.density_matrix import Delay, Pulse, ShapedRefocusing, _run
    from painmrs.basis.pulses import RefocusingPulse, spin_echo_profile

    mhz, ref = 123.2, 4.68
    design = RefocusingPulse(7.0, 1200.0)
    for off in (0.0, 200.0, 450.0, 700.0, 1100.0):
        p = RefocusingPulse(7.0, 1200.0, n_positions=1, fov_factor=1e-9, carrier_ppm=3.0 + off / mhz)
        events = (Pulse(90.0, 0.0), Delay(0.004), ShapedRefocusing(p, 90.0), Delay(0.004))
        _, a = _run(np.array([3.0]), np.array([(3.0 - ref) * mhz]), (), events, mhz, ref)
        want = spin_echo_profile(design, [-off])[0]
        # ideal: a = -i (90x then 180y); shaped: -i beta^2
        assert a.sum() * 1j == pytest.approx(want, abs=0.01), off


def test_shaped_singlets_equal_ideal_ones():
    # Analytic: an uncoupled spin's voxel-averaged echo is the area of its refocusing
    # profile, the same at every chemical shift when the simulated extent holds the whole
    # (displaced) profile -- so after normalisation every singlet equals the ideal one.
    from painmrs.basis.density_matrix import press_shaped
    from painmrs.basis.pulses import RefocusingPulse

    p = RefocusingPulse(7.0, 1200.0, fov_factor=4.0, n_positions=121)
    events = press_shaped(0.017, 0.018, p)
    for ppm in (1.3, 2.008, 3.027, 3.913, 4.1):
        f, a = simulate_system_lines(singlet(ppm, 3), events, 123.2, 4.68)
        f0, a0 = simulate_system_lines(singlet(ppm, 3), press(0.017, 0.018), 123.2, 4.68)
        assert f == pytest.approx(f0)
        assert a[0].real == pytest.approx(3.0, rel=2e-3), ppm
        assert abs(a[0].imag) < 1e-9


def test_shaped_broadband_pulse_approaches_ideal_for_coupled_spins():
    # At the slice centre a short, very wide-band 180 flips every spin fully with negligible
    # evolution during the pulse: coupled lactate and glutamate must approach the ideal
    # result. (Averaged over a slice they would not: in the transition bands a partial flip
    # theta scales antiphase terms by cos(theta), whatever the bandwidth.)
    b_ideal = simulate_basis(["Lac", "Glu"], echo_time_ms=35.0, te1_ms=15.0, linewidth_hz=3.0, n_points=1024)
    b_wide = simulate_basis(
        ["Lac", "Glu"],
        echo_time_ms=35.0,
        te1_ms=15.0,
        linewidth_hz=3.0,
        n_points=1024,
        refocusing="shaped",
        refocusing_pulse={
            "duration_ms": 0.2,
            "bandwidth_hz": 40000.0,
            "n_steps": 40,
            "n_positions": 1,
            "fov_factor": 1e-6,
        },
    )
    b_real = simulate_basis(
        ["Lac"], echo_time_ms=35.0, te1_ms=15.0, linewidth_hz=3.0, n_points=1024, refocusing="shaped"
    )
    for name in ("Lac", "Glu"):
        diff = np.abs(b_wide.fid(name) - b_ideal.fid(name)).max() / np.abs(b_ideal.fid(name)).max()
        assert diff < 0.01, (name, diff)
    # a real (7 ms, 1.2 kHz) pulse changes the lactate signal visibly (the effect modelled)
    diff = np.abs(b_real.fid("Lac") - b_ideal.fid("Lac")).max() / np.abs(b_ideal.fid("Lac")).max()
    assert diff > 0.05
    assert b_wide.meta["refocusing"] == "shaped" and b_ideal.meta["refocusing"] == "ideal"
    assert b_wide.meta["refocusing_pulse"]["duration_ms"] == 0.2


def test_shaped_cache_keys_and_bad_options():
    from painmrs.basis.density_matrix import press_shaped
    from painmrs.basis.pulses import RefocusingPulse

    met = get_metabolite("Lac")
    k_ideal = lines_key(met, press(0.015, 0.02), 123.2, 4.65)
    k_a = lines_key(met, press_shaped(0.015, 0.02, RefocusingPulse(7.0, 1200.0)), 123.2, 4.65)
    k_b = lines_key(met, press_shaped(0.015, 0.02, RefocusingPulse(7.0, 1300.0)), 123.2, 4.65)
    assert len({k_ideal, k_a, k_b}) == 3
    with pytest.raises(InputError, match="refocusing"):
        simulate_basis(["Lac"], refocusing="gaussian")
    with pytest.raises(InputError, match="refocusing_pulse"):
        simulate_basis(["Lac"], refocusing="shaped", refocusing_pulse={"duration_ms": -1})
    with pytest.raises(InputError, match="refocusing_pulse"):
        simulate_basis(["Lac"], refocusing_pulse={"duration_ms": 7})  # ideal mode
    with pytest.raises(InputError, match="te1_ms"):
        simulate_basis(["Lac"], te1_ms=5.0, refocusing="shaped")  # TE1 shorter than the pulse
    with pytest.raises(InputError, match="PRESS only"):
        simulate_basis(["Lac"], sequence="FID", refocusing="shaped")
