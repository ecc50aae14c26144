"""Ratios, water-scaled tissue-corrected concentrations and alpha-corrected GABA+.

Formulas (facts.md section 2): relaxation attenuation R = (1 - exp(-TR/T1)) exp(-TE/T2);
water-scaled concentrations after Gasparovic et al. 2006 with volume fractions f_t and water
densities d_t (GM 0.78, WM 0.65, CSF 0.97) and pure-water concentration 55.51 mol/kg:

    molar (mM, per litre of non-CSF tissue):
        [M] = (S_M/n_M) / (S_W/2) * 55510 * sum_t f_t d_t R_W,t / ((1 - f_CSF) R_M)
    molal (mmol/kg tissue water):
        [M] = (S_M/n_M) / (S_W/2) * 55510 * sum_t f'_t R_W,t / ((1 - f'_CSF) R_M),  f'_t = f_t d_t / sum f d

S_M/n_M is the metabolite's per-proton signal: amplitude x the basis proton unit
(:func:`painmrs.fitting.water.basis_proton_unit`). Harris et al. 2015 for GABA+:
C_TC = molar value without the CSF division, C_alpha = C_TC / (f_GM + alpha f_WM) and the
group-normalised C_TC (mu_GM + alpha mu_WM) / ((f_GM + alpha f_WM)(mu_GM + mu_WM)).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..errors import InputError

H2O_MOLAL_MM = 55510.0

# 3 T defaults (facts.md section 6 "relaxation_3T": Wyss 2018 ACC T2; Gannet/FSL T1).
T2_MS_3T = {
    "NAA": 253.0, "NAAG": 128.0, "tCr": 148.0, "tCr_CH2": 134.0, "tCho": 274.0, "mI": 244.0, "Glu": 135.0,
    "Gln": 122.0, "GABA": 102.0, "GSH": 100.0, "Lac": 110.0, "Asp": 111.0, "Tau": 123.0, "sI": 125.0, "MM": 25.0,
    "other": 160.0, "water_GM": 110.0, "water_WM": 79.2, "water_CSF": 503.0,
}
T1_S_3T = {
    "NAA": 1.41, "tCr": 1.35, "tCho": 1.19, "GABA": 1.31, "Glx": 1.23, "GSH": 0.40, "Lac": 1.50, "other": 1.29,
    "water_GM": 1.331, "water_WM": 0.832, "water_CSF": 3.817,
}
# Which relaxation-table entry a basis or combination name uses.
RELAXATION_KEY = {
    "Cr": "tCr", "PCr": "tCr", "tCr": "tCr", "GPC": "tCho", "PCh": "tCho", "Cho": "tCho", "tCho": "tCho",
    "NAA": "NAA", "tNAA": "NAA", "NAAG": "NAAG", "Glu": "Glu", "Gln": "Gln", "Glx": "Glu", "GABA": "GABA",
    "GABA+": "GABA", "GABA+_gauss": "GABA", "GSH": "GSH", "Lac": "Lac", "mI": "mI", "sI": "sI", "Asp": "Asp",
    "Tau": "Tau",
}
T1_KEY = {"Glu": "Glx", "Gln": "Glx", "Glx": "Glx"}
DENSITY = {"GM": 0.78, "WM": 0.65, "CSF": 0.97}


@dataclasses.dataclass(frozen=True)
class QuantOptions:
    """Options of :func:`quantify` (config section ``quantify``)."""

    te_s: float | None = None  # metabolite scan TE (None: from the data header)
    tr_s: float | None = None
    water_te_s: float | None = None  # water reference TE/TR (None: same as the metabolite scan)
    water_tr_s: float | None = None
    t2_ms: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(T2_MS_3T))
    t1_s: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(T1_S_3T))
    density: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DENSITY))
    h2o_molal_mM: float = H2O_MOLAL_MM
    ratio_references: tuple[str, ...] = ("tCr",)  # add "tNAA" for ratio_tNAA
    alpha: float = 0.5  # Harris 2015: c_WM / c_GM for GABA
    alpha_targets: tuple[str, ...] = ("GABA+", "GABA", "GABA+_gauss")
    # Without a segmentation: the tissue fractions assumed for water scaling (recorded per scan
    # as tissue_source = assumed), or "refuse": no water-scaled values for such a scan (ratios
    # still reported; the fit table's warnings say why).
    assumed_fractions: Mapping[str, float] | str = dataclasses.field(
        default_factory=lambda: {"GM": 0.5, "WM": 0.5, "CSF": 0.0})

    def __post_init__(self):
        af = self.assumed_fractions
        if isinstance(af, str):
            if af != "refuse":
                raise InputError(None, "quantify.assumed_fractions",
                                 f"must be {{GM, WM, CSF}} fractions or 'refuse', got {af!r}")
        else:
            try:
                check_fractions(af)
            except InputError as exc:
                raise InputError(None, "quantify.assumed_fractions", exc.message) from None


def _lookup(table: Mapping[str, float], name: str, keymap: Mapping[str, str]) -> float:
    key = keymap.get(name, RELAXATION_KEY.get(name, name))
    if name.upper().startswith(("MM", "MAC")) and "MM" in table:
        return float(table["MM"])
    return float(table.get(key, table.get(name, table["other"])))


def relaxation(tr_s: float, te_s: float, t1_s: float, t2_ms: float) -> float:
    """(1 - exp(-TR/T1)) exp(-TE/T2), 90 degree excitation."""
    return float((1.0 - np.exp(-tr_s / t1_s)) * np.exp(-te_s * 1000.0 / t2_ms))


def check_fractions(fractions: Mapping[str, float], source=None) -> dict[str, float]:
    try:
        f = {t: float(fractions[t]) for t in ("GM", "WM", "CSF")}
    except (KeyError, TypeError, ValueError):
        raise InputError(source, "tissue fractions", f"need numeric GM, WM and CSF, got {fractions!r}") from None
    if any(not np.isfinite(v) or v < 0 for v in f.values()):
        raise InputError(source, "tissue fractions", f"must be finite and >= 0, got {f}")
    total = sum(f.values())
    if not 0.95 <= total <= 1.05:
        raise InputError(source, "tissue fractions", f"must sum to 1 (got {total:.3f})")
    if f["CSF"] >= 0.99 * total:
        raise InputError(source, "tissue fractions", "voxel is all CSF: no tissue to quantify")
    return {t: v / total for t, v in f.items()}


@dataclasses.dataclass(frozen=True)
class WaterScaling:
    """Per-name factors: concentration = amplitude * factor (see module docstring)."""

    molar: dict[str, float]
    molal: dict[str, float]
    tissue_corrected: dict[str, float]  # Harris C_TC factor (no CSF division)
    fractions: dict[str, float]


def water_scaling(
    names: list[str] | tuple[str, ...],
    proton_unit: float,
    water_area: float,
    fractions: Mapping[str, float] | None,
    options: QuantOptions,
    *,
    te_s: float,
    tr_s: float,
) -> WaterScaling:
    """Amplitude -> concentration factors for every name (basis spectra and combinations)."""
    if not (np.isfinite(water_area) and water_area > 0):
        raise InputError(None, "water reference", f"water area must be > 0, got {water_area!r}")
    o = options
    if fractions is None and o.assumed_fractions == "refuse":
        raise InputError(None, "segmentation", "no tissue fractions and quantify.assumed_fractions is 'refuse'")
    fr = check_fractions(fractions) if fractions is not None else check_fractions(o.assumed_fractions)
    wte = o.water_te_s if o.water_te_s is not None else te_s
    wtr = o.water_tr_s if o.water_tr_s is not None else tr_s
    r_w = {t: relaxation(wtr, wte, o.t1_s[f"water_{t}"], o.t2_ms[f"water_{t}"]) for t in ("GM", "WM", "CSF")}
    fd = {t: fr[t] * o.density[t] for t in r_w}
    sum_fd = sum(fd.values())
    f_mol = {t: fd[t] / sum_fd for t in fd}
    molar_water = o.h2o_molal_mM * sum(fd[t] * r_w[t] for t in r_w)
    molal_water = o.h2o_molal_mM * sum(f_mol[t] * r_w[t] for t in r_w)
    per_proton_water = water_area / 2.0
    molar, molal, tc = {}, {}, {}
    for name in names:
        r_m = relaxation(tr_s, te_s, _lookup(o.t1_s, name, T1_KEY), _lookup(o.t2_ms, name, {}))
        base = proton_unit / per_proton_water / r_m
        molar[name] = base * molar_water / (1.0 - fr["CSF"])
        molal[name] = base * molal_water / (1.0 - f_mol["CSF"])
        tc[name] = base * molar_water
    return WaterScaling(molar=molar, molal=molal, tissue_corrected=tc, fractions=fr)


def alpha_corrected(c_tc: float, f_gm: float, f_wm: float, alpha: float = 0.5) -> float:
    """Harris 2015 eq.: C_TC / (f_GM + alpha f_WM)."""
    return float(c_tc / (f_gm + alpha * f_wm))


def alpha_corrected_group_normalised(
    c_tc: float, f_gm: float, f_wm: float, mean_gm: float, mean_wm: float, alpha: float = 0.5
) -> float:
    """Harris 2015: C_TC (mu_GM + alpha mu_WM) / ((f_GM + alpha f_WM)(mu_GM + mu_WM)).

    ``mean_gm``/``mean_wm`` are the study (or group) mean voxel fractions: call this once the
    whole study's segmentation is known (see :func:`group_normalise`).
    """
    return float(c_tc * (mean_gm + alpha * mean_wm) / ((f_gm + alpha * f_wm) * (mean_gm + mean_wm)))


def group_normalise(alpha_corrected_values, mean_gm: float, mean_wm: float, alpha: float = 0.5):
    """Harris 2015 group normalisation of alpha-corrected values (scalars or arrays):
    C_alpha x (mu_GM + alpha mu_WM) / (mu_GM + mu_WM), the same as
    :func:`alpha_corrected_group_normalised` applied to C_TC. The study-table stage passes the
    mean f_GM / f_WM of the study (or of the group) after all scans are quantified."""
    if not (mean_gm >= 0 and mean_wm >= 0 and mean_gm + mean_wm > 0):
        raise InputError(None, "group mean tissue fractions", f"need GM, WM >= 0 with a positive sum, got {mean_gm}, {mean_wm}")
    return np.asarray(alpha_corrected_values, dtype=float) * (mean_gm + alpha * mean_wm) / (mean_gm + mean_wm)


def ratios(amplitudes: Mapping[str, float], reference: str) -> dict[str, float]:
    ref = amplitudes.get(reference, np.nan)
    if not (np.isfinite(ref) and ref > 0):
        return {n: float("nan") for n in amplitudes}
    return {n: float(a / ref) for n, a in amplitudes.items()}
