"""Validation of the simulated basis against published basis sets and MEGA-PRESS editing physics.

Method (painmrs.basis.validation): the reference's singlet lineshape and frequency are
measured and given to our zero-linewidth simulation, 5 Hz Lorentzian is added to both, and
the real spectra are correlated over 0.2-4.2 ppm. Target (issue 2 §4): r >= 0.98 for NAA,
NAAG, Cr, PCr, GPC, PCh, mI, Glu, Gln, GABA, Tau, Lac, Asp and >= 0.94 for GSH. Calibration
from facts.md §8: two independent published simulations of the challenge sequence agree at
0.981-0.995 (GSH 0.947).

The Osprey TE 35 sets were made for vendor sequences with shaped, slice-selective
refocusing pulses and spatial localisation. An ideal-pulse simulation misses them for the
metabolites with widely separated coupled spins (Lac 0.88-0.93, GABA, Gln, Asp ~0.97), so
they are compared with our spatially resolved shaped-pulse simulation ("auto" mode of
``validate_against``; generic Hamming-sinc pulses with vendor-typical duration/bandwidth,
set before comparing, see ``REFERENCE_REFOCUSING``). The ideal-pulse shortfall is asserted
too (``test_osprey_needs_shaped_refocusing``), and that the match does not hinge on the
exact pulse numbers (``test_osprey_match_is_robust_to_pulse_choice``).
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis import simulate_basis, simulate_mega_press_basis
from painmrs.basis.pulses import RefocusingPulse
from painmrs.basis.validation import REFERENCE_REFOCUSING, REFERENCE_SETS, validate_against

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (the challenge-basis correlations, in a private basis cache)
pytestmark = pytest.mark.xdist_group("module-test_basis_validation")

TARGET = {n: 0.98 for n in ("NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "mI", "Glu", "Gln", "GABA", "Tau", "Lac", "Asp")}
TARGET["GSH"] = 0.94
#: metabolites whose ideal-pulse correlation with the Osprey sets is < 0.98
AT_STAKE = ["Lac", "GABA", "Gln", "Glu", "Asp"]


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    # simulations in this module cache their line lists in a temporary folder, not ~/.cache
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAINMRS_CACHE", str(tmp_path_factory.mktemp("basis_cache")))
        yield


@pytest.fixture(scope="module")
def correlations(shared_data):
    table = {key: validate_against(shared_data, key) for key in REFERENCE_SETS}
    print("\nmetabolite  " + "  ".join(f"{k:>20s}" for k in table))
    for name in TARGET:
        print(f"{name:10s}  " + "  ".join(f"{table[k][0][name]:20.4f}" for k in table))
    return table


@pytest.mark.real_data
def test_challenge_basis_correlation(correlations):
    r, shape = correlations["challenge2016_TE30"]
    # the measured reference lineshape is a sane narrow Voigt
    assert 0.5 < shape["lorentz_hz"] + shape["gauss_hz"] < 5
    low = {n: round(r[n], 4) for n, t in TARGET.items() if r[n] < t}
    assert not low, f"below target: {low}"


@pytest.mark.real_data
@pytest.mark.parametrize("key", ["osprey_siemens_TE35", "osprey_philips_TE35"])
def test_osprey_te35_basis_correlation(correlations, key):
    r, shape = correlations[key]
    assert 0.5 < shape["lorentz_hz"] + shape["gauss_hz"] < 8
    low = {n: round(r[n], 4) for n, t in TARGET.items() if r[n] < t}
    assert not low, f"{key} below target: {low}"


@pytest.mark.real_data
def test_osprey_needs_shaped_refocusing(shared_data):
    # With ideal 180s the lactate doublet/quartet of the Osprey sets is not reproduced at
    # any echo-time split we use (r < 0.95), while the shaped simulation gives > 0.99: the
    # difference is the spatially varying J evolution under real refocusing pulses.
    for key in ("osprey_siemens_TE35", "osprey_philips_TE35"):
        ideal = validate_against(shared_data, key, ["Lac", "GABA"], refocusing="ideal")[0]
        shaped = validate_against(shared_data, key, ["Lac", "GABA"], refocusing="shaped")[0]
        assert ideal["Lac"] < 0.95 and shaped["Lac"] > 0.99, (key, ideal, shaped)
        assert shaped["GABA"] > ideal["GABA"] + 0.01, (key, ideal, shaped)


@pytest.mark.real_data
def test_osprey_match_is_robust_to_pulse_choice(shared_data):
    # The vendor pulse numbers were not fitted: giving each set the other vendor's pulse,
    # or simulating a narrower field of view (1.5 slice thicknesses, as some published
    # simulations do), still meets the target for the metabolites at stake.
    swapped = {
        "osprey_siemens_TE35": REFERENCE_REFOCUSING["osprey_philips_TE35"],
        "osprey_philips_TE35": RefocusingPulse(duration_ms=7.0, bandwidth_hz=1200.0, fov_factor=1.5),
    }
    for key, pulse in swapped.items():
        r = validate_against(shared_data, key, AT_STAKE, refocusing="shaped", refocusing_pulse=pulse)[0]
        low = {n: round(r[n], 4) for n in AT_STAKE if r[n] < TARGET[n]}
        assert not low, (key, pulse, low)


# ---- MEGA-PRESS ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mega():
    sets = simulate_mega_press_basis(["GABA", "Glu", "Gln", "NAA"], linewidth_hz=3.0, n_points=4096)
    unedited = simulate_basis(["GABA", "Glu", "Gln"], sequence="FID", linewidth_hz=3.0, n_points=4096)
    return sets, unedited


def _area(basis, name, lo, hi):
    """Integral of the real spectrum over [lo, hi] ppm in units of FID(0) (first point halved,
    so that a full Lorentzian line of amplitude A integrates to A)."""
    fid = basis.fid(name).copy()
    fid[0] *= 0.5
    spec = np.fft.fftshift(np.fft.fft(fid)).real
    sel = (basis.ppm > lo) & (basis.ppm < hi)
    # sum_k X_k = N x_0; with x_0 halved the DFT is the pure line shape, whose sum is N A / 2
    return 2 * spec[sel].sum() / basis.n_points


def test_mega_gaba_multiplet(mega):
    sets, unedited = mega
    diff = sets["DIFF"]
    spec = diff.spectra()[:, diff.index("GABA")].real
    ppm = diff.ppm

    def peak(lo, hi):
        sel = (ppm > lo) & (ppm < hi)
        i = np.argmax(spec[sel])
        return ppm[sel][i], spec[sel][i]

    p_low, h_low = peak(2.90, 2.99)
    p_mid, h_mid = peak(2.995, 3.03)
    p_high, h_high = peak(3.04, 3.12)
    # two positive outer lines ~0.12 ppm apart, slightly unequal (strong coupling), a small centre line
    assert p_low == pytest.approx(2.95, abs=0.02) and p_high == pytest.approx(3.07, abs=0.02)
    assert h_low > 0 and h_high > 0
    assert 0.6 < h_high / h_low < 1.0
    assert h_mid < 0.25 * min(h_low, h_high)
    # editing efficiency: DIFF area at 3.0 ppm / unedited (TE -> 0) C4 area. OFF alone is ~0
    # at TE 68 (outer lines inverted), so a ratio to OFF is not meaningful.
    full = _area(unedited, "GABA", 2.85, 3.15)
    assert full == pytest.approx(2.0, rel=0.08)  # the two C4 protons (Lorentzian tails cut by the window)
    eff = _area(diff, "GABA", 2.85, 3.15) / full
    assert abs(_area(sets["OFF"], "GABA", 2.85, 3.15)) < 0.1 * full
    # ideal pulses: 0.75-0.9 of the C4 signal in ON - OFF; in the (ON - OFF)/2 convention
    # that is 0.38-0.45, the reported 3T GABA editing efficiency of ~0.4-0.5.
    assert 0.75 < eff < 0.9
    print(f"\nGABA editing: DIFF/unedited = {eff:.3f}, (ON-OFF)/2 convention = {eff / 2:.3f}")


def test_mega_glx_and_naa(mega):
    sets, unedited = mega
    diff = sets["DIFF"]
    for name in ("Glu", "Gln"):
        edited = _area(diff, name, 3.65, 3.85)
        full = _area(unedited, name, 3.65, 3.85)
        assert full == pytest.approx(1.0, rel=0.1)  # the C2 proton
        # positive co-edited Glx at 3.75 ppm; in the (ON - OFF)/2 convention 0.3-0.47, around
        # the Glx editing efficiency Gannet uses (0.4, facts.md §1.7)
        assert 0.6 < edited / full < 0.95, (name, edited / full)
        print(
            f"\n{name} C2 editing: DIFF/unedited = {edited / full:.3f}, (ON-OFF)/2 convention = {edited / full / 2:.3f}"
        )
    # An uncoupled singlet inside the band is flipped by both ideal editing pulses and fully
    # refocused (and one outside is untouched), so NAA cancels in DIFF with ideal pulses:
    # in-band transverse coherence must survive, not be filtered out.
    naa_off = _area(sets["OFF"], "NAA", 1.95, 2.07)
    assert naa_off > 2.0
    assert abs(_area(diff, "NAA", 1.95, 2.07)) < 1e-6 * naa_off
    assert _area(sets["ON"], "NAA", 1.95, 2.07) == pytest.approx(naa_off, rel=1e-9)
    assert _area(diff, "GABA", 2.85, 3.15) > 0.5
