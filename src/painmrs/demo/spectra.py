"""Clean (noise-free) metabolite and water signals of one scan from its true concentrations.

Amplitude scale: the basis sets (painmrs.basis) give FID(0) = number of protons for 1 mM, so
a metabolite contributes ``conc_voxel_mM * R_M * basis`` with the relaxation attenuation
``R = (1 - exp(-TR/T1)) * exp(-TE/T2)`` (facts.md §2.1, 90 degree excitation). The water
reference is one line at 4.65 ppm of amplitude ``2 * 55510 mM * sum_t f_t d_t R_W,t``
(water density d_t and relaxation per compartment). Hence the Gasparovic "molar" formula

    [M] = (S_M / S_W) * (2 / n_M) * 55510 * sum_t f_t d_t R_W,t / ((1 - f_CSF) R_M)

recovers ``conc_tissue_mM`` exactly from the noise-free areas.

Macromolecules: the measured 3T MM spectrum (Birch 2017, ``MM_3T`` in painmrs.basis), scaled
so that its 0.90 ppm line carries ``mm_level_mM`` x 3 protons at TE 30 (the spant/LCModel
MM09 level), times (1 - f_CSF); at longer TE it is attenuated with the MM T2. MEGA-PRESS:
the co-edited MM30 is added to the ON spectrum only, so DIFF = ON - OFF holds it; its
amplitude per "GABA-equivalent mM" gives the same DIFF area (2.8-3.2 ppm) as 1 mM GABA and it
is relaxed like GABA, so GABA+ = GABA + MM30 with MM30 = 45 % of GABA+ (facts §6).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from ..basis.basis_set import BasisSet
from ..basis.macromolecules import mm_basis
from ..lineshape import voigt_decay
from .acquisition import GABA_WINDOW_PPM, ppm_axis
from .design import Design, metabolite_key

BASIS_LINEWIDTH_HZ = 1.0  # intrinsic Lorentzian of the simulated basis; scans add the rest
MM_REFERENCE_TE_MS = 30.0
T2_MM_DEFAULT_MS = 25.0


@dataclasses.dataclass(frozen=True)
class ScanBasis:
    """Everything needed to synthesise clean signals for one acquisition type."""

    acq: str
    names: tuple[str, ...]
    fids: Mapping[str, np.ndarray]  # "metab" (PRESS) or "OFF"/"ON" -> (n_points, n_names)
    mm_fid: np.ndarray  # MM baseline per unit mm level (n_points,)
    mm30_fid: np.ndarray | None  # edited MM30 per GABA-equivalent mM (n_points,)
    dwell_s: float
    spectrometer_mhz: float
    basis_linewidth_hz: float


def default_basis_provider(
    acq: str, design: Design, *, dwell_s: float, n_points: int, spectrometer_mhz: float, metabolites: list[str]
) -> dict[str, BasisSet]:
    """Density-matrix basis from painmrs.basis.simulate (cached there)."""
    from ..basis import simulate as basis_sim  # written in parallel; imported lazily

    a = design["acquisition"][acq]
    common = dict(
        spectrometer_mhz=spectrometer_mhz,
        dwell_s=dwell_s,
        n_points=n_points,
        linewidth_hz=BASIS_LINEWIDTH_HZ,
        include_mm=False,
    )
    if acq == "press":
        return {
            "metab": basis_sim.simulate_basis(metabolites, sequence="PRESS", echo_time_ms=float(a["TE_ms"]), **common)
        }
    sets = basis_sim.simulate_mega_press_basis(metabolites, echo_time_ms=float(a["TE_ms"]), **common)
    return {"OFF": sets["OFF"], "ON": sets["ON"]}


BasisProvider = Callable[..., dict]


_CACHE: dict[tuple, ScanBasis] = {}


def build_scan_basis(acq: str, design: Design, *, provider: BasisProvider | None = None) -> ScanBasis:
    """Basis for one acquisition type (cached in-process per grid, sequence and provider)."""
    a = design["acquisition"][acq]
    dwell = 1.0 / float(a["sw_Hz"])
    n = int(a["npoints"])
    mhz = float(design.get("spectrometer_mhz", 123.2))
    metabs = list(design["baseline_GM_mM"])
    key = (acq, dwell, n, mhz, float(a["TE_ms"]), tuple(metabs), provider)
    if key not in _CACHE:
        _CACHE[key] = _build_scan_basis(acq, design, provider, dwell, n, mhz, metabs)
    return _CACHE[key]


def _build_scan_basis(acq, design, provider, dwell, n, mhz, metabs) -> ScanBasis:
    sets = (provider or default_basis_provider)(
        acq, design, dwell_s=dwell, n_points=n, spectrometer_mhz=mhz, metabolites=metabs
    )
    first = next(iter(sets.values()))
    names = tuple(m for m in metabs if m in first.names)
    fids = {k: np.stack([b.fid(m) for m in names], axis=1) for k, b in sets.items()}
    lw = float(first.meta.get("linewidth_hz", BASIS_LINEWIDTH_HZ)) if hasattr(first, "meta") else BASIS_LINEWIDTH_HZ
    mm = mm_basis(("MM_3T",), spectrometer_mhz=mhz, dwell_s=dwell, n_points=n).fids[:, 0]
    mm = mm * (3.0 / 0.72)  # 0.90 ppm Birch line (relative 0.72) -> 3 protons per unit level
    mm30 = None
    if acq == "megapress":
        mm30_raw = mm_basis(("MM30",), spectrometer_mhz=mhz, dwell_s=dwell, n_points=n).fids[:, 0]
        gi = names.index("GABA")
        diff_gaba = fids["ON"][:, gi] - fids["OFF"][:, gi]
        area_gaba = _window_area(diff_gaba, dwell, mhz, GABA_WINDOW_PPM)
        area_mm = _window_area(mm30_raw, dwell, mhz, GABA_WINDOW_PPM)
        mm30 = mm30_raw * (area_gaba / area_mm)
    return ScanBasis(acq, names, fids, mm, mm30, dwell, mhz, lw)


def _window_area(fid, dwell, mhz, window):
    spec = np.fft.fftshift(np.fft.fft(fid))
    ppm = ppm_axis(len(fid), dwell, mhz)
    sel = (ppm >= window[0]) & (ppm <= window[1])
    return float(spec.real[sel].sum())


def relaxation(design: Design, metab: str, te_ms: float, tr_ms: float) -> float:
    rel = design["relaxation_3T"]
    t2 = float(rel["T2"][metabolite_key(design, "T2", metab)])
    t1 = float(rel["T1_s"][metabolite_key(design, "T1_s", metab)]) * 1000
    return (1 - np.exp(-tr_ms / t1)) * np.exp(-te_ms / t2)


def water_relaxation(design: Design, tissue: str, te_ms: float, tr_ms: float) -> float:
    rel = design["relaxation_3T"]
    t2 = float(rel["T2"][f"water_{tissue}"])
    t1 = float(rel["T1_s"][f"water_{tissue}"]) * 1000
    return (1 - np.exp(-tr_ms / t1)) * np.exp(-te_ms / t2)


def water_amplitude(design: Design, fractions, te_ms: float, tr_ms: float) -> tuple[float, dict]:
    """FID(0) of the water reference and the per-compartment factors (truth)."""
    tw = design["tissue_water"]
    h2o = float(tw.get("H2O_molal_mM", 55510))
    parts = {}
    total = 0.0
    for f, tissue in zip(fractions, ("GM", "WM", "CSF")):
        d = float(tw[f"d_{tissue}"])
        r = water_relaxation(design, tissue, te_ms, tr_ms)
        parts[f"water_R_{tissue}"] = r
        total += f * d * r
    return 2 * h2o * total, parts


def clean_signals(
    basis: ScanBasis,
    design: Design,
    conc_voxel: Mapping[str, float],
    *,
    f_csf: float,
    lorentz_hz: float,
    gauss_hz: float,
    mm_scale: float,
) -> dict[str, np.ndarray]:
    """Clean FIDs: {"metab": (n,)} for PRESS or {"OFF", "ON"} for MEGA-PRESS."""
    a = design["acquisition"][basis.acq]
    te, tr = float(a["TE_ms"]), float(a["TR_ms"])
    amps = np.array([conc_voxel[m] * relaxation(design, m, te, tr) for m in basis.names])
    t = np.arange(basis.mm_fid.shape[0]) * basis.dwell_s
    env = voigt_decay(t, max(lorentz_hz - basis.basis_linewidth_hz, 0.0), gauss_hz)
    t2_mm = float(design["relaxation_3T"]["T2"].get("MM", T2_MM_DEFAULT_MS))
    mm_level = float(design["macromolecules"].get("mm_level_mM", 4.0))
    mm = basis.mm_fid * mm_level * (1 - f_csf) * mm_scale * np.exp(-(te - MM_REFERENCE_TE_MS) / t2_mm)
    out = {}
    for key, fids in basis.fids.items():
        sig = fids @ amps + mm
        if key == "ON" and basis.mm30_fid is not None:
            sig = sig + basis.mm30_fid * conc_voxel["MM30"] * relaxation(design, "GABA", te, tr)
        out[key] = sig * env
    return out
