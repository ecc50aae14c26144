"""Reruns and audits of a whole (small) workflow, tests/provenance_workflow: per-scan jobs,
a study summary with a figure, and the project's real rules/provenance.smk.

- a rerun of an unchanged study does nothing (snakemake -n: nothing to be done);
- changing one parameter reruns only the rules that depend on it;
- `painmrs audit` passes on the fresh run and catches a one-byte change and a changed input;
- `painmrs audit --rerun` reproduces the study byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import build_once_per_run

from painmrs.cli import main

WORKFLOW = Path(__file__).parent / "provenance_workflow"
pytestmark = pytest.mark.xdist_group("provenance_workflow")


def snakemake(workdir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(WORKFLOW / "Snakefile"), "-d", str(workdir), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def job_counts(dry_run_output: str) -> dict[str, int]:
    """{rule: count} from the 'Job stats' table of `snakemake -n`; {} if nothing to do."""
    counts = {}
    in_table = False
    for line in dry_run_output.splitlines():
        if line.startswith("Job stats:"):
            in_table = True
        elif in_table:
            m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif m:
                break
    return counts


def with_config(workdir: Path, **params) -> Path:
    cfg = yaml.safe_load((workdir / "config.yaml").read_text())
    cfg["params"].update(params)
    path = workdir / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """The mini study, run once locally (about 10 s) and shared by the xdist workers: the
    first one to take the lock runs it, the others reuse it."""

    def run(workdir: Path) -> None:
        for name in ("config.yaml", "design.yaml"):
            shutil.copy(WORKFLOW / name, workdir / name)
        proc = snakemake(workdir, "--cores", "2")
        assert proc.returncode == 0, proc.stderr[-3000:]

    return build_once_per_run(tmp_path_factory, "provenance_study", run)


def test_run_writes_a_manifest_that_audits_clean(study, capsys):
    m = json.loads((study / "results" / "provenance" / "manifest.json").read_text())
    s = m["study"]
    assert sorted(s["outputs"]) == sorted(
        [f"bids/s0{i}.tsv.gz" for i in range(1, 5)]
        + [f"derivatives/s0{i}_scaled.tsv" for i in range(1, 5)]
        + ["summary.json", "summary.png"])
    assert list(s["inputs"]) == ["design.yaml"]
    assert s["seeds"] == {"dataset.seed": 1234}
    assert s["declared_outputs"] == ["results/summary.json", "results/summary.png"]
    assert s["config"]["params"] == {"scale": 2.0, "offset": 1.0}
    # the workflow code is in this repository: its commit is recorded (if git is there)
    if shutil.which("git") and (Path(__file__).parents[1] / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", m["environment"]["git"]["commit"])
    assert main(["audit", str(study / "results")]) == 0
    assert "OK: outputs and inputs match the manifest" in capsys.readouterr().out


def test_unchanged_study_reruns_nothing(study):
    proc = snakemake(study, "-n", "--cores", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert job_counts(proc.stdout + proc.stderr) == {}


def test_changing_one_parameter_reruns_only_dependent_rules(study):
    # the summary's offset: only the summary (and the manifest recording it) rerun
    proc = snakemake(study, "-n", "--cores", "1", "--configfile", str(with_config(study, offset=1.5)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert job_counts(proc.stdout) == {"summarize": 1, "provenance_manifest": 1, "all": 1}
    # the per-scan scale factor: every scale job and what follows, never the simulation
    proc = snakemake(study, "-n", "--cores", "1", "--configfile", str(with_config(study, scale=3.0)))
    assert job_counts(proc.stdout) == {"scale_scan": 4, "summarize": 1, "provenance_manifest": 1,
                                       "all": 1}


def test_audit_catches_one_byte_change_and_changed_input(study, tmp_path, capsys):
    copy = tmp_path / "study"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns(".snakemake"))
    summary = copy / "results" / "summary.json"
    data = bytearray(summary.read_bytes())
    pos = data.index(b'"n_scans": 4') + len(b'"n_scans": ')
    data[pos] = ord("5")  # one byte
    summary.write_bytes(bytes(data))
    (copy / "design.yaml").write_text((copy / "design.yaml").read_text() + "# edited\n")
    assert main(["audit", str(copy / "results"), "--workdir", str(copy), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["audit"]["findings"]
    assert sorted((f["kind"], f["path"]) for f in findings) == [
        ("changed_input", "design.yaml"), ("modified_output", "summary.json")]


@pytest.mark.slow
def test_audit_rerun_reproduces_the_study_byte_for_byte(study, capsys):
    into = study / "rerun"
    rc = main(["audit", "--rerun", str(study / "results"), "--into", str(into),
               "--snakefile", str(WORKFLOW / "Snakefile"), "--cores", "2", "--timeout", "300"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "compared" in out and "10 identical files" in out and "OK: byte-identical outputs" in out
    # the rerun wrote its own manifest, with the same output hashes
    m1 = json.loads((study / "results" / "provenance" / "manifest.json").read_text())
    m2 = json.loads((into / "provenance" / "manifest.json").read_text())
    assert m1["study"]["outputs"] == m2["study"]["outputs"]
    assert m2["study"]["config"]["results_dir"] == into.as_posix()
    assert m2["study"]["config"]["dataset"]["bids_dir"] == f"{into.as_posix()}/bids"
    # and a tampered rerun is reported file by file
    (into / "derivatives" / "s02_scaled.tsv").write_text("t\tsignal\n0\t1\n")
    from painmrs.provenance import compare_trees

    cmp = compare_trees(study / "results", into)
    assert list(cmp.differing) == ["derivatives/s02_scaled.tsv"]
    assert "line 2" in cmp.differing["derivatives/s02_scaled.tsv"]
