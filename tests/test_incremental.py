"""Incremental runs of a finished real study (Philips PRESS TE 35, one scan per participant):
adding a participant reruns only its batch, withdrawing one removes its derivatives, and an
edited or deleted per-scan derivative is rebuilt before the study tables read it.

The finished study is the session's ``philips_study`` (conftest.py: two participants, the
default workflow, also asserted on by tests/test_workflow_snakemake.py), copied here with
its .snakemake metadata and file times, so that only the incremental runs are paid for."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from study_fixtures import BIN, PHILIPS_BATCHES, PHILIPS_SUBJECTS, PHILIPS_TE35, ROOT, write_philips_study
from study_fixtures import run as _run

pytestmark = [pytest.mark.xdist_group("snakemake"), pytest.mark.slow]


def _study(work: Path, real: Path, subjects):
    """The study's config and participants table for ``subjects`` (label, source volunteer).
    One batch, as in the shared study: the added participant joins a batch that already ran
    (the case where Snakemake, deciding before the inventory checkpoint, would otherwise skip
    the batch)."""
    write_philips_study(work, real, subjects, batches=PHILIPS_BATCHES)


def _jobs(work: Path) -> dict[str, int]:
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(work)])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    if "Job stats:" not in out:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M)}


def _snakemake(work: Path):
    proc = _run([str(BIN / "snakemake"), "--cores", "1", "-s", str(ROOT / "Snakefile"), "-d", str(work)], timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_add_withdraw_edit_delete(philips_study, shared_data, tmp_path):
    real = shared_data / PHILIPS_TE35
    two = list(PHILIPS_SUBJECTS)  # sub-01, sub-02: the shared finished study
    shutil.copytree(philips_study.workdir, tmp_path, symlinks=True, dirs_exist_ok=True)  # copy2: times kept
    assert _jobs(tmp_path) == {}

    # one participant more: its batch only (the inventory reruns; the basis does not)
    _study(tmp_path, real, two + [("03", "01")])
    _jobs(tmp_path)  # the conversion of sub-03 runs first; the checkpoint hides later jobs
    log = _snakemake(tmp_path)
    # jobs executed (one "rule X:" header each; the "Job stats" table, printed before the
    # inventory checkpoint runs, lacks the batch jobs that the checkpoint adds)
    ran = re.findall(r"^(?:local)?rule (\w+):$", log, flags=re.M)
    assert ran.count("process_batch") == 1 and ran.count("fit_batch") == 1, log
    assert "basis_set" not in ran, log
    results = tmp_path / "results"
    assert (results / "derivatives" / "sub-03").is_dir()
    assert "sub-03" in (results / "metabolites.tsv").read_text()  # in the study table, this run

    # an edited and a deleted derivative are rebuilt (never absorbed)
    fits = sorted((results / "derivatives").rglob("*_fit.tsv"))
    edited, deleted = fits[0], fits[1]
    original = edited.read_text()
    edited.write_text(original.replace("\n", "\n", 1) + "NAA\t999\n")
    deleted.unlink()
    log = _snakemake(tmp_path)
    assert edited.read_text() == original and deleted.is_file(), log
    assert not re.search(r"\t999(\t|$)", (results / "metabolites.tsv").read_text(), re.M)

    # withdraw sub-02 (a participant of the first run): derivatives, manifest and report lose it
    _study(tmp_path, real, [s for s in two + [("03", "01")] if s[0] != "02"])
    shutil.rmtree(tmp_path / "bids" / "sub-02")
    log = _snakemake(tmp_path)
    assert not (results / "derivatives" / "sub-02").exists()
    assert "sub-02" not in (results / "provenance" / "manifest.json").read_text()
    assert "sub-02" not in (results / "report" / "index.html").read_text()
    logs = (results / "logs" / "inventory.log").read_text()
    assert re.search(r"sub-02 withdrawn.*removed \d+ derivative file", logs), logs
    json.loads((results / "provenance" / "manifest.json").read_text())
