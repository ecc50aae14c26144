"""Shared fixtures. Real data lives in ../shared/data; tests that need it skip cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PAINMRS_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Make `--dist loadgroup` (test.sh) honour `xdist_group` marks under pytest 9.
    pytest-xdist 3.8 groups a test by appending "@group" to ``item._nodeid``, which pytest 9
    no longer reads (the node id lives in ``item._id``), so every group was silently spread
    over all workers. Runs after xdist's own hook; does nothing where that hook worked."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# ---- the real workflow on the demo study, run once per test session --------------------------
# Shared by tests/test_provenance_rerun_demo.py (reruns, audits) and tests/test_slurm_e2e.py
# (the same study through SLURM, compared byte for byte). Both modules are in the xdist group
# "demo_study", so one worker runs the study once; the file lock covers any other layout.
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "envs", "src", "report")
DEMO_STUDY_SIZE = "demo"  # config/demo/design.yaml sizes: the demo study (232 scans)
DEMO_LOCAL_LIMIT_S = 1500  # the local run is killed (timeout -k) after this


def copy_workflow(dest: Path, size: str = DEMO_STUDY_SIZE, source: Path = ROOT) -> Path:
    """The workflow files of ``source`` (default: this repository) copied into ``dest``, the
    demo config set to ``size``."""
    import shutil

    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif src.is_file():
            shutil.copy(src, dest / name)
    cfg_path = dest / "config" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    if cfg["dataset"]["size"] != size:
        cfg["dataset"]["size"] = size
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def snakemake_env() -> dict[str, str]:
    """Environment for a snakemake subprocess: the venv's bin/ first on PATH (SLURM jobs inherit
    it through sbatch --export=ALL), and no SLURM_* variables from an enclosing allocation, so
    that a local run's logs say SLURM_JOB_ID=none."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env["MPLBACKEND"] = "Agg"
    return env


def snakemake_cmd(workdir: Path, *args: str, limit_s: int | None = None) -> list[str]:
    """``snakemake -d workdir ARGS``, under ``timeout -k 30 limit_s`` if a limit is given
    (snakemake finishes running jobs on SIGTERM; the SIGKILL 30 s later bounds it)."""
    import sys

    cmd = [sys.executable, "-m", "snakemake", "-d", str(workdir), *args]
    return ["timeout", "-k", "30", str(limit_s), *cmd] if limit_s else cmd


class StudyRun:
    """A finished run of the workflow: its working copy, results dir, Snakemake log, wall time."""

    def __init__(self, workdir: Path, log: str, seconds: float):
        import yaml

        self.workdir = workdir
        self.log = log
        self.seconds = seconds
        cfg = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
        self.results = workdir / cfg["results_dir"]
        self.config = cfg


def build_once_per_run(tmp_path_factory, name: str, build) -> Path:
    """The folder ``name``, made by ``build(folder)`` once per pytest run and shared by the
    xdist workers: the first to take the lock builds it, the others wait and reuse it.
    ``build`` returns the text kept in the folder's ``.done`` marker."""
    import fcntl
    import shutil

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # .../pytest-N/popen-gwK -> .../pytest-N: this run's workers
    workdir = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (workdir / ".done").exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            (workdir / ".done").write_text(build(workdir) or "")
    return workdir


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory) -> StudyRun:
    """The repository's Snakefile run locally (2 cores) on the demo study, in a copy of the
    workflow files; run once per session and never modified by the tests that share it."""
    import subprocess
    import time

    def run_demo(workdir: Path) -> str:
        copy_workflow(workdir)
        start = time.monotonic()
        proc = subprocess.run(snakemake_cmd(workdir, "--cores", "2", limit_s=DEMO_LOCAL_LIMIT_S),
                              cwd=workdir, capture_output=True, text=True, env=snakemake_env())
        seconds = time.monotonic() - start
        log = proc.stdout + proc.stderr
        (workdir / ".snakemake_run.log").write_text(log)
        assert proc.returncode not in (124, 137), f"local demo run exceeded {DEMO_LOCAL_LIMIT_S} s"
        assert proc.returncode == 0, log[-5000:]
        return f"{seconds:.1f}\n"

    workdir = build_once_per_run(tmp_path_factory, "demo_study", run_demo)
    run = StudyRun(workdir, (workdir / ".snakemake_run.log").read_text(),
                   float((workdir / ".done").read_text()))
    print(f"\nlocal demo run ({DEMO_STUDY_SIZE}): {run.seconds:.0f} s on 2 cores")
    return run


# ---- the default workflow on two real Philips scans, run once per test session ---------------
# Shared by tests/test_workflow_snakemake.py (its assertions, read-only) and
# tests/test_incremental.py (which adds, edits and withdraws in a copy of the finished study);
# both are in the xdist group "snakemake", so one worker runs it once.
@pytest.fixture(scope="session")
def philips_study(shared_data, tmp_path_factory) -> StudyRun:
    """Two volunteers' Philips PRESS TE 35 SDAT/SPAR (+ water) through the whole default
    workflow (simulated basis, ``snakemake --cores 1``, one batch job: test_incremental adds a
    participant to a batch that already ran), in ``study_fixtures.write_philips_study``'s
    working directory; run once per session and never modified by the tests that share it."""
    import time

    from study_fixtures import BIN, PHILIPS_BATCHES, PHILIPS_TE35, run, write_philips_study

    def build(workdir: Path) -> str:
        write_philips_study(workdir, shared_data / PHILIPS_TE35, batches=PHILIPS_BATCHES)
        start = time.monotonic()
        proc = run([str(BIN / "snakemake"), "--cores", "1", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)])
        log = proc.stdout + proc.stderr
        (workdir / ".snakemake_run.log").write_text(log)
        assert proc.returncode == 0, log
        return f"{time.monotonic() - start:.1f}\n"

    workdir = build_once_per_run(tmp_path_factory, "philips_study", build)
    return StudyRun(workdir, (workdir / ".snakemake_run.log").read_text(), float((workdir / ".done").read_text()))
