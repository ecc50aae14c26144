"""Mixed-model treatment contrasts checked against analytic values and statsmodels' formula API."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from painmrs.stats import LongitudinalStudy, StatsOptions
from painmrs.stats.longitudinal import crossover_contrasts, infer_studies, parallel_arm_contrasts

COMMON = dict(region="thalamus", acq="press", metabolite="NAA", measure="conc_molal", qc_pass=True, group="cLBP",
              sex="F", f_gm=0.4)


def _parallel(seed=0, n=12, drop_post=()):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, change in (("SMT", 0.6), ("sham", 0.1)):
        for i in range(n):
            subj = f"sub-{arm}{i:02d}"
            u = rng.normal(0, 0.8)
            age = rng.normal(45, 10)
            for t in ("baseline", "post"):
                if t == "post" and (arm, i) in drop_post:
                    continue
                v = 10 + u + (change if t == "post" else 0) + rng.normal(0, 0.3)
                rows.append(dict(subject=subj, session=f"ses-{t}", study="smt", arm=arm, time=t, value=v, age=age,
                                 pain_nrs=6 - (2 if t == "post" else 0) + rng.normal(0, 1), **COMMON))
    return pd.DataFrame(rows)


STUDY = LongitudinalStudy(name="smt", design="parallel", study="smt", reference_arm="sham", covariates=(),
                          change_scores=("pain_nrs",))


def _smf(d, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(formula, d, groups=d["subject"]).fit(reml=True)


def test_interaction_equals_difference_in_mean_changes():
    d = _parallel()
    inter, within, chcorr = parallel_arm_contrasts(d, STUDY, StatsOptions())
    assert len(inter) == 1
    r = inter.iloc[0]
    w = d.pivot(index=["subject", "arm"], columns="time", values="value")
    ch = (w["post"] - w["baseline"]).groupby(level="arm").mean()
    # balanced, complete data: the mixed-model interaction is exactly the difference in mean changes
    assert r["estimate"] == pytest.approx(ch["SMT"] - ch["sham"], abs=1e-6)
    ref = _smf(d, "value ~ C(arm, Treatment('sham')) * C(time, Treatment('baseline'))")
    name = [k for k in ref.params.index if ":" in k][0]
    assert r["se"] == pytest.approx(ref.bse[name], rel=1e-3)
    assert r["p"] == pytest.approx(ref.pvalues[name], rel=1e-2)
    assert r["estimate_pct"] == pytest.approx(100 * r["estimate"] / d[d["time"] == "baseline"]["value"].mean(), rel=1e-9)
    assert r["n_complete"] == 24 and r["n_single_session"] == 0
    # within-arm paired change equals scipy's paired t-test
    smt = within[within["arm"] == "SMT"].iloc[0]
    tt = stats.ttest_rel(w.xs("SMT", level="arm")["post"], w.xs("SMT", level="arm")["baseline"])
    assert smt["p"] == pytest.approx(tt.pvalue, rel=1e-10)
    assert smt["mean_change"] == pytest.approx(ch["SMT"], rel=1e-12)
    assert set(chcorr["arm"]) == {"SMT", "sham", "pooled"} and (chcorr["score"] == "pain_nrs").all()


def test_missing_sessions_kept_in_mixed_model():
    drop = {("SMT", 0), ("SMT", 5), ("sham", 3)}
    d = _parallel(seed=3, drop_post=drop)
    study = LongitudinalStudy(name="smt", design="parallel", study="smt", reference_arm="sham", covariates=("age",))
    inter, within, _ = parallel_arm_contrasts(d, study, StatsOptions())
    r = inter.iloc[0]
    assert r["n_single_session"] == 3 and r["n_complete"] == 21 and r["n_observations"] == 45
    assert r["covariates_used"] == "age"
    d2 = d.assign(age_c=d["age"] - d["age"].mean())
    ref = _smf(d2, "value ~ C(arm, Treatment('sham')) * C(time, Treatment('baseline')) + age_c")
    name = [k for k in ref.params.index if ":" in k][0]
    assert r["estimate"] == pytest.approx(ref.params[name], abs=2e-4)
    assert r["ci_low"] == pytest.approx(ref.conf_int().loc[name, 0], abs=2e-3)
    # complete pairs only in the paired analysis
    assert within.set_index("arm").loc["SMT", "n_pairs"] == 10


def test_crossover_effect_matches_within_subject_estimator():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(16):
        seq = "OT_then_PL" if i % 2 == 0 else "PL_then_OT"
        u = rng.normal(0, 0.2)
        for period in (1, 2):
            trt = ("OT" if period == 1 else "PL") if seq == "OT_then_PL" else ("PL" if period == 1 else "OT")
            v = 2.0 + u + (0.12 if trt == "OT" else 0) + (0.05 if period == 2 else 0) + rng.normal(0, 0.05)
            rows.append(dict(subject=f"sub-O{i:02d}", session=f"ses-period{period}", study="oxytocin", arm=trt,
                             period=period, sequence_order=seq, value=v, age=40.0, **{**COMMON, "region": "ACC"}))
    d = pd.DataFrame(rows)
    study = LongitudinalStudy(name="oxytocin", design="crossover", study="oxytocin", reference_arm="PL")
    out = crossover_contrasts(d, study, StatsOptions())
    r = out.iloc[0]
    w = d.pivot(index=["subject", "sequence_order"], columns="period", values="value")
    diff = (w[1] - w[2])
    a = diff.xs("OT_then_PL", level="sequence_order").mean()
    b = diff.xs("PL_then_OT", level="sequence_order").mean()
    # classic 2x2 crossover estimator: half the difference of period differences between sequences
    assert r["estimate"] == pytest.approx((a - b) / 2, abs=1e-6)
    assert r["ci_low"] < 0.12 < r["ci_high"] and r["p"] < 0.01
    totals = w.sum(axis=1)
    grizzle = stats.ttest_ind(totals.xs("OT_then_PL", level=1), totals.xs("PL_then_OT", level=1), equal_var=False)
    assert r["carryover_grizzle_p"] == pytest.approx(grizzle.pvalue, rel=1e-10)
    assert r["n_complete"] == 16


def test_studies_inferred_from_table():
    d = pd.concat([_parallel(n=3), pd.DataFrame([dict(subject="sub-X", study="oxytocin", arm="PL", period=1)])])
    st = {s.name: s for s in infer_studies(d)}
    assert st["smt"].design == "parallel" and st["smt"].reference_arm == "sham"
    assert st["oxytocin"].design == "crossover" and st["oxytocin"].reference_arm == "PL"


def test_declared_study_without_session_columns_is_skipped():
    d = _parallel(n=4).drop(columns=["study", "arm", "time"])
    assert all(x.empty for x in parallel_arm_contrasts(d, STUDY, StatsOptions()))
    cross = LongitudinalStudy(name="oxytocin", design="crossover", study="oxytocin", reference_arm="PL")
    assert crossover_contrasts(d, cross, StatsOptions()).empty
