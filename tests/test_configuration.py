"""The typed configuration model (painmrs.configuration): parsed once, one canonical JSON param
per rule holding exactly the options its job uses (its rerun trigger and its only config)."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from painmrs.configuration import (
    FitJob,
    ProcessJob,
    StudyOptions,
    job_options,
    load_study_options,
    study_options,
)
from painmrs.errors import InputError
from painmrs.study.config import read_yaml_strict

ROOT = Path(__file__).resolve().parents[1]
RULES = ("process_batch", "fit_batch", "study_table", "statistics", "recovery", "html_report")


def _load(name="config/config.yaml"):
    config = read_yaml_strict(ROOT / name)
    return config, load_study_options(config, name)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/full.yaml"])
def test_options_survive_their_json_round_trip(name):
    _, options = _load(name)
    text = options.to_json()
    back = StudyOptions.from_json(text)
    assert back == options and back.to_json() == text
    # tuples stay tuples (the stages index and hash them), nested dataclasses stay typed
    assert isinstance(back.fit.ppm_range, tuple) and isinstance(back.stats.group.covariates, tuple)
    assert back.sequences["press"].te_ms == options.sequences["press"].te_ms


def _params(config):
    options = load_study_options(copy.deepcopy(config), "study.yaml")
    params = {rule: job_options(options, rule) for rule in RULES}
    params.update({f"basis_set:{acq}": job_options(options, "basis_set", acq) for acq in options.sequences})
    return params


@pytest.mark.parametrize(
    "section, key, value, rerun",
    [
        ("processing", "align_max_shift_hz", 15.0, {"process_batch", "html_report"}),
        ("fit", "max_shift_hz", 10.0, {"fit_batch", "html_report"}),
        ("quantify", "h2o_molal_mM", 55000.0, {"fit_batch", "html_report"}),
        ("qc", "min_snr", 7.0, {"fit_batch", "study_table", "statistics", "html_report"}),
        ("stats", "alpha", 0.01, {"statistics", "html_report"}),
        ("report", "primary_measure", "ratio_tCr", {"html_report"}),
    ],
)
def test_a_change_reruns_only_the_jobs_that_use_it(section, key, value, rerun):
    config, _ = _load()
    before = _params(config)
    changed = copy.deepcopy(config)
    changed.setdefault(section, {})
    changed[section] = {**(changed[section] or {}), key: value}
    after = _params(changed)
    assert {rule for rule in before if before[rule] != after[rule]} == rerun


def test_a_sequence_change_reruns_only_its_own_basis():
    config, _ = _load()
    before = _params(config)
    changed = copy.deepcopy(config)
    changed["sequences"]["press"]["tr_ms"] = 2500
    after = _params(changed)
    # the fits use the configured TR (relaxation correction; it wins over the header: issue 13)
    assert {rule for rule in before if before[rule] != after[rule]} == {"basis_set:press", "fit_batch", "html_report"}
    changed = copy.deepcopy(config)
    changed["sequences"]["press"]["refocusing"] = "shaped"  # the basis only
    after = _params(changed)
    assert {rule for rule in before if before[rule] != after[rule]} == {"basis_set:press", "html_report"}


def test_job_params_are_canonical_json_of_their_own_options_only():
    _, options = _load()
    fit = json.loads(job_options(options, "fit_batch"))
    assert sorted(fit) == ["fit", "mega_diff_fit", "on_bad_scan", "qc", "quantify", "scan_figures", "sequences"]
    assert fit["sequences"]["press"] == {"te_ms": options.sequences["press"].te_ms, "tr_ms": options.sequences["press"].tr_ms}
    assert sorted(json.loads(job_options(options, "process_batch"))) == ["on_bad_scan", "processing", "scan_figures"]
    assert job_options(options, "fit_batch") == json.dumps(fit, separators=(",", ":"))
    # mappings keep their order (fit.combinations' order is the row order of every fit table)
    assert list(FitJob.from_json(job_options(options, "fit_batch")).fit.combinations) == list(options.fit.combinations)
    assert FitJob.from_json(job_options(options, "fit_batch")).fit == options.fit


def test_mega_diff_fit_options_are_reachable_from_the_config():
    from painmrs.fitting.mega import DIFF_OPTIONS

    default = study_options({})
    assert default.mega_diff_fit == DIFF_OPTIONS  # the DIFF fit's own defaults, not fit:'s
    opts = study_options({"fit": {"max_shift_hz": 8.0, "mega_diff": {"ppm_range": [2.5, 4.2], "max_gauss_hz": 15}}})
    assert opts.mega_diff_fit.ppm_range == (2.5, 4.2) and opts.mega_diff_fit.max_gauss_hz == 15
    # the other DIFF defaults stay, and fit: options do not leak into the DIFF fit
    assert opts.mega_diff_fit.baseline_stiffness == DIFF_OPTIONS.baseline_stiffness == 100.0
    assert opts.mega_diff_fit.max_shift_hz == DIFF_OPTIONS.max_shift_hz and opts.fit.max_shift_hz == 8.0
    with pytest.raises(InputError) as info:
        study_options({"fit": {"mega_diff": {"ppm_rnage": [2.5, 4.2]}}}, "study.yaml")
    assert info.value.field == "fit.mega_diff.ppm_rnage" and "study.yaml" in str(info.value)
    with pytest.raises(InputError) as info:
        study_options({"fit": {"mega_diff": {"baseline_stiffness": -1}}}, "study.yaml")
    assert info.value.field == "fit.mega_diff.baseline_stiffness"


def test_the_diff_fit_runs_with_the_configured_options(tmp_path, monkeypatch):
    """fit_batch hands fit.mega_diff to the DIFF fit and fit: to the OFF fit."""
    from painmrs.io import nifti_mrs
    from painmrs.jobs.fit import fit_batch
    from painmrs.mrs import MRSData
    import painmrs.basis.readers as readers
    import painmrs.quantify.scan as scan_module

    seen = {}
    monkeypatch.setattr(readers, "read_fsl_basis", lambda path: f"basis {Path(path).name}")
    monkeypatch.setattr(scan_module, "fit_mega_scan", lambda *a, **kw: seen.update(kw))
    spectrum = MRSData(fid=np.ones(256, complex), dwell_s=1 / 2000, spectrometer_mhz=123.2)
    files = {part: nifti_mrs.write(spectrum, tmp_path / f"{part}.nii.gz") for part in ("diff", "off")}
    scans = pd.DataFrame([{"stem": "sub-1_acq-mega_voi-ACC", "subject": "sub-1", "session": "", "acq": "mega",
                           "sequence": "MEGA-PRESS", "svs": "x_svs.nii.gz", "probseg_gm": "", "probseg_wm": "",
                           "probseg_csf": ""}])
    manifest = pd.DataFrame([{"stem": "sub-1_acq-mega_voi-ACC", "output": p, "path": str(f), "sha256": "", "message": ""}
                             for p, f in files.items()])
    options = study_options({"fit": {"max_shift_hz": 8.0, "mega_diff": {"ppm_range": [2.5, 4.2]}}})
    job = FitJob.from_json(job_options(options, "fit_batch"))
    fit_batch(scans, manifest, {"mega": tmp_path}, tmp_path, tmp_path / "deriv", job)
    assert seen["diff_options"].ppm_range == (2.5, 4.2) and seen["off_options"].max_shift_hz == 8.0


def test_methods_text_states_the_diff_fit_only_for_mega_press_studies():
    from painmrs.report.checklist import resolved_parameters

    _, demo = _load()  # PRESS and MEGA-PRESS
    press_only = study_options({"sequences": {"press": {"sequence": "PRESS", "te_ms": 30}}})
    assert "fit.mega_diff: " in resolved_parameters(demo) and "ppm_range=2.6-4.1" in resolved_parameters(demo)
    assert "fit.mega_diff" not in resolved_parameters(press_only)


def test_the_report_states_the_options_it_was_given(tmp_path):
    from painmrs.report import build_report
    from test_stats_synthetic import make_study

    table, _ = make_study(seed=5, n=6, n_trial=6)
    options = study_options({"qc": {"min_snr": 7.5}, "stats": {"alpha": 0.01}})
    import html as markup

    text = markup.unescape(build_report(table, tmp_path / "index.html", options=options).read_text())
    assert "SNR < 7.5" in text  # checklist and methods: the exclusion rules
    assert '"min_snr": 7.5' in text and '"alpha": 0.01' in text  # the resolved configuration


def test_processing_auto_takes_the_scans_sequence():
    job = ProcessJob.from_json(job_options(study_options({}), "process_batch"))
    assert job.processing.sequence == "auto"
    assert job.for_sequence("MEGA-PRESS").sequence == "MEGA-PRESS" and job.for_sequence("STEAM").sequence == "auto"


def test_scripts_read_only_their_options_param():
    """No script reads snakemake.config or edits sys.path (rules/common.smk is the one place)."""
    offenders = []
    for path in sorted((ROOT / "scripts").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "config" and getattr(node.value, "id", "") == "snakemake":
                offenders.append(f"{path.name}: snakemake.config")
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{path.name}: sys.path")
    assert offenders == []
