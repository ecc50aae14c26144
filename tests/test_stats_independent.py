"""Statistics checked against published worked examples and statsmodels' power module, plus
the contract that every statistics table has a complete JSON sidecar."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from painmrs.stats import LongitudinalStudy, StatsOptions, run_statistics
from painmrs.stats.config import CorrelationOptions
from painmrs.stats.effects import hedges_g, mde_correlation, mde_from_se, mde_two_group_d
from painmrs.stats.longitudinal import crossover_contrasts


def _with_moments(mean, sd, n):
    """n values with exactly this mean and sample SD."""
    z = np.linspace(-1, 1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_hedges_g_and_ci_match_borenstein_worked_example():
    # Borenstein, Hedges, Higgins & Rothstein (2009) Introduction to Meta-Analysis, ch. 4:
    # means 103 / 100, SDs 5.5 / 4.5, n 50 / 50 -> d = 0.5970, J = 0.9923, g = 0.5924,
    # V_g = J^2 V_d = 0.0411 (SE 0.2028). g to the book's 4 decimals.
    g, lo, hi = hedges_g(_with_moments(103, 5.5, 50), _with_moments(100, 4.5, 50))
    assert g == pytest.approx(0.5924, abs=1e-4)
    se = (hi - lo) / (2 * stats.norm.ppf(0.975))
    # Our CI uses the Hedges & Olkin (1985) variance (n1+n2)/(n1 n2) + g^2 / (2 (n1+n2)) =
    # 0.04 + 0.5924^2 / 200 = 0.041755 (exact), which is 1.6 % above the book's J^2 V_d.
    assert se**2 == pytest.approx(0.04 + 0.5924**2 / 200, abs=2e-6)
    assert se**2 == pytest.approx(0.0411, rel=0.02)
    assert lo == pytest.approx(0.5924 - 1.959964 * 0.2028, abs=0.004)


def test_mde_against_statsmodels_power():
    # two-group standardised MDE equals statsmodels' t-test power solution, unbalanced too
    for n1, n2 in ((12, 12), (20, 35), (6, 6)):
        want = TTestIndPower().solve_power(effect_size=None, nobs1=n1, ratio=n2 / n1, alpha=0.05, power=0.8)
        assert mde_two_group_d(n1, n2) == pytest.approx(want, rel=1e-6)
        # and the power at that effect, computed forward, is 80 %
        assert TTestIndPower().power(mde_two_group_d(n1, n2), n1, 0.05, ratio=n2 / n1) == pytest.approx(0.8, abs=1e-6)
    # SE-based MDE (normal theory) equals NormalIndPower with the two-sample SE sqrt(2/n)
    n = 30
    want = NormalIndPower().solve_power(effect_size=None, nobs1=n, ratio=1.0, alpha=0.05, power=0.8)
    assert mde_from_se(math.sqrt(2 / n)) == pytest.approx(want, rel=1e-4)
    # with t quantiles (df = 2n - 2) it approximates the exact noncentral-t answer within 1 %
    assert mde_from_se(math.sqrt(2 / n), df=2 * n - 2) == pytest.approx(mde_two_group_d(n, n), rel=0.01)
    # Cohen (1988) Table 3.4.1: r = .30 needs n = 85 at alpha .05 two-sided, power .80 (Fisher z)
    assert mde_correlation(85) == pytest.approx(0.30, abs=0.005)


def _crossover(seed, n, drop=()):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = "AB" if i % 2 == 0 else "BA"
        u = rng.normal(0, 0.3)
        for period in (1, 2):
            if (i, period) in drop:
                continue
            trt = ("T" if period == 1 else "R") if seq == "AB" else ("R" if period == 1 else "T")
            v = 5 + u + (0.4 if trt == "T" else 0) + (0.25 if period == 2 else 0) + rng.normal(0, 0.1)
            rows.append(dict(subject=f"sub-{i:02d}", session=f"ses-period{period}", study="x", arm=trt, period=period,
                             sequence_order=seq, value=v, region="ACC", acq="press", metabolite="NAA",
                             measure="conc_mM", qc_pass=True, group="P"))
    return pd.DataFrame(rows)


def test_crossover_unbalanced_matches_hand_period_adjusted_difference():
    # Unequal sequence sizes (7 AB, 6 BA): the period-adjusted treatment effect is the mean of
    # the two sequences' half period differences, (mean d_AB - mean d_BA) / 2 with d = P1 - P2,
    # which a naive T - R mean difference (biased by the period effect) is not.
    d = _crossover(8, 13)
    r = crossover_contrasts(d, LongitudinalStudy(name="x", design="crossover", study="x", reference_arm="R"),
                            StatsOptions()).iloc[0]
    w = d.pivot(index=["subject", "sequence_order"], columns="period", values="value")
    diff = w[1] - w[2]
    hand = (diff.xs("AB", level=1).mean() - diff.xs("BA", level=1).mean()) / 2
    assert r["estimate"] == pytest.approx(hand, abs=1e-6)
    naive = d[d["arm"] == "T"]["value"].mean() - d[d["arm"] == "R"]["value"].mean()
    assert abs(naive - hand) > 1e-3  # the period effect does bias the naive difference here
    # hand SE: the two-sample t on the half-differences (complete data, REML = OLS here)
    a, b = diff.xs("AB", level=1) / 2, diff.xs("BA", level=1) / 2
    sp2 = ((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2)
    assert r["se"] == pytest.approx(math.sqrt(sp2 * (1 / len(a) + 1 / len(b))), rel=0.02)
    assert np.isfinite(r["resid_shapiro_p"]) and r["n_complete"] == 13


def test_every_statistics_table_has_a_complete_sidecar(tmp_path):
    from test_stats_synthetic import make_study

    table, _ = make_study(seed=9, n=8, n_trial=8)
    run_statistics(table, StatsOptions(correlation=CorrelationOptions(n_bootstrap=50)), tmp_path)
    names = sorted(p.stem for p in tmp_path.glob("*.tsv"))
    assert {"group_comparisons", "correlations", "longitudinal_parallel", "crossover", "exclusions"} <= set(names)
    for name in names:
        side = json.loads((tmp_path / f"{name}.json").read_text())
        missing = {"model", "n_per_cell", "software", "fdr", "columns"} - set(side)
        assert not missing, (name, missing)
        assert {"painmrs", "scipy", "statsmodels"} <= set(side["software"])
        assert "family" in side["fdr"] and side["fdr"].get("method")
    gc = pd.read_csv(tmp_path / "group_comparisons.tsv", sep="\t")
    for col in ("welch_p", "mwu_p", "shapiro_p", "levene_p", "mde_pct", "hedges_g_ci_low"):
        assert gc[col].notna().any(), col
    par = pd.read_csv(tmp_path / "longitudinal_parallel.tsv", sep="\t")
    assert par["n_single_session"].max() >= 1 and par["resid_shapiro_p"].notna().any()


@pytest.mark.parametrize("n1, n2", [(97, 220), (83, 500), (200, 80), (20, 20)])
def test_mde_root_is_positive_and_gives_the_stated_power(n1, n2):
    """statsmodels' solve_power returned -0.3425 (the wrong root) for 97 vs 220 and a 1-element
    array elsewhere, which crashed the full study's statistics; ours root-finds the power curve."""
    from statsmodels.stats.power import TTestIndPower

    from painmrs.stats.effects import mde_two_group_d

    d = mde_two_group_d(n1, n2, 0.05, 0.8)
    assert d > 0
    achieved = TTestIndPower().power(effect_size=d, nobs1=n1, ratio=n2 / n1, alpha=0.05)
    assert achieved == pytest.approx(0.8, abs=1e-6)
    # large-sample check: (z_0.975 + z_0.8) * sqrt(1/n1 + 1/n2), within 3 % for these n
    assert d == pytest.approx((1.959964 + 0.841621) * (1 / n1 + 1 / n2) ** 0.5, rel=0.03)
