"""The records of a simulated study's plan: participants (:class:`Subject`), their sessions
(:class:`Session`) and the scans with their true concentrations (:class:`Scan`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .design import REPORTED_COMBINATIONS, components


@dataclasses.dataclass
class Session:
    label: str  # BIDS label without "ses-"
    time: str  # baseline | post
    arm: str  # treatment at this session ("n/a" for cross-sectional)
    period: str  # "1", "2" for crossover; "n/a" otherwise
    scores: dict[str, float]
    fractions: dict[str, np.ndarray]  # region -> (fGM, fWM, fCSF)
    factors: dict[str, dict[str, float]]  # region -> metab -> multiplicative factor (sess * treat)


@dataclasses.dataclass
class Subject:
    participant_id: str  # without "sub-"
    group: str
    age: float
    sex: str
    study: str
    arm: str  # parallel arm, crossover sequence, or "n/a"
    scores: dict[str, float]  # baseline scores
    subj_factor: dict[str, dict[str, float]]  # region -> metab -> c_GM before session factors
    sessions: list[Session]
    rng_scores: Any = None


@dataclasses.dataclass
class Scan:
    subject: str
    session: str
    region: str
    acq: str
    stem: str
    group: str
    f_gm: float
    f_wm: float
    f_csf: float
    conc_gm: dict[str, float]
    conc_wm: dict[str, float]

    def concentrations(self) -> dict[str, dict[str, float]]:
        """metabolite -> conc_gm/wm/voxel/tissue (mM) incl. combinations (DEVELOPERS.md truth)."""
        out = {}
        for m in self.conc_gm:
            gm, wm = self.conc_gm[m], self.conc_wm[m]
            vox = self.f_gm * gm + self.f_wm * wm
            out[m] = {
                "conc_gm_mM": gm,
                "conc_wm_mM": wm,
                "conc_voxel_mM": vox,
                "conc_tissue_mM": vox / (1 - self.f_csf),
            }
        for combo in REPORTED_COMBINATIONS:
            parts = components(combo)
            if all(p in out for p in parts):
                out[combo] = {k: sum(out[p][k] for p in parts) for k in out[parts[0]]}
        tcr = out["tCr"]["conc_voxel_mM"]
        tnaa = out["tNAA"]["conc_voxel_mM"]
        for m in out:
            out[m]["ratio_tCr"] = out[m]["conc_voxel_mM"] / tcr
            out[m]["ratio_tNAA"] = out[m]["conc_voxel_mM"] / tnaa
        return out

