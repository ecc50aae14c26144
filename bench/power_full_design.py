#!/usr/bin/env python
"""Analytic power of the planted effects of a simulated study size (config/demo/design.yaml).

    python bench/power_full_design.py                # size `full`, primary-metabolite families
    python bench/power_full_design.py --size demo
    python bench/power_full_design.py --all-metabolites

Normal approximations, printed per planted effect the recovery (issue 5) checks:
- group effects (ANCOVA vs HC): SE = sd * sqrt((1/n + 1/n_HC) * VIF), where sd^2 = biological
  CV^2 (design, combinations weighted by concentration) + within-subject CV^2 + measurement SD^2
  and VIF = 1/(1 - R^2) of the group indicator on the covariates age and sex (design means/SDs);
- SMT arm x time interaction: SE = sqrt(2 (within CV^2 + meas^2) * 2/n_per_arm);
- the Benjamini-Hochberg threshold of a family as the fixed point alpha = q E[R]/m,
  E[R] = m0 alpha + sum of the planted tests' powers;
- correlations: the recovery compares the Pearson r of the *measured* concentration with the
  r planted on the *true* tissue concentration, so the expected estimate is attenuated by
  sqrt(reliability), reliability = true variance / (true + measurement variance); printed:
  E[r_obs] and P(|r_hat - r_planted| <= 0.15) from Fisher's z.
Measurement SDs (log %, per scan) were measured on 120 simulated HC scans (24 per region) of
the full acquisition settings, fitted by the workflow's library (scan vs truth/concentrations.tsv):
PRESS NAA 2.1-2.9, tNAA 1.9, tCr 2.0-2.6, tCho 2.7-3.3, mI 5.2-6.3, Glu 4.2-5.6, Glx 3.6-4.1;
MEGA-PRESS GABA+ 6.4-8.7 (the largest used below). Not modelled: score clipping/rounding (CP's
pain_nrs has mean 3.5, SD 2.5 on 0-10: clipping attenuates r further), QC exclusions.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import yaml
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
PRIMARY = ("NAA", "tNAA", "tCr", "tCho", "mI", "Glu", "Glx", "GABA+")
OTHER_TESTED = 16  # further metabolites per cell when every metabolite is tested (Gln, GSH, NAAG ...)
MEAS = {("press", "NAA"): 2.5, ("press", "tNAA"): 2.0, ("press", "tCr"): 2.3, ("press", "tCho"): 3.0,
        ("press", "mI"): 6.3, ("press", "Glu"): 5.0, ("press", "Glx"): 4.0,
        ("megapress", "GABA+"): 8.7, ("megapress", "Glx"): 2.1, ("megapress", "Glu"): 4.7,
        ("megapress", "NAA"): 2.4, ("megapress", "mI"): 5.5, ("megapress", "tCho"): 2.0,
        ("megapress", "tCr"): 2.1, ("megapress", "tNAA"): 1.9}
COMB = {"tNAA": ["NAA", "NAAG"], "tCr": ["Cr", "PCr"], "tCho": ["GPC", "PCh"], "Glx": ["Glu", "Gln"], "GABA+": ["GABA"]}
TRUE_EXTRA = 2.5  # % spread of the true tissue concentration from age and GM/WM mix within a group
TRIAL_GROUP = {"acupuncture": "MwoA", "spinal_manipulation": "cLBP"}


class Model:
    def __init__(self, design: dict, size: str):
        self.d = design
        self.size = design["sizes"][size]
        self.base = design["baseline_GM_mM"]
        cv = design["between_subject_cv"]
        self.cv = {m: 100 * float(cv.get(m, cv.get("other", 0.10))) for m in self.base}
        self.sess = 100 * float(design.get("within_subject_cv", 0.03))

    def bio(self, m):
        parts = COMB.get(m, [m])
        tot = sum(self.base[p] for p in parts)
        return math.sqrt(sum((self.base[p] * self.cv[p]) ** 2 for p in parts)) / tot

    def sd(self, m, acq):
        return math.sqrt(self.bio(m) ** 2 + self.sess ** 2 + MEAS[(acq, m)] ** 2)

    def shift(self, test, shifts):
        """% shift of a tested metabolite from the planted shifts (combinations apply to components)."""
        comp = {}
        for m, v in (shifts or {}).items():
            m = {"Cho": "tCho", "GABA+": "GABA"}.get(m, m)
            for p in COMB.get(m, [m]) if m != "GABA" else ["GABA"]:
                comp.setdefault(p, v)
        for m, v in (shifts or {}).items():
            if m in self.base:
                comp[m] = v
        parts = COMB.get(test, [test])
        return sum(self.base[p] * comp.get(p, 0.0) for p in parts) / sum(self.base[p] for p in parts)

    def vif(self, g, n, nc):
        G = self.d["groups"]
        p = n / (n + nc)

        def r2(mu1, sd1, mu0, sd0):
            between = p * (1 - p) * (mu1 - mu0) ** 2
            return between / (between + p * sd1 ** 2 + (1 - p) * sd0 ** 2)

        ra = r2(G[g]["age"]["mean"], G[g]["age"]["sd"], G["HC"]["age"]["mean"], G["HC"]["age"]["sd"])
        f1, f0 = G[g]["female_frac"], G["HC"]["female_frac"]
        rs = r2(f1, math.sqrt(f1 * (1 - f1)), f0, math.sqrt(f0 * (1 - f0)))
        return 1 / (1 - min(0.95, ra + rs))

    def scanned(self):
        """(group, region, acq) -> baseline subjects; and the number of scans."""
        groups, out = self.size["groups"], {}
        for e in self.size["protocol"]:
            for g in e.get("groups") or groups:
                if g in groups:
                    n = min(groups[g], (e.get("max_subjects") or {}).get(g, groups[g]))
                    for r in e["regions"]:
                        out[(g, r, e["acq"])] = out.get((g, r, e["acq"]), 0) + n
        n_scans = sum(out.values())
        for st, spec in (self.size.get("studies") or {}).items():
            nsub = 2 * spec["n_per_arm"] if "n_per_arm" in spec else spec["n"]
            n_scans += nsub * 2 * sum(len(sc["regions"]) for sc in spec["scans"])
            if st in TRIAL_GROUP:  # trial subjects' baseline scans join the group comparisons
                for sc in spec["scans"]:
                    for r in sc["regions"]:
                        k = (TRIAL_GROUP[st], r, sc["acq"])
                        out[k] = out.get(k, 0) + 2 * spec["n_per_arm"]
        return out, n_scans


def power(d, se, alpha):
    return norm.cdf(abs(d) / se - norm.isf(alpha / 2))


def bh_alpha(m_total, planted, q=0.05):
    m0, a = m_total - len(planted), q
    for _ in range(500):
        new = q * max(1.0, m0 * a + sum(power(d, se, a) for d, se in planted)) / m_total
        if abs(new - a) < 1e-10:
            break
        a = new
    return a


def corr_within(r, r_obs, n, tol=0.15):
    se, z = 1 / math.sqrt(n - 3), math.atanh(r_obs)
    lo, hi = math.atanh(max(-0.999, r - tol)), math.atanh(min(0.999, r + tol))
    return norm.cdf((hi - z) / se) - norm.cdf((lo - z) / se)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--design", default=str(ROOT / "config/demo/design.yaml"))
    ap.add_argument("--size", default="full")
    ap.add_argument("--all-metabolites", action="store_true", help="families test every metabolite")
    ap.add_argument("--q", type=float, default=0.05)
    args = ap.parse_args(argv)
    model = Model(yaml.safe_load(Path(args.design).read_text()), args.size)
    ge = model.d["group_effects_pct_vs_HC"]
    scanned, n_scans = model.scanned()
    fam = PRIMARY
    extra = OTHER_TESTED if args.all_metabolites else 0
    tests = []
    for (g, r, acq), n in sorted(scanned.items()):
        if g == "HC" or ("HC", r, acq) not in scanned:
            continue
        nc = scanned[("HC", r, acq)]
        for m in fam:
            if (acq, m) not in MEAS:
                continue
            d = model.shift(m, ge.get(g, {}).get(r))
            tests.append((g, r, acq, m, d, model.sd(m, acq) * math.sqrt((1 / n + 1 / nc) * model.vif(g, n, nc)), n, nc))
    cells = {(g, r, a) for g, r, a, *_ in tests}
    m_total = len(tests) + len([c for c in cells if c[2] == "press"]) + extra * len(cells)  # + PRESS GABA+ (null-like)
    planted = [(d, se) for *_, d, se, n, nc in tests if abs(d) > 1e-9]
    a = bh_alpha(m_total, planted, args.q)
    print(f"size {args.size}: {n_scans} scans; group family {m_total} tests ({len(planted)} planted), BH alpha* {a:.4f}")
    worst = 1.0
    for g, r, acq, m, d, se, n, nc in tests:
        own = ge.get(g, {}).get(r, {})
        if m in own and abs(own[m]) >= 8 and acq == ("megapress" if m == "GABA+" else "press"):
            pw = power(d, se, a)
            worst = min(worst, pw)
            print(f"  group  {g:5s} {r:10s} {m:6s} {d:+5.1f} %  n {n}/{nc} HC  VIF {model.vif(g, n, nc):.2f}  SE {se:.2f} %  power {pw:.3f}")
    smt = (model.size.get("studies") or {}).get("spinal_manipulation")
    if smt:
        change = model.d["treatment_studies"]["spinal_manipulation"]["mrs_change_pct"]
        n = smt["n_per_arm"]
        regions = [r for sc in smt["scans"] for r in sc["regions"]]
        at = []
        for r in regions:
            for m in fam:
                if ("press", m) in MEAS:
                    d = model.shift(m, change["SMT"].get(r)) - model.shift(m, change["sham"].get(r))
                    at.append((r, m, d, math.sqrt(2 * (model.sess ** 2 + MEAS[("press", m)] ** 2) * 2 / n)))
        a_at = bh_alpha(len(at) + extra * len(regions), [(d, se) for _, _, d, se in at if abs(d) > 1e-9], args.q)
        print(f"SMT arm x time family: {len(at) + extra * len(regions)} tests, BH alpha* {a_at:.4f}, n {n}/arm")
        for r, m, d, se in at:
            if m in change["SMT"].get(r, {}) and d >= 5 - 1e-9:
                pw = power(d, se, a_at)
                worst = min(worst, pw)
                print(f"  arm x time {r} {m:5s} {d:+.1f} %  SE {se:.2f} %  power {pw:.3f}")
    print(f"lowest power of a required detection: {worst:.3f}")
    print("correlations (recovery compares with the planted true-concentration r):")
    for c in model.d["pain_coupling"]:
        g, r, m = c["group"], c["region"], c["metab"]
        acq = "megapress" if m == "GABA+" else "press"
        n = scanned.get((g, r, acq), 0)
        if n < 4:
            print(f"  {g:5s} {r:9s} {m:5s} not scanned")
            continue
        true_var = model.bio(m) ** 2 + model.sess ** 2 + TRUE_EXTRA ** 2
        rel = true_var / (true_var + MEAS[(acq, m)] ** 2)
        r_obs = c["r"] * math.sqrt(rel)
        print(f"  {g:5s} {r:9s} {m:5s} {c['score']:17s} r {c['r']:+.2f}  reliability {rel:.2f}  E[r_obs] {r_obs:+.3f}  "
              f"n {n}  P(|r_hat - r| <= 0.15) {corr_within(c['r'], r_obs, n):.3f}")
    acu = (model.size.get("studies") or {}).get("acupuncture")
    cp = model.d["treatment_studies"]["acupuncture"].get("coupling")
    if acu and cp:
        true_var = 2 * model.sess ** 2
        rel = true_var / (true_var + 2 * MEAS[("press", cp["metab"])] ** 2)
        r_obs = cp["r"] * math.sqrt(rel)
        n = acu["n_per_arm"]
        print(f"  acupuncture change {cp['region']} {cp['metab']} vs change {cp['score']} (each arm): r {cp['r']:+.2f}  "
              f"reliability {rel:.2f}  E[r_obs] {r_obs:+.3f}  n {n}  P {corr_within(cp['r'], r_obs, n):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
