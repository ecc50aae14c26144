"""Faults, on the REAL workflow (the project's Snakefile in a copy of the repo) and a tiny
simulated study (shared with tests/test_privacy_canaries.py, whose uninterrupted run is the
reference here):

- SIGKILL to the whole Snakemake process group while per-scan outputs are being written
  (first ``_fit.tsv`` on disk, before the end); the user's documented recovery
  (README "Resuming after a crash": ``snakemake --unlock``, then the same command with
  ``--rerun-incomplete``) completes, and results/ is byte-identical to the uninterrupted
  run's (logs and benchmarks excluded: they hold time stamps, host names and durations);
  no temporary or partial file remains.
- A scan whose processing raises (a truncated .nii.gz planted in the study, with
  ``execution.on_bad_scan: exclude``) leaves the study table intact, and the QC table,
  the processing log and the HTML report name it with the reason.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from painmrs.provenance import compare_trees
from test_privacy_canaries import CORRUPT_STEM, canary_study, make_workdir, snakemake  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canary_study")]

# Legitimately different between two runs: logs (time stamps, host, durations) and the
# benchmarks (wall time, memory). The provenance manifest's "run" section is skipped by
# compare_trees itself.
VOLATILE = ["logs/*", "benchmarks/*"]
KILL_DEADLINE_S = 600


def _first_fit_output(results: Path) -> Path | None:
    found = sorted((results / "derivatives").rglob("*_fit.tsv")) if (results / "derivatives").is_dir() else []
    return found[0] if found else None


def _live_group_members(pgid: int) -> list[int]:
    """Running (non-zombie) processes of a process group, from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _leftovers(root: Path) -> list[str]:
    """Temporary / partial files: atomic-write temporaries and Snakemake's incomplete markers."""
    names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    return sorted(names)


@pytest.fixture(scope="module")
def killed_and_resumed(canary_study, tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("sigkill") / "run", canary_study.inputs)
    results = work / "results"
    console = work.parent / "killed_run.log"
    proc = snakemake(work, "--cores", "2", popen_log=console)
    t0 = time.monotonic()
    try:
        while _first_fit_output(results) is None:
            assert proc.poll() is None, "the run ended before any fit output appeared:\n" + console.read_text()[-3000:]
            assert time.monotonic() - t0 < KILL_DEADLINE_S, "no fit output within the deadline"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started
        proc.wait()
    killed_after = time.monotonic() - t0
    time.sleep(0.5)
    assert _live_group_members(proc.pid) == []  # nothing of the group survives
    fit_manifests_at_kill = sorted(p.name for p in (results / "batches" / "fit").glob("*.tsv"))
    manifest_written = (results / "provenance" / "manifest.json").exists()

    # What a user does: the same command refuses (the killed run's lock) ...
    locked = snakemake(work, "--cores", "2")
    # ... so unlock, then rerun, redoing whatever the killed jobs left half-written.
    unlock = snakemake(work, "--unlock")
    t0 = time.monotonic()
    resumed = snakemake(work, "--cores", "2", "--rerun-incomplete")
    return {
        "work": work,
        "killed_after_s": killed_after,
        "fit_manifests_at_kill": fit_manifests_at_kill,
        "manifest_written_at_kill": manifest_written,
        "locked": locked,
        "unlock": unlock,
        "resumed": resumed,
        "resume_s": time.monotonic() - t0,
    }


def test_kill_lands_mid_run(killed_and_resumed):
    """The kill really interrupted the study: per-scan fit outputs existed, the run had not
    finished (no provenance manifest, not every fit batch done)."""
    k = killed_and_resumed
    assert not k["manifest_written_at_kill"]
    n_batches = len(list((k["work"] / "results" / "batches" / "fit").glob("*.tsv")))
    assert len(k["fit_manifests_at_kill"]) < n_batches


def test_resume_after_sigkill_completes(killed_and_resumed):
    k = killed_and_resumed
    locked = k["locked"].stdout + k["locked"].stderr
    assert k["locked"].returncode != 0 and "--unlock" in locked, locked[-2000:]
    assert k["unlock"].returncode == 0, k["unlock"].stderr[-2000:]
    assert k["resumed"].returncode == 0, k["resumed"].stdout[-2000:] + k["resumed"].stderr[-4000:]
    again = snakemake(k["work"], "-n", "--cores", "1")
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]


def test_resumed_results_are_byte_identical_to_an_uninterrupted_run(killed_and_resumed, canary_study):
    k = killed_and_resumed
    assert k["resumed"].returncode == 0
    cmp = compare_trees(canary_study.work / "results", k["work"] / "results", exclude=VOLATILE)
    assert cmp.ok, cmp.format_text()
    assert len(cmp.identical) > 100


def test_no_temporary_or_partial_files_remain(killed_and_resumed):
    k = killed_and_resumed
    assert k["resumed"].returncode == 0
    assert _leftovers(k["work"] / "results") == []
    incomplete = k["work"] / ".snakemake" / "incomplete"
    assert not incomplete.is_dir() or not any(p.is_file() for p in incomplete.rglob("*"))


def test_bad_scan_is_named_and_the_study_table_intact(canary_study):
    results = canary_study.work / "results"
    scans = pd.read_csv(results / "inventory" / "scans.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert CORRUPT_STEM in set(scans["stem"])
    qc = pd.read_csv(results / "qc" / "qc.tsv", sep="\t", dtype=str, keep_default_na=False)
    bad = qc[qc["stem"] == CORRUPT_STEM]
    assert len(bad) == 1 and bad["scan_qc_pass"].iloc[0].lower() == "false"
    reason = bad["qc_reason"].iloc[0]
    # the inventory reads each scan's data (issue 14): the truncated file is excluded before any job
    assert reason.startswith("excluded by the inventory: ") and f"{CORRUPT_STEM}_svs.nii.gz" in reason
    assert re.search("corrupt|truncated", reason), reason
    # The study table: the bad scan contributes no value; every other scan is there, with
    # finite numbers (a tCr ratio at least).
    table = pd.read_csv(results / "metabolites.tsv", sep="\t", keep_default_na=False, na_values=["n/a"])
    bad_rows = table[table["stem"] == CORRUPT_STEM]
    assert bad_rows["value"].isna().all()
    good = set(scans["stem"]) - {CORRUPT_STEM}
    ratios = table[(table["measure"] == "ratio_tCr") & table["stem"].isin(good)]
    assert set(ratios["stem"]) == good
    assert ratios.groupby("stem")["value"].apply(lambda v: v.notna().any()).all()
    # The run's summaries name it: the processing log (ERROR) and the HTML report.
    logs = "\n".join(p.read_text() for p in (results / "logs" / "process").glob("*.log"))
    assert re.search(rf"ERROR.*{CORRUPT_STEM}", logs)
    html = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert CORRUPT_STEM in html and "excluded by the inventory" in html


def test_next_write_removes_a_killed_writes_temporary(tmp_path):
    """Deterministic companion of the SIGKILL run (whose kill rarely lands inside a write):
    the temporary of a killed write of the same target, on this host, by a process that is
    gone, is removed; a live writer's and another node's temporaries are left alone."""
    import subprocess

    from painmrs import atomic

    gone = subprocess.Popen(["true"])
    gone.wait()
    target = tmp_path / "sub-A1_qc.json"
    dead = tmp_path / f".{target.name}.{atomic._HOST}.{gone.pid}.k1ll.tmp"
    live = tmp_path / f".{target.name}.{atomic._HOST}.{os.getppid()}.l1ve.tmp"
    other_node = tmp_path / f".{target.name}.othernode.{gone.pid}.n0de.tmp"
    for path in (dead, live, other_node):
        path.write_bytes(b"partial")
    atomic.write_text(target, "{}")
    assert target.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, other_node.name])
