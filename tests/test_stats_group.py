"""Group comparison statistics checked against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from painmrs.stats.effects import bh_fdr, hedges_g, mde_correlation, mde_from_se, mde_two_group_d
from painmrs.stats.group import ancova_two_groups


def _data(seed=0, n=25, shift=0.8):
    rng = np.random.default_rng(seed)
    rows = []
    for g, s in (("HC", 0.0), ("P", shift)):
        age = rng.normal(45, 10, n)
        sex = rng.choice(["F", "M"], n)
        fgm = rng.normal(0.6, 0.05, n)
        value = 10 + s + 0.03 * (age - 45) + 0.4 * (sex == "F") + 5 * (fgm - 0.6) + rng.normal(0, 1, n)
        rows.append(pd.DataFrame({"group": g, "age": age, "sex": sex, "f_gm": fgm, "value": value}))
    return pd.concat(rows, ignore_index=True)


def test_ancova_matches_independent_least_squares():
    d = _data()
    res = ancova_two_groups(d, "P", "HC", ("age", "sex", "f_gm"))
    # independent: normal equations with numpy, t distribution from scipy
    X = np.column_stack([np.ones(len(d)), (d["group"] == "P"), d["age"], (d["sex"] == "M"), d["f_gm"]]).astype(float)
    y = d["value"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = len(y) - X.shape[1]
    s2 = resid @ resid / dof
    se = np.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
    p = 2 * stats.t.sf(abs(beta[1] / se), dof)
    tcrit = stats.t.ppf(0.975, dof)
    assert res["diff_adj"] == pytest.approx(beta[1], rel=1e-10)
    assert res["diff_adj_se"] == pytest.approx(se, rel=1e-10)
    assert res["p"] == pytest.approx(p, rel=1e-8)
    assert res["diff_adj_ci_low"] == pytest.approx(beta[1] - tcrit * se, rel=1e-10)
    assert res["df_resid"] == dof
    hc_mean = y[d["group"] == "HC"].mean()
    assert res["diff_adj_pct"] == pytest.approx(100 * beta[1] / hc_mean, rel=1e-10)
    assert res["shapiro_p"] == pytest.approx(stats.shapiro(resid).pvalue, rel=1e-6)
    # sensitivity tests equal scipy's
    yp, yc = y[d["group"] == "P"], y[d["group"] == "HC"]
    assert res["welch_p"] == pytest.approx(stats.ttest_ind(yp, yc, equal_var=False).pvalue, rel=1e-12)
    assert res["mwu_p"] == pytest.approx(stats.mannwhitneyu(yp, yc).pvalue, rel=1e-12)
    assert res["levene_p"] == pytest.approx(stats.levene(yp, yc, center="median").pvalue, rel=1e-12)
    assert res["n_patient"] == 25 and res["n_control"] == 25
    assert res["covariates_used"] == "age,sex,f_gm"


def test_ancova_drops_constant_and_missing_covariates():
    d = _data().assign(sex="F")
    d.loc[0, "age"] = np.nan
    res = ancova_two_groups(d, "P", "HC", ("age", "sex", "f_gm", "absent_col"))
    assert res["covariates_used"] == "age,f_gm"
    assert "sex:constant" in res["notes"] and "absent_col:absent" in res["notes"]
    assert "rows_missing_covariates:1" in res["notes"]
    assert res["n_control"] + res["n_patient"] == 49


def test_hedges_g_worked_example():
    # Hand computation: x = 1..5 (mean 3, var 2.5), y = 3..7 (mean 5, var 2.5): d = -2/sqrt(2.5) = -1.26491;
    # J = 1 - 3/(4*10-9) = 0.903226; g = -1.142501; SE = sqrt(0.4 + g^2/20) = 0.682104
    g, lo, hi = hedges_g(np.arange(1, 6), np.arange(3, 8))
    assert g == pytest.approx(-1.142501, abs=1e-6)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * 0.682104, abs=1e-5)


def test_hedges_g_ci_coverage_by_simulation():
    # 95 % CI coverage of the true d = 0.5 over 2000 draws, n = 20 + 20: binomial SE ~0.5 %, tolerance 2 %.
    rng = np.random.default_rng(7)
    x = rng.normal(0.5, 1, (2000, 20))
    y = rng.normal(0.0, 1, (2000, 20))
    cover = np.mean([lo <= 0.5 <= hi for lo, hi in (hedges_g(a, b)[1:] for a, b in zip(x, y))])
    assert abs(cover - 0.95) < 0.02


def test_bh_fdr_hand_values():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    adj, rej = bh_fdr(p, 0.05)
    # sorted 0.005,0.01,0.03,0.04 -> 0.005*4/1=.02, .01*4/2=.02, .03*4/3=.04, .04*4/4=.04
    assert adj[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert np.isnan(adj[4]) and list(rej) == [True, True, True, True, False]
    adj, rej = bh_fdr([0.02, 0.5, 0.9], 0.05)
    assert adj == pytest.approx([0.06, 0.75, 0.9]) and not rej.any()


def test_minimum_detectable_effects_match_power_tables():
    # facts.md §4.2 (alpha .05 two-sided, power .8): d=0.5 needs ~64/group, d=0.8 ~26, r=0.5 ~30 pairs.
    assert mde_two_group_d(64, 64) == pytest.approx(0.5, abs=0.01)
    assert mde_two_group_d(26, 26) == pytest.approx(0.8, abs=0.02)
    assert mde_correlation(30) == pytest.approx(0.5, abs=0.02)
    # normal-theory: (1.96 + 0.8416) * SE
    assert mde_from_se(1.0) == pytest.approx(2.8016, abs=1e-3)
    # simulated power at the MDE is ~80 % (Welch/t-test, n = 20 + 20, 4000 draws; tol 3 %)
    d = mde_two_group_d(20, 20)
    rng = np.random.default_rng(3)
    x = rng.normal(d, 1, (4000, 20))
    y = rng.normal(0, 1, (4000, 20))
    power = np.mean(stats.ttest_ind(x, y, axis=1).pvalue < 0.05)
    assert abs(power - 0.80) < 0.03


def test_small_samples_drop_covariates_instead_of_failing():
    d = _data(n=3)  # 6 subjects: const + group + age + sex + f_gm leaves 1 df -> f_gm dropped
    d["sex"] = ["F", "M", "F", "M", "F", "M"]  # not collinear with group
    res = ancova_two_groups(d, "P", "HC", ("age", "sex", "f_gm"))
    assert res["covariates_used"] == "age,sex" and "f_gm:dropped_for_df" in res["notes"]
    assert res["df_resid"] == 2 and np.isfinite(res["p"])
