"""``execution.on_bad_scan: exclude`` keeps a study going (issue 14): when the only scan of an
acquisition is excluded by the inventory, no basis set is built for that acquisition (the basis
rule used to read the excluded file and stop the whole run with a traceback) and the skip is
recorded in the inventory log; the other acquisitions' scans are processed and fitted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from bad_input_fixtures import raw_pair, write_variant
from study_fixtures import base_config, write_table

from painmrs.study.incremental import acquisitions_without_usable_scans, write_basis_slices
from painmrs.study.inventory import build_inventory

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.xdist_group("snakemake")
MEGA = "sub-HC002_acq-megapress_voi-thalamus"


def _study(root: Path) -> tuple[Path, dict]:
    """Two PRESS scans (good) and the study's only MEGA-PRESS scan, unreadable."""
    bids = root / "bids"
    write_table(bids / "participants.tsv", ["participant_id", "group", "age", "sex"],
                [("sub-HC001", "HC", 40, "F"), ("sub-HC002", "HC", 50, "M")])
    for i, sub in enumerate(("sub-HC001", "sub-HC002")):
        metab, ref = raw_pair(seed=11 + i)
        write_variant(bids / sub / "mrs" / f"{sub}_acq-press_voi-ACC_svs.nii.gz", metab, "valid")
        write_variant(bids / sub / "mrs" / f"{sub}_acq-press_voi-ACC_mrsref.nii.gz", ref, "valid")
    write_variant(bids / "sub-HC002" / "mrs" / f"{MEGA}_svs.nii.gz", metab, "random_bytes")
    config = base_config()
    config["dataset"] = {"name": "study", "simulate": False, "bids_dir": str(bids)}
    config["execution"]["on_bad_scan"] = "exclude"
    config["execution"]["scan_figures"] = "none"
    config["analysis"] = {}
    return bids, config


def test_acquisition_without_usable_scan_gets_no_basis_slice(tmp_path, caplog):
    bids, config = _study(tmp_path)
    scans = build_inventory(bids, config).scans
    assert scans.set_index("stem")["exclusion"].ne("").to_dict() == {
        "sub-HC001_acq-press_voi-ACC": False, "sub-HC002_acq-press_voi-ACC": False, MEGA: True}
    assert acquisitions_without_usable_scans(scans) == ["megapress"]
    folder = tmp_path / "basis"
    folder.mkdir()
    (folder / "megapress.tsv").write_text("acq\tsvs\nmegapress\told.nii.gz\n")  # from an earlier run: removed
    with caplog.at_level(logging.WARNING):
        changed = write_basis_slices(scans, folder)
    assert sorted(changed) == ["megapress", "press"]
    assert sorted(p.name for p in folder.iterdir()) == ["press.tsv"]
    press = pd.read_csv(folder / "press.tsv", sep="\t", dtype=str)
    assert press["svs"].tolist() == ["sub-HC001/mrs/sub-HC001_acq-press_voi-ACC_svs.nii.gz"]
    assert ("acq-megapress: all 1 scan(s) excluded (execution.on_bad_scan: exclude): its basis set and fits are skipped"
            in caplog.text)


def _snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(work), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_workflow_plans_no_basis_for_an_acquisition_whose_scans_are_all_excluded(tmp_path):
    """After the inventory checkpoint, the plan holds one basis job (press), not one for the
    excluded MEGA-PRESS scan (which the basis rule would read and crash on)."""
    _, config = _study(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = _snakemake(tmp_path, "--cores", "1", "--until", "inventory")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (tmp_path / "results" / "logs" / "inventory.log").read_text()
    assert "acq-megapress: all 1 scan(s) excluded (execution.on_bad_scan: exclude): its basis set and fits are skipped" in log
    proc = _snakemake(tmp_path, "-n", "--cores", "1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs.get("basis_set") == 1, out
    assert "basis/megapress" not in out and "basis/press" in out, out


@pytest.mark.slow
def test_workflow_finishes_with_the_good_scans_when_an_acquisition_is_all_excluded(tmp_path):
    """The whole workflow (about 45 s): it used to stop in basis_set (megapress) with a traceback,
    leaving no results for the good PRESS scans."""
    _, config = _study(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = _snakemake(tmp_path, "--cores", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = tmp_path / "results"
    assert not (results / "basis" / "megapress").exists() and (results / "basis" / "press").is_dir()
    qc = pd.read_csv(results / "qc" / "qc.tsv", sep="\t", keep_default_na=False).set_index("stem")
    assert qc["scan_qc_pass"].astype(str).to_dict() == {
        "sub-HC001_acq-press_voi-ACC": "True", "sub-HC002_acq-press_voi-ACC": "True", MEGA: "False"}
    assert qc.loc[MEGA, "qc_reason"].startswith(
        f"excluded by the inventory: {tmp_path / 'bids' / 'sub-HC002' / 'mrs' / MEGA}_svs.nii.gz: not a readable NIfTI file")
    table = pd.read_csv(results / "metabolites.tsv", sep="\t")
    tnaa = table[(table["metabolite"] == "tNAA") & (table["measure"] == "conc_mM")].set_index("stem")
    assert sorted(tnaa.index) == ["sub-HC001_acq-press_voi-ACC", "sub-HC002_acq-press_voi-ACC"]
    assert tnaa["qc_pass"].all()
    assert "Excluded scans" in (results / "report" / "index.html").read_text(encoding="utf-8")
