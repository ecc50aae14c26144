"""End to end on a REAL one-node SLURM cluster (started by tools/local_slurm.sh, which .ci/run
calls through tools/ci_system_deps.sh): the project's Snakefile runs the tiny simulated study with
`snakemake --profile profiles/slurm`, and

- every job provably runs inside a SLURM allocation: its log records the SLURM_JOB_ID, that id
  is one the plugin submitted, and slurmctld's job-completion record for it (jobcomp/filetxt,
  set by tools/local_slurm.sh; else squeue while it still lists the job) says COMPLETED in
  this run's working directory;
- jobs are grouped as the profile says: a batch's processing and fitting go into one SLURM
  job, and so does the study-level chain after fitting; the number of SLURM jobs submitted
  follows (far fewer than 50);
- the run ends within a bounded time (`timeout -k`);
- its results are byte-identical to the local run of the same study (the `tiny_study`
  fixture, conftest.py), and audit clean.

The tiny study (not the 232-scan demo, which tests/test_provenance_rerun_demo.py runs locally):
it has several batches, MEGA-PRESS and PRESS, so every assertion below is as strict, and CI does
not run the demo a second time (about 15 of its 29 minutes were the two demo runs in a row).

Skipped (with the reason) when no SLURM cluster answers on this machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, copy_workflow, snakemake_cmd, snakemake_env

from painmrs.provenance import audit_results, compare_trees

PROFILE = ROOT / "profiles" / "slurm"
TIME_LIMIT_S = 1500  # the SLURM run is killed (timeout -k 30) after this
STUDY_GROUP = ("qc_table", "study_table", "statistics", "recovery", "html_report",
               "provenance_manifest")  # rules of the profile's group "study" (log = rule name)
MAX_SLURM_JOBS = 50  # the bound for a 1,000-scan study; the demo must stay well under

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("tiny_study")]


def _slurm_ready() -> str | None:
    """None if a SLURM cluster answers and has a usable node, else why not."""
    for tool in ("sbatch", "squeue", "sinfo", "scontrol", "timeout"):
        if shutil.which(tool) is None:
            return f"{tool} not found: start a cluster with tools/local_slurm.sh"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "SLURM commands time out"
    if "UP" not in ping.stdout:
        return f"slurmctld not answering ({ping.stdout.strip() or ping.stderr.strip()})"
    if not re.search(r"^(idle|mixed|allocated|completing)", states.stdout, re.M):
        return f"no usable SLURM node (states: {states.stdout.split()})"
    return None


def _node_cpus() -> int:
    """CPUs of the smallest node: a grouped job must fit on one node."""
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=20)
    return min(int(c.rstrip("+")) for c in out.stdout.split())


def _completion_records(workdir: Path, job_ids: list[str]) -> dict[str, str]:
    """{job id: final state} as slurmctld recorded it for jobs that ran in ``workdir``."""
    conf = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
    settings = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", conf.stdout, re.M))
    states: dict[str, str] = {}
    if settings.get("JobCompType") == "jobcomp/filetxt" and Path(settings.get("JobCompLoc", "")).is_file():
        for line in Path(settings["JobCompLoc"]).read_text().splitlines():
            rec = dict(re.findall(r"(\w+)=(\S*)", line))
            if rec.get("JobId") in job_ids and rec.get("WorkDir") == str(workdir):
                states[rec["JobId"]] = rec["JobState"]  # the last record of an id wins
    missing = [i for i in job_ids if i not in states]
    if missing:  # no completion log: slurmctld still lists finished jobs for MinJobAge
        sq = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(missing), "-o", "%i %T"],
                            capture_output=True, text=True, timeout=30)
        states.update(line.split()[:2] for line in sq.stdout.splitlines() if line.strip())
    return states


@pytest.fixture(scope="module")
def slurm_cluster():
    """Skips (before the local run is made for nothing) when no SLURM cluster answers."""
    why_not = _slurm_ready()
    if why_not:
        pytest.skip(why_not)


@pytest.fixture(scope="module")
def slurm_study(slurm_cluster, tiny_study, tmp_path_factory):
    """The tiny study run through SLURM, from the very files of the local run's copy (the
    repository may change while the session runs)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm") / "study", size="tiny", source=tiny_study.workdir)
    cmd = snakemake_cmd(workdir, "--profile", str(PROFILE), "--cores", str(_node_cpus()),
                        limit_s=TIME_LIMIT_S)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=snakemake_env())
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (workdir / ".snakemake_run.log").write_text(log)
    assert proc.returncode not in (124, 137), f"SLURM run exceeded {TIME_LIMIT_S} s:\n{log[-3000:]}"
    assert proc.returncode == 0, log[-5000:]
    return workdir, log, elapsed


def _job_log_ids(results: Path) -> dict[str, str]:
    """{job log (relative to results/logs): SLURM_JOB_ID it recorded}."""
    ids = {}
    for path in sorted((results / "logs").rglob("*.log")):
        m = re.search(r"SLURM_JOB_ID=(\w+)", path.read_text(errors="replace"))
        ids[path.relative_to(results / "logs").as_posix()] = m.group(1) if m else "missing"
    return ids


def test_tiny_study_on_slurm_runs_every_job_in_an_allocation_and_matches_the_local_run(
        slurm_study, tiny_study):
    workdir, log, elapsed = slurm_study
    results = workdir / tiny_study.results.relative_to(tiny_study.workdir)
    submitted = sorted(set(re.findall(r"submitted with SLURM jobid (\d+)", log)), key=int)

    # 1. the same jobs ran as in the local run, each inside a SLURM allocation the plugin asked for
    local_ids = _job_log_ids(tiny_study.results)
    slurm_ids = _job_log_ids(results)
    assert sorted(slurm_ids) == sorted(local_ids)
    assert set(local_ids.values()) == {"none"}  # the local run really was local
    outside = {p: i for p, i in slurm_ids.items() if i not in submitted}
    assert not outside, f"job logs without a submitted SLURM job id: {outside}"
    assert set(slurm_ids.values()) == set(submitted)  # and every SLURM job ran some job
    manifest = json.loads((results / "provenance" / "manifest.json").read_text())
    assert manifest["run"]["slurm_job_id"] == slurm_ids["provenance_manifest.log"]

    # 2. slurmctld ran those jobs to completion, in this run's directory
    states = _completion_records(workdir, submitted)
    assert states == {i: "COMPLETED" for i in submitted}, states

    # 3. grouping (profile "groups"): a batch's processing and fitting share one SLURM job,
    # and the study-level chain after fitting is one SLURM job
    batches = sorted(p[len("process/"):-4] for p in slurm_ids if p.startswith("process/"))
    assert len(batches) >= 2
    for b in batches:
        assert slurm_ids[f"process/{b}.log"] == slurm_ids[f"fit/{b}.log"], b
    study_ids = {slurm_ids[f"{rule}.log"] for rule in STUDY_GROUP}
    assert len(study_ids) == 1, {rule: slurm_ids[f"{rule}.log"] for rule in STUDY_GROUP}
    expected = len(slurm_ids) - len(batches) - (len(STUDY_GROUP) - 1)
    assert len(submitted) == expected <= MAX_SLURM_JOBS
    # the plugin kept one SLURM log per SLURM job (slurm-keep-successful-logs)
    kept = sorted((p.stem for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log")), key=int)
    assert kept == submitted

    # 4. the same bytes as the local run, and a clean audit of the SLURM results
    cmp = compare_trees(tiny_study.results, results)
    assert cmp.ok, cmp.format_text()
    n_scans = len((results / "inventory" / "scans.tsv").read_text().splitlines()) - 1
    assert len(cmp.identical) > 5 * n_scans  # per scan: NIfTI-MRS, QC, fit tables and figures
    report = audit_results(results, workdir)
    assert report.ok, report.format_text()

    print(f"\nSLURM tiny study: {n_scans} scans, {len(slurm_ids)} snakemake jobs in "
          f"{len(submitted)} SLURM jobs, {elapsed:.0f} s (local run {tiny_study.seconds:.0f} s); "
          f"{len(cmp.identical)} files byte-identical to the local run")
