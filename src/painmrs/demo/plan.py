"""Participants, sessions and true concentrations of every scan (no spectra yet).

Concentration model for subject i, region r, session s and metabolite m (facts.md §6)::

    c_GM = base_GM[m] * age[m](age_i) * (1 + group_pct[g, r, m]/100) * subj[i, r, m]
           * sess[i, s, r, m] * (1 + treat_pct[study, arm, s, r, m]/100)
    c_WM = c_GM / gm_wm_ratio[m]          (CSF holds no metabolite)

- ``age[m] = 1 + pct_per_decade[m]/100 * (age - reference_age)/10``;
- ``subj``: log-normal, mean 1, CV = between_subject_cv[m] (one draw per subject and region,
  constant over sessions); ``sess``: log-normal, CV = within_subject_cv (one per session);
- co-edited MM30 (GABA-equivalent mM) = fraction/(1 - fraction) * GABA, so GABA+ = GABA / 0.55
  and any GABA+ shift is a GABA shift;
- pain coupling: each group's score is built after the concentrations as
  ``mean + sd * (sum_k r_k * zhat_k + sqrt(1 - sum_k r_k^2) * e)``, where ``zhat_k`` is the
  within-group standardised log baseline tissue concentration of the coupled metabolite and
  ``e`` is made orthogonal to them in the sample (:func:`.scores._coupled_scores`, which also handles
  two couplings of one score), so the within-group Pearson r between log tissue concentration
  and score is r_k in the simulated sample itself, not only in expectation (up to clipping of
  scores to the instrument range and rounding). The acupuncture coupling does the same with
  the post/baseline change within each arm.

Every subject draws from its own RNG stream (seed, subject id), so a subject's values do not
depend on which other subjects or scans are simulated.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .design import (
    ACQS,
    SCORES,
    STUDY_KINDS,
    Design,
    between_subject_cv,
    components,
    gm_wm_ratio,
    stream,
)
from .participants import Scan, Session, Subject
from .scores import draw_scores, draw_session_scores, score_limits

__all__ = ["Plan", "Scan", "Session", "Subject", "build_plan", "metabolites"]  # records re-exported

TISSUES = ("GM", "WM", "CSF")


def metabolites(design: Design) -> list[str]:
    return list(design["baseline_GM_mM"])


def _expand(shifts: dict | None) -> dict[str, float]:
    """{name: pct} with combinations spread onto components; a component's own entry wins."""
    out: dict[str, float] = {}
    shifts = shifts or {}
    for name, pct in shifts.items():
        if len(components(name)) > 1:
            for c in components(name):
                out[c] = float(pct)
    for name, pct in shifts.items():
        if len(components(name)) == 1:
            out[name] = float(pct)
    out.pop("MM30", None)  # MM30 follows GABA
    return out


def _lognormal(rng, cv: float, size=None):
    sigma = np.sqrt(np.log1p(cv**2))
    return np.exp(sigma * rng.standard_normal(size) - sigma**2 / 2)


def _draw_fractions(rng, target, sd):
    f = np.array(target, float) + rng.normal(0, sd, 3)
    f = np.clip(f, 0.02, None)
    return f / f.sum()


def _age_factors(design: Design, metabs: list[str], age: float) -> np.ndarray:
    table = _expand(design["covariate_effects"]["age_per_decade_pct"])
    pct = np.array([table.get(m, 0.0) for m in metabs])
    ref = float(design.get("reference_age", 45))
    return np.maximum(0.2, 1 + pct / 100 * (age - ref) / 10)


@dataclasses.dataclass
class Plan:
    design: Design
    seed: int
    subjects: list[Subject]
    scans: list[Scan]
    score_columns: list[str]


def build_plan(design: Design, seed: int | None = None) -> Plan:
    """Participants, sessions, scores and true concentrations of every scan of the design's
    size; every random draw comes from a stream keyed by (seed, what, who), in this order."""
    seed = int(design.get("random_seed", 0) if seed is None else seed)
    limits = score_limits(design)
    subjects = _draw_subjects(design, _subject_entries(design, seed), seed)
    entries_of = _protocol_entries(design, subjects)
    draw_scores(design, subjects, entries_of, seed, limits)
    draw_session_scores(design, subjects, seed, limits)
    scans = _plan_scans(design, subjects, entries_of)
    groups = design["groups"]
    score_columns = [sc for sc in SCORES if any(sc in groups[g] for g in {s.group for s in subjects})]
    return Plan(design, seed, subjects, scans, score_columns)


def _subject_entries(design: Design, seed: int) -> list[tuple[str, str, str, str]]:
    """(group, study, arm, id) of every subject: cross-sectional first, then each study's own."""
    size = design.size
    groups = design["groups"]
    studies_design = design.get("treatment_studies", {})
    entries: list[tuple[str, str, str, str]] = []  # (group, study, arm, id)
    counters = {g: 0 for g in groups}

    def new_id(g):
        counters[g] += 1
        return f"{groups[g].get('label', g)}{counters[g]:03d}"

    for g, n in size.get("groups", {}).items():
        for _ in range(n):
            entries.append((g, "crosssectional", "n/a", new_id(g)))
    for study, spec in (size.get("studies") or {}).items():
        sd = studies_design[study]
        g = sd["group"]
        if STUDY_KINDS[study] == "parallel":
            arms = list(sd["design"]["arms"])
            n = int(spec["n_per_arm"])
            alloc = np.repeat(arms, n)
            alloc = stream(seed, "allocation", study).permutation(alloc)
        else:
            seqs = list(sd["design"]["sequences"])
            n = int(spec["n"])
            alloc = np.resize(seqs, n)
            alloc = stream(seed, "allocation", study).permutation(alloc)
        for arm in alloc:
            entries.append((g, study, str(arm), new_id(g)))
    return entries


def _draw_subjects(design: Design, entries, seed: int) -> list[Subject]:
    """Age, sex, tissue fractions and true GM concentrations per subject, and their sessions."""
    regions = list(design["regions"])
    metabs = metabolites(design)
    groups = design["groups"]
    control = design.get("control_group", "HC")
    age_lo, age_hi = design.get("age_limits", [18, 85])
    group_eff = design["group_effects_pct_vs_HC"]
    tissue_sd = float(design.get("tissue_jitter_sd", 0.04))
    base = np.array([float(design["baseline_GM_mM"][m]) for m in metabs])
    sigma = np.sqrt(np.log1p(np.array([between_subject_cv(design, m) for m in metabs]) ** 2))
    group_factor = {}
    for g in groups:
        shifts = [(_expand(group_eff.get(g, {}).get(r)) if g != control else {}) for r in regions]
        group_factor[g] = np.array([[1 + sh.get(m, 0.0) / 100 for m in metabs] for sh in shifts])
    subjects: list[Subject] = []
    for g, study, arm, pid in entries:
        gs = groups[g]
        rng = stream(seed, "subject", pid)
        age = float(np.clip(round(rng.normal(gs["age"]["mean"], gs["age"]["sd"])), age_lo, age_hi))
        sex = "F" if rng.uniform() < float(gs["female_frac"]) else "M"
        fr_subj = {
            r: _draw_fractions(rng, [design["regions"][r][k] for k in ("fGM", "fWM", "fCSF")], tissue_sd)
            for r in regions
        }
        z = rng.standard_normal((len(regions), len(metabs)))
        subj = np.exp(sigma[None, :] * z - sigma[None, :] ** 2 / 2)  # log-normal, mean 1, CV per metabolite
        conc = base[None, :] * _age_factors(design, metabs, age)[None, :] * group_factor[g] * subj
        subj_factor = {r: dict(zip(metabs, conc[ri].tolist())) for ri, r in enumerate(regions)}
        sessions = _draw_sessions(design, study, arm, pid, fr_subj, seed)
        subjects.append(Subject(pid, g, age, sex, study, arm, {}, subj_factor, sessions, rng))
    return subjects


def _draw_sessions(design: Design, study: str, arm: str, pid: str, fr_subj: dict, seed: int) -> list[Session]:
    """A subject's sessions: tissue fractions and within-subject concentration factors (with the
    planted treatment change of the session's arm)."""
    regions = list(design["regions"])
    metabs = metabolites(design)
    sess_tissue_sd = float(design.get("session_tissue_jitter_sd", 0.01))
    wcv = float(design.get("within_subject_cv", 0.03))
    studies_design = design.get("treatment_studies", {})
    if study == "crosssectional":
        sess_specs = [("baseline", "baseline", "n/a", "n/a", None)]
    elif STUDY_KINDS[study] == "parallel":
        sess_specs = [("baseline", "baseline", arm, "n/a", None), ("post", "post", arm, "n/a", arm)]
    else:
        first, second = arm.split("_then_")
        sess_specs = [("period1", "post", first, "1", first), ("period2", "post", second, "2", second)]
    sessions = []
    for label, time, sess_arm, period, treat in sess_specs:
        srng = stream(seed, "session", pid, label)
        fr = {r: _draw_fractions(srng, fr_subj[r], sess_tissue_sd) for r in regions}
        noise = _lognormal(srng, wcv, (len(regions), len(metabs)))
        change = {}
        if treat is not None:
            change = studies_design[study]["mrs_change_pct"].get(treat, {})
        factors = {}
        for ri, r in enumerate(regions):
            tshift = _expand(change.get(r)) if change else {}
            row = noise[ri] * np.array([1 + tshift.get(m, 0.0) / 100 for m in metabs]) if tshift else noise[ri]
            factors[r] = dict(zip(metabs, row.tolist()))
        sessions.append(Session(label, time, sess_arm, period, {}, fr, factors))
    return sessions


def _protocol_entries(design: Design, subjects: list[Subject]) -> dict[str, list]:
    """Which acquisitions and regions each subject gets (protocol, max_subjects)."""
    size = design.size
    entries_of: dict[str, list] = {}
    rank: dict[str, int] = {}  # cross-sectional subjects of each group so far (protocol max_subjects)
    for s in subjects:
        if s.study == "crosssectional":
            rank[s.group] = k = rank.get(s.group, 0) + 1
            entries_of[s.participant_id] = [
                e for e in size.get("protocol", [])
                if (not e.get("groups") or s.group in e["groups"]) and k <= (e.get("max_subjects") or {}).get(s.group, k)
            ]
        else:
            entries_of[s.participant_id] = size["studies"][s.study].get("scans", [])
    return entries_of


def _plan_scans(design: Design, subjects: list[Subject], entries_of: dict[str, list]) -> list[Scan]:
    """One Scan (true GM/WM concentrations, fractions) per subject, session, acquisition, region."""
    metabs = metabolites(design)
    mm_frac = float(design["macromolecules"]["edited_3ppm"]["fraction_of_GABAplus"])
    scans: list[Scan] = []
    seen: set[str] = set()
    for s in subjects:
        plan_entries = entries_of[s.participant_id]
        for sess in s.sessions:
            for acq in ACQS:
                for e in plan_entries:
                    if e["acq"] != acq:
                        continue
                    for r in e["regions"]:
                        stem = f"sub-{s.participant_id}_ses-{sess.label}_acq-{acq}_voi-{r}"
                        if stem in seen:
                            continue
                        seen.add(stem)
                        gm = {m: s.subj_factor[r][m] * sess.factors[r][m] for m in metabs}
                        wm = {m: gm[m] / gm_wm_ratio(design, m) for m in metabs}
                        if acq == "megapress":
                            gm["MM30"] = mm_frac / (1 - mm_frac) * gm["GABA"]
                            wm["MM30"] = mm_frac / (1 - mm_frac) * wm["GABA"]
                        f = sess.fractions[r]
                        scans.append(
                            Scan(
                                s.participant_id,
                                sess.label,
                                r,
                                acq,
                                stem,
                                s.group,
                                float(f[0]),
                                float(f[1]),
                                float(f[2]),
                                gm,
                                wm,
                            )
                        )
    return scans


