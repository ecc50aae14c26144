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
    """dataset_description.json, README, participants.tsv/.json, the sessions tables and the
    segmentation derivative's description."""
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
    side = _write_participants(bids, design, plan)
    _write_sessions(bids, plan, side["study"])
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


#: score column -> (description, units) in the participants and sessions sidecars.
_SCORE_DESCRIPTIONS = {
    "pain_nrs": ("Average pain intensity, numeric rating scale", "0-10"),
    "pain_vas": ("Pain intensity, visual analogue scale", "0-100 mm"),
    "attacks_per_month": ("Migraine attacks per month", "attacks/month"),
    "disease_years": ("Years since diagnosis", "years"),
    "ODI": ("Oswestry Disability Index", "%"),
}


def _write_participants(bids: Path, design: Design, plan: Plan) -> dict:
    """participants.tsv and participants.json; returns the sidecar."""
    scores = plan.score_columns
    groups = design["groups"]
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
    score_desc = _SCORE_DESCRIPTIONS
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
    return side


def _write_sessions(bids: Path, plan: Plan, study_side: dict) -> None:
    """sub-*/sub-*_sessions.tsv of every participant and the top-level sessions.json."""
    scores = plan.score_columns
    score_desc = _SCORE_DESCRIPTIONS
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
        "study": study_side,
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


def _effect(kind, study, group, arm, comparator, region, metabolite, measure, score, value, unit, observed) -> dict:
    """One planted effect (a row of truth/effects.tsv without its effect_id)."""
    return {"kind": kind, "study": study, "group": group, "arm": arm, "comparator": comparator, "region": region,
            "metabolite": metabolite, "measure": measure, "score": score, "value": value, "unit": unit,
            "observed": observed}


def effects_rows(design: Design, plan: Plan) -> list[dict]:
    """The planted effects (truth/effects.tsv); ``observed``: scans exist to estimate it."""
    observable = _observability(design, plan)
    control = design.get("control_group", "HC")
    groups_present = {s.group for s in plan.subjects}
    effects = []
    for g, per_region in design["group_effects_pct_vs_HC"].items():
        for r, shifts in per_region.items():
            for m, pct in shifts.items():
                m2 = "tCho" if m == "Cho" else m
                effects.append(_effect("group", "crosssectional", g, NA, control, r, m2, "conc_tissue_mM", NA,
                                       float(pct), "pct", observable(g, r, m2) and g in groups_present))
    for c in design["pain_coupling"]:
        effects.append(_effect("correlation", "all", c["group"], NA, NA, c["region"], c["metab"], "conc_tissue_mM",
                               c["score"], float(c["r"]), "r",
                               observable(c["group"], c["region"], c["metab"], need_control=False)))
    for m, pct in design["covariate_effects"]["age_per_decade_pct"].items():
        effects.append(_effect("age", "all", "all", NA, NA, "all", m, "conc_tissue_mM", "age", float(pct),
                               "pct_per_decade", True))
    for study, sd in design.get("treatment_studies", {}).items():
        in_size = study in (design.size.get("studies") or {})
        effects += _treatment_effects(study, sd, in_size, observable)
    return [{"effect_id": f"E{n:03d}", **e} for n, e in enumerate(effects, start=1)]


def _observability(design: Design, plan: Plan):
    """observable(group, region, metab, study=None, need_control=True): whether the plan has
    scans to estimate an effect (of a study, or of a group against the control group)."""
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

    return observable


def _treatment_effects(study: str, sd: dict, in_size: bool, observable) -> list[dict]:
    """Planted effects of one treatment study: within-arm changes and active vs control
    (parallel trials, plus a change-change coupling), or OT vs PL (crossover)."""
    change = sd["mrs_change_pct"]
    out = []
    if STUDY_KINDS[study] != "parallel":
        for r, shifts in change["OT"].items():
            for m, pct in shifts.items():
                out.append(_effect("crossover", study, sd["group"], "OT", "PL", r, m, "conc_tissue_mM", NA,
                                   float(pct), "pct", in_size and observable(None, r, m, study)))
        return out
    arms = sd["design"]["arms"]
    active, control_arm = arms[0], arms[1]
    for r, shifts in change[active].items():
        for m, pct in shifts.items():
            sham = float(change.get(control_arm, {}).get(r, {}).get(m, 0.0))
            obs = in_size and observable(None, r, m, study)
            for arm, value in ((active, float(pct)), (control_arm, sham)):  # within-arm changes
                out.append(_effect("arm_time", study, sd["group"], arm, "time:baseline", r, m, "conc_tissue_mM", NA,
                                   value, "pct", obs))
            out.append(_effect("arm_time", study, sd["group"], active, control_arm, r, m, "conc_tissue_mM", NA,
                               float(pct) - sham, "pct", obs))
    cp = sd.get("coupling")
    if cp:
        out.append(_effect("correlation", study, sd["group"], "within_arm", NA, cp["region"], cp["metab"],
                           "change_conc_tissue", f"change_{cp['score']}", float(cp["r"]), "r",
                           in_size and observable(None, cp["region"], cp["metab"], study)))
    return out


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
