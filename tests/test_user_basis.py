"""A study's own basis set (config ``sequences.<acq>.basis`` / ``macromolecules``) in
painmrs.study.stages.build_basis: loaded instead of simulated, checked against the scans,
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
from painmrs.study.stages import build_basis

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
    return {"sequence": "PRESS", "te_ms": 30, "basis": str(basis), **extra}


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
    mega = {"sequence": "MEGA-PRESS", "te_ms": 68, "edit_on_ppm": 1.9, "edit_off_ppm": 7.5, "basis": str(path)}
    with pytest.raises(InputError) as info:
        build_basis(mega, _sample(tmp_path), tmp_path / "mega", acq="megapress")
    assert info.value.field == "sequences.megapress.basis" and "not supported yet" in str(info.value)
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
     ({"macromolecules": "MM_3T"}, "macromolecules")],
)
def test_schema_rejects_bad_basis_keys(good, entry, key):
    config = copy.deepcopy(good)
    config["sequences"]["press"].update(entry)
    with pytest.raises(InputError) as info:
        validate_config(config, "study.yaml")
    assert "study.yaml" in str(info.value) and key in str(info.value)


def test_schema_accepts_basis_keys_and_lists_every_mm_component(good):
    config = copy.deepcopy(good)
    config["sequences"]["slaser"] = {"sequence": "sLASER", "te_ms": 28, "basis": "bases/slaser_te28", "macromolecules": []}
    config["sequences"]["press"]["macromolecules"] = ["MM09", "MM_3T"]
    validate_config(config, "study.yaml")
    from painmrs.study.config import CONFIG_SCHEMA

    schema = load_schema(CONFIG_SCHEMA)
    entry = schema["properties"]["sequences"]["additionalProperties"]["properties"]
    assert entry["macromolecules"]["items"]["enum"] == list(MM_COMPONENTS)


@pytest.mark.parametrize(
    "acq, entry",
    [("slaser", {"sequence": "sLASER", "te_ms": 28}),
     ("megapress", {"sequence": "MEGA-PRESS", "te_ms": 68, "edit_on_ppm": 1.9, "edit_off_ppm": 7.5, "basis": "b.BASIS"})],
)
def test_config_load_refuses_unsupported_basis_choices_before_any_job(good, acq, entry):
    config = copy.deepcopy(good)
    config["sequences"][acq] = entry
    with pytest.raises(InputError) as info:
        validate_config(config, "study.yaml")
    assert f"sequences.{acq}.basis" in str(info.value) and "study.yaml" in str(info.value)


def test_manifest_inputs_include_a_supplied_basis(good):
    from painmrs.provenance.manifest import study_inputs

    config = copy.deepcopy(good)
    assert not any("BASIS" in p for p in study_inputs(config, "bids"))
    config["sequences"]["press"]["basis"] = "bases/press_te30.BASIS"
    assert "bases/press_te30.BASIS" in study_inputs(config, "bids")
    config["dataset"]["simulate"] = True
    config["dataset"]["design"] = "design.yaml"
    assert study_inputs(config) == ["design.yaml", "bases/press_te30.BASIS"]
