"""Readers for LCModel (.BASIS, .RAW), jMRUI text and FSL-MRS JSON basis sets.

Orientation truth: the NAA singlet at 2.008 ppm and Cr CH3 at 3.027 ppm (facts.md §1.1);
water at 4.65 ppm in the unsuppressed .H2O reference.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from painmrs.basis import (
    BasisSet,
    canonical_name,
    detect_basis_format,
    load_basis,
    remove_reference_peak,
    write_fsl_basis,
)
from painmrs.basis.readers import read_lcmodel_raw_dir
from painmrs.errors import InputError
from painmrs.io.jmrui import read_jmrui_text, write_jmrui_text
from painmrs.io.lcmodel import read_lcmodel_raw, write_lcmodel_basis_file, write_lcmodel_raw

CHALLENGE_RAW = dict(dwell_s=1 / 4000, spectrometer_mhz=123.2, echo_time_s=0.030)


def peak_ppm(basis: BasisSet, name: str, lo: float = 0.5, hi: float = 4.4) -> float:
    spec = basis.spectra()[:, basis.index(name)].real
    m = (basis.ppm > lo) & (basis.ppm < hi)
    return float(basis.ppm[m][np.argmax(spec[m])])


def toy_basis(n=512, names=("NAA", "Cr")) -> BasisSet:
    t = np.arange(n) * 2.5e-4
    fids = np.stack(
        [np.exp(2j * np.pi * (ppm - 4.65) * 123.2 * t - t / 0.1) for ppm in (2.008, 3.027)[: len(names)]], 1
    )
    return BasisSet(names=names, fids=fids, dwell_s=2.5e-4, spectrometer_mhz=123.2, echo_time_s=0.03, sequence="PRESS")


# ---- real files -------------------------------------------------------------------------
@pytest.mark.real_data
def test_challenge_lcmodel_basis(shared_data):
    b = load_basis(shared_data / "challenge2016/basisset_LCModel/press3T_30ms.BASIS")
    assert len(b.names) == 21 and b.n_points == 4096
    assert b.dwell_s == pytest.approx(2.5e-4, rel=1e-6)
    assert b.spectrometer_mhz == pytest.approx(123.2617, abs=1e-3)
    # challenge names mapped to painmrs names, originals kept
    for canon, orig in {"PCh": "PCho", "mI": "Ins", "sI": "sIns", "MM": "Mac", "NAA": "NAA"}.items():
        assert b.meta["original_names"][canon] == orig
    assert peak_ppm(b, "NAA") == pytest.approx(2.008, abs=0.01)
    assert peak_ppm(b, "Cr") == pytest.approx(3.027, abs=0.01)
    # a folder holding a single .BASIS file is read too
    assert load_basis(shared_data / "challenge2016/basisset_LCModel").names == b.names
    assert peak_ppm(b, "Lac") == pytest.approx(1.314, abs=0.035)  # doublet lines at 1.314 +- 0.028


@pytest.mark.real_data
def test_challenge_jmrui_basis_matches_lcmodel_orientation(shared_data):
    j = load_basis(shared_data / "challenge2016/basisset_JMRUI")
    assert detect_basis_format(shared_data / "challenge2016/basisset_JMRUI") == "jmrui-text"
    assert j.n_points == 2048 and j.dwell_s == pytest.approx(2.5e-4)
    assert j.spectrometer_mhz == pytest.approx(123.22, abs=1e-6)
    assert {"NAA", "PCh", "mI", "sI", "MM"} <= set(j.names)
    assert peak_ppm(j, "NAA") == pytest.approx(2.008, abs=0.01)
    assert peak_ppm(j, "Cr") == pytest.approx(3.027, abs=0.01)


@pytest.mark.real_data
def test_osprey_basis_te35(shared_data):
    for vendor, mhz in (("Philips", 127.731), ("Siemens", 123.2017)):
        b = load_basis(shared_data / f"basis/3T_PRESS_{vendor}_35ms_noMM.BASIS", ppm_reference=4.68)
        assert b.spectrometer_mhz == pytest.approx(mhz, abs=1e-3)
        assert b.echo_time_s == pytest.approx(0.035)
        assert b.n_points == 8192 and len(b.names) == 17
        assert "sI" in b.names and b.meta["original_names"]["sI"] == "Scyllo"
        # Osprey centres its basis on 4.68 ppm: with that reference NAA is at 2.008.
        assert peak_ppm(b, "NAA") == pytest.approx(2.008, abs=0.01)


@pytest.mark.real_data
def test_challenge_raw_data_and_water(shared_data):
    d = read_lcmodel_raw(shared_data / "challenge2016/datasets_LCModel/dataset1.RAW", **CHALLENGE_RAW)
    assert d.n_points == 2048 and d.echo_time_s == 0.030 and d.dwell_s == 2.5e-4
    spec = d.spectrum().real
    m = (d.ppm > 1.8) & (d.ppm < 2.2)
    assert d.ppm[m][np.argmax(spec[m])] == pytest.approx(2.008, abs=0.01)
    w = read_lcmodel_raw(shared_data / "challenge2016/datasets_LCModel/dataset1.H2O", **CHALLENGE_RAW)
    assert w.ppm[np.argmax(np.abs(w.spectrum()))] == pytest.approx(4.65, abs=0.02)
    with pytest.raises(InputError, match=r"dataset1\.RAW.*dwell time"):
        read_lcmodel_raw(shared_data / "challenge2016/datasets_LCModel/dataset1.RAW")
    with pytest.raises(InputError, match="expected 1024"):
        read_lcmodel_raw(shared_data / "challenge2016/datasets_LCModel/dataset1.RAW", n_points=1024, **CHALLENGE_RAW)


@pytest.mark.real_data
def test_challenge_jmrui_data_file(tmp_path, shared_data):
    b = load_basis(shared_data / "challenge2016/basisset_JMRUI/NAA.txt")
    assert b.names == ("NAA",)
    d = read_jmrui_text(shared_data / "challenge2016/basisset_JMRUI/NAA.txt", echo_time_s=0.03)
    np.testing.assert_array_equal(d.fid, b.fids[:, 0])


# ---- round trips ---------------------------------------------------------------------------
def test_lcmodel_basis_round_trip(tmp_path):
    b = toy_basis()
    write_lcmodel_basis_file(tmp_path / "x.BASIS", list(b.names), b.fids, b.dwell_s, b.spectrometer_mhz, 0.03)
    r = load_basis(tmp_path / "x.BASIS")
    assert r.names == b.names and r.echo_time_s == pytest.approx(0.03)
    # E15.6 keeps 7 significant digits of each spectral point
    assert np.abs(r.fids - b.fids).max() < 1e-6 * np.abs(b.fids).max() * 10


def test_lcmodel_raw_round_trip_and_dir(tmp_path):
    b = toy_basis()
    for k, name in enumerate(("NAA", "PCho")):
        write_lcmodel_raw(tmp_path / f"{name}.RAW", b.fids[:, k], ident=name)
    with pytest.raises(InputError, match=r"NAA\.RAW.*dwell"):
        read_lcmodel_raw_dir(tmp_path)
    r = load_basis(tmp_path, dwell_s=b.dwell_s, spectrometer_mhz=b.spectrometer_mhz)
    assert r.names == ("NAA", "PCh") and r.meta["original_names"]["PCh"] == "PCho"
    assert np.abs(r.fids - b.fids).max() < 1e-5
    d = read_lcmodel_raw(tmp_path / "NAA.RAW", dwell_s=b.dwell_s, spectrometer_mhz=123.2)
    assert np.abs(d.fid - b.fids[:, 0]).max() < 1e-5
    # header values written by painmrs are read back; a disagreeing argument is an error
    write_lcmodel_raw(tmp_path / "h.raw", b.fids[:, 0], spectrometer_mhz=123.2, dwell_s=2.5e-4, echo_time_s=0.03)
    d = read_lcmodel_raw(tmp_path / "h.raw")
    assert d.dwell_s == pytest.approx(2.5e-4) and d.echo_time_s == pytest.approx(0.03)
    with pytest.raises(InputError, match="file says"):
        read_lcmodel_raw(tmp_path / "h.raw", dwell_s=1 / 2000)
    # FID-A style header with a point count that disagrees with the data
    text = (tmp_path / "h.raw").read_text().replace(" $SEQPAR", " $SEQPAR\n NumberOfPoints = 100", 1)
    (tmp_path / "n.raw").write_text(text)
    with pytest.raises(InputError, match=r"n\.raw.*header says 100"):
        read_lcmodel_raw(tmp_path / "n.raw")


def test_jmrui_round_trip(tmp_path):
    b = toy_basis()
    write_jmrui_text(tmp_path / "two.txt", b.fids, b.dwell_s, b.spectrometer_mhz, names=["NAA", "Ins"])
    r = load_basis(tmp_path / "two.txt")
    assert r.names == ("NAA", "mI")
    assert np.abs(r.fids - b.fids).max() < 1e-8
    d = read_jmrui_text(tmp_path / "two.txt")
    assert d.dim_tags == ("DIM_DYN",) and d.fid.shape == (512, 2)


def test_fsl_json_round_trip_is_exact_and_deterministic(tmp_path):
    b = toy_basis().replace(meta={"linewidth_hz": 2.0})
    write_fsl_basis(b, tmp_path / "a")
    write_fsl_basis(b, tmp_path / "b")
    for name in b.names:
        assert (tmp_path / "a" / f"{name}.json").read_bytes() == (tmp_path / "b" / f"{name}.json").read_bytes()
    doc = json.loads((tmp_path / "a" / "NAA.json").read_text())
    assert doc["basis"]["basis_centre"] == 123.2 and doc["basis"]["basis_dwell"] == 2.5e-4
    # stored as conj(FID), like FSL-MRS
    np.testing.assert_allclose(np.array(doc["basis"]["basis_im"]), -b.fids[:, 0].imag)
    r = load_basis(tmp_path / "a")
    assert r.names == b.names and r.sequence == "PRESS" and r.echo_time_s == 0.03
    np.testing.assert_array_equal(r.fids, b.fids)


# ---- bad input -------------------------------------------------------------------------------
def test_bad_lcmodel_basis(tmp_path):
    b = toy_basis()
    write_lcmodel_basis_file(tmp_path / "x.BASIS", list(b.names), b.fids, b.dwell_s, b.spectrometer_mhz)
    lines = (tmp_path / "x.BASIS").read_text().splitlines()
    (tmp_path / "short.BASIS").write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(InputError, match=r"short\.BASIS.*data of Cr.*NDATAB"):
        load_basis(tmp_path / "short.BASIS")
    bad = list(lines)
    bad[40] = "  1.0E+00  abc"
    (tmp_path / "text.BASIS").write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match=r"text\.BASIS, row 41.*non-numeric"):
        load_basis(tmp_path / "text.BASIS")
    nodwell = [ln for ln in lines if "BADELT" not in ln]
    (tmp_path / "nodwell.BASIS").write_text("\n".join(nodwell) + "\n")
    with pytest.raises(InputError, match="BADELT"):
        load_basis(tmp_path / "nodwell.BASIS")


def test_bad_jmrui_and_json(tmp_path):
    b = toy_basis()
    write_jmrui_text(tmp_path / "a.txt", b.fids[:, 0], b.dwell_s, b.spectrometer_mhz)
    text = (tmp_path / "a.txt").read_text()
    (tmp_path / "nosi.txt").write_text(text.replace("SamplingInterval", "Sampling"))
    with pytest.raises(InputError, match=r"nosi\.txt.*SamplingInterval"):
        load_basis(tmp_path / "nosi.txt")
    (tmp_path / "short.txt").write_text("\n".join(text.splitlines()[:-5]) + "\n")
    with pytest.raises(InputError, match=r"short\.txt.*PointsInDataset = 512"):
        load_basis(tmp_path / "short.txt")
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "NAA.json").write_text(
        json.dumps({"basis": {"basis_re": [1, 2], "basis_im": [0, 0], "basis_centre": 123.2}})
    )
    with pytest.raises(InputError, match=r"NAA\.json.*basis\.basis_dwell"):
        load_basis(tmp_path / "j")
    with pytest.raises(InputError, match="unknown option"):
        load_basis(tmp_path / "a.txt", dwel_s=1)
    with pytest.raises(InputError, match="does not exist"):
        load_basis(tmp_path / "missing.BASIS")


def test_alias_table():
    assert [canonical_name(n) for n in ("PCho", "Ins", "sIns", "Mac", "Scyllo", "PEth", "naa", "Foo")] == [
        "PCh",
        "mI",
        "sI",
        "MM",
        "sI",
        "PE",
        "NAA",
        "Foo",
    ]


@pytest.mark.real_data
def test_remove_challenge_reference_peak(shared_data):
    b = load_basis(shared_data / "challenge2016/basisset_LCModel/press3T_30ms.BASIS")
    r = remove_reference_peak(b)
    assert set(r.meta["reference_peak_removed"]["from"]) == set(b.names) - {"MM"}  # measured MM has none
    before, after = b.spectra(), r.spectra()
    ref = np.abs(b.ppm) < 0.1
    metab = (b.ppm > 0.5) & (b.ppm < 4.2)
    for name in ("NAA", "Cr", "GABA", "Lac", "mI"):
        k = b.index(name)
        assert np.abs(after[ref, k]).max() < 0.25 * np.abs(before[ref, k]).max()
        assert np.abs(after[metab, k] - before[metab, k]).max() < 0.005 * np.abs(before[metab, k]).max()
    np.testing.assert_array_equal(r.fid("MM"), b.fid("MM"))
