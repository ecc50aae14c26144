"""Reruns and audits of the REAL workflow (the project's Snakefile) on the demo study, run once
per session in a copy of the repository's workflow files (the `demo_study` fixture, conftest.py):

- a rerun of the unchanged study does nothing (`snakemake -n`: nothing to be done), also with an
  identical copy of its config under another name;
- changing one statistics parameter reruns only the rules that read it (the study table,
  statistics, recovery, the report, the manifest), never simulation, processing or fitting;
- changing one report parameter reruns only the report (and the manifest);
- changing one processing parameter reruns processing, fitting and everything downstream,
  but not the simulation, the inventory or the basis sets;
- the run's manifest audits clean, and the audit catches a one-byte change in one output and
  a changed input.

The same study is run through SLURM and compared byte for byte in tests/test_slurm_e2e.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import snakemake_cmd, snakemake_env

from painmrs.cli import main
from painmrs.provenance import audit_results
from test_provenance_workflow import job_counts

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_study")]

DOWNSTREAM_OF_STATS = {"study_table": 1, "statistics": 1, "recovery": 1, "html_report": 1,
                       "provenance_manifest": 1, "all": 1}


def _dry_run(workdir: Path, *args: str) -> dict[str, int]:
    """{rule: jobs} that `snakemake -n` would run in ``workdir``; {} if nothing to be done."""
    proc = subprocess.run(snakemake_cmd(workdir, "-n", "--cores", "1", *args), cwd=workdir,
                          capture_output=True, text=True, timeout=300, env=snakemake_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert (counts == {}) == ("Nothing to be done" in proc.stdout + proc.stderr)
    return counts


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` as a new file: a linked copy's files are the shared study's inodes."""
    path.unlink()
    path.write_bytes(data)


def _linked_copy(study, dest: Path) -> Path:
    """The study (outputs, .snakemake metadata and all) copied as hard links: instant, and the
    shared run stays untouched as long as changed files are replaced, never written through."""
    shutil.copytree(study.workdir, dest, copy_function=os.link, symlinks=True)
    return dest


def _edit_config(workdir: Path, section: str, key: str, value) -> None:
    """Change one parameter in the study's own config file, as a user would."""
    path = workdir / "config" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    assert cfg[section][key] != value
    cfg[section][key] = value
    _replace(path, yaml.safe_dump(cfg, sort_keys=False).encode())


def test_unchanged_demo_reruns_nothing(demo_study):
    assert _dry_run(demo_study.workdir) == {}


def test_the_same_config_under_another_name_reruns_nothing(demo_study, tmp_path):
    # an audit rerun with a copy of the study's config (another file name and folder) must not
    # redo hours of processing: only the config's content may trigger reruns
    copy = tmp_path / "audit" / "study_copy.yaml"
    copy.parent.mkdir()
    copy.write_bytes((demo_study.workdir / "config" / "config.yaml").read_bytes())
    assert _dry_run(demo_study.workdir, "--configfile", str(copy)) == {}


def test_one_statistics_parameter_reruns_only_its_dependents(demo_study, tmp_path):
    # stats.power only changes the minimum detectable effects of the statistics tables: the
    # statistics and what reads them rerun; the study table does not (its options are the
    # exclusion rules only), nor anything upstream
    study = _linked_copy(demo_study, tmp_path / "study")
    _edit_config(study, "stats", "power", 0.9)
    assert _dry_run(study) == {k: v for k, v in DOWNSTREAM_OF_STATS.items() if k != "study_table"}


def test_one_report_parameter_reruns_only_the_report(demo_study, tmp_path):
    study = _linked_copy(demo_study, tmp_path / "study")
    _edit_config(study, "report", "primary_measure", "conc_molal")
    assert _dry_run(study) == {"html_report": 1, "provenance_manifest": 1, "all": 1}


def test_one_processing_parameter_reruns_processing_fitting_and_downstream(demo_study, tmp_path):
    study = _linked_copy(demo_study, tmp_path / "study")
    _edit_config(study, "processing", "align_apodise_hz", 3.0)
    n = len(list((demo_study.results / "batches" / "process").glob("b*.tsv")))
    assert n >= 2
    expected = {"process_batch": n, "fit_batch": n, "qc_table": 1, **DOWNSTREAM_OF_STATS}
    assert _dry_run(study) == expected  # no simulate_demo, inventory or basis_set


def test_demo_manifest_audits_clean(demo_study, capsys):
    report = audit_results(demo_study.results, demo_study.workdir)
    assert report.ok, report.format_text()
    manifest = json.loads((demo_study.results / "provenance" / "manifest.json").read_text())
    outputs = manifest["study"]["outputs"]
    # every scan's derived files are covered: one fit table per scan of the inventory
    n_scans = len((demo_study.results / "inventory" / "scans.tsv").read_text().splitlines()) - 1
    assert sum(1 for p in outputs if p.endswith("_fit.tsv")) == n_scans
    assert report.n_outputs == len(outputs) and report.n_inputs == len(manifest["study"]["inputs"])
    assert main(["audit", str(demo_study.results), "--workdir", str(demo_study.workdir)]) == 0
    assert "OK: outputs and inputs match the manifest" in capsys.readouterr().out


def test_audit_catches_one_byte_change_and_a_changed_input(demo_study, tmp_path, capsys):
    copy = _linked_copy(demo_study, tmp_path / "study")
    results = copy / demo_study.results.relative_to(demo_study.workdir)
    table = results / "stats" / "group_comparisons.tsv"
    data = bytearray(table.read_bytes())
    pos = len(data) // 2
    data[pos] = ord("7") if data[pos] != ord("7") else ord("8")  # one byte
    _replace(table, bytes(data))
    manifest = json.loads((results / "provenance" / "manifest.json").read_text())
    design = "config/demo/design.yaml"
    assert design in manifest["study"]["inputs"]
    _replace(copy / design, (copy / design).read_bytes() + b"# edited\n")

    rc = main(["audit", str(results), "--workdir", str(copy)])
    text = capsys.readouterr().out
    with capsys.disabled():  # the demonstration for the closing note (pytest -s)
        print(f"\n{text}")
    assert rc == 1
    assert "config/demo/design.yaml" in text and "stats/group_comparisons.tsv" in text
    rc = main(["audit", str(results), "--workdir", str(copy), "--json"])
    findings = json.loads(capsys.readouterr().out)["audit"]["findings"]
    assert rc == 1
    assert sorted((f["kind"], f["path"]) for f in findings) == [
        ("changed_input", design), ("modified_output", "stats/group_comparisons.tsv")]
    # the shared study is unchanged
    assert audit_results(demo_study.results, demo_study.workdir).ok
