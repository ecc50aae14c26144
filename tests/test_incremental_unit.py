"""Unit tests of the incremental-run helpers (painmrs.study.incremental, layout.subject_batch)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from painmrs.study.manifests import sha256
from painmrs.study.incremental import (
    invalidate_tampered,
    manifest_problems,
    remove_stale_batches,
    withdraw_participants,
    write_batch_slices,
    write_basis_slices,
)
from painmrs.study.layout import subject_batch, subject_batches


def _scans(subjects):
    return pd.DataFrame(
        {
            "stem": [f"{s}_acq-press_voi-ACC" for s in subjects],
            "subject": subjects,
            "acq": "press",
            "sequence": "PRESS",
            "svs": [f"{s}/mrs/{s}_acq-press_voi-ACC_svs.nii.gz" for s in subjects],
            "te_ms": 35.0,
            "spectrometer_mhz": 127.75,
            "exclusion": "",
        }
    )


def test_subject_batch_is_stable_and_independent_of_the_others():
    assert subject_batch("sub-01", 48) == subject_batch("sub-01", 48)
    before = subject_batches(_scans([f"sub-{i:03d}" for i in range(100)]), 48)
    after = subject_batches(_scans([f"sub-{i:03d}" for i in range(101)]), 48)
    changed = {b for b in set(before) | set(after) if before.get(b) != after.get(b)}
    assert changed == {subject_batch("sub-100", 48)}


def test_slices_rewritten_only_when_changed(tmp_path):
    folder = tmp_path / "batches"
    write_batch_slices(_scans(["sub-01", "sub-02"]), folder, 8)
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.tsv")}
    for p in folder.glob("*.tsv"):
        os.utime(p, ns=(1, 1))
    changed = write_batch_slices(_scans(["sub-01", "sub-02", "sub-03"]), folder, 8)
    assert changed == [subject_batch("sub-03", 8)]
    untouched = [p for p in folder.glob("*.tsv") if p.stem not in changed]
    assert untouched and all(p.stat().st_mtime_ns == 1 for p in untouched)
    assert mtimes
    # withdrawal of the only participant of a batch removes its slice
    changed = write_batch_slices(_scans(["sub-01", "sub-02"]), folder, 8)
    assert subject_batch("sub-03", 8) in changed


def test_basis_sample_stays_when_a_participant_is_added(tmp_path):
    write_basis_slices(_scans(["sub-05"]), tmp_path)
    os.utime(tmp_path / "press.tsv", ns=(1, 1))
    assert write_basis_slices(_scans(["sub-01", "sub-05"]), tmp_path) == []
    assert (tmp_path / "press.tsv").stat().st_mtime_ns == 1


def test_withdraw_and_tamper(tmp_path):
    deriv = tmp_path / "derivatives"
    (deriv / "sub-01" / "mrs").mkdir(parents=True)
    (deriv / "sub-02" / "mrs").mkdir(parents=True)
    fit = deriv / "sub-01" / "mrs" / "x_fit.tsv"
    fit.write_text("a\n1\n")
    (deriv / "sub-02" / "mrs" / "y_fit.tsv").write_text("a\n2\n")
    assert withdraw_participants(deriv, {"sub-01"}) == {"sub-02": 1}
    manifest = tmp_path / "b0001.tsv"
    pd.DataFrame([{"stem": "x", "output": "fit", "path": str(fit), "sha256": sha256(fit), "message": ""}]).to_csv(
        manifest, sep="\t", index=False
    )
    assert manifest_problems(manifest) == []
    fit.write_text("a\n999\n")
    assert "edited" in manifest_problems(manifest)[0]
    assert invalidate_tampered([manifest], dry_run=True) == [str(manifest)] and manifest.exists()
    fit.unlink()
    assert "deleted" in manifest_problems(manifest)[0]
    invalidate_tampered([manifest], dry_run=False)
    assert not manifest.exists()


def test_stale_batch_manifests_removed(tmp_path):
    for stage in ("process", "fit"):
        (tmp_path / stage).mkdir()
        for b in ("b0001", "b0002"):
            (tmp_path / stage / f"{b}.tsv").write_text("x\n")
    assert len(remove_stale_batches(tmp_path, ["b0001"])) == 2
    assert sorted(p.name for p in tmp_path.rglob("*.tsv")) == ["b0001.tsv", "b0001.tsv"]


def test_missing_manifest_rebuilds_batch_and_study_outputs(tmp_path):
    """A batch with a slice but no fit manifest (deleted by hand, or by the tamper check) is
    reported, and the study-level output that reads the manifests is removed: Snakemake only
    re-evaluates a checkpoint-dependent job's inputs when that job has to run."""
    root = tmp_path / "batches"
    for stage in ("process", "fit"):
        (root / stage).mkdir(parents=True)
        (root / stage / "b0001.tsv").write_text("stem\toutput\tpath\tsha256\tmessage\n")
    (root / "process" / "b0002.tsv").write_text("stem\toutput\tpath\tsha256\tmessage\n")
    slices = [tmp_path / "b0001.tsv", tmp_path / "b0002.tsv"]
    qc = tmp_path / "qc.tsv"
    qc.write_text("x\n")
    kwargs = dict(slices=slices, batches_root=root, downstream=[qc])
    assert invalidate_tampered([], dry_run=True, **kwargs) == [str(root / "fit" / "b0002.tsv")]
    assert qc.exists()  # a dry run removes nothing
    assert invalidate_tampered([], dry_run=False, **kwargs) == [str(root / "fit" / "b0002.tsv")]
    assert not qc.exists()
    qc.write_text("x\n")
    (root / "fit" / "b0002.tsv").write_text("stem\toutput\tpath\tsha256\tmessage\n")
    assert invalidate_tampered([], dry_run=False, **kwargs) == [] and qc.exists()


def test_verified_files_are_not_rehashed_until_they_change(tmp_path, monkeypatch):
    import painmrs.study.incremental as incremental

    fit = tmp_path / "x_fit.tsv"
    fit.write_text("a\n1\n")
    manifest = tmp_path / "b0001.tsv"
    pd.DataFrame([{"stem": "x", "output": "fit", "path": str(fit), "sha256": sha256(fit), "message": ""}]).to_csv(
        manifest, sep="\t", index=False
    )
    cache = tmp_path / ".verified.json"
    calls = []
    monkeypatch.setattr(incremental, "sha256", lambda p: calls.append(p) or sha256(p))
    assert invalidate_tampered([manifest], dry_run=False, verified_cache=cache) == []
    assert len(calls) == 1 and cache.is_file()
    assert invalidate_tampered([manifest], dry_run=False, verified_cache=cache) == []
    assert len(calls) == 1  # size and mtime unchanged: not hashed again
    stat = fit.stat()
    fit.write_text("a\n9\n")  # same size, new content and mtime
    assert fit.stat().st_size == stat.st_size
    os.utime(fit, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert invalidate_tampered([manifest], dry_run=False, verified_cache=cache) == [str(manifest)]
    assert len(calls) == 2 and not manifest.exists()


def test_a_changed_raw_file_changes_only_its_batch_slice(tmp_path):
    """A re-simulated (or replaced) scan with the same path but new data reruns its batch."""
    bids, folder = tmp_path / "bids", tmp_path / "batches"
    scans = _scans(["sub-01", "sub-02", "sub-03"])
    for path in scans["svs"]:
        (bids / path).parent.mkdir(parents=True, exist_ok=True)
        (bids / path).write_bytes(b"data " + path.encode())
    write_batch_slices(scans, folder, 8, bids_dir=bids)
    slice_text = (folder / f"{subject_batch('sub-02', 8)}.tsv").read_text()
    assert sha256(bids / scans["svs"].iloc[1]) in slice_text
    assert write_batch_slices(scans, folder, 8, bids_dir=bids) == []
    (bids / scans["svs"].iloc[1]).write_bytes(b"other data")
    assert write_batch_slices(scans, folder, 8, bids_dir=bids) == [subject_batch("sub-02", 8)]


def test_changed_batches_lose_their_manifests(tmp_path):
    from painmrs.study.incremental import invalidate_batches

    for stage in ("process", "fit"):
        (tmp_path / stage).mkdir()
        for b in ("b0001", "b0002"):
            (tmp_path / stage / f"{b}.tsv").write_text("x\n")
    assert len(invalidate_batches(tmp_path, ["b0002", "b0009"])) == 2
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tsv")) == ["fit/b0001.tsv", "process/b0001.tsv"]


def test_a_manifest_left_incomplete_by_a_killed_job_is_rebuilt(tmp_path, monkeypatch):
    import base64

    monkeypatch.chdir(tmp_path)
    fit = Path("x_fit.tsv")
    fit.write_text("a\n1\n")
    manifest = Path("results/batches/process/b0007.tsv")
    manifest.parent.mkdir(parents=True)
    pd.DataFrame([{"stem": "x", "output": "fit", "path": str(fit), "sha256": sha256(fit), "message": ""}]).to_csv(
        manifest, sep="\t", index=False)
    marker = Path(".snakemake/incomplete") / base64.urlsafe_b64encode(str(manifest).encode()).decode()
    assert invalidate_tampered([manifest], dry_run=False, incomplete_dir=marker.parent) == []
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    assert invalidate_tampered([manifest], dry_run=False, incomplete_dir=marker.parent) == [str(manifest)]
    assert not manifest.exists()
