"""Validation of the simulated basis against published basis sets and MEGA-PRESS editing physics.

Method (painmrs.basis.validation): the reference's singlet lineshape and frequency are
measured and given to our zero-linewidth simulation, 5 Hz Lorentzian is added to both, and
the real spectra are correlated over 0.2-4.2 ppm. Target (issue 2 §4): r >= 0.98 for NAA,
NAAG, Cr, PCr, GPC, PCh, mI, Glu, Gln, GABA, Tau, Lac, Asp and >= 0.94 for GSH. Calibration
from facts.md §8: two independent published simulations of the challenge sequence agree at
0.981-0.995 (GSH 0.947).

The Osprey TE 35 sets are simulated with vendor-shaped, spatially resolved pulses (not
ideal pulses) and their TE1/TE2 split is unpublished; an ideal-pulse simulation reaches
0.98 for most metabolites but not for all of them. Those exceptions are asserted at their
own, stated lower bound and explained (see ``test_osprey_lactate_behaves_like_te20``).
"""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis import simulate_basis, simulate_mega_press_basis
from painmrs.basis.validation import REFERENCE_SETS, validate_against

TARGET = {n: 0.98 for n in ("NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "mI", "Glu", "Gln", "GABA", "Tau", "Lac", "Asp")}
TARGET["GSH"] = 0.94

# Known shortfalls against the Osprey (shaped-pulse) sets, with the bound we hold them to.
OSPREY_EXCEPTIONS = {
    "osprey_siemens_TE35": {"GABA": 0.96, "Lac": None},
    "osprey_philips_TE35": {"GABA": 0.96, "Gln": 0.96, "Asp": 0.96, "Lac": None},
}


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
    exceptions = OSPREY_EXCEPTIONS[key]
    for name, target in TARGET.items():
        bound = exceptions.get(name, target)
        if bound is None:
            continue
        assert r[name] >= bound, f"{key} {name}: r = {r[name]:.4f} < {bound}"


@pytest.mark.real_data
def test_osprey_lactate_behaves_like_te20(shared_data):
    # Osprey's Lac correlates 0.88-0.93 with an ideal TE 35 simulation but >= 0.99 with an
    # ideal TE 20 one: its J evolution is that of a shorter echo (a property of that set's
    # shaped-pulse simulation), so no ideal TE 35 simulation can match it.
    from painmrs.basis.readers import load_basis
    from painmrs.basis.validation import correlate_with_reference, truncate

    for key in ("osprey_siemens_TE35", "osprey_philips_TE35"):
        rel, te, te1, ref_ppm = REFERENCE_SETS[key]
        ref = truncate(load_basis(shared_data / rel, ppm_reference=ref_ppm), 4096)
        r = {}
        for te_ms in (35.0, 20.0):
            sim = simulate_basis(
                ["NAA", "Lac"],
                echo_time_ms=te_ms,
                te1_ms=0.3 * te_ms,
                spectrometer_mhz=ref.spectrometer_mhz,
                dwell_s=ref.dwell_s,
                n_points=ref.n_points,
                linewidth_hz=0.0,
                ppm_reference=ref_ppm,
            )
            r[te_ms] = correlate_with_reference(ref, sim, ["Lac"])[0]["Lac"]
        assert r[35.0] < 0.95 and r[20.0] > 0.99, (key, r)


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
