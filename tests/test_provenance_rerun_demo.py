"""Reruns of the REAL workflow (the project's Snakefile on the demo study), run once in a
copy of the repository:

- a rerun of the unchanged study does nothing (`snakemake -n`: nothing to be done);
- changing one statistics parameter reruns only the rules that depend on it (statistics,
  the report, the manifest), never simulation, processing or fitting;
- the run's manifest audits clean.

Opt-in (PAINMRS_DEMO_RERUN_TESTS=1): a full demo run takes many minutes on 2 cores. The same
properties are checked in seconds on a small workflow in tests/test_provenance_workflow.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from painmrs.provenance import audit_results

from test_provenance_workflow import job_counts

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("demo_rerun"),
    pytest.mark.skipif(os.environ.get("PAINMRS_DEMO_RERUN_TESTS") != "1",
                       reason="full demo run (many minutes): set PAINMRS_DEMO_RERUN_TESTS=1"),
]
DEMO_TIMEOUT_S = 1800


def _snakemake(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "snakemake", "-d", str(workdir), *args],
                          cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "src", "report"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy(src, work / name)
    proc = _snakemake(work, "--cores", "2", timeout=DEMO_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return work


def test_unchanged_demo_reruns_nothing(demo):
    proc = _snakemake(demo, "-n", "--cores", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_one_statistics_parameter_reruns_only_its_dependents(demo):
    cfg = yaml.safe_load((demo / "config" / "config.yaml").read_text())
    family = next(iter(cfg["analysis"]["families"].values()))
    family["fdr_q"] = 0.1 if family.get("fdr_q", 0.05) != 0.1 else 0.05
    changed = demo / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(demo, "-n", "--cores", "1", "--configfile", str(changed))
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout)
    assert "statistics" in counts, counts
    upstream = {"simulate_demo", "inventory", "basis_set", "process_batch", "fit_batch",
                "qc_table", "study_table"}
    assert not upstream & set(counts), counts


def test_demo_manifest_audits_clean(demo):
    results = demo / yaml.safe_load((demo / "config" / "config.yaml").read_text())["results_dir"]
    report = audit_results(results, demo)
    assert report.ok, report.format_text()
    assert report.n_outputs > 50
