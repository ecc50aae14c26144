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


# --- attenuation correction (Spearman 1904) ------------------------------------------------------
from painmrs.stats.correlation import attenuation_corrected, crlb_error_variance  # noqa: E402


def _noisy_draw(rng, n, rho, mean=10.0, sd_true=1.0, sd_err=0.8):
    """True concentration t ~ N(mean, sd_true) correlated rho with the score; the measured value
    adds N(0, sd_err) noise; the CRLB reported for each scan is that noise SD (% of the estimate)."""
    t = rng.standard_normal(n)
    score = rho * t + np.sqrt(1 - rho * rho) * rng.standard_normal(n)
    measured = mean + sd_true * t + sd_err * rng.standard_normal(n)
    crlb_pct = 100 * sd_err / measured
    return measured, score, crlb_pct


def test_attenuation_correction_recovers_true_r_by_simulation():
    # 1500 draws, n = 80, true r = 0.5, reliability = 1 / (1 + 0.8^2) = 0.6098 (seed 2024).
    # Raw r is attenuated to 0.5 * sqrt(0.6098) = 0.390; the corrected r's mean is within 0.03 of
    # 0.5 and its CI (Fisher-z CI / sqrt(reliability)) covers 0.5 in 93-97 % of draws.
    rng = np.random.default_rng(2024)
    rho, n, draws = 0.5, 80, 1500
    rel_true = 1 / (1 + 0.8**2)
    raw, corr, rels, hits = [], [], [], 0
    for _ in range(draws):
        x, y, crlb = _noisy_draw(rng, n, rho)
        res = correlate(x, y, None, n_boot=0, x_error_variance=crlb_error_variance(x, crlb))
        raw.append(res["pearson_r"])
        corr.append(res["pearson_r_corrected"])
        rels.append(res["reliability"])
        hits += res["pearson_r_corrected_ci_low"] <= rho <= res["pearson_r_corrected_ci_high"]
        assert res["reliability_note"] == ""
    assert np.mean(rels) == pytest.approx(rel_true, abs=0.02)
    assert np.mean(raw) == pytest.approx(rho * np.sqrt(rel_true), abs=0.03)
    assert np.mean(raw) < rho - 0.08  # attenuation is real, not within tolerance of the truth
    assert np.mean(corr) == pytest.approx(rho, abs=0.03)
    assert 0.93 <= hits / draws <= 0.97


def test_attenuation_correction_change_score_sums_session_variances():
    # Change score: true change d ~ N(0, 1), each session measured with error SD 0.6, so the
    # difference carries error variance 2 x 0.36 and reliability 1 / 1.72 = 0.581.
    rng = np.random.default_rng(7)
    n, rho, rels, corr = 60, -0.45, [], []
    for _ in range(400):
        d = rng.standard_normal(n)
        score = rho * d + np.sqrt(1 - rho * rho) * rng.standard_normal(n)
        true_base = 10 + rng.standard_normal(n)
        base = true_base + 0.6 * rng.standard_normal(n)
        post = true_base + d + 0.6 * rng.standard_normal(n)
        err = crlb_error_variance(base, 60 / base) + crlb_error_variance(post, 60 / post)  # 0.36 + 0.36
        res = correlate(post - base, score, None, n_boot=0, x_error_variance=err)
        rels.append(res["reliability"])
        corr.append(res["pearson_r_corrected"])
    assert np.mean(rels) == pytest.approx(1 / 1.72, abs=0.03)
    assert np.mean(corr) == pytest.approx(rho, abs=0.03)


def test_attenuation_correction_not_estimable_and_exact_values():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # var (ddof=1) = 2.5
    out = attenuation_corrected(0.4, 0.1, 0.6, x, np.full(5, 0.5))  # reliability 1 - 0.5/2.5 = 0.8
    assert out["reliability"] == pytest.approx(0.8, rel=1e-12)
    assert out["pearson_r_corrected"] == pytest.approx(0.4 / np.sqrt(0.8), rel=1e-12)
    assert out["pearson_r_corrected_ci_low"] == pytest.approx(0.1 / np.sqrt(0.8), rel=1e-12)
    assert out["pearson_r_corrected_ci_high"] == pytest.approx(0.6 / np.sqrt(0.8), rel=1e-12)
    # CI and estimate clipped to [-1, 1] when the correction overshoots
    out = attenuation_corrected(0.85, 0.7, 0.95, x, np.full(5, 1.0))  # reliability 0.6
    assert out["pearson_r_corrected"] == 1.0 and out["pearson_r_corrected_ci_high"] == 1.0
    # no CRLB at all -> NaN with a note
    for ev in (None, np.full(5, np.nan)):
        out = attenuation_corrected(0.4, 0.1, 0.6, x, ev)
        assert np.isnan(out["pearson_r_corrected"]) and np.isnan(out["reliability"])
        assert out["reliability_note"] == "no_crlb"
    # reliability <= 0.1 (error variance 2.3 of observed 2.5 -> 0.08): not reported
    out = attenuation_corrected(0.4, 0.1, 0.6, x, np.full(5, 2.3))
    assert out["reliability"] == pytest.approx(0.08, rel=1e-9)
    assert np.isnan(out["pearson_r_corrected"]) and out["reliability_note"] == "reliability_le_0.1"
    # error larger than the observed spread: negative reliability, not reported
    out = attenuation_corrected(0.4, 0.1, 0.6, x, np.full(5, 4.0))
    assert out["reliability"] < 0 and np.isnan(out["pearson_r_corrected_ci_low"])
    # partial CRLB: averaged over the known scans, counted in the note
    out = attenuation_corrected(0.4, 0.1, 0.6, x, np.array([0.5, 0.5, np.nan, 0.5, 0.5]))
    assert out["reliability"] == pytest.approx(0.8) and out["reliability_note"] == "crlb_missing:1/5"
    # correlate() without error variances reports the note, raw r untouched
    res = correlate(x, x[::-1] + np.array([0, 0.3, 0, -0.2, 0.1]), None, n_boot=0)
    assert np.isnan(res["pearson_r_corrected"]) and res["reliability_note"] == "no_crlb"
    assert res["pearson_r"] == pytest.approx(stats.pearsonr(x, x[::-1] + np.array([0, 0.3, 0, -0.2, 0.1])).statistic)


def test_crlb_error_variance_is_squared_relative_sd():
    assert crlb_error_variance([10.0, 4.0], [5.0, 20.0]) == pytest.approx([0.25, 0.64])
