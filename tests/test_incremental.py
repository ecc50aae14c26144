"""Incremental runs of a finished real study (Philips PRESS TE 35, one scan per participant):
adding a participant reruns only its batch, withdrawing one removes its derivatives, and an
edited or deleted per-scan derivative is rebuilt before the study tables read it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from study_fixtures import base_config, write_table
from test_workflow_snakemake import _run, _workdir

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.xdist_group("snakemake"), pytest.mark.slow]


def _study(work: Path, real: Path, subjects):
    config = base_config()
    config["dataset"] = {
        "name": "philips",
        "simulate": False,
        "bids_dir": "bids",
        "vendor_files": [
            {
                "subject": sub,
                "session": "01",
                "acq": "press",
                "voi": "ACC",
                "format": "philips",
                "svs": str(real / f"sub-{src}/ses-01/mrs/sub-{src}_ses-01_press/sub-{src}_PRESS_35_act.sdat"),
                "mrsref": str(real / f"sub-{src}/ses-01/mrs/sub-{src}_ses-01_press-ref/sub-{src}_PRESS_35_ref.sdat"),
            }
            for sub, src in subjects
        ],
    }
    config["sequences"]["press"]["te_ms"] = 35
    config["analysis"] = {}
    # one batch: the added participant joins a batch that already ran (the case where
    # Snakemake, deciding before the inventory checkpoint, would otherwise skip the batch)
    config["execution"]["batches"] = 1
    _workdir(work, config)
    write_table(
        work / "bids" / "participants.tsv",
        ["participant_id", "group", "age", "sex"],
        [(f"sub-{sub}", "HC", "n/a", "n/a") for sub, _ in subjects],
    )


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


def test_add_withdraw_edit_delete(shared_data, tmp_path):
    real = shared_data / "real" / "philips_press_3T" / "press_te35"
    three = [("01", "01"), ("02", "02"), ("03", "01")]
    _study(tmp_path, real, three)
    _snakemake(tmp_path)
    assert _jobs(tmp_path) == {}

    # one participant more: its batch only (the inventory reruns; the basis does not)
    _study(tmp_path, real, three + [("04", "02")])
    _jobs(tmp_path)  # the conversion of sub-04 runs first; the checkpoint hides later jobs
    log = _snakemake(tmp_path)
    # jobs executed (one "rule X:" header each; the "Job stats" table, printed before the
    # inventory checkpoint runs, lacks the batch jobs that the checkpoint adds)
    ran = re.findall(r"^(?:local)?rule (\w+):$", log, flags=re.M)
    assert ran.count("process_batch") == 1 and ran.count("fit_batch") == 1, log
    assert "basis_set" not in ran, log
    results = tmp_path / "results"
    assert (results / "derivatives" / "sub-04").is_dir()
    assert "sub-04" in (results / "metabolites.tsv").read_text()  # in the study table, this run

    # an edited and a deleted derivative are rebuilt (never absorbed)
    fits = sorted((results / "derivatives").rglob("*_fit.tsv"))
    edited, deleted = fits[0], fits[1]
    original = edited.read_text()
    edited.write_text(original.replace("\n", "\n", 1) + "NAA\t999\n")
    deleted.unlink()
    log = _snakemake(tmp_path)
    assert edited.read_text() == original and deleted.is_file(), log
    assert not re.search(r"\t999(\t|$)", (results / "metabolites.tsv").read_text(), re.M)

    # withdraw sub-03: derivatives, manifest and report lose it
    _study(tmp_path, real, [s for s in three + [("04", "02")] if s[0] != "03"])
    import shutil

    shutil.rmtree(tmp_path / "bids" / "sub-03")
    log = _snakemake(tmp_path)
    assert not (results / "derivatives" / "sub-03").exists()
    assert "sub-03" not in (results / "provenance" / "manifest.json").read_text()
    assert "sub-03" not in (results / "report" / "index.html").read_text()
    logs = (results / "logs" / "inventory.log").read_text()
    assert re.search(r"sub-03 withdrawn.*removed \d+ derivative file", logs), logs
    json.loads((results / "provenance" / "manifest.json").read_text())
