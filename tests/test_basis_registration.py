"""Supplied bases checked before any fit (painmrs.basis.registration; issue 13 item 2), on
synthetic singlet bases: orientation (FID conjugation), ppm registration, non-metabolites,
and the basis' singlets against the data's peaks. Real FSL-MRS bases: tests/test_fit_real_supplied_basis.py."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from painmrs.basis.basis_set import BasisSet
from painmrs.basis.registration import (
    DATA_TOLERANCE_HZ,
    basis_singlets,
    check_against_data,
    mirrored_components,
    register_basis,
)
from painmrs.errors import InputError
from painmrs.mrs import MRSData

MHZ, DWELL, N = 123.2, 1 / 4000, 4096
LINES = {"NAA": [(2.008, 3)], "Cr": [(3.028, 3), (3.913, 2)], "PCh": [(3.210, 9)], "mI": [(3.52, 2), (4.05, 1)],
         "H2O": [(4.65, 2)], "MM": [(0.9, 3), (1.2, 2), (1.7, 2), (2.0, 2)]}


def _fids(lines, shift_ppm=0.0, ref=4.65, lw=3.0):
    t = np.arange(N) * DWELL
    return np.stack([sum(a * np.exp(2j * np.pi * (p + shift_ppm - ref) * MHZ * t) for p, a in ls) * np.exp(-np.pi * lw * t)
                     for ls in lines.values()], 1)


def _basis(shift_ppm=0.0, conj=False, ref=4.65, source="/data/my_basis"):
    fids = _fids(LINES, shift_ppm, ref)
    return BasisSet(names=tuple(LINES), fids=np.conj(fids) if conj else fids, dwell_s=DWELL, spectrometer_mhz=MHZ,
                    ppm_reference=ref, source=source)


def _data(shift_hz=0.0, cho_hz=0.0):
    lines = {k: v for k, v in LINES.items() if k not in ("H2O", "MM")}
    lines["PCh"] = [(p + cho_hz / MHZ, a) for p, a in lines["PCh"]]
    fid = _fids(lines, shift_hz / MHZ, lw=6.0).sum(axis=1) * 1e-3
    fid = fid + 1e-6 * np.random.default_rng(0).standard_normal((N, 2)).view(complex)[:, 0]
    return MRSData(fid=fid, dwell_s=DWELL, spectrometer_mhz=MHZ, source="/data/sub-01_svs.nii.gz")


def test_a_basis_in_our_convention_passes_unchanged_but_h2o_is_not_fitted():
    b = register_basis(_basis())
    assert "H2O" not in b.names and b.names == ("NAA", "Cr", "PCh", "mI", "MM")
    check = b.meta["basis_check"]
    assert check["dropped"] == ["H2O"] and "conjugated" not in check and "shift_hz" not in check
    np.testing.assert_allclose(b.fids, _basis().subset(b.names).fids)
    assert abs(check["singlets_ppm"]["NAA"] - 2.008) < 0.002 and abs(check["singlets_ppm"]["tCho"] - 3.21) < 0.002


def test_a_conjugated_basis_is_repaired_and_the_repair_recorded(caplog):
    stored = _basis(conj=True)
    # H2O (at the centre, in neither band) does not vote; it follows the majority
    assert set(mirrored_components(stored)) == set(LINES)
    with caplog.at_level(logging.WARNING, logger="painmrs.basis"):
        b = register_basis(stored)
    assert b.meta["basis_check"]["conjugated"] == sorted(["NAA", "Cr", "PCh", "mI", "MM"])
    np.testing.assert_allclose(b.fids, _basis().subset(b.names).fids, atol=1e-12)
    assert "mirrored about 4.65 ppm" in caplog.text and "NAA at 7.29 ppm as stored, 2.01 ppm conjugated" in caplog.text


def test_a_conjugated_basis_is_refused_when_repair_is_off():
    with pytest.raises(InputError) as err:
        register_basis(_basis(conj=True), repair=False)
    assert err.value.path == "/data/my_basis" and "orientation (FID conjugation)" in err.value.field
    assert "stored in the other conjugation convention" in err.value.message
    assert "NAA at 7.29 ppm as stored, 2.01 ppm conjugated" in err.value.message


def test_one_mirrored_component_of_an_upright_set_is_repaired_alone():
    stored = _basis()
    fids = stored.fids.copy()
    fids[:, stored.index("MM")] = np.conj(fids[:, stored.index("MM")])
    b = register_basis(stored.replace(fids=fids))
    assert b.meta["basis_check"]["conjugated"] == ["MM"]
    np.testing.assert_allclose(b.fids, _basis().subset(b.names).fids, atol=1e-12)


def test_a_shifted_basis_is_re_registered_or_refused():
    shifted = _basis(shift_ppm=0.1)  # +12.3 Hz: the basis' ppm reference is off
    assert abs(basis_singlets(shifted)["NAA"] - 2.108) < 0.002
    b = register_basis(shifted)
    assert b.meta["basis_check"]["shift_hz"] == pytest.approx(-0.1 * MHZ, abs=0.3)
    assert abs(basis_singlets(b)["NAA"] - 2.008) < 0.002 and abs(basis_singlets(b)["tCr"] - 3.028) < 0.002
    with pytest.raises(InputError) as err:
        register_basis(shifted, repair=False)
    assert err.value.path == "/data/my_basis" and err.value.field == "basis ppm registration"
    assert "+12.3 Hz (+0.100 ppm) from their nominal shifts" in err.value.message
    with pytest.raises(InputError, match="NAA singlet is not within 0.3 ppm of 2.008"):
        register_basis(_basis(shift_ppm=0.45))  # as far off as the fit figure of issue 13


def test_singlets_that_disagree_among_themselves_are_refused():
    lines = dict(LINES, NAA=[(2.06, 3)])  # NAA 6 Hz off, tCr and tCho where they belong
    b = BasisSet(names=tuple(lines), fids=_fids(lines), dwell_s=DWELL, spectrometer_mhz=MHZ, source="/data/odd")
    with pytest.raises(InputError, match="disagree with the nominal shifts by .* among themselves") as err:
        register_basis(b)
    assert err.value.path == "/data/odd"


def test_a_basis_on_another_ppm_reference_is_moved_onto_ours():
    b = register_basis(_basis(ref=4.68))  # made (and read) with its receiver at 4.68 ppm
    assert b.ppm_reference == 4.65 and b.meta["basis_check"]["rereferenced_from_ppm"] == 4.68
    np.testing.assert_allclose(b.fids, _basis().subset(b.names).fids, atol=1e-9)


def test_the_basis_singlets_must_meet_the_data_peaks():
    b = register_basis(_basis())
    record = check_against_data(b, _data(0.5))
    assert set(record["data_minus_basis_hz"]) == {"NAA", "tCr", "tCho"}
    assert all(abs(v - 0.5) < 1.5 for v in record["data_minus_basis_hz"].values())  # magnitude peaks of overlapping lines
    # a common offset is the data's frequency referencing: the fit's shift takes up to 12 Hz
    assert abs(check_against_data(b, _data(8.0))["common_offset_hz"] - 8.0) < 1.0
    with pytest.raises(InputError) as err:
        check_against_data(b, _data(15.0), max_offset_hz=12.0)
    assert err.value.path == "/data/my_basis" and "/data/sub-01_svs.nii.gz" in err.value.message
    assert "beyond the fit's frequency shift range (12 Hz)" in err.value.message
    assert re.search(r"NAA: data 2\.12\d ppm, basis 2\.008 ppm \(\+1[45]\.\d Hz\)", err.value.message)
    # one singlet off the others: the chemical-shift scales differ
    with pytest.raises(InputError, match=f"within {DATA_TOLERANCE_HZ:g} Hz of their common offset"):
        check_against_data(b, _data(0.0, cho_hz=2 * DATA_TOLERANCE_HZ))
    # a basis without the singlets (a MEGA-PRESS DIFF set) is not compared
    assert check_against_data(b.subset(["mI", "MM"]), _data()) == {}
