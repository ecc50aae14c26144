"""Correlations checked against scipy/statsmodels called directly."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from painmrs.stats.correlation import correlate, partial_correlation, stable_seed


def _xy(seed=0, n=30, r=0.5):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))  # covariates
    x = rng.normal(size=n) + 0.5 * z[:, 0]
    y = r * x + np.sqrt(1 - r * r) * rng.normal(size=n) + 0.7 * z[:, 1]
    return x, y, z


def test_pearson_spearman_equal_scipy():
    x, y, z = _xy()
    res = correlate(x, y, z, n_boot=500, rng=np.random.default_rng(1))
    assert res["pearson_r"] == pytest.approx(stats.pearsonr(x, y).statistic, rel=1e-12)
    assert res["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue, rel=1e-10)
    assert res["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic, rel=1e-12)
    assert res["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue, rel=1e-10)
    assert res["pearson_ci_low"] < res["pearson_r"] < res["pearson_ci_high"]
    assert res["spearman_ci_low"] < res["spearman_rho"] < res["spearman_ci_high"]


def test_partial_correlation_equals_regression_t_test():
    # The partial-correlation test is the t-test of x in y ~ x + Z (identity), and r_partial is
    # the correlation of the residuals of x and y on Z (computed here with statsmodels).
    x, y, z = _xy(seed=4)
    r, p, dof = partial_correlation(x, y, z)
    Z = sm.add_constant(z)
    rx = sm.OLS(x, Z).fit().resid
    ry = sm.OLS(y, Z).fit().resid
    assert r == pytest.approx(np.corrcoef(rx, ry)[0, 1], rel=1e-10)
    fit = sm.OLS(y, np.column_stack([Z, x])).fit()
    assert p == pytest.approx(fit.pvalues[-1], rel=1e-8)
    assert dof == len(x) - 2 - z.shape[1]


def test_bootstrap_is_seeded_and_covers():
    x, y, z = _xy(seed=2, n=40)
    a = correlate(x, y, z, 800, stable_seed(5, "g", "ACC"))
    b = correlate(x, y, z, 800, stable_seed(5, "g", "ACC"))
    c = correlate(x, y, z, 800, stable_seed(5, "g", "PCC"))
    assert a == b and a["pearson_ci_low"] != c["pearson_ci_low"]
    # the percentile CI is close to the Fisher-z CI for near-normal data (tolerance 0.08 in r)
    assert a["pearson_ci_low"] == pytest.approx(a["pearson_fisher_ci_low"], abs=0.08)
    assert a["pearson_ci_high"] == pytest.approx(a["pearson_fisher_ci_high"], abs=0.08)


def test_bootstrap_ci_coverage_by_simulation():
    # bivariate normal rho = 0.4, n = 40, 300 replicates x 400 resamples: coverage 0.95 +- 0.04
    rng = np.random.default_rng(11)
    cov = [[1, 0.4], [0.4, 1]]
    hits = 0
    for i in range(300):
        xy = rng.multivariate_normal([0, 0], cov, 40)
        res = correlate(xy[:, 0], xy[:, 1], None, 400, np.random.default_rng(i))
        hits += res["pearson_ci_low"] <= 0.4 <= res["pearson_ci_high"]
    assert abs(hits / 300 - 0.95) < 0.04


def test_pooled_correlation_adds_group_covariate():
    from test_stats_synthetic import make_study

    from painmrs.stats import StatsOptions
    from painmrs.stats.config import CorrelationOptions
    from painmrs.stats.correlation import pain_correlations

    table, _ = make_study(seed=6, n=15, n_trial=4)
    opts = StatsOptions(correlation=CorrelationOptions(scores=("pain_nrs",), pooled=True, n_bootstrap=0))
    out = pain_correlations(table, opts)
    pooled = out[out["group"] == "pooled"]
    assert len(pooled) and pooled["covariates_used"].str.contains("group").all()
    assert set(out["group"]) == {"cLBP", "FM", "MwoA", "pooled"}  # HC (control) is never correlated
    row = pooled[(pooled["region"] == "ACC") & (pooled["metabolite"] == "Glu") & (pooled["measure"] == "conc_mM")].iloc[0]
    assert row["n"] == 28  # 14 + 14 patients with ACC scans passing QC (planted SNR failure excluded)
