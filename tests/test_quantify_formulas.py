"""Quantification formulas against hand-computed values, tissue fractions against analytic
voxel overlaps, QC rules, the fit table, NIfTI-MRS output validity and the CLI."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from painmrs.errors import InputError
from painmrs.quantify import (
    QuantOptions,
    alpha_corrected,
    alpha_corrected_group_normalised,
    group_normalise,
    relaxation,
    water_scaling,
)
from painmrs.quantify.concentrations import check_fractions
from painmrs.quantify.qc import QCRules, metabolite_flags, scan_flags
from painmrs.quantify.tissue import find_tissue_maps, voxel_mask, voxel_tissue_fractions


def test_relaxation_formula():
    assert relaxation(2.0, 0.030, 1.5, 100.0) == pytest.approx((1 - math.exp(-2 / 1.5)) * math.exp(-0.3))


def test_gasparovic_molar_and_molal_by_hand():
    o = QuantOptions()
    f = {"GM": 0.5, "WM": 0.3, "CSF": 0.2}
    te, tr = 0.035, 2.0
    unit, water_area = 0.01, 5000.0
    ws = water_scaling(["NAA"], unit, water_area, f, o, te_s=te, tr_s=tr)
    rw = {t: (1 - math.exp(-tr / o.t1_s[f"water_{t}"])) * math.exp(-te * 1000 / o.t2_ms[f"water_{t}"]) for t in f}
    rm = (1 - math.exp(-tr / 1.41)) * math.exp(-35 / 253.0)
    d = {"GM": 0.78, "WM": 0.65, "CSF": 0.97}
    per_proton = unit / (water_area / 2)
    molar = per_proton * 55510 * sum(f[t] * d[t] * rw[t] for t in f) / ((1 - 0.2) * rm)
    fmol = {t: f[t] * d[t] / sum(f[k] * d[k] for k in f) for t in f}
    molal = per_proton * 55510 * sum(fmol[t] * rw[t] for t in f) / ((1 - fmol["CSF"]) * rm)
    assert ws.molar["NAA"] == pytest.approx(molar, rel=1e-12)
    assert ws.molal["NAA"] == pytest.approx(molal, rel=1e-12)
    # Harris C_TC = molar without the CSF division.
    assert ws.tissue_corrected["NAA"] == pytest.approx(molar * 0.8, rel=1e-12)


def test_challenge_water_concentration_constant():
    # README: 1/18.015 * 0.6*0.78*exp(-30/110) + 1/18.015 * 0.4*0.65*exp(-30/80) = 29697 mM.
    o = QuantOptions(h2o_molal_mM=1e6 / 18.015, t2_ms={**QuantOptions().t2_ms, "water_GM": 110.0, "water_WM": 80.0,
                                                       "tCr": 1e12})
    ws = water_scaling(["tCr"], 1.0, 2.0, {"GM": 0.6, "WM": 0.4, "CSF": 0.0}, o, te_s=0.030, tr_s=1e9)
    assert ws.molar["tCr"] == pytest.approx(29697, rel=2e-4)


def test_alpha_correction_harris():
    assert alpha_corrected(3.0, 0.6, 0.3, 0.5) == pytest.approx(3.0 / 0.75)
    # Group-normalised: equals plain alpha-corrected x (mu_GM + a mu_WM)/(mu_GM + mu_WM).
    v = alpha_corrected_group_normalised(3.0, 0.6, 0.3, 0.5, 0.4, 0.5)
    assert v == pytest.approx(3.0 * (0.5 + 0.2) / (0.75 * 0.9))
    # A voxel with the group-mean composition of pure GM keeps C_TC / (fGM + fWM) scaling.
    assert alpha_corrected_group_normalised(2.0, 1.0, 0.0, 1.0, 0.0) == pytest.approx(2.0)
    # Normalising the alpha-corrected value gives the same number.
    assert group_normalise(alpha_corrected(3.0, 0.6, 0.3), 0.5, 0.4) == pytest.approx(v)


def test_bad_fractions_raise():
    with pytest.raises(InputError, match="sum to 1"):
        check_fractions({"GM": 0.5, "WM": 0.2, "CSF": 0.1})
    with pytest.raises(InputError, match="GM, WM and CSF"):
        check_fractions({"GM": 0.5})
    with pytest.raises(InputError, match="all CSF"):
        check_fractions({"GM": 0.0, "WM": 0.0, "CSF": 1.0})


def test_qc_rules():
    r = QCRules()
    assert scan_flags(50, 6.0, 123.2, 1.0, r) == []
    assert scan_flags(5, 6.0, 123.2, 1.0, r) == ["snr<10"]
    assert scan_flags(50, 14.0, 123.2, 1.0, r) == ["fwhm>0.1ppm"]
    assert metabolite_flags("NAA", 25.0, r) == ["crlb>20%"]
    assert metabolite_flags("GABA+", 25.0, r) == []
    assert metabolite_flags("GABA+", np.inf, r) == ["crlb>50%"]


def _write_map(path, data, affine):
    nib.save(nib.Nifti1Image(data.astype(np.float32), affine), str(path))


def test_voxel_tissue_fractions_analytic(tmp_path):
    # 1 mm iso 64^3 image; GM for x < 0 mm (world), WM for x >= 0, CSF nowhere except a slab.
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = -32.0
    shape = (64, 64, 64)
    x = np.arange(64) - 32.0  # world x of voxel centres
    X = np.broadcast_to(x[:, None, None], shape)
    Z = np.broadcast_to((np.arange(64) - 32.0)[None, None, :], shape)
    gm = (X < 0).astype(float)
    wm = (X >= 0).astype(float)
    csf = np.zeros(shape)
    csf[Z >= 6] = 1.0  # a CSF slab on top
    gm[Z >= 6] = 0.0
    wm[Z >= 6] = 0.0
    maps = {}
    for name, arr in (("GM", gm), ("WM", wm), ("CSF", csf)):
        maps[name] = tmp_path / f"sub-01_label-{name}_probseg.nii.gz"
        _write_map(maps[name], arr, affine)
    # MRS voxel 20 x 20 x 20 mm centred at world (-5, 0, 0): x in [-15, 5] -> 3/4 GM, 1/4 WM;
    # z in [-10, 10], CSF from z >= 5.5 (voxel-centre boundary between 5 and 6) -> 4.5/20.
    mrs_affine = np.diag([20.0, 20.0, 20.0, 1.0])
    mrs_affine[:3, 3] = [-5.0, 0.0, 0.0]
    f = voxel_tissue_fractions(mrs_affine, maps, n_per_axis=40)
    assert f["CSF"] == pytest.approx(4.5 / 20, abs=0.02)
    assert f["GM"] == pytest.approx(0.75 * (1 - 4.5 / 20), abs=0.02)
    assert f["WM"] == pytest.approx(0.25 * (1 - 4.5 / 20), abs=0.02)
    assert sum(f.values()) == pytest.approx(1.0)
    found = find_tissue_maps(tmp_path)
    assert found["GM"].name.endswith("label-GM_probseg.nii.gz")
    mask = voxel_mask(mrs_affine, maps["GM"], tmp_path / "mask.nii.gz")
    assert int(np.asarray(mask.dataobj).sum()) == 20 * 20 * 20
    # A rotated voxel keeps its volume in the mask (within voxelisation error).
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([20.0, 20.0, 20.0])
    mrs_rot = np.eye(4)
    mrs_rot[:3, :3] = rot
    m2 = voxel_mask(mrs_rot, maps["GM"])
    assert int(np.asarray(m2.dataobj).sum()) == pytest.approx(8000, rel=0.08)


def test_tissue_maps_fsl_and_spm_names(tmp_path):
    affine = np.eye(4)
    for name in ("T1_fast_pve_0.nii.gz", "T1_fast_pve_1.nii.gz", "T1_fast_pve_2.nii.gz"):
        _write_map(tmp_path / name, np.zeros((4, 4, 4)), affine)
    f = find_tissue_maps(tmp_path)
    assert f["CSF"].name == "T1_fast_pve_0.nii.gz" and f["GM"].name == "T1_fast_pve_1.nii.gz"
    spm = tmp_path / "spm"
    spm.mkdir()
    for name in ("c1T1.nii", "c2T1.nii", "c3T1.nii"):
        _write_map(spm / name, np.zeros((4, 4, 4)), affine)
    f = find_tissue_maps(spm)
    assert f["WM"].name == "c2T1.nii"
    with pytest.raises(InputError, match="probability map"):
        find_tissue_maps(tmp_path / "nowhere")


def test_voxel_outside_map_raises(tmp_path):
    maps = {}
    for name in ("GM", "WM", "CSF"):
        maps[name] = tmp_path / f"{name}.nii.gz"
        _write_map(maps[name], np.ones((8, 8, 8)) / 3, np.eye(4))
    far = np.diag([10.0, 10.0, 10.0, 1.0])
    far[:3, 3] = 500.0
    with pytest.raises(InputError, match="outside"):
        voxel_tissue_fractions(far, maps)


def test_config_sections_map_onto_options():
    from painmrs.fitting.config import fit_options
    from painmrs.quantify.config import qc_rules, quant_options

    f = fit_options({"ppm_range": [0.2, 4.0], "baseline_stiffness": 50.0}, "c.yaml")
    assert f.ppm_range == (0.2, 4.0) and f.baseline_stiffness == 50.0
    q = quant_options({"t2_ms": {"NAA": 300.0}, "alpha": 0.4})
    assert q.t2_ms["NAA"] == 300.0 and q.t2_ms["tCr"] == 148.0 and q.alpha == 0.4
    assert qc_rules({"max_crlb_pct": 25}).max_crlb_pct == 25
    with pytest.raises(InputError, match="fit.ppm_rnage"):
        fit_options({"ppm_rnage": [0, 1]}, "c.yaml")
    with pytest.raises(InputError, match="fit.ppm_range"):
        fit_options({"ppm_range": [0.2]}, "c.yaml")
    with pytest.raises(InputError, match="fit.baseline_stiffness"):
        fit_options({"baseline_stiffness": "soft"}, "c.yaml")
    with pytest.raises(InputError, match="quantify.t2_ms"):
        quant_options({"t2_ms": 5}, "c.yaml")


def test_scan_tissue_fractions_writes_mask(tmp_path):
    from painmrs.quantify.tissue import scan_tissue_fractions

    affine = np.eye(4)
    affine[:3, 3] = -16.0
    for name, value in (("GM", 0.5), ("WM", 0.3), ("CSF", 0.2)):
        _write_map(tmp_path / f"sub-01_ses-1_label-{name}_probseg.nii.gz", np.full((32, 32, 32), value), affine)
    f = scan_tissue_fractions(np.diag([10.0, 10.0, 10.0, 1.0]), tmp_path, "sub-01", tmp_path / "mask.nii.gz")
    assert f == pytest.approx({"GM": 0.5, "WM": 0.3, "CSF": 0.2})
    assert int(np.asarray(nib.load(str(tmp_path / "mask.nii.gz")).dataobj).sum()) == 1000
