"""The tidy study table: reshaping fit tables, joining covariates, QC exclusions and counts."""

from __future__ import annotations

import dataclasses

import json

import numpy as np
import pandas as pd
import pytest

from painmrs.errors import InputError
from painmrs.quantify.qc import QCRules
from painmrs.stats import ExclusionRules, build_metabolite_table, load_metabolite_table, metabolite_table_sidecar
from painmrs.stats.study_table import exclusion_counts, parse_stem
from painmrs.stats.tables import format_table


def _write(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)
    return path


def _fit(met_rows):
    return pd.DataFrame(met_rows, columns=["metabolite", "amplitude", "crlb_pct", "ratio_tCr", "conc_mM", "conc_molal", "alpha_corrected"])


@pytest.fixture
def study(tmp_path):
    fits = []
    deriv = tmp_path / "derivatives"
    for subj, sess, snr, gaba_crlb in (("sub-HC001", "ses-baseline", 40, 30.0), ("sub-CLBP001", "ses-baseline", 6, 60.0),
                                       ("sub-CLBP001", "ses-post", 35, 10.0)):
        stem = f"{subj}_{sess}_acq-press_voi-ACC"
        fits.append(_write(deriv / subj / sess / "mrs" / f"{stem}_fit.tsv", _fit([
            ["NAA", 1.0, 4.0, 1.5, 11.0, 13.0, np.nan],
            ["Gln", 0.2, 35.0, 0.4, 3.0, 3.5, np.nan],       # 35 % passes the Gln override (50), not 20
            ["GABA", 0.1, gaba_crlb, 0.2, 1.2, 1.4, 1.9],
            ["tCr", 0.8, 3.0, 1.0, 8.0, 9.0, np.nan],
        ])))
    qc = pd.DataFrame({"stem": [f.name[:-8] for f in fits], "snr": [40, 6, 35], "fwhm_hz": [7.0, 8.0, 14.0],
                       "f_gm": [0.6, 0.55, 0.58], "f_wm": [0.3, 0.35, 0.32], "f_csf": [0.1, 0.1, 0.1],
                       "spectrometer_mhz": [123.2, 123.2, 123.2]})
    qc_path = _write(tmp_path / "qc" / "qc.tsv", qc)
    parts = _write(tmp_path / "bids" / "participants.tsv", pd.DataFrame(
        {"participant_id": ["sub-HC001", "sub-CLBP001"], "group": ["HC", "cLBP"], "age": [40, 50], "sex": ["F", "M"],
         "pain_nrs": [0.0, 6.0]}))
    sess = _write(tmp_path / "bids" / "sub-CLBP001" / "sub-CLBP001_sessions.tsv", pd.DataFrame(
        {"session_id": ["ses-baseline", "ses-post"], "study": ["spinal_manipulation"] * 2, "arm": ["SMT"] * 2,
         "time": ["baseline", "post"], "pain_nrs": [7.0, 4.0]}))
    return fits, qc_path, parts, [sess]


def test_parse_stem():
    assert parse_stem("sub-HC001_ses-baseline_acq-megapress_voi-insulaL") == {
        "subject": "sub-HC001", "session": "ses-baseline", "acq": "megapress", "region": "insulaL",
        "stem": "sub-HC001_ses-baseline_acq-megapress_voi-insulaL"}
    assert parse_stem("sub-X1_acq-press_voi-ACC")["session"] == ""
    with pytest.raises(InputError, match="stem"):
        parse_stem("garbage")


def test_build_table_reshapes_joins_and_excludes(study):
    fits, qc, parts, sess = study
    # fwhm 14 Hz at 123.2 MHz = 0.114 ppm > 0.1 -> the post scan is excluded by linewidth
    t = build_metabolite_table(fits, qc, parts, sess, ExclusionRules())
    assert list(t.columns[:17]) == ["subject", "session", "region", "acq", "stem", "metabolite", "measure", "value",
                                    "crlb_pct", "snr", "fwhm_hz", "spectrometer_mhz", "qc_pass", "qc_reason", "f_gm",
                                    "f_wm", "f_csf"]
    # 3 scans x (4 metabolites x 4 measures + GABA alpha) rows; NaN alpha for non-GABA dropped
    assert len(t) == 3 * (4 * 4 + 1)
    assert set(t["measure"]) == {"amplitude", "ratio_tCr", "conc_mM", "conc_molal", "gaba_alpha"}
    hc = t[t["subject"] == "sub-HC001"].set_index(["metabolite", "measure"])
    assert hc.loc[("NAA", "conc_molal"), "value"] == pytest.approx(13.0)
    assert hc.loc[("GABA", "gaba_alpha"), "value"] == pytest.approx(1.9)
    # HC: NAA/tCr pass; Gln 35 % passes its override of 50; GABA 30 % passes 50
    assert hc["qc_pass"].all()
    base = t[(t["subject"] == "sub-CLBP001") & (t["session"] == "ses-baseline")]
    assert not base["qc_pass"].any()  # SNR 6 < 10: whole scan out
    assert base.set_index(["metabolite", "measure"]).loc[("GABA", "conc_mM"), "qc_reason"] == "snr<10;crlb>50%"
    post = t[(t["subject"] == "sub-CLBP001") & (t["session"] == "ses-post")]
    assert set(post["qc_reason"]) == {"fwhm>0.1ppm"}  # the quantify stage's own rule and wording
    # session-level pain wins over participant-level pain; session columns joined
    assert set(post["pain_nrs"]) == {4.0} and set(base["pain_nrs"]) == {7.0}
    assert set(hc["pain_nrs"]) == {0.0}
    assert set(post["arm"]) == {"SMT"} and hc["arm"].isna().all()
    counts = exclusion_counts(t)
    snr_rows = counts[counts["reason"] == "snr<10"]
    assert snr_rows["n_rows"].sum() == 17 and set(snr_rows["n_scans"]) == {1}
    assert counts[counts["reason"] == "crlb>50%"]["n_rows"].sum() == 5  # GABA: 4 measures + alpha
    side = metabolite_table_sidecar(t, ExclusionRules())
    assert set(side["columns"]) == set(t.columns) and all(side["columns"].values())
    json.dumps(side)


def test_rules_are_configurable(study):
    fits, qc, parts, sess = study
    off = dict(min_snr=None, max_fwhm_ppm=None)
    t = build_metabolite_table(fits, qc, parts, sess, ExclusionRules(QCRules(**off, max_crlb_pct=None,
                                                                             max_crlb_pct_by_metabolite={})))
    assert t["qc_pass"].all()
    t = build_metabolite_table(fits, qc, parts, sess, ExclusionRules(QCRules(**off, max_crlb_pct=20,
                                                                             max_crlb_pct_by_metabolite={})))
    assert set(t[~t["qc_pass"]]["metabolite"]) == {"Gln", "GABA"}


def test_one_source_of_truth_for_qc_thresholds(study):
    """The study table applies the config's qc: section (QCRules, as quantify does); the old
    duplicate keys in stats.exclusion are an error that names the qc key."""
    from painmrs.stats import stats_options_from_config
    from painmrs.quantify.qc import metabolite_flags, scan_flags

    opts = stats_options_from_config({"qc": {"min_snr": 5, "max_fwhm_ppm": 0.2}})
    assert opts.exclusion.qc == QCRules(min_snr=5, max_fwhm_ppm=0.2)
    fits, qc, parts, sess = study
    t = build_metabolite_table(fits, qc, parts, sess, opts.exclusion)
    base = t[(t["subject"] == "sub-CLBP001") & (t["session"] == "ses-baseline")]
    assert set(base["qc_reason"]) == {"", "crlb>50%"}  # SNR 6 passes min_snr 5 (fails the default 10)
    assert t[t["session"] == "ses-post"]["qc_pass"].all()  # 0.114 ppm passes max_fwhm_ppm 0.2
    # every row's verdict equals the quantify functions' verdict on the same values
    for r in t.itertuples(index=False):
        # (the fit flags, residual included, are the fit table's own verdict: none in these tables)
        scan_rules = dataclasses.replace(opts.exclusion.qc, max_fit_quality=None)
        want = scan_flags(r.snr, r.fwhm_hz, 123.2, float("nan"), scan_rules) + metabolite_flags(r.metabolite, r.crlb_pct, opts.exclusion.qc)
        assert r.qc_reason == ";".join(want)
    with pytest.raises(InputError, match=r"stats.exclusion.snr_min.*qc.min_snr"):
        stats_options_from_config({"stats": {"exclusion": {"snr_min": 5}}}, "config.yaml")
    with pytest.raises(InputError, match=r"qc.min_snrr"):
        stats_options_from_config({"qc": {"min_snrr": 5}}, "config.yaml")


def test_qc_stage_verdict_respected(study, tmp_path):
    fits, qc, parts, sess = study
    q = pd.read_csv(qc, sep="\t")
    q["scan_qc_pass"] = [True, True, False]
    q["qc_reason"] = ["", "", "residual_water"]
    q.to_csv(qc, sep="\t", index=False)
    t = build_metabolite_table(fits, qc, parts, sess, ExclusionRules(QCRules(max_fwhm_ppm=None)))
    post = t[t["session"] == "ses-post"]
    assert set(post["qc_reason"]) == {"qc_stage:residual_water"}


def test_round_trip_and_bad_input(study, tmp_path):
    fits, qc, parts, sess = study
    t = build_metabolite_table(fits, qc, parts, sess)
    p = tmp_path / "metabolites.tsv"
    p.write_text(format_table(t))
    back = load_metabolite_table(p)
    assert len(back) == len(t) and back["qc_pass"].dtype == bool
    assert back["value"].to_numpy() == pytest.approx(t["value"].to_numpy(), rel=1e-5, nan_ok=True)
    bad = pd.read_csv(parts, sep="\t").iloc[:1]
    bad.to_csv(parts, sep="\t", index=False)
    with pytest.raises(InputError, match="participant_id.*sub-CLBP001|sub-CLBP001.*participants"):
        build_metabolite_table(fits, qc, parts, sess)
    fits[0].write_text("amplitude\tcrlb_pct\n1\t2\n")
    with pytest.raises(InputError, match="metabolite"):
        build_metabolite_table(fits, qc, parts, sess)


def test_scan_level_values_from_fit_table_when_no_qc_table(tmp_path):
    fit = pd.DataFrame({"metabolite": ["NAA", "tCr"], "spectrum": "press", "amplitude": [1.0, 0.8],
                        "crlb_pct": [3.0, 4.0], "ratio_tCr": [1.4, 1.0], "conc_mM": [11.0, 8.0],
                        "conc_molal": [13.0, 9.5], "alpha_corrected": [np.nan, np.nan], "snr": [8.0, 8.0],
                        "fwhm_hz": [6.0, 6.0], "spectrometer_mhz": [123.2, 123.2], "f_gm": [0.5, 0.5], "f_wm": [0.4, 0.4], "f_csf": [0.1, 0.1],
                        "fit_qc_pass": [False, False], "qc_flags": ["snr<10", "snr<10"]})
    f = _write(tmp_path / "sub-A1_acq-press_voi-PCC_fit.tsv", fit)
    parts = _write(tmp_path / "participants.tsv", pd.DataFrame({"participant_id": ["sub-A1"], "group": ["HC"]}))
    t = build_metabolite_table([f], None, parts)
    assert set(t["snr"]) == {8.0} and set(t["f_gm"]) == {0.5} and set(t["session"]) == {""}
    assert set(t["qc_reason"]) == {"snr<10"}  # re-derived by the study rules
    t = build_metabolite_table([f], None, parts, rules=ExclusionRules(QCRules(min_snr=5)))
    assert t["qc_pass"].all()  # the fit table's own flags do not override the configured rules


def test_cli_build_table(study, tmp_path):
    from painmrs.cli import main

    fits, qc, parts, sess = study
    out = tmp_path / "results" / "metabolites.tsv"
    rc = main(["stats", "--build-table", "--table", str(out), "--fits-dir", str(tmp_path / "derivatives"),
               "--qc", str(qc), "--bids", str(tmp_path / "bids")])
    assert rc == 0
    back = load_metabolite_table(out)
    assert len(back) == 51 and (~back["qc_pass"]).sum() == 17 + 17  # SNR scan + linewidth scan
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["exclusion_rules"]["qc"]["min_snr"] == 10 and set(side["columns"]) == set(back.columns)
    assert main(["stats", "--build-table", "--table", str(out), "--fits-dir", str(tmp_path / "nothing"),
                 "--bids", str(tmp_path / "bids")]) == 2  # InputError -> exit code 2, message names the field


def test_linewidth_rule_uses_each_scans_own_frequency(tmp_path):
    """Multi-field study: 20 Hz is 0.0673 ppm at 7 T (297.2 MHz, passes max_fwhm_ppm 0.1) but
    0.313 ppm at 1.5 T (63.9 MHz, fails). The former study-wide 123.2 MHz gave 0.162 ppm for both
    (both excluded); a scan without a known frequency cannot pass the linewidth rule."""
    fits = []
    for subj, mhz in (("sub-A1", 297.2), ("sub-A2", 63.9), ("sub-A3", np.nan)):
        fit = pd.DataFrame({"metabolite": ["NAA", "tCr"], "spectrum": "press", "amplitude": [1.0, 0.8],
                            "crlb_pct": [3.0, 4.0], "ratio_tCr": [1.4, 1.0], "snr": [50.0, 50.0],
                            "fwhm_hz": [20.0, 20.0], "spectrometer_mhz": [mhz, mhz],
                            "f_gm": [0.5, 0.5], "f_wm": [0.4, 0.4], "f_csf": [0.1, 0.1]})
        fits.append(_write(tmp_path / f"{subj}_acq-press_voi-PCC_fit.tsv", fit))
    parts = _write(tmp_path / "participants.tsv", pd.DataFrame({"participant_id": ["sub-A1", "sub-A2", "sub-A3"],
                                                                "group": ["HC"] * 3}))
    t = build_metabolite_table(fits, None, parts, rules=ExclusionRules(QCRules(max_fwhm_ppm=0.1, max_crlb_pct=None)))
    by = t.groupby("subject")
    assert by["qc_pass"].all().to_dict() == {"sub-A1": True, "sub-A2": False, "sub-A3": False}
    assert set(t.loc[t.subject == "sub-A2", "qc_reason"]) == {"fwhm>0.1ppm"}
    assert set(t.loc[t.subject == "sub-A1", "spectrometer_mhz"]) == {297.2}
    # the study-wide constant is gone: a config still setting it is refused, naming the key
    from painmrs.stats import stats_options_from_config
    with pytest.raises(InputError, match=r"stats.exclusion.spectrometer_mhz"):
        stats_options_from_config({"stats": {"exclusion": {"spectrometer_mhz": 123.2}}}, "config.yaml")
