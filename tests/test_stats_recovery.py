"""End to end on a synthetic study with planted effects: recovery, FDR, exclusions, CLI, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_stats_synthetic import make_study

from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.stats import StatsOptions, run_statistics, stats_options_from_config
from painmrs.stats.recovery import null_group_tests, read_truth, recover
from painmrs.stats.tables import format_table

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (statistics of a synthetic study)
pytestmark = pytest.mark.xdist_group("module-test_stats_recovery")


@pytest.fixture(scope="module")
def synthetic():
    table, truth = make_study(seed=1)
    opts = StatsOptions(correlation=StatsOptions().correlation.__class__(n_bootstrap=500))
    res = run_statistics(table, opts)
    return table, truth, opts, res


def test_planted_effects_recovered(synthetic):
    table, truth, opts, res = synthetic
    rec, summary = recover(truth, res, opts.recovery_measures)
    got = rec.set_index("effect_id")
    assert set(got.index) == set(truth["effect_id"]) and not (got["note"] == "no_estimate").any()
    # the CM effect has no scans: listed, not counted
    assert got.loc["u1", "note"] == "not_observed" and summary["n_not_observed"] == 1
    obs = got.drop(index="u1")
    assert (obs["matched_measure"] == "conc_mM").all()  # conc_tissue_mM -> conc_mM
    # every planted effect's CI covers it (fixed seed; nominal 95 % each)
    assert obs["covered"].all(), obs[["truth", "estimate", "ci_low", "ci_high"]]
    # detected with the right sign at FDR 0.05 (n = 40/group, 8-10 % with CV 6-7 %: power > 0.95)
    # except the sham arm's +1 % change, which is too small to detect with n = 24 (expected)
    assert obs.drop(index="t3")["detected"].all()
    assert got.loc["g1", "estimate"] == pytest.approx(10, abs=3.5)
    assert got.loc["c1", "estimate"] == pytest.approx(0.5, abs=0.15)
    assert got.loc["t1", "note"] == "interaction" and got.loc["t1", "estimate"] == pytest.approx(5, abs=3)
    assert got.loc["t2", "note"] == "within_arm" and got.loc["t2", "estimate"] == pytest.approx(6, abs=3)
    assert sorted(rec[rec["effect_id"] == "a1"]["matched_region"]) == ["ACC", "thalamus"]  # region "all"
    assert summary["detected_group_ge8pct"] == {"n": 2, "k": 2, "rate": 1.0}
    assert summary["detected_arm_time_ge5pct"] == {"n": 1, "k": 1, "rate": 1.0}
    assert summary["correlation_within_0.15"]["rate"] == 1.0
    nulls = summary["null_group_tests"]
    assert nulls["n"] >= 30 and nulls["fdr_rejection_rate"] <= 0.05


def test_null_tests_exclude_related_metabolites(synthetic):
    _, truth, _, res = synthetic
    null = null_group_tests(res["group_comparisons"], truth)
    keys = set(zip(null["group"], null["region"], null["metabolite"]))
    assert ("cLBP", "ACC", "Glu") not in keys and ("FM", "thalamus", "NAA") not in keys
    assert ("cLBP", "thalamus", "Glu") in keys
    # the null rejection rate over many seeds stays near its nominal level (FDR-controlled)
    rates = []
    for seed in range(2, 5):
        t, tr = make_study(seed=seed, n=25)
        r = run_statistics(t, StatsOptions(correlation=StatsOptions().correlation.__class__(n_bootstrap=0)))
        n = null_group_tests(r["group_comparisons"], tr)
        rates.append(n["fdr_reject"].mean())
    assert np.mean(rates) <= 0.05


def test_exclusions_and_fdr_columns(synthetic):
    table, _, _, res = synthetic
    ex = res["exclusions"]
    assert ex["n_scans"].max() == 3 and set(ex["reason"]) == {"snr<10"}  # 3 planted low-SNR ACC scans
    gc = res["group_comparisons"]
    # excluded scans are not in the n: HC ACC has 40 subjects, one planted failure (i == 3)
    row = gc[(gc["group"] == "cLBP") & (gc["region"] == "ACC") & (gc["metabolite"] == "NAA") & (gc["measure"] == "conc_mM")]
    assert int(row["n_control"].iloc[0]) == 39 and int(row["n_patient"].iloc[0]) == 39
    # BH within family (group, measure): recompute independently
    from statsmodels.stats.multitest import multipletests
    fam = gc[(gc["group"] == "FM") & (gc["measure"] == "conc_mM") & gc["p"].notna()]
    assert fam["p_fdr"].to_numpy() == pytest.approx(multipletests(fam["p"], method="fdr_bh")[1])
    assert set(fam["fdr_family"]) == {"FM|conc_mM"}


def test_config_parsing_and_errors():
    opts = stats_options_from_config({"qc": {"min_snr": 5}, "stats": {"control_group": "CTRL",
                                                "longitudinal": [{"name": "a", "design": "parallel", "study": "acu",
                                                                  "reference_arm": "sham", "covariates": ["age"]}]}})
    assert opts.control_group == "CTRL" and opts.exclusion.qc.min_snr == 5 and opts.longitudinal[0].covariates == ("age",)
    with pytest.raises(InputError, match="stats.exclusion.snr_mn"):
        stats_options_from_config({"stats": {"exclusion": {"snr_mn": 5}}}, "config.yaml")
    with pytest.raises(InputError, match=r"stats.longitudinal\[0\].design"):
        stats_options_from_config({"stats": {"longitudinal": [{"name": "a", "design": "x", "study": "s"}]}})
    with pytest.raises(InputError, match="stats.measures"):
        stats_options_from_config({"stats": {"measures": ["conc_mm"]}})


def test_cli_writes_tables_sidecars_recovery_deterministically(tmp_path):
    table, truth = make_study(seed=2, n=12, n_trial=8)
    (tmp_path / "truth").mkdir()
    truth.to_csv(tmp_path / "truth" / "effects.tsv", sep="\t", index=False)
    tpath = tmp_path / "metabolites.tsv"
    tpath.write_text(format_table(table))
    cfg = tmp_path / "config.yaml"
    cfg.write_text("stats:\n  correlation: {n_bootstrap: 200}\n")
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run / "stats"
        rc = main(["stats", "--table", str(tpath), "--config", str(cfg), "--out", str(out), "--truth", str(tmp_path / "truth")])
        assert rc == 0
        outs.append(out)
    names = sorted(p.name for p in outs[0].iterdir())
    assert "group_comparisons.tsv" in names and "group_comparisons.json" in names and "crossover.tsv" in names
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    side = json.loads((outs[0] / "group_comparisons.json").read_text())
    assert side["fdr"]["family"] == ["group", "measure"] and "statsmodels" in side["software"]
    assert side["n_per_cell"]["ACC|HC"] == 11  # one planted QC failure among 12
    rec = pd.read_csv(tmp_path / "a" / "validation" / "recovery.tsv", sep="\t")
    assert set(rec["effect_id"]) == set(truth["effect_id"])
    assert {"truth", "estimate", "ci_low", "ci_high", "covered", "detected"} <= set(rec.columns)
    # bad truth kind is reported with file, field and row
    truth.loc[1, "kind"] = "grup"
    truth.to_csv(tmp_path / "truth" / "effects.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="row 3.*kind|kind.*grup"):
        read_truth(tmp_path / "truth" / "effects.tsv")


def test_unknown_control_group_is_a_config_error():
    table, _ = make_study(seed=1, n=4, n_trial=2)
    with pytest.raises(InputError, match="stats.control_group.*'CTRL'"):
        run_statistics(table, StatsOptions(control_group="CTRL"))


def test_declared_families_and_designs_from_the_study_config(repo_root):
    import yaml

    cfg = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    opts = stats_options_from_config(cfg)
    assert opts.control_group == cfg["groups"]["control"]
    kinds = {f.name: f.kind for f in opts.families}
    assert kinds.get("group_differences") == "group" and kinds.get("ageing") == "age"
    designs = {s.name: s for s in opts.longitudinal}
    assert designs["oxytocin"].design == "crossover" and designs["oxytocin"].reference_arm == "PL"
    assert designs["acupuncture"].time_levels == ("baseline", "post")
    # on the synthetic study: one BH correction over the whole declared family, its measure only
    table, truth = make_study(seed=1, n=20, n_trial=6)
    table = table.assign(study=table["study"].replace({"acu": "acupuncture", "oxt": "oxytocin"}))
    fams = tuple(f for f in opts.families if f.kind in ("group", "age"))
    res = run_statistics(table, StatsOptions(control_group="HC", families=fams, longitudinal=opts.longitudinal,
                                             correlation=StatsOptions().correlation.__class__(n_bootstrap=0)))
    gc = res["group_comparisons"]
    assert set(gc["family"]) == {"group_differences"} and set(gc["fdr_family"]) == {"group_differences"}
    assert set(gc["measure"]) == {"conc_mM"}
    from statsmodels.stats.multitest import multipletests
    ok = gc[gc["p"].notna()]
    assert ok["p_fdr"].to_numpy() == pytest.approx(multipletests(ok["p"], method="fdr_bh")[1])
    age = res["covariate_effects"]
    assert set(age["groups"]) == {"HC"}  # 'ageing' family: healthy controls only
    assert set(res["crossover"]["study"]) == {"oxytocin"} and set(res["longitudinal_parallel"]["study"]) == {"acupuncture"}


def test_correlation_recovery_prefers_attenuation_corrected_r():
    import math

    import pandas as pd

    from painmrs.stats.recovery import recover

    truth = pd.DataFrame([{"effect_id": "E1", "kind": "correlation", "group": "CP", "region": "ACC",
                           "metabolite": "Glu", "measure": "conc_tissue_mM", "score": "pain_nrs", "value": 0.4}])
    base = {"group": "CP", "region": "ACC", "acq": "press", "metabolite": "Glu", "measure": "conc_mM",
            "score": "pain_nrs", "pearson_r": 0.3, "pearson_ci_low": 0.1, "pearson_ci_high": 0.48,
            "pearson_fdr_reject": True}
    corrected = {**base, "pearson_r_corrected": 0.3 / math.sqrt(0.64), "pearson_r_corrected_ci_low": 0.15,
                 "pearson_r_corrected_ci_high": 0.6}
    tab, summ = recover(truth, {"correlations": pd.DataFrame([corrected])})
    row = tab.iloc[0]
    assert row["estimate"] == pytest.approx(0.375) and row["estimate_raw"] == pytest.approx(0.3)
    assert (row["ci_low"], row["ci_high"]) == (0.15, 0.6) and row["note"] == "r_corrected"
    assert summ["correlation_n_corrected"] == 1 and summ["correlation_within_0.15"]["k"] == 1
    # corrected r not reported (NaN) -> raw r and its bootstrap CI
    tab, _ = recover(truth, {"correlations": pd.DataFrame([{**corrected, "pearson_r_corrected": float("nan")}])})
    assert tab.iloc[0]["estimate"] == 0.3 and tab.iloc[0]["ci_high"] == 0.48 and tab.iloc[0]["note"] == "r_raw"
