"""Demo-study design and plan: the planted effects are in the true concentrations.

A large synthetic sample (plan only, no spectra) checks each planted effect against the
design value with a tolerance of 4 standard errors (computed from the sample) + 0.5 %.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from painmrs.demo.design import load_design
from painmrs.demo.plan import build_plan
from painmrs.demo.study import effects_rows
from painmrs.errors import InputError

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (a plan of every region and sequence)
pytestmark = pytest.mark.xdist_group("module-test_demo_design")

DESIGN = Path(__file__).resolve().parents[1] / "config" / "demo" / "design.yaml"
N_BIG = 500


def _with_size(tmp_path, size: dict, *, fixed_age: bool = False, name="big"):
    raw = yaml.safe_load(DESIGN.read_text())
    raw["sizes"][name] = size
    if fixed_age:
        for g in raw["groups"].values():
            g["age"] = {"mean": 45, "sd": 0}
    path = tmp_path / "design.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_design(path, name)


@pytest.fixture(scope="module")
def big_plan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("design")
    raw = yaml.safe_load(DESIGN.read_text())
    regions = raw["regions"]
    protocol = [
        {"acq": "press", "regions": list(regions)},
        {"acq": "megapress", "regions": [r for r in regions if "megapress" in regions[r]["sequences"]]},
    ]
    size = {
        "groups": {g: N_BIG for g in raw["groups"]},
        "protocol": protocol,
        "studies": {
            "acupuncture": {"n_per_arm": 400, "scans": [{"acq": "press", "regions": ["thalamus"]}]},
            "spinal_manipulation": {
                "n_per_arm": 400,
                "scans": [{"acq": "press", "regions": ["thalamus", "insulaL", "S1"]}],
            },
            "oxytocin": {
                "n": 400,
                "scans": [
                    {"acq": "megapress", "regions": ["ACC", "insulaL"]},
                    {"acq": "press", "regions": ["thalamus"]},
                ],
            },
        },
    }
    design = _with_size(tmp, size, fixed_age=True)
    return design, build_plan(design, seed=7)


def _values(plan, *, group=None, region, metab, acq=None, session=None, study=None):
    subj = {s.participant_id: s for s in plan.subjects}
    out = {}
    for s in plan.scans:
        if s.region != region or (group and s.group != group) or (session and s.session != session):
            continue
        if study and subj[s.subject].study != study:
            continue
        if acq and s.acq != acq:
            continue
        if not acq and s.acq != ("megapress" if metab in ("GABA+", "MM30") else "press"):
            continue
        out[s.subject] = s.concentrations()[metab]["conc_tissue_mM"]
    return out


def _pct_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    pct = 100 * (a.mean() / b.mean() - 1)
    se = 100 * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) / b.mean()
    return pct, se


def test_group_effects_in_truth_match_the_design(big_plan):
    design, plan = big_plan
    rows = [r for r in effects_rows(design, plan) if r["kind"] == "group"]
    assert len(rows) >= 25 and all(r["observed"] for r in rows)
    for r in rows:
        patients = _values(plan, group=r["group"], region=r["region"], metab=r["metabolite"], study="crosssectional")
        controls = _values(plan, group="HC", region=r["region"], metab=r["metabolite"])
        pct, se = _pct_diff(list(patients.values()), list(controls.values()))
        assert abs(pct - r["value"]) < 4 * se + 0.5, (r, pct, se)


def test_pain_couplings_reach_the_target_r(big_plan):
    design, plan = big_plan
    subj = {s.participant_id: s for s in plan.subjects}
    for c in design["pain_coupling"]:
        conc = _values(plan, group=c["group"], region=c["region"], metab=c["metab"], session="baseline")
        ids = sorted(conc)
        x = np.array([conc[i] for i in ids])
        y = np.array([subj[i].scores[c["score"]] for i in ids])
        # Planted on the log concentration, exactly in the sample; clipping of scores to their
        # range and rounding (attacks per month: whole numbers) move it by < 0.015 here.
        r_log = np.corrcoef(np.log(x), y)[0, 1]
        assert r_log == pytest.approx(c["r"], abs=0.015), (c, r_log, len(ids))
        assert np.corrcoef(x, y)[0, 1] == pytest.approx(c["r"], abs=0.02), (c, len(ids))


def test_treatment_effects_arm_by_time_and_crossover(big_plan):
    design, plan = big_plan
    subj = {s.participant_id: s for s in plan.subjects}
    for study, arms in (("acupuncture", ("verum", "sham")), ("spinal_manipulation", ("SMT", "sham"))):
        change = design["treatment_studies"][study]["mrs_change_pct"]
        for arm in arms:
            for region, shifts in change[arm].items():
                for metab, pct in shifts.items():
                    metab = "tCho" if metab == "Cho" else metab
                    base = _values(plan, region=region, metab=metab, session="baseline", study=study)
                    post = _values(plan, region=region, metab=metab, session="post", study=study)
                    ids = [i for i in base if subj[i].arm == arm]
                    ratio = np.array([post[i] / base[i] for i in ids])
                    observed = 100 * (ratio.mean() - 1)
                    se = 100 * ratio.std(ddof=1) / np.sqrt(len(ratio))
                    assert abs(observed - pct) < 4 * se + 0.3, (study, arm, region, metab, observed, pct)
    ot = design["treatment_studies"]["oxytocin"]["mrs_change_pct"]["OT"]
    for region, shifts in ot.items():
        for metab, pct in shifts.items():
            p1 = _values(plan, region=region, metab=metab, session="period1", study="oxytocin")
            p2 = _values(plan, region=region, metab=metab, session="period2", study="oxytocin")
            ratio = []
            for i in p1:
                first = subj[i].arm.startswith("OT")
                ratio.append(p1[i] / p2[i] if first else p2[i] / p1[i])
            ratio = np.array(ratio)
            observed = 100 * (ratio.mean() - 1)
            se = 100 * ratio.std(ddof=1) / np.sqrt(len(ratio))
            assert abs(observed - pct) < 4 * se + 0.3, (region, metab, observed, pct)


def test_acupuncture_change_coupling(big_plan):
    design, plan = big_plan
    cp = design["treatment_studies"]["acupuncture"]["coupling"]
    subj = {s.participant_id: s for s in plan.subjects}
    base = _values(plan, region=cp["region"], metab=cp["metab"], session="baseline", study="acupuncture")
    post = _values(plan, region=cp["region"], metab=cp["metab"], session="post", study="acupuncture")
    for arm in ("verum", "sham"):
        ids = [i for i in base if subj[i].arm == arm]
        dm = np.log([post[i] / base[i] for i in ids])
        ds = [subj[i].sessions[1].scores[cp["score"]] - subj[i].sessions[0].scores[cp["score"]] for i in ids]
        # exact in the sample before scores are clipped to 0-10 and rounded
        assert np.corrcoef(dm, ds)[0, 1] == pytest.approx(cp["r"], abs=0.025)


def test_age_effect_per_decade(tmp_path):
    design = _with_size(tmp_path, {"groups": {"HC": 2000}, "protocol": [{"acq": "press", "regions": ["ACC"]}]})
    plan = build_plan(design, seed=3)
    ages = np.array([s.age for s in plan.subjects])
    by_id = {s.participant_id: s for s in plan.subjects}
    for metab, pct in design["covariate_effects"]["age_per_decade_pct"].items():
        gm = np.array([sc.concentrations()[metab]["conc_gm_mM"] for sc in plan.scans])
        a = np.array([by_id[sc.subject].age for sc in plan.scans])
        slope, intercept = np.polyfit((a - 45) / 10, gm, 1)
        observed = 100 * slope / intercept
        assert observed == pytest.approx(pct, abs=0.6), (metab, observed)
    assert 40 < ages.mean() < 50


def test_plan_is_reproducible_and_seed_dependent():
    d = load_design(DESIGN, "demo")
    a, b, c = build_plan(d, seed=1), build_plan(d, seed=1), build_plan(d, seed=2)
    key = lambda p: [(s.stem, round(s.conc_gm["NAA"], 12), round(s.f_gm, 12)) for s in p.scans]
    assert key(a) == key(b) and key(a) != key(c)
    assert [s.stem for s in a.scans] == [s.stem for s in c.scans]


def test_sizes_have_the_documented_scan_counts():
    demo = build_plan(load_design(DESIGN, "demo"))
    full = build_plan(load_design(DESIGN, "full"))
    # the default demo must run end to end in minutes on 2 cores (about 1 s of CPU per scan)
    assert 100 <= len(demo.scans) <= 250
    assert len(full.scans) >= 1000
    for plan in (demo, full):
        groups = {s.group for s in plan.subjects}
        assert {"HC", "cLBP", "MwoA", "FM", "PHN"} <= groups
        regions = {s.region for s in plan.scans}
        assert {"ACC", "thalamus", "insulaL", "mPFC", "precuneus"} <= regions
        assert {s.acq for s in plan.scans} == {"press", "megapress"}
        studies = {s.study for s in plan.subjects}
        assert {"acupuncture", "spinal_manipulation", "oxytocin"} <= studies


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["sizes"]["demo"]["groups"].update({"XX": 3}), "sizes.demo.groups.XX"),
        (lambda d: d["regions"]["ACC"].update({"fGM": 0.9}), "regions.ACC"),
        (
            lambda d: d["group_effects_pct_vs_HC"]["cLBP"].update({"cortex": {"NAA": 1}}),
            "group_effects_pct_vs_HC.cLBP.cortex",
        ),
        (lambda d: d["pain_coupling"][0].update({"score": "mood"}), "pain_coupling[0].score"),
        (
            lambda d: d["sizes"]["demo"]["protocol"].append({"acq": "megapress", "regions": ["S1"]}),
            "sizes.demo.protocol[2].regions",
        ),
        (lambda d: d.pop("baseline_GM_mM"), "baseline_GM_mM"),
    ],
)
def test_bad_design_names_file_and_field(tmp_path, edit, field):
    raw = yaml.safe_load(DESIGN.read_text())
    edit(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError) as info:
        load_design(path, "demo")
    assert info.value.field == field and str(path) in str(info.value)


def test_unknown_size_is_an_input_error():
    with pytest.raises(InputError, match="unknown study size"):
        load_design(DESIGN, "huge")
