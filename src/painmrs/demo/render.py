"""Per-session rendering of the simulated study (split out of ``painmrs.demo.study``): anatomy,
voxel fractions, clean spectra, raw data and the NIfTI-MRS files of one (subject, session),
with its truth rows. Worker state ``_STATE`` is set by ``simulate_study`` before forking.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..mrs import MRSData
from . import acquisition as acqmod
from .anatomy import make_anatomy, mrs_affine
from .design import Design, components, stream
from .files import NA, _complex_list, write_json, write_mrs, write_nifti
from .plan import Plan, Scan
from .spectra import ScanBasis, clean_signals, relaxation, water_amplitude

_STATE: dict[str, Any] = {}


# ---- per-session rendering ------------------------------------------------------------


def voigt_fwhm(lorentz_hz: float, gauss_hz: float) -> float:
    """FWHM of a Voigt line (Olivero & Longbothum 1977 approximation, ~0.02 % accurate)."""
    return 0.5346 * lorentz_hz + math.sqrt(0.2166 * lorentz_hz**2 + gauss_hz**2)


def _draw(rng, spec, lo=None):
    v = float(rng.normal(spec["mean"], spec["sd"]))
    return v if lo is None else max(lo, v)


def _bids_dirs(bids: Path, subject: str, session: str):
    sub, ses = f"sub-{subject}", f"ses-{session}"
    return (
        bids / sub / ses / "mrs",
        bids / sub / ses / "anat",
        bids / "derivatives" / "segmentation" / sub / ses / "anat",
    )


def _header(design: Design, acq: str, water: bool, n_transients: int) -> dict:
    a = design["acquisition"][acq]
    hdr = {
        "EchoTime": float(a["TE_ms"]) / 1000,
        "RepetitionTime": float(a["TR_ms"]) / 1000,
        "SpectralWidth": float(a["sw_Hz"]),
        "SequenceName": "MEGA-PRESS" if acq == "megapress" and not water else "PRESS",
        "ProtocolName": f"{acq}{'_waterref' if water else ''}",
        "WaterSuppressed": not water,
        "Manufacturer": "painmrs simulation",
        "ConversionMethod": f"painmrs {__version__} simulate",
        "ExcitationFlipAngle": 90.0,
    }
    if acq == "megapress" and not water:
        dur = float(a.get("edit_pulse_ms", 15)) / 1000
        hdr["EditPulse"] = {
            "ON": {"PulseOffset": float(a["edit_on_ppm"]), "PulseDuration": dur},
            "OFF": {"PulseOffset": float(a["edit_off_ppm"]), "PulseDuration": dur},
        }
    return hdr


def _sidecar(design: Design, acq: str, water: bool, n_transients: int, n_coils: int) -> dict:
    a = design["acquisition"][acq]
    side = {
        "EchoTime": float(a["TE_ms"]) / 1000,
        "RepetitionTime": float(a["TR_ms"]) / 1000,
        "MagneticFieldStrength": float(design.get("field_T", 3.0)),
        "ResonantNucleus": "1H",
        "SpectrometerFrequency": float(design.get("spectrometer_mhz", 123.2)),
        "SpectralWidth": float(a["sw_Hz"]),
        "NumberOfSpectralPoints": int(a["npoints"]),
        "NumberOfTransients": int(n_transients * (2 if acq == "megapress" and not water else 1)),
        "PulseSequenceType": "MEGA-PRESS" if acq == "megapress" and not water else "PRESS",
        "WaterSuppression": "none" if water else "simulated (residual water included)",
        "Manufacturer": "painmrs simulation",
        "ReceiveCoilActiveElements": f"{n_coils} channels",
        "AcquisitionVoxelSize": [float(x) for x in a["voxel_mm"]],
    }
    if acq == "megapress" and not water:
        side["EditPulse"] = {"ON": float(a["edit_on_ppm"]), "OFF": float(a["edit_off_ppm"])}
    return side


def render_session(key: tuple[str, str]) -> dict:
    """Anatomy, spectra and files for one (subject, session); returns truth rows."""
    design: Design = _STATE["design"]
    plan: Plan = _STATE["plan"]
    bases: dict[str, ScanBasis] = _STATE["bases"]
    bids, truth = Path(_STATE["bids"]), Path(_STATE["truth"])
    subject, session = key
    scans = [s for s in plan.scans if s.subject == subject and s.session == session]
    mrs_dir, anat_dir, seg_dir = _bids_dirs(bids, subject, session)
    anat = _write_anatomy(design, plan.seed, subject, session, scans, anat_dir, seg_dir)
    scan_rows, conc_rows, transient_rows = [], [], []
    for s in scans:
        scan_row, conc, transients = _render_scan(design, plan.seed, s, anat, bases[s.acq], mrs_dir, truth)
        scan_rows.append(scan_row)
        conc_rows += conc
        transient_rows += transients
    return {"scans": scan_rows, "conc": conc_rows, "transients": transient_rows}


def _write_anatomy(design: Design, seed, subject: str, session: str, scans: list[Scan], anat_dir: Path,
                   seg_dir: Path) -> dict:
    """T1w image and GM/WM/CSF probability maps of one session: one box per region, with the
    voxel sizes scanned there. Returns the anatomy (incl. the exact voxel fractions)."""
    boxes: dict[str, dict] = {}
    for s in scans:
        size = float(design["acquisition"][s.acq]["voxel_mm"][0])
        b = boxes.setdefault(s.region, {"region": s.region, "fractions": (s.f_gm, s.f_wm, s.f_csf), "sizes_mm": []})
        if size not in b["sizes_mm"]:
            b["sizes_mm"].append(size)
    anat = make_anatomy(stream(seed, "anat", subject, session), list(boxes.values()))
    stem0 = f"sub-{subject}_ses-{session}"
    write_nifti(anat_dir / f"{stem0}_T1w.nii.gz", anat["T1w"], anat["affine"])
    write_json(
        anat_dir / f"{stem0}_T1w.json",
        {
            "MagneticFieldStrength": float(design.get("field_T", 3.0)),
            "Manufacturer": "painmrs simulation",
            "SeriesDescription": "synthetic T1-like image",
        },
    )
    for t in ("GM", "WM", "CSF"):
        # Probabilities are multiples of 1/256: stored exactly as uint16 * 2^-8 (small files).
        write_nifti(
            seg_dir / f"{stem0}_label-{t}_probseg.nii.gz",
            np.round(anat[t] * 256).astype(np.uint16),
            anat["affine"],
            slope=1.0 / 256,
        )
    return anat


@dataclasses.dataclass(frozen=True)
class _ScanDraws:
    """The random acquisition parameters of one scan (drawn in this order from its stream)."""

    lorentz: float
    gauss: float
    snr: float
    mm_scale: float
    rw_times: float  # residual water amplitude / NAA amplitude
    ecc: acqmod.EddyCurrent
    d0: float  # frequency drift at the start, Hz
    dtot: float  # total drift over the scan, Hz
    phase0: float
    phase0_ref: float


def _draw_scan(rng, design: Design, acq: str) -> _ScanDraws:
    nz = design["acquisition"]["nuisance"]
    ls = design["lineshape"]
    lo = float(ls.get("min_Hz", 1.0))
    lorentz = _draw(rng, ls["lorentz_Hz"], lo)
    gauss = _draw(rng, ls["gauss_Hz"], lo)
    snr_spec = design["snr_target"]["press_NAA" if acq == "press" else "mega_GABA+"]
    snr = _draw(rng, snr_spec, float(design["snr_target"].get("min", 8)))
    mm_scale = float(np.exp(0.1 * rng.standard_normal() - 0.005))
    rw = nz["residual_water"]
    rw_times = float(rng.uniform(rw["times_naa"]["min"], rw["times_naa"]["max"]))
    ecc = acqmod.EddyCurrent(
        amplitude_hz=max(0.0, _draw(rng, nz["eddy_current"]["amplitude_hz"])),
        tau_s=max(0.01, _draw(rng, nz["eddy_current"]["tau_s"])),
    )
    d0 = float(rng.normal(0, nz["drift_hz_start"]["sd"]))
    dtot = float(rng.normal(0, nz["drift_hz_total"]["sd"]))
    phase0 = float(rng.normal(0, nz["phase0_deg"]["sd"]))
    phase0_ref = float(rng.normal(0, nz["phase0_deg"]["sd"]))
    return _ScanDraws(lorentz, gauss, snr, mm_scale, rw_times, ecc, d0, dtot, phase0, phase0_ref)


def _render_scan(design: Design, seed, s: Scan, anat: dict, basis: ScanBasis, mrs_dir: Path, truth: Path):
    """Simulate and write one scan (metabolite and water reference); returns its truth rows
    (scan row, concentration rows, transient rows)."""
    nz = design["acquisition"]["nuisance"]
    size_acq = design.size.get("acquisition", {})
    a = design["acquisition"][s.acq]
    vox = float(a["voxel_mm"][0])
    f = anat["fractions"][(s.region, vox)]
    s.f_gm, s.f_wm, s.f_csf = f  # exact fractions of the stored maps
    conc = s.concentrations()
    rng = stream(seed, "scan", s.stem)
    p = _draw_scan(rng, design, s.acq)
    rw = nz["residual_water"]
    ov = size_acq.get(s.acq, {})
    n_tr = int(ov.get("n_transients", a["averages"] // (2 if s.acq == "megapress" else 1)))
    n_coils = int(ov.get("n_coils", a.get("n_coils", 8)))
    n_ref = int(size_acq.get("water_ref", {}).get("n_transients", design["acquisition"]["water_ref"]["averages"]))
    voxel_conc = {m: v["conc_voxel_mM"] for m, v in conc.items()}
    clean = clean_signals(
        basis, design, voxel_conc, f_csf=s.f_csf, lorentz_hz=p.lorentz, gauss_hz=p.gauss, mm_scale=p.mm_scale
    )
    te, tr = float(a["TE_ms"]), float(a["TR_ms"])
    naa_amp = 3 * voxel_conc["NAA"] * relaxation(design, "NAA", te, tr)
    water_comps = acqmod.random_residual_water(rng, p.rw_times * naa_amp, n_components=int(rw.get("n_components", 3)))
    sens = acqmod.random_coil_sensitivities(rng, n_coils)
    cov = acqmod.random_noise_covariance(rng, n_coils, float(nz.get("coil_noise_coupling", 0.35)))
    common = dict(
        dwell_s=basis.dwell_s,
        spectrometer_mhz=basis.spectrometer_mhz,
        n_coils=n_coils,
        drift_walk_hz=float(nz["drift_walk_hz"]),
        max_drift_hz=float(nz["max_drift_hz"]),
        phase_jitter_deg=float(nz["phase_jitter_deg"]),
        eddy_current=p.ecc,
        coil_sensitivities=sens,
        noise_covariance=cov,
        affine=mrs_affine(s.region, vox),
    )
    press = s.acq == "press"
    svs, tr_svs = acqmod.simulate_raw_scan(
        clean["metab"] if press else None,  # MEGA-PRESS: the OFF and ON signals instead
        edit_fids=None if press else (clean["OFF"], clean["ON"]),
        n_transients=n_tr,
        noise_sd=None,
        snr_target=p.snr,
        rng=rng,
        drift_hz=(p.d0, p.d0 + p.dtot),
        phase0_deg=p.phase0,
        n_corrupted=int(nz["corrupted_transients"][s.acq]),
        residual_water=water_comps,
        header=_header(design, s.acq, False, n_tr),
        **common,
    )
    # Water reference: same coils, receiver noise and eddy currents; fewer transients.
    w_amp, w_parts = water_amplitude(design, f, te, tr)
    t = np.arange(clean[next(iter(clean))].shape[0]) * basis.dwell_s
    water_clean = w_amp * acqmod.voigt_decay(
        t, p.lorentz + float(design["lineshape"].get("water_extra_lorentz_Hz", 1.0)), p.gauss
    )
    wrng = stream(seed, "scan", s.stem, "mrsref")
    scale = float(nz.get("water_ref_drift_scale", 0.3))
    ref, tr_ref = acqmod.simulate_raw_scan(
        water_clean,
        n_transients=n_ref,
        noise_sd=tr_svs["noise_sd"],
        rng=wrng,
        drift_hz=(p.d0 * scale, (p.d0 + p.dtot) * scale),
        phase0_deg=p.phase0_ref,
        n_corrupted=int(nz["corrupted_transients"].get("water_ref", 0)),
        header=_header(design, s.acq, True, n_ref),
        **common,
    )
    write_mrs(svs, mrs_dir / f"{s.stem}_svs.nii.gz")
    write_mrs(ref, mrs_dir / f"{s.stem}_mrsref.nii.gz")
    write_json(mrs_dir / f"{s.stem}_svs.json", _sidecar(design, s.acq, False, n_tr, n_coils))
    write_json(mrs_dir / f"{s.stem}_mrsref.json", _sidecar(design, s.acq, True, n_ref, n_coils))
    _write_truth_scan(truth, s, svs, tr_svs, water_clean, tr_ref, basis)
    counts = {"n_coils": n_coils, "n_transients": n_tr, "n_transients_ref": n_ref}
    scan_row = _scan_row(s, p, tr_svs, counts, w_amp, w_parts, te, tr, vox)
    return scan_row, _conc_rows(design, s, conc, te, tr), _transient_rows(s, tr_svs, tr_ref)


def _scan_row(s: Scan, p: _ScanDraws, tr_svs: dict, counts: dict, w_amp: float, w_parts: dict, te, tr, vox) -> dict:
    """The scan's row of truth/scans.tsv."""
    return {
        "subject": s.subject,
        "session": s.session,
        "region": s.region,
        "acq": s.acq,
        "stem": s.stem,
        "group": s.group,
        "f_gm": s.f_gm,
        "f_wm": s.f_wm,
        "f_csf": s.f_csf,
        "lorentz_hz": p.lorentz,
        "gauss_hz": p.gauss,
        "fwhm_hz": voigt_fwhm(p.lorentz, p.gauss),
        "snr_target": p.snr,
        "snr_expected": tr_svs["snr_expected"],
        "snr_definition": "NAA" if s.acq == "press" else "GABA+ in DIFF",
        "noise_sd": tr_svs["noise_sd"],
        "n_coils": counts["n_coils"],
        "n_transients": counts["n_transients"],
        "n_transients_ref": counts["n_transients_ref"],
        "drift_hz_start": p.d0,
        "drift_hz_total": p.dtot,
        "drift_hz_range": float(np.ptp(tr_svs["freq_hz"])),
        "phase0_deg": p.phase0,
        "phase0_ref_deg": p.phase0_ref,
        "corrupted_transients": ",".join(str(i) for i in tr_svs["corrupted"]),
        "ecc_amplitude_hz": p.ecc.amplitude_hz,
        "ecc_tau_s": p.ecc.tau_s,
        "residual_water_times_naa": p.rw_times,
        "mm_scale": p.mm_scale,
        "water_amplitude": w_amp,
        **w_parts,
        "te_ms": te,
        "tr_ms": tr,
        "voxel_mm": vox,
    }


def _conc_rows(design: Design, s: Scan, conc: dict, te: float, tr: float) -> list[dict]:
    """The scan's rows of truth/concentrations.tsv."""
    return [
        {
            "subject": s.subject,
            "session": s.session,
            "region": s.region,
            "acq": s.acq,
            "stem": s.stem,
            "metabolite": m,
            **v,
            "relaxation_R": (
                relaxation(design, "GABA" if m in ("MM30", "GABA+") else m, te, tr)
                if len(components(m)) == 1 or m == "GABA+"
                else None
            ),
        }
        for m, v in conc.items()
    ]


def _transient_rows(s: Scan, tr_svs: dict, tr_ref: dict) -> list[dict]:
    """Per-transient truth (frequency, phase, amplitude, corrupted) of the scan and its water reference."""
    rows = []
    for kind, tr_ in (("svs", tr_svs), ("mrsref", tr_ref)):
        freq, phase, amp = (np.atleast_1d(tr_[k]) for k in ("freq_hz", "phase_deg", "amplitude"))
        bad = set(tr_["corrupted"])
        for d in range(freq.shape[0]):
            for e in range(freq.shape[1] if freq.ndim == 2 else 1):
                idx = (d, e) if freq.ndim == 2 else (d,)
                rows.append(
                    {
                        "stem": s.stem,
                        "file": kind,
                        "dyn": d,
                        "edit": ("OFF", "ON")[e] if freq.ndim == 2 else NA,
                        "freq_hz": freq[idx],
                        "phase_deg": phase[idx],
                        "amplitude": amp[idx],
                        "corrupted": d in bad,
                    }
                )
    return rows


def _write_truth_scan(truth: Path, s: Scan, svs: MRSData, tr_svs: dict, water_clean, tr_ref: dict, basis: ScanBasis):
    """Per-scan acquisition truth (JSON) and the clean signals (NIfTI-MRS) under truth/scans/."""
    folder = truth / "scans"
    info = {
        "stem": s.stem,
        "coil_sensitivities": _complex_list(tr_svs["coil_sensitivities"]),
        "noise_covariance": _complex_list(tr_svs["noise_covariance"]),
        "noise_sd": tr_svs["noise_sd"],
        "eddy_current": tr_svs["eddy_current"],
        "residual_water": tr_svs["residual_water"],
        "corruption": tr_svs["corruption"],
        "snr_target": tr_svs["snr_target"],
        "snr_expected": tr_svs["snr_expected"],
        "snr_window_ppm": tr_svs["snr_window_ppm"],
        "snr_definition": tr_svs["snr_definition"],
        "edit_conditions": tr_svs["edit_conditions"],
        "water_ref": {
            "corrupted": tr_ref["corrupted"],
            "snr_expected_note": "same coils, noise and eddy current as svs",
        },
        "clean_files": [f"{s.stem}_desc-clean_svs.nii.gz", f"{s.stem}_desc-clean_mrsref.nii.gz"],
    }
    write_json(folder / f"{s.stem}_truth.json", info)
    clean = tr_svs["clean_fid"]
    tags = ("DIM_EDIT",) if clean.ndim == 2 else ()
    hdr = dict(svs.header)
    clean_mrs = MRSData(
        fid=clean,
        dwell_s=svs.dwell_s,
        spectrometer_mhz=svs.spectrometer_mhz,
        dim_tags=tags,
        affine=svs.affine,
        header=hdr,
    )
    write_mrs(clean_mrs, folder / f"{s.stem}_desc-clean_svs.nii.gz")
    wh = {k: v for k, v in hdr.items() if k not in ("EditPulse", "painmrs_dim_meta")}
    wh["WaterSuppressed"] = False
    write_mrs(
        MRSData(
            fid=water_clean, dwell_s=svs.dwell_s, spectrometer_mhz=svs.spectrometer_mhz, affine=svs.affine, header=wh
        ),
        folder / f"{s.stem}_desc-clean_mrsref.nii.gz",
    )
