"""Study-table errors: each names the file, the row and the column."""

from __future__ import annotations

import pytest
from study_fixtures import PARTICIPANTS, base_config, make_study, write_table

from painmrs.errors import InputError
from painmrs.study.inventory import build_inventory
from painmrs.study.tables import load_participants, load_sessions

HEADER = ["participant_id", "group", "age", "sex", "pain_nrs"]


def _participants(tmp_path, rows, header=HEADER):
    return write_table(tmp_path / "participants.tsv", header, rows)


def _raises(func, *args) -> InputError:
    with pytest.raises(InputError) as info:
        func(*args)
    return info.value


def test_valid_participants_are_typed(tmp_path):
    frame = load_participants(_participants(tmp_path, PARTICIPANTS), base_config())
    assert list(frame["participant_id"]) == ["sub-HC001", "sub-HC002", "sub-CLBP001"]
    assert frame["age"].tolist() == [41, 52, 47]
    assert frame["pain_nrs"].tolist() == [0, 1, 6]


def test_unknown_group(tmp_path):
    rows = list(PARTICIPANTS) + [("sub-X01", "XYZ", "30", "F", "2")]
    path = _participants(tmp_path, rows)
    err = _raises(load_participants, path, base_config())
    assert (err.path, err.row, err.field) == (str(path), 4, "group")
    assert str(err).startswith(f"{path}, row 4, field 'group': 'XYZ' is not a declared group")


def test_duplicate_participant(tmp_path):
    rows = list(PARTICIPANTS) + [PARTICIPANTS[1]]
    path = _participants(tmp_path, rows)
    err = _raises(load_participants, path, base_config())
    assert (err.row, err.field) == (4, "participant_id")
    assert "duplicate 'sub-HC002' (first on row 2)" in str(err)


def test_missing_required_column(tmp_path):
    header = ["participant_id", "age", "sex", "pain_nrs"]
    path = _participants(tmp_path, [(r[0], r[2], r[3], r[4]) for r in PARTICIPANTS], header)
    err = _raises(load_participants, path, base_config())
    assert (err.row, err.field) == ("header", "group")
    assert "required column is missing" in str(err) and str(path) in str(err)


@pytest.mark.parametrize("label", ["sub-../../etc", "sub-HC 003", "sub-<script>", "HC003"])
def test_bad_participant_label(tmp_path, label):
    rows = list(PARTICIPANTS) + [(label, "HC", "30", "F", "0")]
    path = _participants(tmp_path, rows)
    err = _raises(load_participants, path, base_config())
    assert (err.row, err.field) == (4, "participant_id")
    assert repr(label) in str(err)


def test_group_with_html(tmp_path):
    rows = list(PARTICIPANTS) + [("sub-HC003", "<script>", "30", "F", "0")]
    err = _raises(load_participants, _participants(tmp_path, rows), base_config())
    assert (err.row, err.field) == (4, "group")


def test_age_out_of_range(tmp_path):
    rows = list(PARTICIPANTS) + [("sub-HC003", "HC", "430", "F", "0")]
    err = _raises(load_participants, _participants(tmp_path, rows), base_config())
    assert (err.row, err.field) == (4, "age") and "out of range" in str(err)


def test_age_not_a_number(tmp_path):
    rows = list(PARTICIPANTS) + [("sub-HC003", "HC", "forty", "F", "0")]
    err = _raises(load_participants, _participants(tmp_path, rows), base_config())
    assert (err.row, err.field) == (4, "age") and "wrong type" in str(err)


def test_missing_age_is_allowed(tmp_path):
    rows = list(PARTICIPANTS) + [("sub-HC003", "HC", "n/a", "F", "0")]
    frame = load_participants(_participants(tmp_path, rows), base_config())
    assert frame["age"].isna().sum() == 1


def test_ragged_row(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id\tgroup\tage\tsex\nsub-A1\tHC\t40\n", encoding="utf-8")
    err = _raises(load_participants, path, base_config())
    assert err.row == 1 and "3 cells but the header has 4 columns" in str(err)


def test_comma_separated_table(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id,group,age,sex\nsub-A1,HC,40,F\n", encoding="utf-8")
    err = _raises(load_participants, path, base_config())
    assert "tab-separated" in str(err)


def test_bad_column_name(tmp_path):
    header = HEADER[:-1] + ["pain score"]
    err = _raises(load_participants, _participants(tmp_path, PARTICIPANTS, header), base_config())
    assert (err.row, err.field) == ("header", "pain score")


def test_sessions_unknown_arm(tmp_path):
    path = write_table(
        tmp_path / "sub-HC001_sessions.tsv",
        ["session_id", "study", "arm", "time"],
        [("ses-baseline", "acupuncture", "verum", "baseline"), ("ses-post", "acupuncture", "needles", "post")],
    )
    err = _raises(load_sessions, path, "sub-HC001", base_config())
    assert (err.path, err.row, err.field) == (str(path), 2, "arm")
    assert "'needles' is not a treatment of design 'acupuncture'" in str(err)


def test_sessions_unknown_study_with_an_arm(tmp_path):
    path = write_table(
        tmp_path / "sub-HC001_sessions.tsv",
        ["session_id", "study", "arm"],
        [("ses-baseline", "crosssectional", "n/a"), ("ses-post", "acupunture", "verum")],
    )
    err = _raises(load_sessions, path, "sub-HC001", base_config())
    assert (err.row, err.field) == (2, "study") and "'acupunture' is not a declared design" in str(err)


def test_sessions_outside_any_design_are_allowed(tmp_path):
    path = write_table(
        tmp_path / "sub-HC001_sessions.tsv", ["session_id", "study", "arm"], [("ses-baseline", "crosssectional", "n/a")]
    )
    frame = load_sessions(path, "sub-HC001", base_config())
    assert frame["subject"].tolist() == ["sub-HC001"] and frame["study"].tolist() == ["crosssectional"]


def test_sessions_label_with_path(tmp_path):
    path = write_table(tmp_path / "sub-HC001_sessions.tsv", ["session_id"], [("ses-../x",)])
    err = _raises(load_sessions, path, "sub-HC001", base_config())
    assert (err.row, err.field) == (1, "session_id")


# ---- data vs tables --------------------------------------------------------------------------
def test_subject_with_data_but_not_in_participants(tmp_path):
    bids = make_study(tmp_path)
    write_table(bids / "participants.tsv", HEADER, PARTICIPANTS[:2])
    err = _raises(build_inventory, bids, base_config())
    assert err.path == str(bids / "participants.tsv") and err.field == "participant_id"
    assert "sub-CLBP001 has scans" in str(err) and "no row in participants.tsv" in str(err)


def test_participant_without_data(tmp_path):
    bids = make_study(tmp_path)
    write_table(bids / "participants.tsv", HEADER, list(PARTICIPANTS) + [("sub-FM001", "FM", "50", "F", "7")])
    err = _raises(build_inventory, bids, base_config())
    assert (err.path, err.row, err.field) == (str(bids / "participants.tsv"), 4, "participant_id")
    assert "sub-FM001 is listed but has no MRS scans" in str(err)


def test_scanned_session_missing_from_sessions_table(tmp_path):
    bids = make_study(tmp_path)
    table = bids / "sub-HC002" / "sub-HC002_sessions.tsv"
    write_table(table, ["session_id", "study", "arm", "time"], [("ses-baseline", "acupuncture", "sham", "baseline")])
    err = _raises(build_inventory, bids, base_config())
    assert (err.path, err.field) == (str(table), "session_id") and "ses-post has scans" in str(err)


def test_undeclared_region_in_data(tmp_path):
    bids = make_study(tmp_path)
    config = base_config()
    del config["regions"]["thalamus"]
    err = _raises(build_inventory, bids, config)
    assert err.field == "voi" and "'thalamus' is not a declared region" in str(err)
    assert "_voi-thalamus_svs.nii.gz" in err.path
