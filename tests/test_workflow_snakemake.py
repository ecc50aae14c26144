"""The Snakemake workflow: formatting, lint, dry runs, config errors before any job, and a
real single-subject-per-folder MRS-BIDS study converted from the Philips TE 35 files.

Each test works in its own tmp_path, except lint and the dry runs (the repository itself:
xdist group "snakemake_root") and the Philips study with the simulated basis (the session's
``philips_study``, shared with tests/test_incremental.py: xdist group "snakemake"; the
supplied-basis variant runs its own study on any worker)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from study_fixtures import BIN, PHILIPS_TE35, ROOT, base_config, write_config, write_philips_study
from study_fixtures import run as _run


def test_snakefmt_check():
    files = ["Snakefile"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "rules").glob("*.smk"))
    proc = _run([str(BIN / "snakefmt"), "--check", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.xdist_group("snakemake_root")  # snakemake in the repository itself
def test_lint_is_clean():
    proc = _run([str(BIN / "snakemake"), "--lint"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out


def test_every_rule_has_log_conda_and_resources():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "rules").glob("*.smk")))
    blocks = [b for b in text.split("\nrule ")[1:]] + [b for b in text.split("\ncheckpoint ")[1:]]
    assert blocks
    for block in blocks:
        body = block.split("\n\n\n")[0]
        name = body.split(":")[0]
        if name == "all":
            continue
        for key in ("log:", "conda:", "resources:", "mem_mb=", "runtime="):
            assert key in body, f"rule {name} lacks {key}"


@pytest.mark.xdist_group("snakemake_root")  # snakemake in the repository itself
@pytest.mark.parametrize("extra", [[], ["--configfile", "config/full.yaml"]], ids=["demo", "full"])
def test_dry_run(extra):
    # --forceall: the plan must list every stage even after ./demo.sh has produced results here
    proc = _run([str(BIN / "snakemake"), "-n", "--forceall", *extra])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "simulate_demo" in out and "inventory" in out


_workdir = write_config


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["groups"].pop("control"), "groups.control"),
        (lambda c: c["execution"].update(scans_per_jbo=3), "execution.scans_per_jbo"),
        (lambda c: c["regions"].update({"../x": {}}), "regions"),
        # stage options (parsed by the stage libraries, not the schema) are checked at load too
        (lambda c: c.update(fit={"baseline_stifness": 10}), "fit.baseline_stifness"),
        (lambda c: c.update(stats={"fdr_q": 2}), "stats.fdr_q"),
    ],
    ids=["missing-control", "typo", "path-label", "fit-option-typo", "stats-option-range"],
)
def test_bad_config_stops_before_any_job(tmp_path, mutate, key):
    config = base_config()
    mutate(config)
    work = _workdir(tmp_path, config)
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(work)])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"field '{key}'" in out, out
    assert "config.yaml" in out
    assert "simulate_demo" not in out  # no job was planned


def _duplicate_qc_key(text: str) -> str:
    assert "\nqc:\n" in text
    return text.replace("\nqc:\n", "\nqc:\n  min_snr: 3\n", 1)


@pytest.mark.parametrize(
    "mutate, edit_text, key",
    [
        (lambda c: c["qc"].update(max_crlb=20), None, "qc.max_crlb"),  # a stage option, not the schema
        (lambda c: c["analysis"]["families"]["group_differences"].update(metabolites=["NAAA"]), None,
         "analysis.families.group_differences.metabolites[0]"),
        (None, _duplicate_qc_key, "qc.min_snr"),  # Snakemake's YAML loader keeps the last one
    ],
    ids=["qc-stage-key", "unknown-metabolite", "duplicate-yaml-key"],
)
def test_painmrs_validate_refuses_what_the_workflow_refuses(tmp_path, mutate, edit_text, key):
    """`painmrs validate` runs the workflow's load-time checks: the same config is refused by
    both, with the same message (file and key)."""
    config = base_config()
    if mutate:
        mutate(config)
    text = yaml.safe_dump(config, sort_keys=False)
    study = tmp_path / "study.yaml"
    study.write_text(edit_text(text) if edit_text else text, encoding="utf-8")
    check = _run([str(BIN / "painmrs"), "validate", "--config", str(study), "--bids", str(tmp_path / "absent")])
    assert check.returncode == 2, check.stdout + check.stderr
    lines = [ln for ln in (check.stdout + check.stderr).splitlines() if ln.startswith("painmrs validate: error: ")]
    message = lines[0].removeprefix("painmrs validate: error: ")
    assert message.startswith(f"{study}") and f"field '{key}'" in message, message
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(study)])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out, out
    assert "simulate_demo" not in out  # no job was planned


def test_unknown_covariate_of_a_study_on_disk_stops_the_workflow(tmp_path):
    """A covariate that is no participants/sessions column (here `bmi`) stops the workflow at
    load, naming the config file and key (it used to be dropped from the model with a note)."""
    from study_fixtures import make_study

    bids = make_study(tmp_path)
    config = base_config()
    config["dataset"] = {"name": "study", "simulate": False, "bids_dir": str(bids)}
    config["analysis"]["families"]["group_differences"]["covariates"] = ["age", "bmi"]
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(study)])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert f"{study}, field 'analysis.families.group_differences.covariates': covariate 'bmi' is not a column of" in out, out
    config["analysis"]["families"]["group_differences"]["covariates"] = ["age", "pain_nrs"]
    study.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "--configfile", str(study)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_duplicate_key_in_the_default_config_stops_the_workflow(tmp_path):
    work = _workdir(tmp_path, base_config())
    path = work / "config" / "config.yaml"
    path.write_text(_duplicate_qc_key(path.read_text()), encoding="utf-8")
    proc = _run([str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(work)])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "field 'qc.min_snr': duplicate key" in out and "config.yaml" in out, out


# facts.md §1.2 B: healthy adults, random-effects meta-analytic mean +/- SD (IU ~ mM):
# tNAA 11.27 +/- 3.83, tCr 10.17 +/- 2.38; tNAA/tCr 1.55 (SD not given there).
HEALTHY_RANGE_MM = {"tNAA": (11.27 - 2 * 3.83, 11.27 + 2 * 3.83), "tCr": (10.17 - 2 * 2.38, 10.17 + 2 * 2.38)}


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("basis", [pytest.param("simulated", marks=pytest.mark.xdist_group("snakemake")), "supplied"])
def test_real_philips_study_runs_through_the_workflow(shared_data, tmp_path, basis, request):
    """Two volunteers' Philips PRESS TE 35 SDAT/SPAR (+ water) -> MRS-BIDS -> the whole
    default workflow: conversion, inventory, basis simulation (127.75 MHz, TE 35), processing,
    fitting, quantification, study tables, statistics and report. A real study of one group
    with no scores must finish, with a report that says no group comparison was computed.
    ``simulated``: the session's shared run (the ``philips_study`` fixture, conftest.py; also
    the starting point of tests/test_incremental.py), only read here.
    ``supplied``: the same with Osprey's Philips TE 35 basis (vendor pulses, no MM: painmrs
    adds its parametric MM) named by ``sequences.press.basis`` instead of the simulated one."""
    osprey = shared_data / "basis" / "3T_PRESS_Philips_35ms_noMM.BASIS"
    work = request.getfixturevalue("philips_study").workdir if basis == "simulated" else tmp_path
    snakemake = [str(BIN / "snakemake"), "--cores", "1", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    if basis == "supplied":
        write_philips_study(work, shared_data / PHILIPS_TE35, basis=osprey)
        proc = _run(snakemake)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    import pandas as pd
    from nifti_mrs.nifti_mrs import NIFTI_MRS
    from nifti_mrs.validator import validate_nifti_mrs

    from painmrs.io import nifti_mrs
    from painmrs.study.inventory import read_scans

    results = work / "results"
    scans = read_scans(results / "inventory" / "scans.tsv")
    assert list(scans["stem"]) == ["sub-01_ses-01_acq-press_voi-ACC", "sub-02_ses-01_acq-press_voi-ACC"]
    assert scans["water_available"].all()
    assert set(scans["sequence"]) == {"PRESS"}
    qc_table = pd.read_csv(results / "qc" / "qc.tsv", sep="\t")
    for row in scans.itertuples():
        metab = nifti_mrs.read(work / "bids" / row.svs)
        water = nifti_mrs.read(work / "bids" / row.mrsref)
        assert metab.fid.shape == water.fid.shape == (2048,)
        assert metab.dwell_s == pytest.approx(5e-4)
        assert metab.spectrometer_mhz == pytest.approx(127.75, abs=0.01)
        assert metab.header["EchoTime"] == pytest.approx(0.035)
        # Unsuppressed water is far stronger than the water-suppressed metabolite scan.
        assert abs(water.fid[0]) > 10 * abs(metab.fid[0])
        assert (results / "logs" / "convert" / f"{row.svs}.log").is_file()

        # processing: valid NIfTI-MRS with its history, QC sidecar with plausible values
        derived = results / "derivatives" / row.subject / row.session / "mrs"
        for suffix in ("desc-processed_svs", "desc-processed_mrsref", "desc-fit_svs"):
            validate_nifti_mrs(NIFTI_MRS(str(derived / f"{row.stem}_{suffix}.nii.gz")))
        processed = nifti_mrs.read(derived / f"{row.stem}_desc-processed_svs.nii.gz")
        methods = [step["Method"] for step in processed.processing_history]
        assert "Eddy current correction" in methods and "Nuisance peak removal" in methods, methods
        qc = json.loads((derived / f"{row.stem}_qc.json").read_text())
        # 64 averages stored averaged, 30 mm cube at 3T: NAA FWHM 0.04-0.08 ppm, SNR well above 10
        assert 0.03 < qc["fwhm_naa_ppm"] < 0.08 and qc["snr"] > 50, qc
        assert (derived / f"{row.stem}_qc.png").is_file() and (derived / f"{row.stem}_fit.png").is_file()
        assert bool(qc_table.set_index("stem").loc[row.stem, "scan_qc_pass"])

        # fitting and quantification (water-referenced, no segmentation): healthy tNAA, tCr
        fit = pd.read_csv(derived / f"{row.stem}_fit.tsv", sep="\t").set_index("metabolite")
        for name, (lo, hi) in HEALTHY_RANGE_MM.items():
            assert lo <= fit.loc[name, "conc_mM"] <= hi, (row.stem, name, fit.loc[name, "conc_mM"])
            assert fit.loc[name, "crlb_pct"] < 5
        assert 1.0 <= fit.loc["tNAA", "ratio_tCr"] <= 2.0
    table = pd.read_csv(results / "metabolites.tsv", sep="\t")
    assert set(table["stem"]) == set(scans["stem"])
    basis_log = (results / "logs" / "basis" / "press.log").read_text()
    if basis == "supplied":
        assert f"basis loaded from {osprey}" in basis_log and "parametric macromolecules added: ['MM_3T']" in basis_log
        manifest = json.loads((results / "provenance" / "manifest.json").read_text())
        assert str(osprey) in manifest["study"]["inputs"]
    else:
        assert "basis loaded from" not in basis_log
    # statistics: one group, no scores -> no tests, empty (but well-formed) tables
    assert pd.read_csv(results / "stats" / "group_comparisons.tsv", sep="\t").empty
    report = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert "Participants: 2; scans: 2" in report
    assert "No group comparisons were computed: they need the control group" in report
    # Rerun: nothing to do (outputs are complete and up to date).
    again = _run(snakemake + ["-n"])
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_simulated_tiny_study_inventory_matches_truth(tmp_path):
    """Contract between the simulator and the inventory: the workflow's simulate_demo writes a
    study whose every scan (and only those) the inventory finds, with water and tissue maps."""
    import pandas as pd

    config = base_config()
    config["dataset"]["size"] = "tiny"
    config["dataset"]["design"] = str(ROOT / "config" / "demo" / "design.yaml")
    work = _workdir(tmp_path, config)
    proc = _run(
        [str(BIN / "snakemake"), "--cores", "2", "-s", str(ROOT / "Snakefile"), "-d", str(work), "results/inventory/scans.tsv"]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from painmrs.study.inventory import read_scans

    scans = read_scans(work / "results" / "inventory" / "scans.tsv")
    truth = pd.read_csv(work / "results" / "demo" / "truth" / "scans.tsv", sep="\t", dtype=str)
    assert sorted(scans["stem"]) == sorted(truth["stem"])
    assert len(scans) >= 4 and scans["water_available"].all()
    assert set(scans["sequence"]) == {"PRESS", "MEGA-PRESS"}
    for column in ("t1w", "probseg_gm", "probseg_wm", "probseg_csf"):
        assert (scans[column] != "").all(), column
    participants = pd.read_csv(work / "results" / "inventory" / "participants.tsv", sep="\t")
    assert set(participants["participant_id"]) == set(scans["subject"])


@pytest.mark.slow
def test_thousand_scan_study_makes_few_jobs(tmp_path):
    """1,000 scans (250 participants) in execution.batches = 20: 20 process + 20 fit jobs, not 2,000."""
    import re

    from study_fixtures import make_study

    participants = [(f"sub-P{i:03d}", "HC" if i % 2 else "cLBP", "40", "F", "1") for i in range(250)]
    make_study(tmp_path, participants=participants)  # 250 subjects x 2 sessions x 2 scans
    config = base_config()
    config["dataset"] = {"name": "big", "simulate": False, "bids_dir": "bids"}
    config["execution"]["batches"] = 20
    work = _workdir(tmp_path, config)
    base = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    built = _run(base + ["--cores", "1", "results/inventory/scans.tsv"])
    assert built.returncode == 0, built.stdout + built.stderr
    assert (work / "results/inventory/scans.tsv").read_text().count("\n") == 1001
    dry = _run(base + ["-n"])
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], flags=re.M))
    assert counts["process_batch"] == "20" and counts["fit_batch"] == "20"
    assert counts["basis_set"] == "2"  # one per acquisition (press, megapress)
    assert int(counts["total"]) < 60


def test_configfile_replaces_the_default_config(tmp_path):
    """--configfile must not merge into config/config.yaml: a study would inherit the demo's
    keys. Here the default config holds a typo; a replaced config never sees it."""
    broken = base_config()
    broken["regoins"] = broken["regions"]
    work = _workdir(tmp_path, broken)
    study = base_config()
    study["dataset"]["size"] = "tiny"
    study["dataset"]["design"] = str(ROOT / "config" / "demo" / "design.yaml")
    (work / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    base = [str(BIN / "snakemake"), "-n", "-s", str(ROOT / "Snakefile"), "-d", str(work)]
    merged = _run(base)
    assert merged.returncode != 0 and "field 'regoins'" in merged.stdout + merged.stderr
    replaced = _run(base + ["--configfile", str(work / "study.yaml")])
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
