"""End to end on a REAL one-node SLURM cluster (started by tools/local_slurm.sh, which
.ci/run calls through tools/ci_system_deps.sh): the study runs with
`snakemake --profile profiles/slurm`, every job provably runs inside a SLURM allocation
(its log records SLURM_JOB_ID, and slurmctld knows that job as COMPLETED), the per-scan jobs
are grouped into few SLURM jobs, the run ends within a bounded time (`timeout -k`), and the
results are byte-identical to a local run's.

Skipped (with the reason) when no SLURM cluster answers on this machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from painmrs.provenance import audit_results, compare_trees

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "tests" / "provenance_workflow"
PROFILE = ROOT / "profiles" / "slurm"
TIME_LIMIT_S = 900  # the SLURM run is killed (timeout -k) after this

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


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


def _env() -> dict[str, str]:
    # sbatch exports the submitting environment: the venv's bin/ must come first on PATH
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "MPLBACKEND": "Agg"}


def _prepare(workdir: Path) -> None:
    workdir.mkdir(parents=True)
    shutil.copy(WORKFLOW / "design.yaml", workdir / "design.yaml")
    cfg = yaml.safe_load((WORKFLOW / "config.yaml").read_text())
    cfg["scans"] = ["s01", "s02", "s03"]  # 3 scans x 2 per-scan rules: one grouped SLURM job
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))


def test_workflow_on_slurm_is_grouped_bounded_and_byte_identical_to_local(tmp_path):
    why_not = _slurm_ready()
    if why_not:
        pytest.skip(why_not)

    local, cluster = tmp_path / "local", tmp_path / "slurm"
    _prepare(local)
    _prepare(cluster)
    snakefile = str(WORKFLOW / "Snakefile")
    ref = subprocess.run([sys.executable, "-m", "snakemake", "-s", snakefile, "-d", str(local),
                          "--cores", "2", "-q"], capture_output=True, text=True, env=_env(), timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    cores = str(len(os.sched_getaffinity(0)))  # a grouped job must fit on the one node
    cmd = ["timeout", "-k", "30", str(TIME_LIMIT_S), sys.executable, "-m", "snakemake",
           "-s", snakefile, "-d", str(cluster), "--profile", str(PROFILE), "--cores", cores]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode != 124, f"SLURM run exceeded {TIME_LIMIT_S} s:\n{log[-3000:]}"
    assert proc.returncode == 0, log[-5000:]

    # 1. every job of the DAG ran inside a SLURM allocation: each job log records its job id
    job_logs = sorted((cluster / "results" / "logs").rglob("*.log"))
    expected = 3 * 2 + 1 + 1  # simulate + scale per scan, summarize, provenance_manifest
    ids = {}
    for path in job_logs:
        m = re.search(r"SLURM_JOB_ID=(\d+)", path.read_text())
        assert m, f"{path} has no SLURM_JOB_ID: the job did not run under SLURM"
        ids[path.relative_to(cluster).as_posix()] = m.group(1)
    assert len(ids) == expected, sorted(ids)
    manifest = json.loads((cluster / "results" / "provenance" / "manifest.json").read_text())
    assert manifest["run"]["slurm_job_id"] == ids["results/logs/provenance_manifest.log"]

    # 2. slurmctld itself ran and completed those jobs (MinJobAge keeps them listed)
    slurm_ids = sorted(set(ids.values()), key=int)
    sq = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(slurm_ids), "-o", "%i %T"],
                        capture_output=True, text=True, timeout=30)
    states = dict(line.split() for line in sq.stdout.splitlines())
    assert all(states.get(i) == "COMPLETED" for i in slurm_ids), (slurm_ids, sq.stdout, sq.stderr)

    # 3. grouping: the 6 per-scan jobs went into one SLURM job, so 3 SLURM jobs in all
    scan_ids = {v for k, v in ids.items() if "/simulate/" in k or "/scale/" in k}
    assert len(scan_ids) == 1, ids
    assert len(slurm_ids) == 3, ids
    # the plugin kept one SLURM log per SLURM job (slurm-keep-successful-logs)
    slurm_logs = sorted((p.stem for p in (cluster / ".snakemake" / "slurm_logs").rglob("*.log")), key=int)
    assert slurm_logs == slurm_ids

    # 4. the same bytes as the local run, and a clean audit of the SLURM results
    cmp = compare_trees(local / "results", cluster / "results")
    assert cmp.ok, cmp.format_text()
    assert len(cmp.identical) == 3 * 2 + 2
    assert audit_results(cluster / "results").ok

    print(f"\nSLURM e2e: {len(ids)} snakemake jobs in {len(slurm_ids)} SLURM jobs, {elapsed:.0f} s")


def _copy_project(dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "src", "report"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy(src, dest / name)


@pytest.mark.skipif(os.environ.get("PAINMRS_SLURM_DEMO") != "1",
                    reason="the demo study through SLURM takes many minutes: set PAINMRS_SLURM_DEMO=1")
def test_demo_study_on_slurm_matches_local_run(tmp_path):
    """The real workflow on the demo study, through SLURM and locally: same bytes."""
    why_not = _slurm_ready()
    if why_not:
        pytest.skip(why_not)
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    _copy_project(local)
    _copy_project(cluster)
    ref = subprocess.run([sys.executable, "-m", "snakemake", "-d", str(local), "--cores", "2", "-q"],
                         cwd=local, capture_output=True, text=True, env=_env(), timeout=3600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    cores = str(len(os.sched_getaffinity(0)))
    start = time.monotonic()
    proc = subprocess.run(["timeout", "-k", "30", "3600", sys.executable, "-m", "snakemake",
                           "-d", str(cluster), "--profile", str(PROFILE), "--cores", cores],
                          cwd=cluster, capture_output=True, text=True, env=_env())
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    submitted = sorted(set(re.findall(r"submitted with SLURM jobid (\d+)", log)), key=int)
    kept = sorted((p.stem for p in (cluster / ".snakemake" / "slurm_logs").rglob("*.log")), key=int)
    assert kept == submitted  # every SLURM job left its log: it ran in an allocation
    sq = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(submitted), "-o", "%i %T"],
                        capture_output=True, text=True, timeout=30)
    assert all(state == "COMPLETED" for _, state in (l.split() for l in sq.stdout.splitlines()))
    results = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["results_dir"]
    cmp = compare_trees(local / results, cluster / results)
    assert cmp.ok, cmp.format_text()
    print(f"\nSLURM demo: {len(submitted)} SLURM jobs, {elapsed:.0f} s; "
          f"{len(cmp.identical)} files byte-identical to the local run")
