"""A synthetic tidy study table with planted effects (our own generator), shared by the stats
and report tests, plus checks that the generator plants what it claims."""

from __future__ import annotations

import numpy as np
import pandas as pd

BASE = {"NAA": 12.0, "Glu": 11.0, "tCr": 8.0, "Gln": 3.5, "GABA+": 2.0}
CV = {"NAA": 0.06, "Glu": 0.07, "tCr": 0.06, "Gln": 0.15, "GABA+": 0.10}


def _rows(subject, session, region, acq, group, conc: dict, crlb, snr, fwhm, extra):
    out = []
    stem = f"{subject}_{session}_acq-{acq}_voi-{region}" if session else f"{subject}_acq-{acq}_voi-{region}"
    for met, c in conc.items():
        for measure, v in (("conc_mM", c), ("ratio_tCr", c / conc["tCr"])):
            out.append({"subject": subject, "session": session, "region": region, "acq": acq, "stem": stem,
                        "metabolite": met, "measure": measure, "value": v, "crlb_pct": crlb.get(met, 5.0),
                        "snr": snr, "fwhm_hz": fwhm, "qc_pass": True, "qc_reason": "", "f_gm": extra["f_gm"],
                        "f_wm": 1 - extra["f_gm"] - 0.1, "f_csf": 0.1, "group": group, **extra["cov"]})
    return out


def make_study(seed=1, n=40, n_trial=24, label_group="cLBP"):
    """Returns (table, truth). Planted: cLBP ACC Glu +10 %, FM thalamus NAA -8 %,
    r(cLBP ACC Glu, pain_nrs) = 0.5, age -1.5 %/decade on NAA, verum thalamus NAA +6 % vs sham +1 %
    (interaction +5 %), crossover OT ACC GABA+ +6 %. Everything else is null."""
    rng = np.random.default_rng(seed)
    rows = []
    # same layout as the demo simulator's truth/effects.tsv
    M = "conc_tissue_mM"
    truth = [
        dict(effect_id="g1", kind="group", study="crosssectional", group=label_group, comparator="HC", region="ACC", metabolite="Glu", measure=M, value=10.0, unit="pct"),
        dict(effect_id="g2", kind="group", study="crosssectional", group="FM", comparator="HC", region="thalamus", metabolite="NAA", measure=M, value=-8.0, unit="pct"),
        dict(effect_id="c1", kind="correlation", study="all", group=label_group, region="ACC", metabolite="Glu", measure=M, score="pain_nrs", value=0.5, unit="r"),
        dict(effect_id="a1", kind="age", study="all", group="all", metabolite="NAA", region="all", measure=M, score="age", value=-1.5, unit="pct_per_decade"),
        dict(effect_id="t1", kind="arm_time", study="acu", group="MwoA", arm="verum", comparator="sham", region="thalamus", metabolite="NAA", measure=M, value=5.0, unit="pct"),
        dict(effect_id="t2", kind="arm_time", study="acu", group="MwoA", arm="verum", comparator="time:baseline", region="thalamus", metabolite="NAA", measure=M, value=6.0, unit="pct"),
        dict(effect_id="t3", kind="arm_time", study="acu", group="MwoA", arm="sham", comparator="time:baseline", region="thalamus", metabolite="NAA", measure=M, value=1.0, unit="pct"),
        dict(effect_id="x1", kind="crossover", study="oxt", group=label_group, arm="OT", comparator="PL", region="ACC", metabolite="GABA+", measure=M, value=6.0, unit="pct"),
        dict(effect_id="u1", kind="group", study="crosssectional", group="CM", comparator="HC", region="ACC", metabolite="NAA", measure=M, value=-4.0, unit="pct", observed=False),
    ]

    def conc_for(group, region, age, pain_z=None, extra_pct=None):
        c = {}
        for met, mu in BASE.items():
            if met == "GABA+" and region != "ACC":
                continue
            pct = 0.0
            if group == label_group and region == "ACC" and met == "Glu":
                pct += 10
            if group == "FM" and region == "thalamus" and met == "NAA":
                pct += -8
            if met == "NAA":
                pct += -1.5 * (age - 45) / 10
            pct += (extra_pct or {}).get((region, met), 0.0)
            noise = rng.standard_normal()
            if pain_z is not None and group == label_group and region == "ACC" and met == "Glu":
                noise = 0.5 * pain_z + np.sqrt(1 - 0.25) * noise
            c[met] = mu * (1 + pct / 100) * (1 + CV[met] * noise)
        return c

    # cross-sectional: baseline session
    for g in ("HC", label_group, "FM"):
        for i in range(n):
            subj = f"sub-{g}{i:03d}"
            age = float(rng.normal(45, 12))
            sex = "F" if rng.random() < 0.5 else "M"
            pz = rng.standard_normal()
            pain = 0.3 if g == "HC" else float(5.5 + 1.5 * pz)
            for region in ("ACC", "thalamus"):
                fgm = float(np.clip(rng.normal(0.6 if region == "ACC" else 0.35, 0.04), 0.1, 0.9))
                snr = float(rng.normal(60, 12))
                snr = 5.0 if (i == 3 and region == "ACC") else snr  # planted QC failure
                extra = {"f_gm": fgm, "cov": {"age": age, "sex": sex, "pain_nrs": pain, "study": None,
                                                  "arm": None, "time": None, "period": None, "sequence_order": None}}
                rows += _rows(subj, "ses-baseline", region, "press", g, conc_for(g, region, age, pz), {}, snr, 7.0, extra)
    # parallel-arm trial (MwoA), thalamus only, some missing post sessions
    for arm, change in (("verum", 6.0), ("sham", 1.0)):
        for i in range(n_trial):
            subj = f"sub-ACU{arm[:1].upper()}{i:03d}"
            age = float(rng.normal(40, 10))
            sex = "F" if rng.random() < 0.7 else "M"
            subj_eff = rng.standard_normal() * CV["NAA"]
            for t, sess in (("baseline", "ses-baseline"), ("post", "ses-post")):
                if t == "post" and i % 8 == 7:
                    continue  # missing post session
                c = conc_for("MwoA", "thalamus", age)
                c["NAA"] = BASE["NAA"] * (1 - 1.5 * (age - 45) / 1000) * (1 + subj_eff) * (1 + (change if t == "post" else 0) / 100) * (1 + 0.03 * rng.standard_normal())
                extra = {"f_gm": 0.35, "cov": {"age": age, "sex": sex, "pain_nrs": float(rng.normal(6 - (2 if t == "post" else 0), 1)),
                                                "study": "acu", "arm": arm, "time": t, "period": None, "sequence_order": None}}
                rows += _rows(subj, sess, "thalamus", "press", "MwoA", c, {}, 50.0, 7.0, extra)
    # crossover: OT vs PL, ACC GABA+ +6 %
    for i in range(n_trial):
        subj = f"sub-OXT{i:03d}"
        seq = "OT_then_PL" if i % 2 == 0 else "PL_then_OT"
        age = float(rng.normal(47, 10))
        subj_eff = rng.standard_normal() * CV["GABA+"]
        for period in (1, 2):
            trt = ("OT" if period == 1 else "PL") if seq == "OT_then_PL" else ("PL" if period == 1 else "OT")
            c = conc_for(label_group, "ACC", age)
            c["GABA+"] = BASE["GABA+"] * (1 + subj_eff) * (1 + (6.0 if trt == "OT" else 0.0) / 100) * (1 + 0.04 * rng.standard_normal())
            extra = {"f_gm": 0.6, "cov": {"age": age, "sex": "M", "pain_nrs": 5.0, "study": "oxt", "arm": trt,
                                          "time": None, "period": period, "sequence_order": seq}}
            rows += _rows(subj, f"ses-period{period}", "ACC", "megapress", label_group, c, {}, 40.0, 8.0, extra)
    table = pd.DataFrame(rows)
    # the planted QC failure, as the table builder would mark it
    bad = table["snr"] < 10
    table.loc[bad, "qc_pass"] = False
    table.loc[bad, "qc_reason"] = "snr<10"
    truth_df = pd.DataFrame(truth)
    truth_df["observed"] = truth_df["observed"].astype(object).where(truth_df["observed"].notna(), True)
    for c in ("study", "group", "arm", "comparator", "region", "metabolite", "measure", "score", "unit"):
        truth_df[c] = truth_df[c].astype(object).where(truth_df[c].notna(), "")
    return table, truth_df


def test_generator_plants_the_group_effect():
    table, _ = make_study(seed=3, n=200)
    d = table[(table["session"] == "ses-baseline") & (table["region"] == "ACC") & (table["metabolite"] == "Glu")
              & (table["measure"] == "conc_mM") & (table["study"].isna())]
    means = d.groupby("group")["value"].mean()
    # +10 % planted; SE of the ratio with n=200 and CV 7 % is ~0.7 %: 4 SE tolerance.
    assert abs(100 * (means["cLBP"] / means["HC"] - 1) - 10) < 3.0
    assert abs(100 * (means["FM"] / means["HC"] - 1)) < 3.0
