"""The bad-input corpus (issue 7): every case, run through the painmrs entry point the
workflow uses for it, ends in one of the two documented ways chosen by
``execution.on_bad_scan``:

- ``fail``: an ``InputError`` / ``ScanFailure`` whose message names the file and the field
  (and the row for tables);
- ``exclude``: the scan is left out, its reason is in the QC table (``scan_qc_pass`` false,
  ``qc_reason``) and in the report, and every other scan's outputs are byte-identical to a
  clean run's.

Never: lost results of other scans, partial output files, ``*.tmp`` files, or numbers
written for a bad scan. Table and config problems are always errors (they are not scans).
This module is the one list of cases with the message each produces (see CASES below and
the closing note of issue 7).
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from bad_input_fixtures import raw_pair, write_variant
from study_fixtures import base_config, write_table

from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.jobs.process import process_batch
from painmrs.jobs.scans import ScanFailure
from painmrs.study.manifests import read_manifests, write_manifest
from painmrs.study.inventory import build_inventory
from painmrs.jobs.study import qc_table

GOOD = "sub-HC001_acq-press_voi-ACC"
BAD = "sub-HC002_acq-press_voi-ACC"


# ---- a two-subject PRESS study: HC001 is always clean, HC002 carries the defect -------------
def _config(policy: str) -> dict:
    config = base_config()
    config["execution"].pop("on_scan_error", None)
    config["execution"]["on_bad_scan"] = policy
    config["execution"]["scan_figures"] = "none"  # figures are not what is tested; they cost CPU
    return config


def _study(root: Path, svs_kind="valid", ref_kind="valid", water=True) -> Path:
    bids = root / "bids"
    write_table(bids / "participants.tsv", ["participant_id", "group", "age", "sex"],
                [("sub-HC001", "HC", 40, "F"), ("sub-HC002", "HC", 50, "M")])
    for i, sub in enumerate(("sub-HC001", "sub-HC002")):
        metab, ref = raw_pair(seed=11 + i)
        folder = bids / sub / "mrs"
        bad = sub == "sub-HC002"
        write_variant(folder / f"{sub}_acq-press_voi-ACC_svs.nii.gz", metab, svs_kind if bad else "valid")
        if water or not bad:
            if bad and ref_kind == "metabolite_copy":  # the water-suppressed scan given as its water reference
                ref, ref_kind = metab, "valid"
            write_variant(folder / f"{sub}_acq-press_voi-ACC_mrsref.nii.gz", ref, ref_kind if bad else "valid")
    return bids


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".tmp"))


def _outputs(deriv: Path, stem: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(deriv.rglob(f"{stem}_*")) if p.is_file()}


def _run_study(root: Path, policy: str):
    """The workflow's inventory -> processing -> QC table on the study in ``root``."""
    config = _config(policy)
    inv = build_inventory(root / "bids", config)
    rows = process_batch(inv.scans, root / "bids", root / "deriv", config)
    write_manifest(rows, root / "process.tsv")
    return inv, qc_table([root / "process.tsv"])


@pytest.fixture(scope="module")
def clean_outputs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("clean")
    _study(root)
    _, qc = _run_study(root, "exclude")
    assert qc["scan_qc_pass"].all() and len(qc) == 2
    return _outputs(root / "deriv", GOOD)


# ---- scan file cases: (id, svs variant, water variant, field named, message fragment) -------
SCAN_CASES = [
    ("truncated_nii_gz", "truncated", "valid", "data", "cannot read the data (file truncated or corrupt?)"),
    ("corrupt_random_bytes", "random_bytes", "valid", None, "not a readable NIfTI file (corrupt or truncated?)"),
    ("empty_file", "empty_file", "valid", None, "not a readable NIfTI file (corrupt or truncated?)"),
    ("plain_nifti_not_mrs", "plain_nifti", "valid", "intent_name", "not NIfTI-MRS: intent name is '', expected 'mrs_vX_Y'"),
    ("real_valued_data", "real_data", "valid", "datatype", "data must be complex, got float32"),
    ("missing_header_extension", "no_extension", "valid", "header extension", "no NIfTI-MRS header extension (ecode 44)"),
    ("malformed_header_extension", "extension_not_json", "valid", "header extension", "not valid JSON"),
    ("header_extension_not_object", "extension_not_object", "valid", "header extension", "must be a JSON object, got list"),
    ("dim5_tag_missing", "dim5_tag_missing", "valid", "dim_5", "missing or unknown dimension tag None for axis of size 2"),
    ("dim5_tag_unknown", "dim5_tag_unknown", "valid", "dim_5", "missing or unknown dimension tag 'DIM_SPEC'"),
    ("dim_tag_used_twice", "dim_tag_twice", "valid", "dim_6", "dimension tag 'DIM_DYN' is used twice (dim_5 and dim_6)"),
    ("spectral_axis_not_dim4", "spectral_axis_not_dim4", "valid", "dim[1:3]",
     "only single-voxel data is supported: spatial shape (1024, 1, 1) must be (1, 1, 1) and the spectral (time) axis NIfTI dimension 4"),
    ("water_ref_dyn_axis_first", "valid", "dyn_axis_first", "dim order",
     "the signal does not decay along NIfTI dimension 4"),
    # a metabolite scan with transients as dimension 4 is not flat enough to detect from its
    # decay; its 8-point "spectrum" is refused by the first ppm-window step instead
    ("metabolite_dyn_axis_first", "dyn_axis_first", "valid", "align.window_ppm", "ppm window (1.8, 4.2) has 1 points in this spectrum"),
    ("dwell_zero", "dwell=0", "valid", "dwell time (pixdim[4])", "must be in (0, 1) s, got 0.0"),
    ("dwell_negative", "dwell=-0.0005", "valid", "dwell time (pixdim[4])", "must be in (0, 1) s, got -0.0005"),
    ("dwell_nan", "dwell=nan", "valid", "dwell time (pixdim[4])", "must be in (0, 1) s, got nan"),
    ("frequency_zero", "frequency=0", "valid", "SpectrometerFrequency", "must be a positive number of MHz (at most 1500), got 0.0"),
    ("frequency_negative", "frequency=-123.2", "valid", "SpectrometerFrequency", "got -123.2"),
    ("frequency_nan", "frequency=nan", "valid", "SpectrometerFrequency", "got nan"),
    ("frequency_in_hz", "frequency=123200000", "valid", "SpectrometerFrequency", "got 123200000.0"),
    ("frequency_missing", "frequency_missing", "valid", "SpectrometerFrequency", "missing or not a number"),
    ("nan_in_data", "nan_data", "valid", "data", "contains NaN or Inf values (1 of 16384 points)"),
    ("inf_in_data", "inf_data", "valid", "data", "contains NaN or Inf values (1 of 16384 points)"),
    ("all_zero_data", "zero_data", "valid", "data", "all values are zero (empty acquisition)"),
    # (a header TE other than the config's is no longer an error: the config's TE wins and the
    # scan carries a header_te warning, tests/test_header_config.py)
    # issue 13: a nucleus other than 1H was processed and fitted as 1H
    ("nucleus_31P", "nucleus=31P", "valid", "ResonantNucleus",
     "spectrum is of nucleus '31P', but painmrs analyses 1H spectra only (the ppm axis about water at 4.65 ppm, "
     "the basis sets and the water scaling are for 1H): it would be fitted as 1H"),
    ("water_reference_31P", "valid", "nucleus=31P", "ResonantNucleus",
     "water reference is of nucleus '31P', but painmrs analyses 1H spectra only"),
    ("corrupt_water_reference", "valid", "random_bytes", None, "not a readable NIfTI file (corrupt or truncated?)"),
    ("water_reference_nan_frequency", "valid", "frequency=nan", "SpectrometerFrequency", "got nan"),
    # issue 14: plausibility of the water reference and of the samples ({svs}: the scan's file)
    ("water_reference_is_the_metabolite_scan", "valid", "metabolite_copy", "water reference",
     "not an unsuppressed water reference: its water peak is 1 x the residual water of its scan {svs} "
     "(at least 5 x expected): the metabolite file again, or the two files swapped?"),
    ("water_reference_not_at_water", "valid", "shift_ppm=-2.6", "water reference",
     "not water: its dominant peak is at 2.08 ppm, not within 0.4 ppm of water (4.65 ppm)"),
    ("water_reference_line_too_broad", "valid", "broaden_hz=60", "water reference",
     "water line 113 Hz (0.92 ppm) wide at half height: more than 0.3 ppm is no usable water reference (shim failure or not water)"),
    ("water_reference_other_echo_time", "valid", "echo_time=0.144", "EchoTime",
     "water reference TE is 144 ms but its scan {svs} has TE 30 ms (set quantify.water_te_s if that is intended)"),
    ("water_reference_other_repetition_time", "valid", "repetition_time=1.5", "RepetitionTime",
     "water reference TR is 1500 ms but its scan {svs} has TR 2000 ms"),
    ("metabolite_corrupt_sample", "spike", "valid", "data",
     "corrupt sample: |x| = 1e+30 at point 100 of trace 11 is"),
    # (the water reference holds 2 coils x 4 transients: trace 7 is coil 1, transient 3)
    ("water_reference_corrupt_sample", "valid", "spike", "data", "corrupt sample: |x| = 1e+30 at point 100 of trace 7 is"),
]
SCAN_IDS = [c[0] for c in SCAN_CASES]


def _bad_file(bids: Path, svs_kind: str) -> Path:
    suffix = "svs" if svs_kind != "valid" else "mrsref"
    return bids / "sub-HC002" / "mrs" / f"{BAD}_{suffix}.nii.gz"


def _fail(root: Path):
    """on_bad_scan: fail -> the inventory or the processing job raises."""
    config = _config("fail")
    try:
        inv = build_inventory(root / "bids", config)
    except InputError as exc:
        return exc, "inventory"
    with pytest.raises(ScanFailure) as info:
        process_batch(inv.scans, root / "bids", root / "deriv", config)
    return info.value, "processing"


@pytest.mark.parametrize("case, svs_kind, ref_kind, field, fragment", SCAN_CASES, ids=SCAN_IDS)
def test_bad_scan_fail(tmp_path, case, svs_kind, ref_kind, field, fragment):
    bids = _study(tmp_path, svs_kind, ref_kind)
    error, stage = _fail(tmp_path)
    bad = _bad_file(bids, svs_kind)
    fragment = fragment.format(svs=bids / "sub-HC002" / "mrs" / f"{BAD}_svs.nii.gz")
    message = str(error)
    # the file and the field are named; a processing failure also names the scan
    assert str(bad) in message and fragment in message, message
    if field is not None:
        assert f"field '{field}'" in message, message
    if stage == "processing":
        assert message.startswith(f"{BAD} (") and "processing failed: InputError" in message
        inner = error.__cause__
        assert isinstance(inner, InputError) and inner.path == str(bad) and inner.field == field
    else:
        assert error.path == str(bad) and error.field == field
    # nothing of the bad scan was written, and no temporary files
    assert not _outputs(tmp_path / "deriv", BAD) and not _leftovers(tmp_path)


@pytest.mark.parametrize("case, svs_kind, ref_kind, field, fragment", SCAN_CASES, ids=SCAN_IDS)
def test_bad_scan_exclude(tmp_path, clean_outputs, case, svs_kind, ref_kind, field, fragment):
    bids = _study(tmp_path, svs_kind, ref_kind)
    inv, qc = _run_study(tmp_path, "exclude")
    bad = _bad_file(bids, svs_kind)
    fragment = fragment.format(svs=bids / "sub-HC002" / "mrs" / f"{BAD}_svs.nii.gz")
    # the bad scan is excluded with its reason; the good one passes, its outputs identical to a clean run's
    assert qc.set_index("stem")["scan_qc_pass"].to_dict() == {GOOD: True, BAD: False}
    reason = qc.set_index("stem").loc[BAD, "qc_reason"]
    assert str(bad) in reason and fragment in reason, reason
    if field is not None:
        assert f"field '{field}'" in reason
    assert _outputs(tmp_path / "deriv", GOOD) == clean_outputs
    assert not _outputs(tmp_path / "deriv", BAD) and not _leftovers(tmp_path)
    # header problems are caught by the inventory (before any processing), listed last
    excluded = inv.scans.set_index("stem")["exclusion"]
    if excluded[BAD]:
        assert reason.startswith("excluded by the inventory: ") and inv.scans["stem"].iloc[-1] == BAD
    else:
        assert reason.startswith("processing failed: InputError: ")


def test_partial_outputs_of_a_failing_scan_are_removed(tmp_path, monkeypatch):
    # A scan that fails after writing some of its files (here: the QC sidecar fails) leaves none.
    from painmrs.processing import pipeline

    _study(tmp_path)
    config = _config("exclude")
    inv = build_inventory(tmp_path / "bids", config)
    real = pipeline.write_processed

    def half_written(scan, out_dir, stem, **kw):
        paths = real(scan, out_dir, stem, **kw)
        if stem == BAD:
            raise OSError("disk full after the NIfTI files")
        return paths

    monkeypatch.setattr(pipeline, "write_processed", half_written)
    rows = process_batch(inv.scans, tmp_path / "bids", tmp_path / "deriv", config)
    assert [r["stem"] for r in rows if r["output"] == "error"] == [BAD]
    assert "OSError: disk full" in [r["message"] for r in rows if r["output"] == "error"][0]
    assert not _outputs(tmp_path / "deriv", BAD) and _outputs(tmp_path / "deriv", GOOD)
    assert not _leftovers(tmp_path)


def test_missing_water_reference_keeps_ratios_and_warns(tmp_path):
    """No water reference: not an error. Ratios are computed, water-scaled values are n/a
    (never 0), and the warning reaches the QC table and the report."""
    from painmrs.basis.basis_set import BasisSet
    from painmrs.basis.readers import write_fsl_basis
    from painmrs.demo.synthetic import press_fid
    from painmrs.report.sections import _excluded_and_warned
    from painmrs.io import nifti_mrs
    from painmrs.mrs import MRSData

    bids = _study(tmp_path, water=False)
    inv = build_inventory(bids, _config("fail"))
    assert inv.scans.set_index("stem")["water_available"].to_dict() == {GOOD: True, BAD: False}
    # fit a clean synthetic spectrum with its own singlet basis: truth NAA/tCr = 1.0/0.8
    fid, parts = press_fid(n=1024, mhz=123.2)
    rng = np.random.default_rng(1)
    noisy = fid + 0.002 * (rng.normal(size=fid.size) + 1j * rng.normal(size=fid.size))
    data = MRSData(fid=noisy, dwell_s=5e-4, spectrometer_mhz=123.2, header={"EchoTime": 0.03, "RepetitionTime": 2.0})
    nifti_mrs.write(data, tmp_path / "spec.nii.gz")
    _, clean = press_fid(n=1024, mhz=123.2, lorentz_hz=0.0, gauss_hz=0.0)
    names = ["NAA", "Cr", "Cr39", "PCh"]
    basis = BasisSet(names=tuple(names), fids=np.stack([clean[k] for k in ("NAA", "tCr", "tCr39", "tCho")], 1),
                     dwell_s=5e-4, spectrometer_mhz=123.2, echo_time_s=0.03, sequence="PRESS")
    write_fsl_basis(basis, tmp_path / "basis")
    out = tmp_path / "fit"
    assert main(["fit", "--data", str(tmp_path / "spec.nii.gz"), "--basis", str(tmp_path / "basis"), "--out", str(out),
                 "--name", BAD, "--no-figure"]) == 0
    text = (out / f"{BAD}_fit.tsv").read_text()
    table = pd.read_csv(out / f"{BAD}_fit.tsv", sep="\t", na_values=["n/a"], keep_default_na=False).set_index("metabolite")
    assert table["conc_mM"].isna().all() and table["conc_molal"].isna().all()  # n/a, not 0
    assert "\t0\t" not in text.split("\n", 1)[1].replace("\t0\t0", "")  # no zero written for water-scaled values
    # the data are 1 x each basis column (+ noise SD 0.2 % of NAA's first point): NAA/tCr = 1 within 5 %
    assert table.loc["NAA", "ratio_tCr"] == pytest.approx(1.0, rel=0.05)
    assert table["warnings"].iloc[0].startswith("no_water_reference")
    # the QC table and the report carry the warning
    (tmp_path / "qc.json").write_text(f'{{"stem": "{BAD}"}}')
    write_manifest([{"stem": BAD, "output": "qc_json", "path": str(tmp_path / "qc.json"), "sha256": "", "message": ""}],
                   tmp_path / "p.tsv")
    write_manifest([{"stem": BAD, "output": "fit_tsv", "path": str(out / f"{BAD}_fit.tsv"), "sha256": "", "message": ""}],
                   tmp_path / "f.tsv")
    qc = qc_table([tmp_path / "p.tsv"], [tmp_path / "f.tsv"])
    assert qc["scan_qc_pass"].tolist() == [True]
    assert qc["qc_warnings"].iloc[0].startswith("no_water_reference: conc_mM, conc_molal and alpha_corrected unavailable")
    excluded, warned = _excluded_and_warned(qc)
    assert excluded.empty and warned["stem"].tolist() == [BAD]


# ---- basis sets: fit refuses a basis for another TE, field or sequence ---------------------
@pytest.fixture(scope="module")
def spectrum_file(tmp_path_factory) -> Path:
    from painmrs.io import nifti_mrs
    from painmrs.mrs import MRSData
    from painmrs.demo.synthetic import press_fid

    root = tmp_path_factory.mktemp("spectrum")
    fid, _ = press_fid(n=1024, mhz=123.2)
    header = {"EchoTime": 0.03, "RepetitionTime": 2.0, "SequenceName": "PRESS"}
    return nifti_mrs.write(MRSData(fid=fid, dwell_s=5e-4, spectrometer_mhz=123.2, header=header), root / "spec.nii.gz")


BASIS_CASES = [
    ("basis_wrong_te", dict(echo_time_s=0.068), "echo time", "basis is for TE 68 ms but {data} has TE 30 ms"),
    ("basis_wrong_field", dict(spectrometer_mhz=297.2), "spectrometer frequency",
     "basis is for 297.2 MHz but {data} was acquired at 123.2 MHz (another field strength)"),
    ("basis_wrong_sequence", dict(sequence="MEGA-PRESS:DIFF"), "sequence", "basis is for MEGA-PRESS:DIFF but {data} needs PRESS"),
]


@pytest.mark.parametrize("case, change, field, fragment", BASIS_CASES, ids=[c[0] for c in BASIS_CASES])
def test_fit_refuses_a_mismatched_basis(tmp_path, spectrum_file, capsys, case, change, field, fragment):
    from painmrs.basis.basis_set import BasisSet
    from painmrs.basis.readers import write_fsl_basis
    from painmrs.demo.synthetic import press_fid

    _, parts = press_fid(n=1024, mhz=123.2)
    spec = dict(names=tuple(parts), fids=np.stack(list(parts.values()), 1), dwell_s=5e-4, spectrometer_mhz=123.2,
                echo_time_s=0.03, sequence="PRESS")
    write_fsl_basis(BasisSet(**{**spec, **change}), tmp_path / "basis")
    assert main(["fit", "--data", str(spectrum_file), "--basis", str(tmp_path / "basis"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"painmrs fit: error: {tmp_path / 'basis'}, field '{field}': " in err
    assert fragment.format(data=spectrum_file) in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


#: A supplied basis stored in the other conjugation convention, or off its ppm reference
#: (painmrs.basis.registration): repaired by default (recorded in _fit.json), refused with
#: --basis-repair refuse (sequences.<acq>.basis_repair: refuse in the workflow).
MISREGISTERED_BASIS_CASES = [
    ("basis_conjugated", "conjugate", "basis orientation (FID conjugation)",
     "are mirrored about 4.65 ppm: their FIDs are stored in the other conjugation convention"),
    ("basis_shifted", "shift", "basis ppm registration", "Hz (+0.100 ppm) from their nominal shifts"),
]


@pytest.mark.parametrize("case, how, field, fragment", MISREGISTERED_BASIS_CASES,
                         ids=[c[0] for c in MISREGISTERED_BASIS_CASES])
def test_fit_repairs_or_refuses_a_misregistered_basis(tmp_path, spectrum_file, capsys, case, how, field, fragment):
    import json

    from painmrs.basis.basis_set import BasisSet
    from painmrs.basis.readers import write_fsl_basis
    from painmrs.demo.synthetic import press_fid

    _, parts = press_fid(n=1024, mhz=123.2)
    fids = np.stack(list(parts.values()), 1)
    t = np.arange(1024)[:, None] * 5e-4
    fids = np.conj(fids) if how == "conjugate" else fids * np.exp(2j * np.pi * 0.1 * 123.2 * t)
    write_fsl_basis(BasisSet(names=tuple(parts), fids=fids, dwell_s=5e-4, spectrometer_mhz=123.2, echo_time_s=0.03,
                             sequence="PRESS"), tmp_path / "basis")
    args = ["fit", "--data", str(spectrum_file), "--basis", str(tmp_path / "basis"), "--no-figure"]
    assert main([*args, "--basis-repair", "refuse", "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert f"painmrs fit: error: {tmp_path / 'basis'}, field '{field}': " in err and fragment in err
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())
    assert main([*args, "--out", str(tmp_path / "out")]) == 0  # repaired, and the repair on record
    check = json.loads((tmp_path / "out" / "spec_fit.json").read_text())["basis_check"]
    assert ("conjugated" in check) == (how == "conjugate") and ("shift_hz" in check) == (how == "shift")
    assert all(abs(v) < 1.0 for v in check["against_data"]["data_minus_basis_hz"].values())


# ---- study tables: always errors naming participants.tsv / sessions.tsv, row and column -----
def _table_study(root: Path, participants=None, sessions=True) -> Path:
    """Tiny header-only scans (what `painmrs validate` reads) for HC001, HC002, CLBP001."""
    from study_fixtures import PARTICIPANTS, make_study

    return make_study(root, participants=participants or PARTICIPANTS, sessions=("baseline", "post") if sessions else ())


def _validate(capsys, bids: Path, config: dict | None = None, tmp: Path | None = None) -> tuple[int, str]:
    path = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
    if config is not None:
        path = tmp / "study.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    code = main(["validate", "--config", str(path), "--bids", str(bids)])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _rewrite_participants(bids: Path, rows: list[tuple]) -> None:
    write_table(bids / "participants.tsv", ["participant_id", "group", "age", "sex", "pain_nrs"], rows)


TABLE_CASES = [
    ("unknown_group", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HX", 52, "M", 1),
                                                          ("sub-CLBP001", "cLBP", 47, "M", 6)]),
     "participants.tsv, row 2, field 'group': 'HX' is not a declared group"),
    ("duplicate_participant_id", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HC", 52, "M", 1),
                                                                     ("sub-HC001", "HC", 47, "M", 6), ("sub-CLBP001", "cLBP", 47, "M", 6)]),
     "participants.tsv, row 3, field 'participant_id': duplicate 'sub-HC001' (first on row 1)"),
    ("subject_with_data_not_in_participants", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-CLBP001", "cLBP", 47, "M", 6)]),
     "participants.tsv, field 'participant_id': sub-HC002 has scans (e.g. sub-HC002/ses-baseline/mrs/sub-HC002_ses-baseline_acq-megapress_voi-thalamus_svs.nii.gz) but no row in participants.tsv"),
    ("participant_without_data", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HC", 52, "M", 1),
                                                                     ("sub-CLBP001", "cLBP", 47, "M", 6), ("sub-HC009", "HC", 30, "F", 0)]),
     "participants.tsv, row 4, field 'participant_id': sub-HC009 is listed but has no MRS scans in"),
    ("participant_label_with_path", lambda b: _rewrite_participants(b, [("sub-../HC001", "HC", 41, "F", 0)]),
     "participants.tsv, row 1, field 'participant_id': 'sub-../HC001' is not a valid label: only letters and digits are allowed"),
    ("participant_label_with_space", lambda b: _rewrite_participants(b, [("sub-HC 001", "HC", 41, "F", 0)]),
     "participants.tsv, row 1, field 'participant_id': 'sub-HC 001' is not a valid label"),
    ("participant_label_with_html", lambda b: _rewrite_participants(b, [("sub-<script>", "HC", 41, "F", 0)]),
     "participants.tsv, row 1, field 'participant_id': 'sub-<script>' is not a valid label"),
    ("group_label_with_html", lambda b: _rewrite_participants(b, [("sub-HC001", "<script>alert(1)</script>", 41, "F", 0)]),
     "participants.tsv, row 1, field 'group': '<script>alert(1)</script>' is not a valid label"),
    ("session_label_with_path", lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id"], [("ses-../x",)]),
     "sub-HC001_sessions.tsv, row 1, field 'session_id': 'ses-../x' is not a valid label"),
    ("session_label_with_html", lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id", "arm"],
                                                       [("ses-baseline", "<b>x</b>")]),
     "sub-HC001_sessions.tsv, row 1, field 'arm': '<b>x</b>' is not a valid label"),
    ("scanned_session_missing_from_sessions_table",
     lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id"], [("ses-baseline",)]),
     "sub-HC001_sessions.tsv, field 'session_id': ses-post has scans but no row in this sessions table"),
    ("scan_folder_label_with_space", lambda b: (b / "sub-HC001" / "ses-baseline" / "mrs" / "sub-HC001_ses-baseline_acq-press_voi-ACC_svs.nii.gz")
     .rename(b / "sub-HC001" / "ses-baseline" / "mrs" / "sub-HC001_ses-baseline_acq-press_voi-AC C_svs.nii.gz"),
     "sub-HC001_ses-baseline_acq-press_voi-AC C_svs.nii.gz, field 'voi': 'AC C' is not a label of letters and digits only"),
    ("participants_header_only", lambda b: write_table(b / "participants.tsv", ["participant_id", "group", "age", "sex"], []),
     "participants.tsv: no participants listed"),
    # issue 14: numbers parsed strictly (these were silent NaNs, or a ValueError after all fitting)
    ("age_overflowing_float", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HC", "1e400", "M", 1),
                                                                  ("sub-CLBP001", "cLBP", 47, "M", 6)]),
     "participants.tsv, row 2, field 'age': '1e400' is not a finite number (write n/a for a missing value)"),
    ("age_infinite", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", "inf", "F", 0), ("sub-HC002", "HC", 52, "M", 1),
                                                         ("sub-CLBP001", "cLBP", 47, "M", 6)]),
     "participants.tsv, row 1, field 'age': 'inf' is not a finite number (write n/a for a missing value)"),
    ("score_with_decimal_comma", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HC", 52, "M", 1),
                                                                     ("sub-CLBP001", "cLBP", 47, "M", "5,5")]),
     "participants.tsv, row 3, field 'pain_nrs': '5,5' is not a number: column 'pain_nrs' holds numbers (row 1: '0'); "
     "use '.' as the decimal mark (write n/a for a missing value)"),
    ("score_as_word", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", 0), ("sub-HC002", "HC", 52, "M", 1),
                                                          ("sub-CLBP001", "cLBP", 47, "M", "five")]),
     "participants.tsv, row 3, field 'pain_nrs': 'five' is not a number: column 'pain_nrs' holds numbers (row 1: '0') "
     "(write n/a for a missing value)"),
    ("declared_score_all_words", lambda b: _rewrite_participants(b, [("sub-HC001", "HC", 41, "F", "none"), ("sub-HC002", "HC", 52, "M", "n/a"),
                                                                     ("sub-CLBP001", "cLBP", 47, "M", "severe")]),
     "participants.tsv, row 1, field 'pain_nrs': 'none' is not a number: 'pain_nrs' is a score the config analyses "
     "(write n/a for a missing value)"),
    ("session_score_with_decimal_comma",
     lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id", "pain_vas"],
                           [("ses-baseline", "4.5"), ("ses-post", "5,5")]),
     "sub-HC001_sessions.tsv, row 2, field 'pain_vas': '5,5' is not a number: column 'pain_vas' holds numbers (row 1: '4.5'); "
     "use '.' as the decimal mark"),
    ("session_score_infinite",
     lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id", "pain_vas"],
                           [("ses-baseline", "-inf"), ("ses-post", "3")]),
     "sub-HC001_sessions.tsv, row 1, field 'pain_vas': '-inf' is not a finite number"),
    # issue 14: sessions tables and folders agree both ways
    ("listed_session_without_folder",
     lambda b: write_table(b / "sub-HC001" / "sub-HC001_sessions.tsv", ["session_id"], [("ses-baseline",), ("ses-post",), ("ses-followup",)]),
     "sub-HC001_sessions.tsv, row 3, field 'session_id': ses-followup is listed but {bids}/sub-HC001/ses-followup does not exist "
     "(remove the row, or add the session's data)"),
]


@pytest.mark.parametrize("case, spoil, expected", TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
def test_bad_tables_are_errors_naming_file_row_and_column(tmp_path, capsys, case, spoil, expected):
    bids = _table_study(tmp_path)
    spoil(bids)
    code, out = _validate(capsys, bids)
    expected = expected.format(bids=bids)
    assert code == 2, out
    assert "painmrs validate: error: " in out and expected in out, out
    assert not (tmp_path / "results").exists()
    # the workflow's inventory job stops with the same message
    with pytest.raises(InputError) as info:
        build_inventory(bids, _config("exclude"))
    assert expected in str(info.value)


def test_empty_study(tmp_path, capsys):
    bids = tmp_path / "bids"
    write_table(bids / "participants.tsv", ["participant_id", "group", "age", "sex"], [("sub-HC001", "HC", 40, "F")])
    code, out = _validate(capsys, bids)
    assert code == 2
    assert f"painmrs validate: error: {bids}: no MRS scans found (expected sub-*/[ses-*/]mrs/*_svs.nii.gz): the study is empty" in out


def test_every_scan_excluded_is_an_error(tmp_path):
    bids = _study(tmp_path, "random_bytes")
    (bids / "sub-HC001" / "mrs" / f"{GOOD}_svs.nii.gz").write_bytes(b"junk")
    with pytest.raises(InputError, match="every scan is excluded"):
        build_inventory(bids, _config("exclude"))


def test_longitudinal_subject_missing_a_session_is_reported_not_an_error(tmp_path, capsys):
    """The inventory accepts a listed-but-unscanned session; the mixed model uses the
    subject's single session and counts it in n_single_session."""
    from painmrs.stats import LongitudinalStudy, StatsOptions
    from painmrs.stats.longitudinal import parallel_arm_contrasts

    bids = _table_study(tmp_path)
    for path in (bids / "sub-HC002" / "ses-post").rglob("*.nii.gz"):
        path.unlink()
    code, out = _validate(capsys, bids)
    assert code == 0 and "10 scans, 3 participants, 6 sessions" in out, out
    # the statistics on such a study: 8 subjects per arm, one without its post session
    rng = np.random.default_rng(3)
    rows = []
    for arm, change in (("verum", 0.5), ("sham", 0.0)):
        for i in range(8):
            u = rng.normal(0, 0.5)
            for time in ("baseline", "post"):
                if arm == "verum" and i == 0 and time == "post":
                    continue
                rows.append(dict(subject=f"sub-{arm}{i}", session=f"ses-{time}", study="acupuncture", arm=arm, time=time,
                                 value=10 + u + (change if time == "post" else 0) + rng.normal(0, 0.2), region="ACC",
                                 acq="press", metabolite="NAA", measure="conc_mM", qc_pass=True, group="MwoA", sex="F",
                                 age=40.0, f_gm=0.5))
    study = LongitudinalStudy(name="acupuncture", design="parallel", study="acupuncture", reference_arm="sham", covariates=())
    inter, _, _ = parallel_arm_contrasts(pd.DataFrame(rows), study, StatsOptions())
    r = inter.iloc[0]
    assert r["n_single_session"] == 1 and r["n_subjects"] == 16
    assert np.isfinite(r["estimate"]) and r["estimate"] == pytest.approx(0.5, abs=0.4)  # 0.5 planted, SE ~0.15


# ---- config: typos and out-of-range values are errors naming the file and key ---------------
CONFIG_CASES = [
    ("config_unknown_key", lambda c: c["execution"].update(on_bad_scna="fail"),
     "field 'execution.on_bad_scna': unknown key (did you mean 'on_bad_scan'?)"),
    ("config_bad_policy_value", lambda c: c["execution"].update(on_bad_scan="skip"),
     "field 'execution.on_bad_scan': 'skip' is not allowed: choose one of 'fail', 'exclude'"),
    ("config_negative_crlb_threshold", lambda c: c["qc"].update(max_crlb_pct=-5),
     "field 'qc.max_crlb_pct': -5 is out of range: must be > 0"),
    ("config_negative_snr_threshold", lambda c: c["qc"].update(min_snr=-1),
     "field 'qc.min_snr': -1 is out of range: must be >= 0"),
    ("config_zero_linewidth_limit", lambda c: c["qc"].update(max_fwhm_ppm=0),
     "field 'qc.max_fwhm_ppm': 0 is out of range: must be > 0"),
    ("config_negative_metabolite_crlb", lambda c: c["qc"]["max_crlb_pct_by_metabolite"].update(GABA=-50),
     "field 'qc.max_crlb_pct_by_metabolite.GABA': -50 is out of range: must be > 0"),
    ("config_old_and_new_policy_key", lambda c: c["execution"].update(on_scan_error="skip"),
     "field 'execution.on_scan_error': deprecated name of 'execution.on_bad_scan': give only on_bad_scan"),
    # analysis filters naming nothing: used to give 0 rows / every patient group silently
    ("config_unknown_metabolite", lambda c: c["analysis"]["families"]["group_differences"].update(metabolites=["NAAA"]),
     "field 'analysis.families.group_differences.metabolites[0]': 'NAAA' is not a metabolite painmrs reports "
     "(did you mean 'NAA'?)"),
    ("config_unknown_design_metabolite", lambda c: c["analysis"]["designs"]["acupuncture"].update(metabolites=["GABA", "Glutamate"]),
     "field 'analysis.designs.acupuncture.metabolites[1]': 'Glutamate' is not a metabolite painmrs reports"),
    ("config_control_group_as_patient_group", lambda c: c["analysis"]["families"]["group_differences"].update(groups=["HC"]),
     "field 'analysis.families.group_differences.groups[0]': 'HC' is the control group (groups.control): "
     "a group family lists patient groups only"),
    ("config_control_group_in_correlations", lambda c: c["analysis"]["families"]["pain_correlations"].update(groups=["cLBP", "HC"]),
     "field 'analysis.families.pain_correlations.groups[1]': 'HC' is the control group"),
    # a stage option the schema lets through (the qc library refuses it when the workflow loads)
    ("config_unknown_qc_key", lambda c: c["qc"].update(max_crlb=20), "field 'qc.max_crlb'"),
]


@pytest.mark.parametrize("case, mutate, expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_an_error_naming_the_key(tmp_path, capsys, case, mutate, expected):
    config = _config("exclude")
    mutate(config)
    code, out = _validate(capsys, tmp_path / "absent", config, tmp_path)
    assert code == 2 and f"painmrs validate: error: {tmp_path / 'study.yaml'}, {expected}" in out, out


def test_age_family_may_list_the_control_group():
    from painmrs.study.config import validate_config

    config = _config("exclude")
    assert config["analysis"]["families"]["ageing"]["groups"] == ["HC"]  # ageing within controls
    validate_config(config, "study.yaml")


def test_duplicate_yaml_key_is_an_error(tmp_path, capsys):
    """PyYAML keeps the last of two equal keys silently; the config loader refuses them."""
    from painmrs.study.config import load_config

    text = yaml.safe_dump(_config("exclude"), sort_keys=False)
    assert "\nqc:\n" in text
    path = tmp_path / "study.yaml"
    path.write_text(text.replace("\nqc:\n", "\nqc:\n  min_snr: 3\n", 1), encoding="utf-8")
    assert yaml.safe_load(path.read_text())["qc"]["min_snr"] != 3  # what a plain loader does
    line = path.read_text().splitlines().index("  min_snr: 3") + 1
    with pytest.raises(InputError) as info:
        load_config(path)
    assert info.value.field == "qc.min_snr" and info.value.row > line
    assert f"first given on line {line}" in str(info.value)
    code = main(["validate", "--config", str(path), "--bids", str(tmp_path / "absent")])
    out = capsys.readouterr()
    assert code == 2 and f"{path}, row {info.value.row}, field 'qc.min_snr': duplicate key" in out.err + out.out


def test_yaml_merge_key_may_be_overridden(tmp_path):
    from painmrs.study.config import read_yaml_strict

    path = tmp_path / "x.yaml"
    path.write_text("base: &b {p: 1, q: 2}\nm:\n  <<: *b\n  p: 5\n", encoding="utf-8")
    assert read_yaml_strict(path) == {"base": {"p": 1, "q": 2}, "m": {"p": 5, "q": 2}}


@pytest.mark.parametrize("where", ["family", "group_comparison", "longitudinal"])
def test_covariate_not_in_the_tables_is_an_error(tmp_path, capsys, where):
    """A covariate that is no participants/sessions column used to be dropped with a note."""
    bids = _table_study(tmp_path)
    config = _config("exclude")
    if where == "family":
        config["analysis"]["families"]["group_differences"]["covariates"] = ["age", "bmi"]
        key = "analysis.families.group_differences.covariates"
    elif where == "group_comparison":
        config.setdefault("stats", {})["group_comparison"] = {"covariates": ["bmi"]}
        key = "stats.group_comparison.covariates"
    else:
        config.setdefault("stats", {})["longitudinal"] = [
            {"name": "acupuncture", "design": "parallel", "study": "acupuncture", "covariates": ["sex", "bmi"]}]
        key = "stats.longitudinal[0].covariates"
    code, out = _validate(capsys, bids, config, tmp_path)
    assert code == 2, out
    assert f"painmrs validate: error: {tmp_path / 'study.yaml'}, field '{key}': covariate 'bmi' is not a column of" in out, out
    # the same config with a real participants column (and scan-level f_gm) is accepted
    config = _config("exclude")
    config["analysis"]["families"]["group_differences"]["covariates"] = ["age", "pain_nrs", "f_gm"]
    code, out = _validate(capsys, bids, config, tmp_path)
    assert code == 0, out


def test_deprecated_policy_key_is_renamed(caplog):
    from painmrs.study.config import bad_scan_policy, validate_config

    config = copy.deepcopy(_config("exclude"))
    del config["execution"]["on_bad_scan"]
    config["execution"]["on_scan_error"] = "skip"
    validate_config(config, "old.yaml")
    assert config["execution"]["on_bad_scan"] == "exclude" and "on_scan_error" not in config["execution"]
    assert bad_scan_policy(config) == "exclude"
    assert "old.yaml: execution.on_scan_error is deprecated; read as execution.on_bad_scan: exclude" in caplog.text


def test_dimension_tag_for_a_dropped_singleton_dimension_is_accepted(tmp_path):
    """Not bad input: NIfTI drops trailing size-1 dimensions, so a tag beyond the stored
    dimensions (spec2nii's DICOM output keeps dim_5 = DIM_DYN over 4-D data) reads as before."""
    from painmrs.io import nifti_mrs

    svs, _ = raw_pair(7)
    path = write_variant(tmp_path / "tagged_svs.nii.gz", svs, "tag_without_dimension")
    read_back = nifti_mrs.read(path)
    assert read_back.fid.shape == svs.fid.shape
    np.testing.assert_allclose(read_back.fid, svs.fid, rtol=1e-6, atol=1e-6 * np.abs(svs.fid).max())


def test_water_reference_at_the_configured_water_echo_time_is_accepted(tmp_path):
    """A water reference acquired at another TE on purpose: quantify.water_te_s declares it (the
    relaxation correction then uses it); the inventory checks the header against that value."""
    bids = _study(tmp_path, "valid", "echo_time=0.144")
    _, ref = raw_pair(seed=11)  # the other subject's water reference at TE 144 ms too
    write_variant(bids / "sub-HC001" / "mrs" / f"{GOOD}_mrsref.nii.gz", ref, "echo_time=0.144")
    config = _config("fail")
    config["quantify"]["water_te_s"] = 0.144
    scans = build_inventory(bids, config).scans
    assert scans["exclusion"].tolist() == ["", ""]
    config["quantify"]["water_te_s"] = 0.1
    with pytest.raises(InputError) as info:
        build_inventory(bids, config)
    assert str(info.value) == (f"{bids / 'sub-HC001' / 'mrs' / GOOD}_mrsref.nii.gz, field 'EchoTime': water reference TE is "
                               "144 ms but config quantify.water_te_s is 100 ms")
