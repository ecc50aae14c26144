"""MRS-BIDS layout parsing and the scan inventory (entities, sessions, water pairing, batches)."""

from __future__ import annotations

import pytest
from study_fixtures import base_config, make_study

from painmrs.errors import InputError
from painmrs.study.inventory import build_inventory, read_scans, write_inventory
from painmrs.study.layout import batch_ids, batches, find_scans, parse_name


def test_parse_name_entities_and_stem():
    name = parse_name("sub-HC001_ses-baseline_acq-megapress_voi-ACC_run-2_svs.nii.gz")
    assert name.get("sub") == "HC001"
    assert name.get("ses") == "baseline"
    assert name.get("acq") == "megapress"
    assert name.get("voi") == "ACC"
    assert name.get("run") == "2"
    assert name.suffix == "svs"
    assert name.extension == ".nii.gz"
    assert name.stem == "sub-HC001_ses-baseline_acq-megapress_voi-ACC_run-2"


def test_parse_name_without_session():
    name = parse_name("sub-01_acq-press_voi-PCC_mrsref.nii")
    assert name.get("ses") is None
    assert name.suffix == "mrsref" and name.extension == ".nii"


@pytest.mark.parametrize(
    "bad, field",
    [
        ("sub-01_voi-ACC_acq-press_svs.nii.gz", "acq"),  # entity order
        ("sub-01_acq-press_voi-AC C_svs.nii.gz", "voi"),  # space in a label
        ("sub-01_acq-press_voi-ACC_run-x_svs.nii.gz", "run"),  # index must be a number
        ("sub-01_acq-press_voi-ACC_spectrum.nii.gz", "suffix"),
        ("sub-01_acq-press_voi-ACC_svs.dat", "extension"),
        ("sub-01_foo-bar_svs.nii.gz", "foo"),
        ("ses-1_sub-01_svs.nii.gz", "sub"),
    ],
)
def test_parse_name_rejects_bad_names(bad, field):
    with pytest.raises(InputError) as info:
        parse_name(bad)
    assert info.value.field == field
    assert bad in str(info.value)


def test_find_scans_with_sessions_and_water(tmp_path):
    bids = make_study(tmp_path)
    scans = find_scans(bids, base_config()["sequences"])
    assert len(scans) == 3 * 2 * 2  # subjects x sessions x (press ACC, megapress thalamus)
    row = scans.set_index("stem").loc["sub-HC001_ses-baseline_acq-megapress_voi-thalamus"]
    assert row["subject"] == "sub-HC001"
    assert row["session"] == "ses-baseline"
    assert row["region"] == "thalamus"
    assert row["acq"] == "megapress"
    assert row["sequence"] == "MEGA-PRESS"
    assert row["svs"] == "sub-HC001/ses-baseline/mrs/sub-HC001_ses-baseline_acq-megapress_voi-thalamus_svs.nii.gz"
    assert row["mrsref"] == "sub-HC001/ses-baseline/mrs/sub-HC001_ses-baseline_acq-megapress_voi-thalamus_mrsref.nii.gz"
    assert bool(row["water_available"]) is True
    assert list(scans["stem"]) == sorted(scans["stem"])


def test_sessions_are_optional(tmp_path):
    bids = make_study(tmp_path, sessions=())
    scans = find_scans(bids, base_config()["sequences"])
    assert len(scans) == 6
    assert set(scans["session"]) == {""}
    assert "sub-HC002_acq-press_voi-ACC" in set(scans["stem"])


def test_missing_water_reference_keeps_scan(tmp_path):
    bids = make_study(tmp_path)
    ref = bids / "sub-HC002/ses-post/mrs/sub-HC002_ses-post_acq-press_voi-ACC_mrsref.nii.gz"
    ref.unlink()
    scans = find_scans(bids, base_config()["sequences"]).set_index("stem")
    row = scans.loc["sub-HC002_ses-post_acq-press_voi-ACC"]
    assert bool(row["water_available"]) is False and row["mrsref"] == ""
    assert int(scans["water_available"].sum()) == len(scans) - 1


def test_water_reference_without_scan_is_an_error(tmp_path):
    bids = make_study(tmp_path)
    (bids / "sub-HC001/ses-post/mrs/sub-HC001_ses-post_acq-press_voi-ACC_svs.nii.gz").unlink()
    with pytest.raises(InputError) as info:
        find_scans(bids, base_config()["sequences"])
    assert info.value.field == "mrsref"
    assert "sub-HC001_ses-post_acq-press_voi-ACC_mrsref.nii.gz" in str(info.value)


def test_file_in_wrong_folder(tmp_path):
    bids = make_study(tmp_path)
    stray = bids / "sub-HC001/ses-post/mrs/sub-HC002_ses-post_acq-press_voi-S1_svs.nii.gz"
    stray.write_bytes(b"")
    with pytest.raises(InputError) as info:
        find_scans(bids, base_config()["sequences"])
    assert info.value.field == "folder" and str(stray) in str(info.value)


def test_undeclared_acquisition(tmp_path):
    bids = make_study(tmp_path)
    odd = bids / "sub-HC001/ses-post/mrs/sub-HC001_ses-post_acq-steam_voi-ACC_svs.nii.gz"
    odd.write_bytes(b"")
    with pytest.raises(InputError) as info:
        find_scans(bids, base_config()["sequences"])
    assert info.value.field == "acq" and "'steam' is not a declared sequence" in str(info.value)


def test_scan_without_voi(tmp_path):
    bids = make_study(tmp_path)
    odd = bids / "sub-HC001/ses-post/mrs/sub-HC001_ses-post_acq-press_svs.nii.gz"
    odd.write_bytes(b"")
    with pytest.raises(InputError) as info:
        find_scans(bids, base_config()["sequences"])
    assert info.value.field == "voi"


def test_anatomy_paths(tmp_path):
    bids = make_study(tmp_path, sessions=("baseline",))
    anat = bids / "sub-HC001/ses-baseline/anat/sub-HC001_ses-baseline_T1w.nii.gz"
    anat.parent.mkdir(parents=True)
    anat.write_bytes(b"")
    seg = bids / "derivatives/segmentation/sub-HC001/ses-baseline/anat/sub-HC001_ses-baseline_label-GM_probseg.nii.gz"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(b"")
    scans = find_scans(bids, base_config()["sequences"]).set_index("stem")
    row = scans.loc["sub-HC001_ses-baseline_acq-press_voi-ACC"]
    assert row["t1w"] == "sub-HC001/ses-baseline/anat/sub-HC001_ses-baseline_T1w.nii.gz"
    assert row["probseg_gm"].endswith("label-GM_probseg.nii.gz") and row["probseg_wm"] == ""
    assert scans.loc["sub-HC002_ses-baseline_acq-press_voi-ACC", "t1w"] == ""


def test_inventory_round_trip(tmp_path):
    bids = make_study(tmp_path)
    inv = build_inventory(bids, base_config())
    out = tmp_path / "inv"
    write_inventory(inv, out / "scans.tsv", out / "participants.tsv", out / "sessions.tsv")
    scans = read_scans(out / "scans.tsv")
    assert list(scans["stem"]) == list(inv.scans["stem"])
    assert scans["water_available"].tolist() == inv.scans["water_available"].tolist()
    assert len(inv.sessions) == 6 and set(inv.sessions["subject"]) == {"sub-HC001", "sub-HC002", "sub-CLBP001"}
    # Deterministic: a second write is byte-identical.
    first = (out / "scans.tsv").read_bytes()
    write_inventory(inv, out / "scans.tsv", out / "participants.tsv", out / "sessions.tsv")
    assert (out / "scans.tsv").read_bytes() == first


def test_batches_cover_every_scan_once():
    stems = [f"sub-{i:03d}_acq-press_voi-ACC" for i in range(1000)]
    groups = batches(reversed(stems), 25)
    assert len(groups) == 40 == len(batch_ids(1000, 25))
    assert sum(groups, []) == sorted(stems)
    assert batch_ids(26, 25) == ["b0000", "b0001"]
    assert batch_ids(0, 25) == []


# ---- header checks (build_inventory reads each scan's NIfTI-MRS header) ---------------------
def _fail_config():
    # The demo config excludes bad scans (execution.on_bad_scan: exclude); these tests check
    # the errors of on_bad_scan: fail (tests/test_bad_input_corpus.py covers both modes).
    config = base_config()
    config["execution"]["on_bad_scan"] = "fail"
    return config


def test_inventory_records_header_te_and_frequency(tmp_path):
    inv = build_inventory(make_study(tmp_path), base_config())
    press = inv.scans[inv.scans["acq"] == "press"]
    mega = inv.scans[inv.scans["acq"] == "megapress"]
    assert press["te_ms"].tolist() == pytest.approx([30.0] * len(press))
    assert mega["te_ms"].tolist() == pytest.approx([68.0] * len(mega))
    assert inv.scans["spectrometer_mhz"].tolist() == pytest.approx([123.2] * len(inv.scans))


def test_echo_time_disagreeing_with_config(tmp_path, caplog):
    """A header TE other than the config's is a warning naming the file and both values (the
    config's wins); the scan and its water reference agreeing with each other is required."""
    from study_fixtures import tiny_mrs

    bids = make_study(tmp_path)
    scan = bids / "sub-HC002/ses-post/mrs/sub-HC002_ses-post_acq-press_voi-ACC_svs.nii.gz"
    tiny_mrs(scan, 0.035)
    tiny_mrs(scan.with_name(scan.name.replace("_svs", "_mrsref")), 0.035)
    with caplog.at_level("WARNING", logger="painmrs.inventory"):
        inv = build_inventory(bids, _fail_config())
    assert f"header_te: {scan}: the header's EchoTime is 35 ms but config sequences.press.te_ms is 30 ms; " \
        "30 ms is used" in caplog.text
    assert len(inv.scans) > 1
    # the water reference left at 30 ms while its scan says 35 ms: named, with both files
    tiny_mrs(scan.with_name(scan.name.replace("_svs", "_mrsref")), 0.030)
    with pytest.raises(InputError) as info:
        build_inventory(bids, _fail_config())
    assert info.value.field == "EchoTime" and str(scan) in str(info.value)


def test_water_reference_from_another_scanner(tmp_path):
    from study_fixtures import tiny_mrs

    bids = make_study(tmp_path)
    ref = bids / "sub-HC001/ses-baseline/mrs/sub-HC001_ses-baseline_acq-press_voi-ACC_mrsref.nii.gz"
    tiny_mrs(ref, 0.030, mhz=127.75)
    with pytest.raises(InputError) as info:
        build_inventory(bids, _fail_config())
    assert (info.value.path, info.value.field) == (str(ref), "SpectrometerFrequency")


def test_empty_scan_file(tmp_path):
    bids = make_study(tmp_path)
    scan = bids / "sub-CLBP001/ses-post/mrs/sub-CLBP001_ses-post_acq-megapress_voi-thalamus_svs.nii.gz"
    scan.write_bytes(b"")
    with pytest.raises(InputError) as info:
        build_inventory(bids, _fail_config())
    assert info.value.path == str(scan) and "not a readable NIfTI file" in str(info.value)


def test_one_acquisition_label_mixing_field_strengths(tmp_path):
    from study_fixtures import tiny_mrs

    bids = make_study(tmp_path)
    for suffix in ("svs", "mrsref"):
        tiny_mrs(bids / f"sub-CLBP001/ses-post/mrs/sub-CLBP001_ses-post_acq-press_voi-ACC_{suffix}.nii.gz", 0.030, mhz=127.75)
    with pytest.raises(InputError) as info:
        build_inventory(bids, base_config())
    assert info.value.field == "SpectrometerFrequency"
    assert "acq-press mixes scans at 123.2 and 127.75 MHz" in str(info.value)
    assert info.value.path.endswith("sub-CLBP001_ses-post_acq-press_voi-ACC_svs.nii.gz")
