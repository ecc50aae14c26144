"""The simulated study on disk: MRS-BIDS layout, valid NIfTI-MRS, determinism, truth tables.

Uses the "tiny" size of config/demo/design.yaml (6 subjects, 12 scans) with the real
density-matrix basis (painmrs.basis.simulate, cached on disk after the first run).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nifti_mrs.nifti_mrs import NIFTI_MRS
from nifti_mrs.validator import validate_nifti_mrs

from painmrs import cli
from painmrs.demo import acquisition as acq
from painmrs.demo.design import load_design
from painmrs.demo.spectra import build_scan_basis, clean_signals, relaxation, water_amplitude
from painmrs.demo.study import simulate_study
from painmrs.errors import InputError
from painmrs.io import nifti_mrs

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (the tiny simulated study)
pytestmark = pytest.mark.xdist_group("module-test_demo_study")

DESIGN = Path(__file__).resolve().parents[1] / "config" / "demo" / "design.yaml"


def read_tsv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    summary = simulate_study(DESIGN, out / "bids", out / "truth", size="tiny")
    return out, summary


def test_layout_and_tables(tiny):
    out, summary = tiny
    bids = out / "bids"
    assert summary["scans"] == 12 and summary["scans_press"] == 8 and summary["scans_megapress"] == 4
    desc = json.loads((bids / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] >= "1.10" and desc["DatasetType"] == "raw"
    participants = read_tsv(bids / "participants.tsv")
    assert [p["participant_id"] for p in participants][:2] == ["sub-HC001", "sub-HC002"]
    assert set(participants[0]) >= {"participant_id", "group", "age", "sex", "study", "arm", "pain_nrs"}
    side = json.loads((bids / "participants.json").read_text())
    assert set(participants[0]) <= set(side)
    scans = read_tsv(out / "truth" / "scans.tsv")
    assert len(scans) == 12
    for row in scans:
        sub, ses = row["stem"].split("_")[:2]
        mrs = bids / sub / ses / "mrs"
        assert (mrs / f"{row['stem']}_svs.nii.gz").is_file() and (mrs / f"{row['stem']}_mrsref.nii.gz").is_file()
        assert (bids / sub / ses / "anat" / f"{sub}_{ses}_T1w.nii.gz").is_file()
        for t in ("GM", "WM", "CSF"):
            assert (
                bids / "derivatives" / "segmentation" / sub / ses / "anat" / f"{sub}_{ses}_label-{t}_probseg.nii.gz"
            ).is_file()
    sessions = read_tsv(bids / "sub-CLBP003" / "sub-CLBP003_sessions.tsv")
    assert [s["session_id"] for s in sessions] == ["ses-period1", "ses-period2"]
    assert {s["arm"] for s in sessions} == {"OT", "PL"} and sessions[0]["study"] == "oxytocin"


def test_every_written_nifti_mrs_is_valid_and_has_the_expected_shape(tiny):
    out, _ = tiny
    files = sorted((out / "bids").rglob("*_svs.nii.gz")) + sorted((out / "bids").rglob("*_mrsref.nii.gz"))
    files += sorted((out / "truth" / "scans").glob("*.nii.gz"))
    assert len(files) == 12 * 4
    for f in files:
        validate_nifti_mrs(NIFTI_MRS(str(f)))
    m = nifti_mrs.read(
        next(
            f for f in files if "megapress" in f.name and f.name.endswith("_svs.nii.gz") and "desc-clean" not in f.name
        )
    )
    assert m.dim_tags == ("DIM_COIL", "DIM_DYN", "DIM_EDIT") and m.fid.shape == (2048, 2, 8, 2)
    assert m.header["painmrs_dim_meta"]["DIM_EDIT_header"]["EditCondition"] == ["OFF", "ON"]
    assert m.echo_time_s == pytest.approx(0.068) and m.repetition_time_s == pytest.approx(2.0)
    p = nifti_mrs.read(next(f for f in files if "acq-press" in f.name and f.name.endswith("_svs.nii.gz")))
    assert (
        p.dim_tags == ("DIM_COIL", "DIM_DYN") and p.fid.shape == (2048, 2, 8) and p.echo_time_s == pytest.approx(0.030)
    )
    assert np.allclose(p.voxel_size_mm, 20.0)


def test_same_seed_same_bytes_other_seed_other_data(tiny, tmp_path):
    out, _ = tiny
    simulate_study(DESIGN, tmp_path / "a" / "bids", tmp_path / "a" / "truth", size="tiny", jobs=2)
    assert digest_tree(tmp_path / "a" / "bids") == digest_tree(out / "bids")  # jobs=2 == jobs=1
    assert digest_tree(tmp_path / "a" / "truth") == digest_tree(out / "truth")
    simulate_study(DESIGN, tmp_path / "b" / "bids", tmp_path / "b" / "truth", size="tiny", seed=123)
    a, b = digest_tree(out / "bids"), digest_tree(tmp_path / "b" / "bids")
    assert a.keys() == b.keys()
    svs = [k for k in a if k.endswith("_svs.nii.gz")]
    assert all(a[k] != b[k] for k in svs)


def test_tissue_maps_inside_the_voxel_equal_the_truth_fractions(tiny):
    """Average each probseg map over the grid voxels whose centres lie inside the MRS voxel."""
    out, _ = tiny
    design = load_design(DESIGN, "tiny")
    for row in read_tsv(out / "truth" / "scans.tsv"):
        sub, ses = row["stem"].split("_")[:2]
        mrs = nifti_mrs.read(out / "bids" / sub / ses / "mrs" / f"{row['stem']}_svs.nii.gz")
        fractions = []
        inside = None
        for t in ("GM", "WM", "CSF"):
            img = nib.load(
                out
                / "bids"
                / "derivatives"
                / "segmentation"
                / sub
                / ses
                / "anat"
                / f"{sub}_{ses}_label-{t}_probseg.nii.gz"
            )
            data = img.get_fdata()
            if inside is None:
                ijk = np.stack(np.meshgrid(*[np.arange(n) for n in data.shape], indexing="ij"), -1).reshape(-1, 3)
                # grid voxel centres in MRS-voxel coordinates: the MRS voxel spans -0.5..0.5
                uvw = nib.affines.apply_affine(np.linalg.inv(mrs.affine) @ img.affine, ijk)
                inside = np.all(np.abs(uvw) < 0.5, axis=1)
                assert inside.sum() == round((float(row["voxel_mm"]) / 2.5) ** 3)
            fractions.append(data.reshape(-1)[inside].mean())
        truth = [float(row[k]) for k in ("f_gm", "f_wm", "f_csf")]
        np.testing.assert_allclose(fractions, truth, atol=1e-5)
        assert sum(truth) == pytest.approx(1.0, abs=1e-5)
        target = [design["regions"][row["region"]][k] for k in ("fGM", "fWM", "fCSF")]
        assert np.max(np.abs(np.array(truth) - target)) < 0.2  # jittered around the region mean


def test_truth_concentrations_are_consistent(tiny):
    out, _ = tiny
    rows = read_tsv(out / "truth" / "concentrations.tsv")
    scans = {r["stem"]: r for r in read_tsv(out / "truth" / "scans.tsv")}
    by = {(r["stem"], r["metabolite"]): r for r in rows}
    for (stem, metab), r in by.items():
        f_gm, f_wm, f_csf = (float(scans[stem][k]) for k in ("f_gm", "f_wm", "f_csf"))
        vox = f_gm * float(r["conc_gm_mM"]) + f_wm * float(r["conc_wm_mM"])
        assert float(r["conc_voxel_mM"]) == pytest.approx(vox, rel=1e-4)
        assert float(r["conc_tissue_mM"]) == pytest.approx(vox / (1 - f_csf), rel=1e-4)
    for stem in scans:
        tnaa = float(by[(stem, "tNAA")]["conc_voxel_mM"])
        assert tnaa == pytest.approx(
            float(by[(stem, "NAA")]["conc_voxel_mM"]) + float(by[(stem, "NAAG")]["conc_voxel_mM"]), rel=1e-4
        )
        assert float(by[(stem, "tCr")]["ratio_tCr"]) == pytest.approx(1.0)
        if "megapress" in stem:
            gaba, mm = float(by[(stem, "GABA")]["conc_voxel_mM"]), float(by[(stem, "MM30")]["conc_voxel_mM"])
            assert mm / (gaba + mm) == pytest.approx(0.45, rel=1e-4)
            assert float(by[(stem, "GABA+")]["conc_voxel_mM"]) == pytest.approx(gaba + mm, rel=1e-4)
    effects = read_tsv(out / "truth" / "effects.tsv")
    kinds = {e["kind"] for e in effects}
    assert {"group", "correlation", "age", "arm_time", "crossover"} <= kinds
    glu = next(
        e
        for e in effects
        if e["kind"] == "group" and e["group"] == "cLBP" and e["region"] == "ACC" and e["metabolite"] == "Glu"
    )
    assert float(glu["value"]) == 8 and glu["unit"] == "pct" and glu["observed"] == "true"
    transients = read_tsv(out / "truth" / "transients.tsv")
    for stem, row in scans.items():
        bad = {int(i) for i in row["corrupted_transients"].split(",") if i}
        flagged = {
            int(t["dyn"]) for t in transients if t["stem"] == stem and t["file"] == "svs" and t["corrupted"] == "true"
        }
        assert bad == flagged and len(bad) == 2


def test_clean_signals_give_back_the_truth_by_water_scaling():
    """Noise-free Cr and water FID(0): the Gasparovic formula returns conc_tissue exactly."""
    design = load_design(DESIGN, "tiny")
    basis = build_scan_basis("press", design)
    f = (0.6, 0.25, 0.15)
    conc = {m: 0.0 for m in basis.names}
    conc["Cr"] = 7.0  # mM per litre of voxel
    clean = clean_signals(basis, design, conc, f_csf=f[2], lorentz_hz=3.0, gauss_hz=4.0, mm_scale=0.0)["metab"]
    s_m = clean[0].real  # Cr: two singlets, 5 protons, FID(0) = protons x amplitude
    s_w, _ = water_amplitude(design, f, 30.0, 2000.0)
    tw = design["tissue_water"]
    r_m = relaxation(design, "Cr", 30.0, 2000.0)
    weighted = sum(fi * tw[f"d_{t}"] * design_water_r(design, t) for fi, t in zip(f, ("GM", "WM", "CSF")))
    molar = (s_m / s_w) * (2 / 5) * 55510 * weighted / ((1 - f[2]) * r_m)
    assert molar == pytest.approx(7.0 / (1 - f[2]), rel=1e-3)


def design_water_r(design, tissue):
    rel = design["relaxation_3T"]
    t1, t2 = rel["T1_s"][f"water_{tissue}"] * 1000, rel["T2"][f"water_{tissue}"]
    return (1 - np.exp(-2000 / t1)) * np.exp(-30 / t2)


def test_raw_svs_snr_matches_the_scan_truth(tiny):
    """Combine a PRESS scan with its true coil weights and drift; its NAA SNR is the target (+-15 %)."""
    out, _ = tiny
    row = next(r for r in read_tsv(out / "truth" / "scans.tsv") if r["acq"] == "press")
    sub, ses = row["stem"].split("_")[:2]
    mrs = nifti_mrs.read(out / "bids" / sub / ses / "mrs" / f"{row['stem']}_svs.nii.gz")
    info = json.loads((out / "truth" / "scans" / f"{row['stem']}_truth.json").read_text())
    clean = nifti_mrs.read(out / "truth" / "scans" / f"{row['stem']}_desc-clean_svs.nii.gz").fid
    sens = np.array(info["coil_sensitivities"]["real"]) + 1j * np.array(info["coil_sensitivities"]["imag"])
    cov = np.array(info["noise_covariance"]["real"]) + 1j * np.array(info["noise_covariance"]["imag"])
    tr = [t for t in read_tsv(out / "truth" / "transients.tsv") if t["stem"] == row["stem"] and t["file"] == "svs"]
    freq = np.array([float(t["freq_hz"]) for t in tr])
    phase = np.array([float(t["phase_deg"]) for t in tr])
    keep = [i for i, t in enumerate(tr) if t["corrupted"] == "false"]
    t_axis = mrs.time_s
    x = np.einsum("c,ncd->nd", acq.optimal_combination_weights(sens, cov), mrs.fid.astype(complex))
    x = x * np.exp(-1j * (np.deg2rad(phase)[None] + 2 * np.pi * freq[None] * t_axis[:, None]))
    avg = x[:, keep].mean(axis=1)
    water = sum(
        c["amplitude"]
        * np.exp(1j * np.deg2rad(c["phase_deg"]))
        * np.exp((2j * np.pi * c["offset_hz"] - np.pi * c["lorentz_hz"]) * t_axis)
        for c in info["residual_water"]
    )
    ecc = acq.EddyCurrent(**info["eddy_current"]).phase(t_axis)
    noise = avg - (clean + water) * np.exp(1j * ecc)
    snr = acq.peak_height(clean, mrs.dwell_s, mrs.spectrometer_mhz) / np.std(np.fft.fft(noise).real)
    assert snr == pytest.approx(float(row["snr_target"]) * np.sqrt(len(keep) / len(tr)), rel=0.15)


def test_cli_writes_the_study(tmp_path, capsys):
    rc = cli.main(["simulate", "--design", str(DESIGN), "--size", "tiny", "--out", str(tmp_path / "demo"), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scans"] == 12 and (tmp_path / "demo" / "bids" / "participants.tsv").is_file()
    assert (tmp_path / "demo" / "truth" / "effects.tsv").is_file()
    rc = cli.main(["simulate", "--design", str(DESIGN), "--size", "nope", "--out", str(tmp_path / "x")])
    assert rc == 2 and "sizes.nope" in capsys.readouterr().err


def test_refuses_to_mix_with_another_study(tmp_path):
    (tmp_path / "bids" / "sub-OLD001").mkdir(parents=True)
    with pytest.raises(InputError, match="sub-OLD001") as info:
        simulate_study(DESIGN, tmp_path / "bids", tmp_path / "truth", size="tiny")
    assert str(tmp_path / "bids") in str(info.value)


@pytest.mark.parametrize("lorentz, gauss", [(3.0, 5.0), (6.0, 1.0), (1.0, 8.0)])
def test_truth_fwhm_is_the_voigt_linewidth(lorentz, gauss):
    from painmrs.demo.study import voigt_fwhm

    n, dwell = 65536, 1 / 2000
    t = np.arange(n) * dwell
    spec = np.fft.fftshift(np.fft.fft(acq.voigt_decay(t, lorentz, gauss))).real
    f = np.fft.fftshift(np.fft.fftfreq(n, dwell))
    above = f[spec >= spec.max() / 2]
    assert voigt_fwhm(lorentz, gauss) == pytest.approx(above.max() - above.min(), abs=0.05)
