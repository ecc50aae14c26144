"""Study tables of the simulated study (split out of ``painmrs.demo.study``): participants,
sessions and dataset description (BIDS), planted effects, and the truth tables' columns.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..atomic import write_text
from .design import STUDY_KINDS, Design
from .files import BIDS_VERSION, NA, tsv, write_json
from .plan import Plan

# ---- tables ------------------------------------------------------------------------------


def _write_bids_tables(bids: Path, design: Design, plan: Plan) -> None:
    scores = plan.score_columns
    groups = design["groups"]
    write_json(
        bids / "dataset_description.json",
        {
            "Name": f"painmrs simulated chronic-pain MRS study ({design.size_name})",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["painmrs simulator"],
            "GeneratedBy": [
                {
                    "Name": "painmrs",
                    "Version": __version__,
                    "Description": f"painmrs simulate, design {Path(design.path).name}, size {design.size_name}, seed {plan.seed}",
                }
            ],
            "HowToAcknowledge": "Synthetic data; ground truth in the sibling truth/ folder (facts.md §6).",
        },
    )
    write_text(
        bids / "README",
        "Simulated MRS-BIDS chronic-pain study written by `painmrs simulate`.\n"
        "Ground truth (never read by the analysis) is in the truth/ folder next to this dataset.\n",
    )
    cols = ["participant_id", "group", "age", "sex", "study", "arm"] + scores
    rows = []
    for s in plan.subjects:
        rows.append(
            {
                "participant_id": f"sub-{s.participant_id}",
                "group": s.group,
                "age": int(s.age),
                "sex": s.sex,
                "study": s.study,
                "arm": s.arm,
                **s.scores,
            }
        )
    write_text(bids / "participants.tsv", tsv(cols, rows))
    score_desc = {
        "pain_nrs": ("Average pain intensity, numeric rating scale", "0-10"),
        "pain_vas": ("Pain intensity, visual analogue scale", "0-100 mm"),
        "attacks_per_month": ("Migraine attacks per month", "attacks/month"),
        "disease_years": ("Years since diagnosis", "years"),
        "ODI": ("Oswestry Disability Index", "%"),
    }
    present = sorted({s.group for s in plan.subjects}, key=list(groups).index)
    side = {
        "participant_id": {"Description": "Participant label"},
        "group": {"Description": "Diagnostic group", "Levels": {g: _group_name(g) for g in present}},
        "age": {"Description": "Age at baseline", "Units": "years"},
        "sex": {"Description": "Sex", "Levels": {"F": "female", "M": "male"}},
        "study": {
            "Description": "Study the participant was recruited to",
            "Levels": {
                "crosssectional": "cross-sectional case-control",
                "acupuncture": "acupuncture vs sham (MwoA, pre/post)",
                "spinal_manipulation": "spinal manipulation vs sham (cLBP, pre/post)",
                "oxytocin": "intranasal oxytocin 24 IU vs placebo (cLBP, randomised crossover)",
            },
        },
        "arm": {"Description": "Randomised arm (parallel trials) or treatment sequence (crossover); n/a otherwise"},
    }
    for sc in scores:
        side[sc] = {"Description": f"{score_desc[sc][0]} at baseline", "Units": score_desc[sc][1]}
    write_json(bids / "participants.json", side)
    scols = ["session_id", "study", "arm", "time", "period", "sequence_order"] + scores
    for s in plan.subjects:
        rows = []
        for sess in s.sessions:
            rows.append(
                {
                    "session_id": f"ses-{sess.label}",
                    "study": s.study,
                    "arm": sess.arm,
                    "time": sess.time,
                    "period": sess.period,
                    "sequence_order": s.arm if STUDY_KINDS.get(s.study) == "crossover" else NA,
                    **sess.scores,
                }
            )
        write_text(bids / f"sub-{s.participant_id}" / f"sub-{s.participant_id}_sessions.tsv", tsv(scols, rows))
    sess_side = {
        "session_id": {"Description": "Session label"},
        "study": side["study"],
        "arm": {
            "Description": "Treatment arm (parallel trials) or the treatment given before this scan (crossover: OT or PL)"
        },
        "time": {
            "Description": "baseline (before treatment) or post (after treatment; crossover: 40 min after dosing)"
        },
        "period": {"Description": "Crossover period (1 or 2, 14-day washout); n/a otherwise"},
        "sequence_order": {"Description": "Crossover sequence (OT_then_PL or PL_then_OT); n/a otherwise"},
    }
    for sc in scores:
        sess_side[sc] = {"Description": f"{score_desc[sc][0]} at this session", "Units": score_desc[sc][1]}
    write_json(bids / "sessions.json", sess_side)
    seg = bids / "derivatives" / "segmentation"
    write_json(
        seg / "dataset_description.json",
        {
            "Name": "Synthetic tissue segmentation (painmrs simulate)",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {"Name": "painmrs", "Version": __version__, "Description": "synthetic GM/WM/CSF probability maps"}
            ],
        },
    )


def _group_name(g: str) -> str:
    return {
        "HC": "healthy controls",
        "cLBP": "chronic low back pain",
        "MwoA": "migraine without aura",
        "CM": "chronic migraine",
        "FM": "fibromyalgia",
        "PHN": "postherpetic neuralgia",
        "CP": "chronic pancreatitis",
    }.get(g, g)


def effects_rows(design: Design, plan: Plan) -> list[dict]:
    """The planted effects (truth/effects.tsv); ``observed``: scans exist to estimate it."""
    scanned = {(s.group, s.region, s.acq) for s in plan.scans}
    scanned_study = {}
    subj = {s.participant_id: s for s in plan.subjects}
    for s in plan.scans:
        scanned_study.setdefault(subj[s.subject].study, set()).add((s.region, s.acq))
    control = design.get("control_group", "HC")

    def observable(group, region, metab, study=None, need_control=True):
        acqs = ("megapress",) if metab in ("GABA+", "MM30") else ("press", "megapress")
        if study:
            return any((region, a) in scanned_study.get(study, set()) for a in acqs)
        ok = any((group, region, a) in scanned for a in acqs)
        return ok and (not need_control or any((control, region, a) in scanned for a in acqs))

    rows = []
    n = 0

    def add(**kw):
        nonlocal n
        n += 1
        rows.append({"effect_id": f"E{n:03d}", **kw})

    for g, per_region in design["group_effects_pct_vs_HC"].items():
        for r, shifts in per_region.items():
            for m, pct in shifts.items():
                m2 = "tCho" if m == "Cho" else m
                add(
                    kind="group",
                    study="crosssectional",
                    group=g,
                    arm=NA,
                    comparator=control,
                    region=r,
                    metabolite=m2,
                    measure="conc_tissue_mM",
                    score=NA,
                    value=float(pct),
                    unit="pct",
                    observed=observable(g, r, m2) and g in {s.group for s in plan.subjects},
                )
    for c in design["pain_coupling"]:
        add(
            kind="correlation",
            study="all",
            group=c["group"],
            arm=NA,
            comparator=NA,
            region=c["region"],
            metabolite=c["metab"],
            measure="conc_tissue_mM",
            score=c["score"],
            value=float(c["r"]),
            unit="r",
            observed=observable(c["group"], c["region"], c["metab"], need_control=False),
        )
    for m, pct in design["covariate_effects"]["age_per_decade_pct"].items():
        add(
            kind="age",
            study="all",
            group="all",
            arm=NA,
            comparator=NA,
            region="all",
            metabolite=m,
            measure="conc_tissue_mM",
            score="age",
            value=float(pct),
            unit="pct_per_decade",
            observed=True,
        )
    studies = design.get("treatment_studies", {})
    for study, sd in studies.items():
        in_size = study in (design.size.get("studies") or {})
        change = sd["mrs_change_pct"]
        if STUDY_KINDS[study] == "parallel":
            arms = sd["design"]["arms"]
            active, control_arm = arms[0], arms[1]
            for r, shifts in change[active].items():
                for m, pct in shifts.items():
                    sham = float(change.get(control_arm, {}).get(r, {}).get(m, 0.0))
                    obs = in_size and observable(None, r, m, study)
                    for arm, value in ((active, float(pct)), (control_arm, sham)):  # within-arm changes
                        add(
                            kind="arm_time",
                            study=study,
                            group=sd["group"],
                            arm=arm,
                            comparator="time:baseline",
                            region=r,
                            metabolite=m,
                            measure="conc_tissue_mM",
                            score=NA,
                            value=value,
                            unit="pct",
                            observed=obs,
                        )
                    add(
                        kind="arm_time",
                        study=study,
                        group=sd["group"],
                        arm=active,
                        comparator=control_arm,
                        region=r,
                        metabolite=m,
                        measure="conc_tissue_mM",
                        score=NA,
                        value=float(pct) - sham,
                        unit="pct",
                        observed=obs,
                    )
            cp = sd.get("coupling")
            if cp:
                add(
                    kind="correlation",
                    study=study,
                    group=sd["group"],
                    arm="within_arm",
                    comparator=NA,
                    region=cp["region"],
                    metabolite=cp["metab"],
                    measure="change_conc_tissue",
                    score=f"change_{cp['score']}",
                    value=float(cp["r"]),
                    unit="r",
                    observed=in_size and observable(None, cp["region"], cp["metab"], study),
                )
        else:
            for r, shifts in change["OT"].items():
                for m, pct in shifts.items():
                    add(
                        kind="crossover",
                        study=study,
                        group=sd["group"],
                        arm="OT",
                        comparator="PL",
                        region=r,
                        metabolite=m,
                        measure="conc_tissue_mM",
                        score=NA,
                        value=float(pct),
                        unit="pct",
                        observed=in_size and observable(None, r, m, study),
                    )
    return rows


EFFECT_COLUMNS = [
    "effect_id",
    "kind",
    "study",
    "group",
    "arm",
    "comparator",
    "region",
    "metabolite",
    "measure",
    "score",
    "value",
    "unit",
    "observed",
]
SCAN_COLUMNS = [
    "subject",
    "session",
    "region",
    "acq",
    "stem",
    "group",
    "f_gm",
    "f_wm",
    "f_csf",
    "lorentz_hz",
    "gauss_hz",
    "fwhm_hz",
    "snr_target",
    "snr_expected",
    "snr_definition",
    "noise_sd",
    "n_coils",
    "n_transients",
    "n_transients_ref",
    "drift_hz_start",
    "drift_hz_total",
    "drift_hz_range",
    "phase0_deg",
    "phase0_ref_deg",
    "corrupted_transients",
    "ecc_amplitude_hz",
    "ecc_tau_s",
    "residual_water_times_naa",
    "mm_scale",
    "water_amplitude",
    "water_R_GM",
    "water_R_WM",
    "water_R_CSF",
    "te_ms",
    "tr_ms",
    "voxel_mm",
]
CONC_COLUMNS = [
    "subject",
    "session",
    "region",
    "acq",
    "stem",
    "metabolite",
    "conc_gm_mM",
    "conc_wm_mM",
    "conc_voxel_mM",
    "conc_tissue_mM",
    "ratio_tCr",
    "ratio_tNAA",
    "relaxation_R",
]
TRANSIENT_COLUMNS = ["stem", "file", "dyn", "edit", "freq_hz", "phase_deg", "amplitude", "corrupted"]


TRUTH_README = """# Ground truth of the simulated study (never read by the analysis)

Written by `painmrs simulate` next to the MRS-BIDS dataset. Units: mM = mmol per litre.

- `scans.tsv`: one row per metabolite scan (`stem` = BIDS file name up to `_svs`). Exact voxel
  tissue fractions `f_gm, f_wm, f_csf` (= the probseg maps averaged over the voxel), Voigt
  `lorentz_hz`/`gauss_hz` (FWHM; `fwhm_hz` = Voigt FWHM of a singlet), `snr_target`/`snr_expected` (PRESS: NAA peak height; MEGA-PRESS:
  GABA+ height in DIFF = ON - OFF; over the SD of the real noise spectrum after optimal coil
  combination and averaging), per-coil `noise_sd`, `n_coils`, `n_transients` (MEGA-PRESS: ON/OFF
  pairs), frequency drift (`drift_hz_start`, linear `drift_hz_total`, realised `drift_hz_range`),
  receiver phases, `corrupted_transients` (DIM_DYN indices), eddy current, residual water (summed
  amplitude / NAA amplitude), MM scale, water-reference amplitude and relaxation factors.
- `concentrations.tsv`: per scan and metabolite: `conc_gm_mM`, `conc_wm_mM`, `conc_voxel_mM`
  (= fGM cGM + fWM cWM), `conc_tissue_mM` (= voxel / (1 - fCSF), Gasparovic molar), `ratio_tCr`
  (voxel / voxel tCr), `ratio_tNAA`, `relaxation_R` used in the signal. Rows for tNAA, tCr, tCho, Glx, GABA+
  (GABA + co-edited MM30 in GABA-equivalent mM, MEGA-PRESS scans).
- `effects.tsv`: the planted effects (group % vs HC, within-group r with a score, age % per decade,
  arm x time % change, crossover %); `observed` says whether this study size has scans to estimate it.
- `transients.tsv`: per transient of every svs and mrsref file: frequency offset (Hz), zero-order
  phase (deg), amplitude factor, corrupted flag.
- `scans/<stem>_truth.json`: coil sensitivities and noise covariance (complex, E[n n^H] per sample),
  eddy-current parameters, residual-water lines, motion corruption parameters.
- `scans/<stem>_desc-clean_{svs,mrsref}.nii.gz`: the noise-free combined signals (no drift, no eddy
  current, no residual water): what ideal processing should recover.
- `design.json`: the design, size and seed used.
"""
