"""`painmrs audit RESULTS_DIR`: every kind of finding is caught (down to a one-byte change),
reported in text and JSON, with a non-zero exit code; a clean directory passes."""

from __future__ import annotations

import gzip
import json

import pytest

from painmrs.atomic import gzip_bytes
from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.provenance import audit_results, compare_trees, write_manifest
from painmrs.provenance.audit import describe_difference, rebase_paths

CONFIG = {"results_dir": "results", "dataset": {"seed": 1, "bids_dir": "results/demo/bids"}}


@pytest.fixture
def audited(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "design.yaml").write_text("groups: [HC, cLBP]\n")
    res = tmp_path / "results"
    (res / "stats").mkdir(parents=True)
    (res / "metabolites.tsv").write_text("metabolite\tvalue\nNAA\t12.5\nCr\t8.0\n")
    (res / "stats" / "group.tsv").write_text("metabolite\tp\nNAA\t0.012\n")
    (res / "fit.nii.gz").write_bytes(gzip_bytes(b"\x00" * 4096))
    (res / "logs").mkdir()
    (res / "logs" / "fit.log").write_text("took 1.0 s\n")
    write_manifest(res, CONFIG, inputs=["inputs"], outputs=["results/metabolites.tsv"])
    return tmp_path


def _run(capsys, *argv):
    rc = main(["audit", *argv])
    return rc, capsys.readouterr().out


def test_clean_results_pass(audited, capsys):
    report = audit_results(audited / "results")
    assert report.ok and report.findings == []
    assert (report.n_outputs, report.n_inputs) == (3, 1)
    rc, out = _run(capsys, "results")
    assert rc == 0 and "OK: outputs and inputs match the manifest" in out
    # logs are not results: rewriting one is no finding
    (audited / "results" / "logs" / "fit.log").write_text("took 2.0 s\n")
    assert audit_results(audited / "results").ok


def test_one_byte_change_in_an_output_is_caught(audited, capsys):
    path = audited / "results" / "stats" / "group.tsv"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # 0.012 -> 0.013: one bit of one byte
    path.write_bytes(bytes(data))
    report = audit_results(audited / "results")
    assert [(f.kind, f.path) for f in report.findings] == [("modified_output", "stats/group.tsv")]
    assert report.findings[0].expected_sha256 != report.findings[0].actual_sha256
    rc, out = _run(capsys, "results")
    assert rc == 1
    assert "MODIFIED output  stats/group.tsv" in out and "FAILED: 1 finding(s)" in out


def test_missing_extra_and_changed_input(audited, capsys):
    res = audited / "results"
    (res / "metabolites.tsv").unlink()
    (res / "stats" / "extra.tsv").write_text("x\n")
    (audited / "inputs" / "design.yaml").write_text("groups: [HC, FM]\n")
    rc, out = _run(capsys, "results", "--json")
    assert rc == 1
    report = json.loads(out)["audit"]
    kinds = sorted((f["kind"], f["path"]) for f in report["findings"])
    assert kinds == [
        ("changed_input", "inputs/design.yaml"),
        ("extra_output", "stats/extra.tsv"),
        ("missing_output", "metabolites.tsv"),
    ]
    assert report["ok"] is False
    assert report["counts"] == {"modified_output": 0, "missing_output": 1, "extra_output": 1,
                                "changed_input": 1, "missing_input": 0}
    # --no-inputs checks outputs only
    assert {f.kind for f in audit_results(res, check_inputs=False).findings} == {
        "missing_output", "extra_output"}


def test_missing_input_and_relocated_workdir(audited, tmp_path_factory, capsys):
    (audited / "inputs" / "design.yaml").unlink()
    report = audit_results(audited / "results")
    assert [(f.kind, f.path) for f in report.findings] == [("missing_input", "inputs/design.yaml")]
    # inputs found again through --workdir when the study moved
    other = tmp_path_factory.mktemp("moved")
    (other / "inputs").mkdir()
    (other / "inputs" / "design.yaml").write_text("groups: [HC, cLBP]\n")
    rc, _ = _run(capsys, "results", "--workdir", str(other))
    assert rc == 0


def test_no_manifest_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    rc = main(["audit", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "no manifest" in err and "provenance/manifest.json" in err


def test_compare_trees_says_where_files_differ(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "same.tsv").write_text("x\t1\n")
    (a / "table.tsv").write_text("m\tv\nNAA\t12.5\nCr\t8.0\n")
    (b / "table.tsv").write_text("m\tv\nNAA\t12.5\nCr\t8.1\n")
    (a / "sub" / "x.nii.gz").write_bytes(gzip.compress(b"data", mtime=1))
    (b / "sub" / "x.nii.gz").write_bytes(gzip.compress(b"data", mtime=2))
    (a / "only_a.png").write_bytes(b"\x89PNG")
    (b / "only_b.json").write_text("{}")
    cmp = compare_trees(a, b, exclude=[])
    assert not cmp.ok
    assert cmp.identical == ["same.tsv"]
    assert cmp.only_in_a == ["only_a.png"] and cmp.only_in_b == ["only_b.json"]
    assert "line 3: 'Cr\\t8.0' vs 'Cr\\t8.1'" in cmp.differing["table.tsv"]
    assert "first difference at byte 18" in cmp.differing["table.tsv"]
    assert "decompressed contents are identical (gzip header differs)" in cmp.differing["sub/x.nii.gz"]
    text = cmp.format_text()
    assert "DIFFERS    table.tsv" in text and "ONLY IN B  only_b.json" in text


def test_describe_difference_binary(tmp_path):
    (tmp_path / "a").write_bytes(b"\x00\xff" * 5000)
    (tmp_path / "b").write_bytes(b"\x00\xff" * 4000 + b"\x00\xfe" + b"\x00\xff" * 999)
    assert describe_difference(tmp_path / "a", tmp_path / "b") == (
        "10000 vs 10000 bytes, first difference at byte 8001")


def test_rebase_paths_moves_results_and_folders_inside_it():
    cfg = {"results_dir": "results", "dataset": {"bids_dir": "results/demo/bids", "design": "config/d.yaml"},
           "lists": ["results/x", "resultsX/y"]}
    out = rebase_paths(cfg, "results", "/tmp/fresh")
    assert out == {"results_dir": "/tmp/fresh",
                   "dataset": {"bids_dir": "/tmp/fresh/demo/bids", "design": "config/d.yaml"},
                   "lists": ["/tmp/fresh/x", "resultsX/y"]}
    assert cfg["results_dir"] == "results"  # the recorded config is not modified


def test_rerun_refuses_a_non_empty_target(audited):
    from painmrs.provenance import rerun_study

    (audited / "busy").mkdir()
    (audited / "busy" / "f").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        rerun_study(audited / "results", audited / "busy")


def test_nested_results_of_another_study_are_not_this_studys_outputs(audited):
    # config/full.yaml writes to results/full, inside the demo's results/
    full = audited / "results" / "full"
    (full / "inventory").mkdir(parents=True)
    (full / "inventory" / "scans.tsv").write_text("stem\n")
    (full / "metabolites.tsv").write_text("x\n")
    assert audit_results(audited / "results").ok
    write_manifest(audited / "results", CONFIG)
    from painmrs.provenance import read_manifest

    assert not any(p.startswith("full/") for p in read_manifest(audited / "results")["study"]["outputs"])
    # an ordinary sub-folder is still checked
    (audited / "results" / "other").mkdir()
    (audited / "results" / "other" / "x.tsv").write_text("x\n")
    assert [f.path for f in audit_results(audited / "results").findings] == ["other/x.tsv"]
