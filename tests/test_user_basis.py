"""A study's own basis set (config ``sequences.<acq>.basis`` / ``macromolecules``) in
painmrs.jobs.basis.build_basis: loaded instead of simulated, checked against the scans,
and written as FSL-MRS JSON with the parametric MM the config asks for."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from painmrs.basis.macromolecules import MM_COMPONENTS
from painmrs.basis.readers import load_basis, read_fsl_basis, write_fsl_basis
from painmrs.errors import InputError
from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData
from painmrs.study.config import load_schema, validate_config
from painmrs.jobs.basis import build_basis

ROOT = Path(__file__).resolve().parents[1]
CHALLENGE_BASIS = "challenge2016/basisset_LCModel/press3T_30ms.BASIS"  # 123.26 MHz, no TE stated, has "MM"


@pytest.fixture(scope="module")
def challenge(shared_data):
    path = shared_data / CHALLENGE_BASIS
    return path, load_basis(path)


def _sample(tmp_path: Path, mhz: float = 123.2) -> Path:
    # Only the header (frequency, dwell, points) of the sample scan is read.
    return nifti_mrs.write(MRSData(fid=np.ones(1024, complex), dwell_s=1 / 2000, spectrometer_mhz=mhz), tmp_path / "s.nii.gz")


def _press(basis, **extra) -> dict:
    return {"sequence": "PRESS", "te_ms": 30, "basis": basis if isinstance(basis, dict) else str(basis), **extra}


def test_press_with_challenge_basis_keeps_its_fids_and_own_mm(tmp_path, challenge):
    path, given = challenge
    names = build_basis(_press(path), _sample(tmp_path), tmp_path / "out", acq="press")
    out = read_fsl_basis(tmp_path / "out")
    # The basis has "MM" (LCModel's measured MM): no parametric MM is added.
    assert names == {"press": list(given.names)} and out.names == given.names
    assert "MM_3T" not in out.names
    naa = given.fid("NAA")
    assert np.max(np.abs(out.fid("NAA") - naa)) <= 1e-6 * np.max(np.abs(naa))
    assert out.dwell_s == pytest.approx(given.dwell_s, rel=1e-12)
    assert out.spectrometer_mhz == pytest.approx(given.spectrometer_mhz, rel=1e-12)
    # .BASIS states no TE: the configured te_ms becomes the basis TE, so the fit's check_basis
    # compares it with the scans' header; the configured sequence is recorded too.
    assert out.echo_time_s == pytest.approx(0.030, abs=1e-12)
    assert out.sequence == "PRESS"


def test_macromolecules_key_adds_mm_to_a_supplied_basis(tmp_path, challenge):
    path, given = challenge
    build_basis(_press(path, macromolecules=["MM_3T"]), _sample(tmp_path), tmp_path / "out")
    out = read_fsl_basis(tmp_path / "out")
    assert out.names == given.names + ("MM_3T",)
    assert np.any(out.fid("MM_3T"))


def test_basis_without_mm_gets_mm_3t_by_default_and_none_on_request(tmp_path, challenge, caplog):
    _, given = challenge
    no_mm = given.subset([n for n in given.names if n != "MM"])
    write_fsl_basis(no_mm, tmp_path / "no_mm")  # FSL-MRS JSON folder, read back as one
    with caplog.at_level("INFO"):
        build_basis(_press(tmp_path / "no_mm"), _sample(tmp_path), tmp_path / "out")
    out = read_fsl_basis(tmp_path / "out")
    assert out.names == no_mm.names + ("MM_3T",)
    assert "adding ['MM_3T']" in caplog.text
    build_basis(_press(tmp_path / "no_mm", macromolecules=[]), _sample(tmp_path), tmp_path / "none")
    assert read_fsl_basis(tmp_path / "none").names == no_mm.names


def test_slaser_and_steam_need_a_supplied_basis(tmp_path, challenge):
    path, given = challenge
    build_basis({"sequence": "sLASER", "te_ms": 30, "basis": str(path)}, _sample(tmp_path), tmp_path / "out")
    out = read_fsl_basis(tmp_path / "out")
    assert out.names == given.names and out.sequence == "sLASER"
    for kind in ("sLASER", "STEAM"):
        with pytest.raises(InputError) as info:
            build_basis({"sequence": kind, "te_ms": 30}, _sample(tmp_path), tmp_path / kind, acq="slaser")
        assert info.value.field == "sequences.slaser.basis" and "supply one" in str(info.value)


def test_te_mismatch_names_the_basis_file(tmp_path, challenge):
    _, given = challenge
    with_te = given.subset(["Cr", "NAA"]).replace(echo_time_s=0.030)
    write_fsl_basis(with_te, tmp_path / "te30")
    with pytest.raises(InputError) as info:
        build_basis(_press(tmp_path / "te30", te_ms=35), _sample(tmp_path), tmp_path / "out", acq="press")
    assert info.value.path == str(tmp_path / "te30") and "sequences.press.basis" in info.value.field
    assert "TE 30 ms" in str(info.value) and "35" in str(info.value)
    # Within BASIS_TE_TOLERANCE_S (1 ms) is accepted; the file's TE is kept.
    build_basis(_press(tmp_path / "te30", te_ms=30.5, macromolecules=[]), _sample(tmp_path), tmp_path / "ok")
    assert read_fsl_basis(tmp_path / "ok").echo_time_s == pytest.approx(0.030)


def test_field_missing_file_no_tcr_and_mega_press_are_refused(tmp_path, challenge):
    path, given = challenge
    with pytest.raises(InputError) as info:  # 3 T basis, 127.7 MHz scans: 3.6 % off (> 0.5 %)
        build_basis(_press(path), _sample(tmp_path, mhz=127.7), tmp_path / "out", acq="press")
    assert info.value.path == str(path) and "spectrometer frequency" in info.value.field and "127.7" in str(info.value)
    missing = tmp_path / "nowhere" / "basis.BASIS"
    with pytest.raises(InputError) as info:
        build_basis(_press(missing), _sample(tmp_path), tmp_path / "out", acq="press")
    assert info.value.path == str(missing) and info.value.field == "sequences.press.basis"
    write_fsl_basis(given.subset(["NAA", "GPC", "MM"]), tmp_path / "no_cr")
    with pytest.raises(InputError) as info:
        build_basis(_press(tmp_path / "no_cr"), _sample(tmp_path), tmp_path / "out")
    assert info.value.path == str(tmp_path / "no_cr") and "no Cr or PCr" in str(info.value)
    # One path for MEGA-PRESS, or {diff, off} for PRESS: the wrong form (also refused at config load).
    mega = {"sequence": "MEGA-PRESS", "te_ms": 68, "edit_on_ppm": 1.9, "edit_off_ppm": 7.5, "basis": str(path)}
    with pytest.raises(InputError) as info:
        build_basis(mega, _sample(tmp_path), tmp_path / "mega", acq="megapress")
    assert info.value.field == "sequences.megapress.basis" and "{diff: PATH, off: PATH}" in str(info.value)
    with pytest.raises(InputError) as info:
        build_basis(_press({"diff": str(path), "off": str(path)}), _sample(tmp_path), tmp_path / "out", acq="press")
    assert info.value.field == "sequences.press.basis" and "one basis" in str(info.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "mega").exists()


def test_unknown_macromolecule_is_refused_in_code(tmp_path, challenge):
    path, _ = challenge
    with pytest.raises(InputError) as info:
        build_basis(_press(path, macromolecules=["NOPE"]), _sample(tmp_path), tmp_path / "out", acq="press")
    assert info.value.field == "sequences.press.macromolecules" and "NOPE" in str(info.value)


# ---- config schema -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good() -> dict:
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize(
    "entry, key",
    [({"macromolecules": ["NOPE"]}, "macromolecules"), ({"basis": 5}, "basis"), ({"basis": ""}, "basis"),
     ({"macromolecules": "MM_3T"}, "macromolecules"), ({"basis_repair": "maybe"}, "basis_repair")],
)
def test_schema_rejects_bad_basis_keys(good, entry, key):
    config = copy.deepcopy(good)
    config["sequences"]["press"].update(entry)
    with pytest.raises(InputError) as info:
        validate_config(config, "study.yaml")
    assert "study.yaml" in str(info.value) and key in str(info.value)


def test_schema_accepts_basis_keys_and_lists_every_mm_component(good):
    config = copy.deepcopy(good)
    config["sequences"]["slaser"] = {"sequence": "sLASER", "te_ms": 28, "basis": "bases/slaser_te28", "macromolecules": [],
                                     "basis_repair": "refuse"}
    config["sequences"]["press"]["macromolecules"] = ["MM09", "MM_3T"]
    validate_config(config, "study.yaml")
    from painmrs.study.config import CONFIG_SCHEMA

    schema = load_schema(CONFIG_SCHEMA)
    entry = schema["properties"]["sequences"]["additionalProperties"]["properties"]
    assert entry["macromolecules"]["items"]["enum"] == list(MM_COMPONENTS)


MEGA_ENTRY = {"sequence": "MEGA-PRESS", "te_ms": 68, "edit_on_ppm": 1.9, "edit_off_ppm": 7.5}


@pytest.mark.parametrize(
    "acq, entry, expected",
    [("slaser", {"sequence": "sLASER", "te_ms": 28}, "required for sLASER"),
     ("megapress", {**MEGA_ENTRY, "basis": "b.BASIS"}, "{diff: PATH, off: PATH}"),
     ("press", {"sequence": "PRESS", "te_ms": 30, "basis": {"diff": "d", "off": "o"}}, "one basis path"),
     ("megapress", {**MEGA_ENTRY, "basis": {"diff": "d"}}, "required key"),
     ("megapress", {**MEGA_ENTRY, "basis": {"diff": "d", "off": "o", "on": "x"}}, "unknown key")],
)
def test_config_load_refuses_unsupported_basis_choices_before_any_job(good, acq, entry, expected):
    config = copy.deepcopy(good)
    config["sequences"][acq] = entry
    with pytest.raises(InputError) as info:
        validate_config(config, "study.yaml")
    assert f"sequences.{acq}.basis" in str(info.value) and "study.yaml" in str(info.value)
    assert expected in str(info.value)


def test_config_accepts_a_mega_press_diff_off_mapping(good):
    config = copy.deepcopy(good)
    # As written in a YAML config: YAML 1.1 (PyYAML, Snakemake) reads the unquoted key off as false.
    basis = yaml.safe_load("{diff: bases/diff, off: bases/off}")
    assert basis == {"diff": "bases/diff", False: "bases/off"}
    config["sequences"]["megapress"] = {**MEGA_ENTRY, "basis": basis}
    assert validate_config(config, "study.yaml")["sequences"]["megapress"]["basis"] == {"diff": "bases/diff", "off": "bases/off"}


def test_manifest_inputs_include_a_supplied_basis(good):
    from painmrs.provenance.manifest import study_inputs

    config = copy.deepcopy(good)
    assert not any("BASIS" in p for p in study_inputs(config, "bids"))
    config["sequences"]["press"]["basis"] = "bases/press_te30.BASIS"
    assert "bases/press_te30.BASIS" in study_inputs(config, "bids")
    config["dataset"]["simulate"] = True
    config["dataset"]["design"] = "design.yaml"
    assert study_inputs(config) == ["design.yaml", "bases/press_te30.BASIS"]
    config["sequences"]["megapress"] = {**MEGA_ENTRY, "basis": {"diff": "bases/gaba_diff", "off": "bases/gaba_off"}}
    assert study_inputs(config) == ["design.yaml", "bases/gaba_diff", "bases/gaba_off", "bases/press_te30.BASIS"]


# ---- a supplied MEGA-PRESS basis: {diff, off} ---------------------------------------------------
MEGA_TE_MS = 68


@pytest.fixture(scope="module")
def mega_sets():
    """The simulated MEGA-PRESS sets on the sample scan's grid (123.2 MHz, dwell 1/2000 s, 1024
    points), DIFF with every metabolite (the unedited ones ~zero) and the co-edited MM30."""
    from painmrs.basis.simulate import simulate_mega_press_basis

    return simulate_mega_press_basis(echo_time_ms=MEGA_TE_MS, spectrometer_mhz=123.2, dwell_s=1 / 2000, n_points=1024,
                                     include_mm=True)


def _edited(sets) -> list[str]:
    # What the simulated path keeps in DIFF (energy > 1e-6 of the same metabolite in OFF).
    energy = lambda b, n: float(np.sum(np.abs(b.fid(n)) ** 2))  # noqa: E731
    return [n for n in sets["DIFF"].names if n not in sets["OFF"].names or energy(sets["DIFF"], n) > 1e-6 * energy(sets["OFF"], n)]


def _mega(diff, off, **extra) -> dict:
    return {**MEGA_ENTRY, "te_ms": MEGA_TE_MS, "basis": {"diff": str(diff), "off": str(off)}, **extra}


def _same_fids(out, given, names, rel):
    for n in names:
        ref = given.fid(n)
        assert np.max(np.abs(out.fid(n) - ref)) <= rel * np.max(np.abs(ref)), n


def test_supplied_mega_press_basis_is_checked_trimmed_and_labelled(tmp_path, mega_sets, caplog):
    from painmrs.io.lcmodel import write_lcmodel_basis_file

    diff, off = mega_sets["DIFF"], mega_sets["OFF"]
    assert diff.sequence == "MEGA-PRESS:DIFF" and off.sequence == "MEGA-PRESS:OFF"  # the labels the fit checks
    edited = _edited(mega_sets)
    assert set(edited) == {"NAAG", "Glu", "Gln", "GABA", "MM30"}  # the simulated DIFF's nonzero components
    # FSL-MRS JSON DIFF with its own MM30: kept as given, minus the empty components.
    write_fsl_basis(diff, tmp_path / "diff")
    write_fsl_basis(off, tmp_path / "off")
    with caplog.at_level("INFO"):
        names = build_basis(_mega(tmp_path / "diff", tmp_path / "off"), _sample(tmp_path), tmp_path / "out", acq="megapress")
    assert "no edited signal" in caplog.text and "'Cr'" in caplog.text
    out_diff, out_off = read_fsl_basis(tmp_path / "out" / "diff"), read_fsl_basis(tmp_path / "out" / "off")
    assert names == {"diff": edited, "off": list(off.names)}
    assert out_diff.names == tuple(edited) and out_off.names == off.names
    _same_fids(out_diff, diff, edited, 1e-6)
    _same_fids(out_off, off, off.names, 1e-6)
    assert (out_diff.sequence, out_off.sequence) == ("MEGA-PRESS:DIFF", "MEGA-PRESS:OFF")
    assert out_diff.echo_time_s == pytest.approx(0.068) and out_off.echo_time_s == pytest.approx(0.068)

    # LCModel .BASIS DIFF without MM (no sequence label; TE from ECHOT): MM30 is added, scaled on
    # OFF's Cr; the simulator's own MM30 (same unit: 1 per proton) is the truth for it.
    no_mm = diff.subset([n for n in diff.names if n != "MM30"])
    write_lcmodel_basis_file(tmp_path / "diff.BASIS", list(no_mm.names), no_mm.fids, no_mm.dwell_s, no_mm.spectrometer_mhz,
                             echo_time_s=MEGA_TE_MS / 1000)
    caplog.clear()
    with caplog.at_level("INFO"):
        build_basis(_mega(tmp_path / "diff.BASIS", tmp_path / "off"), _sample(tmp_path), tmp_path / "lcm")
    assert "adding the co-edited ['MM30']" in caplog.text
    out_diff = read_fsl_basis(tmp_path / "lcm" / "diff")
    assert out_diff.names == tuple(edited)  # MM30 last, as in the simulated DIFF
    _same_fids(out_diff, diff, edited, 1e-5)  # .BASIS stores 6 significant digits
    assert out_diff.sequence == "MEGA-PRESS:DIFF"


def test_supplied_mega_press_basis_refusals_name_the_file(tmp_path, mega_sets):
    diff, off = mega_sets["DIFF"], mega_sets["OFF"]
    write_fsl_basis(diff, tmp_path / "diff")
    write_fsl_basis(off, tmp_path / "off")
    write_fsl_basis(diff.subset([n for n in diff.names if n != "GABA"]), tmp_path / "diff_no_gaba")
    write_fsl_basis(off.subset([n for n in off.names if n not in ("Cr", "PCr")]), tmp_path / "off_no_cr")
    sample = _sample(tmp_path)
    cases = [
        (_mega(tmp_path / "diff_no_gaba", tmp_path / "off"), tmp_path / "diff_no_gaba", "basis.diff", "GABA is missing"),
        # GSH is simulated but not edited at 1.9 ppm: zero in this DIFF.
        (_mega(tmp_path / "diff", tmp_path / "off", edit_target="GSH"), tmp_path / "diff", "basis.diff", "GSH is empty"),
        (_mega(tmp_path / "diff", tmp_path / "off_no_cr"), tmp_path / "off_no_cr", "basis.off", "no Cr or PCr"),
        (_mega(tmp_path / "diff", tmp_path / "off", te_ms=80), tmp_path / "diff", "basis.diff (echo time)", "TE 68 ms"),
        # DIFF and OFF swapped: the file's sequence label says so.
        (_mega(tmp_path / "off", tmp_path / "diff"), tmp_path / "off", "basis.diff (sequence)", "MEGA-PRESS:OFF"),
        (_mega(tmp_path / "diff", tmp_path / "nowhere"), tmp_path / "nowhere", "basis.off", "does not exist"),
    ]
    for entry, path, field, message in cases:
        with pytest.raises(InputError) as info:
            build_basis(entry, sample, tmp_path / "out", acq="megapress")
        assert info.value.path == str(path) and info.value.field.startswith(f"sequences.megapress.{field}"), (field, info.value)
        assert message in str(info.value)
    with pytest.raises(InputError) as info:
        build_basis(_mega(tmp_path / "diff", tmp_path / "off", macromolecules=["MM30"]), sample, tmp_path / "out", acq="megapress")
    assert info.value.field == "sequences.megapress.macromolecules"
    assert not (tmp_path / "out").exists()


def test_written_mega_press_basis_fits_gaba_plus(tmp_path, mega_sets):
    # End to end: the bases build_basis wrote from supplied files pass the fit's check_basis
    # and recover the simulated GABA+ (GABA 1.0 + co-edited MM30 0.6, as in test_fit_engine).
    from painmrs.fitting.validation import NORMAL_BRAIN_MM, simulate_spectrum
    from painmrs.quantify.scan import fit_mega_scan

    diff, off = mega_sets["DIFF"], mega_sets["OFF"]
    write_fsl_basis(diff.subset([n for n in diff.names if n != "MM30"]), tmp_path / "diff")  # MM30 added back
    write_fsl_basis(off, tmp_path / "off")
    build_basis(_mega(tmp_path / "diff", tmp_path / "off"), _sample(tmp_path), tmp_path / "basis")
    basis_diff, basis_off = read_fsl_basis(tmp_path / "basis" / "diff"), read_fsl_basis(tmp_path / "basis" / "off")
    truth = dict(NORMAL_BRAIN_MM, MM30=0.6, MM09=4.0, MM12=4.0, MM14=4.0, MM17=4.0, MM20=4.0)
    rng = np.random.default_rng(7)
    kw = dict(n_points=1024, dwell_s=1 / 2000, spectrometer_mhz=123.2, lorentz_hz=3.0, gauss_fwhm_hz=5.0, shift_hz=0.0,
              phase_deg=0.0, rng=rng)
    header = {"EchoTime": MEGA_TE_MS / 1000, "RepetitionTime": 2.0}
    data_diff = simulate_spectrum(diff, truth, noise_sd=0.5, **kw).replace(header=header)
    data_off = simulate_spectrum(off, truth, noise_sd=10.0, **kw).replace(header=header)
    table = fit_mega_scan(data_diff, data_off, basis_diff, basis_off, tmp_path, "mega", figure=False).set_index("metabolite")
    assert table.loc["GABA+", "spectrum"] == "diff"
    assert table.loc["GABA+", "amplitude"] == pytest.approx(truth["GABA"] + truth["MM30"], rel=0.10)
