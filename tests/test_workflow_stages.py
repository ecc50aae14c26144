"""Workflow stage drivers: config sections -> option objects, batch manifests, CLI commands."""

from __future__ import annotations

import dataclasses
import hashlib

import pandas as pd
import pytest
from study_fixtures import ROOT, make_study

from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.configuration import study_options
from painmrs.study.manifests import manifest_rows, read_manifests, scan_dir, write_manifest


def stage_options(config, section, source=None):
    """One stage's options as the config model parses them (painmrs.configuration)."""
    return getattr(study_options(config, source), section)


def test_stage_options_convert_lists_and_keep_defaults():
    opts = stage_options({"fit": {"ppm_range": [0.5, 4.0], "noise_ppm_ranges": [[-3, -1], [9, 11]]}}, "fit")
    assert opts.ppm_range == (0.5, 4.0)
    assert opts.noise_ppm_ranges == ((-3, -1), (9, 11))
    assert opts.max_shift_hz == 12.0


def test_partial_relaxation_tables_update_the_defaults():
    # Regression: an empty or partial quantify.t2_ms once replaced the whole default table, so
    # every fit failed with KeyError 'water_GM'.
    default = stage_options({}, "quantify")
    empty = stage_options({"quantify": {"t2_ms": {}, "t1_s": {}}}, "quantify")
    assert empty.t2_ms == default.t2_ms and empty.t1_s == default.t1_s
    partial = stage_options({"quantify": {"t2_ms": {"NAA": 300}}}, "quantify")
    assert partial.t2_ms["NAA"] == 300 and partial.t2_ms["water_GM"] == default.t2_ms["water_GM"]


def test_stage_options_unknown_key_names_the_key():
    with pytest.raises(InputError) as info:
        stage_options({"fit": {"max_shfit_hz": 3}}, "fit", "config/config.yaml")
    assert info.value.field == "fit.max_shfit_hz"
    assert "config/config.yaml" in str(info.value) and "max_shift_hz" in str(info.value)


def test_the_shipped_configs_parse():
    from painmrs.study.config import load_config

    for name in ("config/config.yaml", "config/full.yaml"):
        config = load_config(ROOT / name)
        for section in ("fit", "quantify", "qc"):
            assert dataclasses.is_dataclass(stage_options(config, section, name))


def test_real_option_classes_accept_their_defaults():
    for section in ("fit", "quantify", "qc"):
        assert dataclasses.is_dataclass(stage_options({}, section))


def test_scan_dir_with_and_without_session(tmp_path):
    assert scan_dir(tmp_path, "sub-A1", "ses-pre") == tmp_path / "sub-A1" / "ses-pre" / "mrs"
    assert scan_dir(tmp_path, "sub-A1", "") == tmp_path / "sub-A1" / "mrs"


def test_manifest_records_real_hashes_and_round_trips(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"spectrum")
    b = tmp_path / "b.bin"
    b.write_bytes(b"qc")
    rows = manifest_rows("sub-A1_acq-press_voi-ACC", {"qc_json": b, "processed": a})
    assert [r["output"] for r in rows] == ["processed", "qc_json"]
    assert rows[0]["sha256"] == hashlib.sha256(b"spectrum").hexdigest()
    write_manifest(rows, tmp_path / "m1.tsv")
    write_manifest(rows, tmp_path / "m2.tsv")
    assert (tmp_path / "m1.tsv").read_bytes() == (tmp_path / "m2.tsv").read_bytes()
    back = read_manifests([tmp_path / "m1.tsv"])
    assert isinstance(back, pd.DataFrame) and back["path"].tolist() == [str(a), str(b)]


def test_cli_validate_and_inventory(tmp_path, capsys):
    bids = make_study(tmp_path)
    assert main(["validate", "--config", str(ROOT / "config" / "config.yaml"), "--bids", str(bids)]) == 0
    out = capsys.readouterr().out
    assert "12 scans, 3 participants, 6 sessions; 0 scans without a water reference" in out
    assert main(["inventory", "--config", str(ROOT / "config" / "config.yaml"), "--bids", str(bids), "--out", str(tmp_path / "inv")]) == 0
    assert (tmp_path / "inv" / "scans.tsv").read_text().count("\n") == 13


def test_cli_reports_table_errors_with_exit_code_2(tmp_path, capsys):
    bids = make_study(tmp_path)
    (bids / "participants.tsv").write_text(
        "participant_id\tgroup\tage\tsex\nsub-HC001\tHC\t40\tF\nsub-HC002\tXYZ\t40\tF\nsub-CLBP001\tcLBP\t40\tM\n"
    )
    assert main(["validate", "--config", str(ROOT / "config" / "config.yaml"), "--bids", str(bids)]) == 2
    err = capsys.readouterr().err
    assert f"{bids / 'participants.tsv'}, row 2, field 'group': 'XYZ' is not a declared group" in err


def _one_corrupt_scan(tmp_path):
    from painmrs.study.inventory import build_inventory

    bids = make_study(tmp_path)
    inv = build_inventory(bids, __import__("study_fixtures").base_config())
    row = inv.scans[inv.scans["stem"] == "sub-HC001_ses-post_acq-press_voi-ACC"]
    (bids / row["svs"].iloc[0]).write_bytes(b"\x1f\x8b truncated")
    return bids, row


def test_scan_failure_names_the_scan_and_file(tmp_path):
    from painmrs.jobs.process import process_batch
    from painmrs.jobs.scans import ScanFailure
    from study_fixtures import base_config

    bids, row = _one_corrupt_scan(tmp_path)
    config = base_config()
    config["execution"]["on_scan_error"] = "fail"
    with pytest.raises(ScanFailure) as info:
        process_batch(row, bids, tmp_path / "deriv", config)
    msg = str(info.value)
    assert msg.startswith("sub-HC001_ses-post_acq-press_voi-ACC (")
    assert "sub-HC001_ses-post_acq-press_voi-ACC_svs.nii.gz" in msg and "processing failed: InputError" in msg


def test_skipped_scan_is_listed_in_the_qc_table(tmp_path):
    from painmrs.jobs.fit import fit_batch
    from painmrs.jobs.process import process_batch
    from painmrs.jobs.study import qc_table
    from study_fixtures import base_config

    bids, row = _one_corrupt_scan(tmp_path)
    config = base_config()
    config["execution"]["on_scan_error"] = "skip"
    rows = process_batch(row, bids, tmp_path / "deriv", config)
    assert [r["output"] for r in rows] == ["error"] and "not a readable NIfTI file" in rows[0]["message"]
    write_manifest(rows, tmp_path / "process.tsv")
    fit_rows = fit_batch(row, read_manifests([tmp_path / "process.tsv"]), {}, bids, tmp_path / "deriv", config)
    assert fit_rows[0]["output"] == "error" and fit_rows[0]["message"].startswith("not fitted: processing failed")
    write_manifest(fit_rows, tmp_path / "fit.tsv")
    table = qc_table([tmp_path / "process.tsv"], [tmp_path / "fit.tsv"])
    assert table["stem"].tolist() == ["sub-HC001_ses-post_acq-press_voi-ACC"]
    assert table["scan_qc_pass"].tolist() == [False]
    assert table["qc_reason"].iloc[0].startswith("processing failed: InputError")


def test_mega_press_basis_fits_only_what_editing_changes(tmp_path):
    # With ideal editing pulses ON == OFF for NAA, Cr, Cho ...: those columns are exactly zero in
    # DIFF (unidentifiable; a fit once reported NAA = 9e13 there), so the DIFF basis leaves them out.
    import numpy as np

    from painmrs.basis.readers import read_fsl_basis
    from painmrs.io import nifti_mrs
    from painmrs.mrs import MRSData
    from painmrs.jobs.basis import build_basis

    sample = nifti_mrs.write(MRSData(fid=np.ones(1024, complex), dwell_s=1 / 2000, spectrometer_mhz=123.2), tmp_path / "s.nii.gz")
    sequence = {"sequence": "MEGA-PRESS", "te_ms": 68, "edit_on_ppm": 1.9, "edit_off_ppm": 7.5}
    names = build_basis(sequence, sample, tmp_path / "basis")
    diff = read_fsl_basis(tmp_path / "basis" / "diff")
    assert {"GABA", "Glu", "Gln", "MM30"} <= set(names["diff"]) == set(diff.names)
    assert not {"NAA", "Cr", "PCr", "GPC", "PCh", "mI"} & set(diff.names)
    assert {"NAA", "Cr", "PCr"} <= set(names["off"])


def test_one_parser_checks_ppm_windows_in_every_section():
    # processing and fit sections share painmrs.options: a (low, high) default demands a pair
    from painmrs.processing.pipeline import ProcessingOptions

    with pytest.raises(InputError) as info:
        ProcessingOptions.from_config({"water_window_ppm": [4.5]}, "study.yaml")
    assert info.value.field == "processing.water_window_ppm"
    with pytest.raises(InputError) as info:
        stage_options({"fit": {"ppm_range": [0.2, "x"]}}, "fit", "study.yaml")
    assert info.value.field == "fit.ppm_range"
    assert ProcessingOptions.from_config({"water_window_ppm": [4.4, 5.0]}).water_window_ppm == (4.4, 5.0)
