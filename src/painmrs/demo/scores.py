"""Clinical scores of the simulated participants: baseline scores coupled to the true tissue
concentrations with exactly the planted within-group r (:func:`_coupled_scores`), and the
session scores of the treatment studies (see :mod:`painmrs.demo.plan`)."""

from __future__ import annotations

import numpy as np

from .design import SCORES, STUDY_KINDS, Design, components, gm_wm_ratio, stream
from .participants import Session, Subject


def _score(rng, spec, limits, z=0.0):
    v = float(spec["mean"]) + float(spec["sd"]) * z
    lo, hi = limits
    return round(float(np.clip(v, lo, hi)), 1)


def score_limits(design: Design) -> dict[str, tuple]:
    limits = {k: tuple(v) for k, v in design.get("score_limits", {}).items()}
    for s in SCORES:
        limits.setdefault(s, (-np.inf, np.inf))
    return limits


def _scanned(entries_of: dict[str, list], subj: Subject, region: str, metab: str) -> bool:
    acq = "megapress" if metab in ("GABA+", "MM30") else "press"
    return any(e["acq"] == acq and region in e["regions"] for e in entries_of[subj.participant_id])


def _tissue_conc(design: Design, subj: Subject, sess: Session, region: str, metab: str) -> float:
    m = "GABA" if metab in ("GABA+", "MM30") else metab
    parts = components(m)
    f = sess.fractions[region]
    tot = 0.0
    for p in parts:
        gm = subj.subj_factor[region][p] * sess.factors[region][p]
        tot += f[0] * gm + f[1] * gm / gm_wm_ratio(design, p)
    return tot / (1 - f[2])


def draw_scores(design: Design, subjects: list[Subject], entries_of: dict[str, list], seed: int, limits) -> None:
    """Subject scores (after concentrations, for the pain couplings), in place."""
    groups = design["groups"]

    def tissue_conc(subj, sess, region, metab):
        return _tissue_conc(design, subj, sess, region, metab)

    def scanned(subj, region, metab):
        return _scanned(entries_of, subj, region, metab)

    for g in groups:
        members = [s for s in subjects if s.group == g]
        if not members:
            continue
        gs = groups[g]
        couplings = [c for c in design["pain_coupling"] if c["group"] == g]
        for score in SCORES:
            if score not in gs:
                continue
            mine = [c for c in couplings if c["score"] == score]
            r_target = np.array([float(c["r"]) for c in mine])
            values = np.zeros(len(members))
            # The couplings hold exactly among the subjects in whom they can be observed (scanned
            # in every coupled region); the others get them independently.
            seen_in = np.array([all(scanned(s, c["region"], c["metab"]) for c in mine) for s in members], bool)
            for part in (np.flatnonzero(seen_in), np.flatnonzero(~seen_in)):
                sub = [members[i] for i in part]
                z = np.column_stack(
                    [_standardised(np.log([tissue_conc(s, s.sessions[0], c["region"], c["metab"]) for s in sub]))
                     for c in mine]
                ) if mine else np.zeros((len(sub), 0))
                e = np.array([stream(seed, "score", s.participant_id, score).standard_normal() for s in sub])
                values[part] = _coupled_scores(z, r_target, e)
            for k, s in enumerate(members):
                value = values[k]
                if score == "attacks_per_month":
                    s.scores[score] = float(np.clip(round(gs[score]["mean"] + gs[score]["sd"] * value), *limits[score]))
                else:
                    s.scores[score] = _score(None, gs[score], limits[score], value)


def draw_session_scores(design: Design, subjects: list[Subject], seed: int, limits) -> None:
    """Session scores (treatment changes), in place; cross-sectional sessions get the subject's."""
    size = design.size
    groups = design["groups"]
    studies_design = design.get("treatment_studies", {})
    for study, spec in (size.get("studies") or {}).items():
        sd = studies_design[study]
        members = [s for s in subjects if s.study == study]
        if STUDY_KINDS[study] == "parallel":
            _parallel_change_scores(design, sd, [s for s in members], seed, limits)
        else:
            smd = sd.get("clinical_change_smd", {})
            for s in members:
                for sess in s.sessions:
                    scores = dict(s.scores)
                    for score, eff in smd.items():
                        if score not in scores:
                            continue
                        gsd = float(groups[s.group][score]["sd"])
                        e = stream(seed, "period", s.participant_id, sess.label, score).standard_normal()
                        shift = float(eff) * gsd if sess.arm == "OT" else 0.0
                        scores[score] = round(float(np.clip(scores[score] + shift + 0.5 * gsd * e, *limits[score])), 1)
                    sess.scores = scores
    for s in subjects:
        if s.study == "crosssectional":
            s.sessions[0].scores = dict(s.scores)


def _parallel_change_scores(design: Design, sd: dict, members: list[Subject], seed: int, limits) -> None:
    """Baseline and post scores of a parallel-arm study; the coupled score changes with the
    coupled metabolite with exactly the planted r in each arm."""

    def tissue_conc(subj, sess, region, metab):
        return _tissue_conc(design, subj, sess, region, metab)

    coupling = sd.get("coupling")
    for arm in sd["design"]["arms"]:
        in_arm = [s for s in members if s.arm == arm]
        zhat = np.zeros(len(in_arm))
        r = 0.0
        if coupling and in_arm:
            x = np.log(
                [
                    tissue_conc(s, s.sessions[1], coupling["region"], coupling["metab"])
                    / tissue_conc(s, s.sessions[0], coupling["region"], coupling["metab"])
                    for s in in_arm
                ]
            )
            zhat = _standardised(x)
            r = float(coupling["r"])
        # Standardised change of every score: the coupled one with exactly r in this arm.
        unit_change = {}
        for score in sd["clinical_change"][arm]:
            e = np.array([stream(seed, "change", s.participant_id, score).standard_normal() for s in in_arm])
            coupled = bool(coupling) and score == coupling["score"] and np.any(zhat)
            unit_change[score] = _coupled_scores(zhat[:, None], np.array([r]), e) if coupled else e
        for k, s in enumerate(in_arm):
            s.sessions[0].scores = dict(s.scores)
            post = dict(s.scores)
            for score, mean in sd["clinical_change"][arm].items():
                if score not in s.scores:
                    continue
                sdv = float(sd.get("clinical_change_sd", {}).get(score, 1.0))
                delta = float(mean) + sdv * unit_change[score][k]
                post[score] = round(float(np.clip(s.scores[score] + delta, *limits[score])), 1)
            s.sessions[1].scores = post


def _standardised(x: np.ndarray) -> np.ndarray:
    """(x - mean) / SD (population SD); zeros when x cannot be standardised."""
    return (x - x.mean()) / x.std() if len(x) >= 3 and x.std() > 0 else np.zeros_like(x)


def _coupled_scores(z: np.ndarray, r: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Unit-variance scores whose in-sample Pearson r with each standardised column of ``z``
    is exactly ``r`` (before the scores are scaled, clipped and rounded).

    score = z w + c e_perp with w = R^-1 r (R: the columns' in-sample correlation matrix) and
    e_perp the noise draws made orthogonal to the intercept and to z: then cov(score, z_k) =
    (R w)_k = r_k and var(score) = r'R^-1 r + c^2 = 1. Without the orthogonalisation the
    realised r scatters around the target by about (1 - r^2)/sqrt(n) (0.06 at n = 200), which
    the recovery table would charge to the pipeline. Falls back to the independent-noise form
    when the sample is too small to orthogonalise.
    """
    n, k = z.shape
    if k == 0 or n == 0:
        return e
    design = np.column_stack([np.ones(n), z])
    if n > k + 2 and np.linalg.matrix_rank(design) == k + 1:
        w = np.linalg.solve(z.T @ z / n, r)
        explained = float(r @ w)
        if explained < 1:
            coef, *_ = np.linalg.lstsq(design, e, rcond=None)
            e_perp = e - design @ coef
            if e_perp.std() > 0:
                return z @ w + np.sqrt(1 - explained) * e_perp / e_perp.std()
    return z @ r + np.sqrt(max(0.0, 1 - float(r @ r))) * e

