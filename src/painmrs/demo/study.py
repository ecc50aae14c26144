"""Simulate the whole demo study: MRS-BIDS dataset + ground truth (DEVELOPERS.md layout).

``simulate_study(design_path, out_bids, out_truth, size="demo", seed=None, jobs=1)``:

1. ``plan.build_plan``: participants, sessions, scores, true concentrations per scan;
2. per session (in parallel with ``jobs`` > 1; every random draw comes from a stream keyed by
   (seed, subject/session/stem), so results do not depend on order or on ``jobs``):
   anatomy (tissue maps, T1w) -> exact voxel fractions -> clean spectra -> raw data via
   ``acquisition.simulate_raw_scan`` -> NIfTI-MRS files (+ truth per scan);
3. tables: participants.tsv/json, sessions.tsv, dataset_description.json, and the truth
   tables scans.tsv, concentrations.tsv, effects.tsv, transients.tsv.

All writes are atomic (painmrs.atomic) and byte-deterministic.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import struct
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from .. import __version__
from ..atomic import write_bytes, write_text
from ..errors import InputError
from ..io import nifti_mrs
from ..mrs import MRSData
from . import acquisition as acqmod
from .anatomy import make_anatomy, mrs_affine
from .design import STUDY_KINDS, Design, components, load_design, stream
from .plan import Plan, Scan, build_plan
from .spectra import ScanBasis, build_scan_basis, clean_signals, relaxation, water_amplitude

BIDS_VERSION = "1.10.0"
NA = "n/a"

# Worker state (set before forking; read-only in workers).
_STATE: dict[str, Any] = {}


# ---- formatting ----------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return NA
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return NA
        return f"{float(value):.6g}"
    return str(value)


def tsv(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(fmt(row.get(c)) for c in columns))
    return "\n".join(lines) + "\n"


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _complex_list(a) -> dict:
    a = np.asarray(a)
    return {"real": np.round(a.real, 10).tolist(), "imag": np.round(a.imag, 10).tolist()}


def _gzip(data: bytes, *, huffman_only: bool = False) -> bytes:
    """Deterministic gzip member (no name, mtime 0, OS 255 -- like atomic.gzip_bytes).

    Level 1 instead of 6, and Huffman-only coding for raw MRS data: multi-coil transients
    are mostly noise, which LZ77 matching cannot shrink (level 6 saves < 1 % more) but which
    costs 3x (level 1) to 10x (level 6) the time of entropy coding alone.
    """
    comp = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY if huffman_only else zlib.Z_DEFAULT_STRATEGY)
    body = comp.compress(data) + comp.flush()
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def write_mrs(mrs: MRSData, path: Path) -> None:
    """NIfTI-MRS via painmrs.io.nifti_mrs.to_image ; the NIfTI bytes are those of
    ``nifti_mrs.write``, only the gzip coding differs (see ``_gzip``)."""
    write_bytes(path, _gzip(nifti_mrs.to_image(mrs).to_bytes(), huffman_only=True))


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, *, slope: float | None = None) -> None:
    """NIfTI-1 image in scanner space (qform/sform code 1); ``slope``: stored ints * slope."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    if slope is not None:
        img.header.set_slope_inter(slope, 0.0)
    write_bytes(path, _gzip(img.to_bytes()))


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
    seed = plan.seed
    subject, session = key
    scans = [s for s in plan.scans if s.subject == subject and s.session == session]
    mrs_dir, anat_dir, seg_dir = _bids_dirs(bids, subject, session)

    # Anatomy: one box per region, with the voxel sizes scanned there.
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

    scan_rows, conc_rows, transient_rows = [], [], []
    nz = design["acquisition"]["nuisance"]
    size_acq = design.size.get("acquisition", {})
    for s in scans:
        a = design["acquisition"][s.acq]
        vox = float(a["voxel_mm"][0])
        f = anat["fractions"][(s.region, vox)]
        s.f_gm, s.f_wm, s.f_csf = f  # exact fractions of the stored maps
        conc = s.concentrations()
        rng = stream(seed, "scan", s.stem)
        ls = design["lineshape"]
        lo = float(ls.get("min_Hz", 1.0))
        lorentz = _draw(rng, ls["lorentz_Hz"], lo)
        gauss = _draw(rng, ls["gauss_Hz"], lo)
        snr_spec = design["snr_target"]["press_NAA" if s.acq == "press" else "mega_GABA+"]
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
        ov = size_acq.get(s.acq, {})
        n_tr = int(ov.get("n_transients", a["averages"] // (2 if s.acq == "megapress" else 1)))
        n_coils = int(ov.get("n_coils", a.get("n_coils", 8)))
        n_ref = int(size_acq.get("water_ref", {}).get("n_transients", design["acquisition"]["water_ref"]["averages"]))
        basis = bases[s.acq]
        voxel_conc = {m: v["conc_voxel_mM"] for m, v in conc.items()}
        clean = clean_signals(
            basis, design, voxel_conc, f_csf=s.f_csf, lorentz_hz=lorentz, gauss_hz=gauss, mm_scale=mm_scale
        )
        te, tr = float(a["TE_ms"]), float(a["TR_ms"])
        naa_amp = 3 * voxel_conc["NAA"] * relaxation(design, "NAA", te, tr)
        water_comps = acqmod.random_residual_water(rng, rw_times * naa_amp, n_components=int(rw.get("n_components", 3)))
        sens = acqmod.random_coil_sensitivities(rng, n_coils)
        cov = acqmod.random_noise_covariance(rng, n_coils, float(nz.get("coil_noise_coupling", 0.35)))
        affine = mrs_affine(s.region, vox)
        n_bad = int(nz["corrupted_transients"][s.acq])
        common = dict(
            dwell_s=basis.dwell_s,
            spectrometer_mhz=basis.spectrometer_mhz,
            n_coils=n_coils,
            drift_walk_hz=float(nz["drift_walk_hz"]),
            max_drift_hz=float(nz["max_drift_hz"]),
            phase_jitter_deg=float(nz["phase_jitter_deg"]),
            eddy_current=ecc,
            coil_sensitivities=sens,
            noise_covariance=cov,
            affine=affine,
        )
        if s.acq == "press":
            svs, tr_svs = acqmod.simulate_raw_scan(
                clean["metab"],
                n_transients=n_tr,
                noise_sd=None,
                snr_target=snr,
                rng=rng,
                drift_hz=(d0, d0 + dtot),
                phase0_deg=phase0,
                n_corrupted=n_bad,
                residual_water=water_comps,
                header=_header(design, s.acq, False, n_tr),
                **common,
            )
        else:
            svs, tr_svs = acqmod.simulate_raw_scan(
                None,
                edit_fids=(clean["OFF"], clean["ON"]),
                n_transients=n_tr,
                noise_sd=None,
                snr_target=snr,
                rng=rng,
                drift_hz=(d0, d0 + dtot),
                phase0_deg=phase0,
                n_corrupted=n_bad,
                residual_water=water_comps,
                header=_header(design, s.acq, False, n_tr),
                **common,
            )
        # Water reference: same coils, receiver noise and eddy currents; fewer transients.
        w_amp, w_parts = water_amplitude(design, f, te, tr)
        t = np.arange(clean[next(iter(clean))].shape[0]) * basis.dwell_s
        water_clean = w_amp * acqmod.voigt_decay(
            t, lorentz + float(design["lineshape"].get("water_extra_lorentz_Hz", 1.0)), gauss
        )
        wrng = stream(seed, "scan", s.stem, "mrsref")
        scale = float(nz.get("water_ref_drift_scale", 0.3))
        ref, tr_ref = acqmod.simulate_raw_scan(
            water_clean,
            n_transients=n_ref,
            noise_sd=tr_svs["noise_sd"],
            rng=wrng,
            drift_hz=(d0 * scale, (d0 + dtot) * scale),
            phase0_deg=phase0_ref,
            n_corrupted=int(nz["corrupted_transients"].get("water_ref", 0)),
            header=_header(design, s.acq, True, n_ref),
            **common,
        )
        write_mrs(svs, mrs_dir / f"{s.stem}_svs.nii.gz")
        write_mrs(ref, mrs_dir / f"{s.stem}_mrsref.nii.gz")
        write_json(mrs_dir / f"{s.stem}_svs.json", _sidecar(design, s.acq, False, n_tr, n_coils))
        write_json(mrs_dir / f"{s.stem}_mrsref.json", _sidecar(design, s.acq, True, n_ref, n_coils))
        _write_truth_scan(truth, s, svs, tr_svs, water_clean, tr_ref, basis)

        scan_rows.append(
            {
                "subject": s.subject,
                "session": s.session,
                "region": s.region,
                "acq": s.acq,
                "stem": s.stem,
                "group": s.group,
                "f_gm": s.f_gm,
                "f_wm": s.f_wm,
                "f_csf": s.f_csf,
                "lorentz_hz": lorentz,
                "gauss_hz": gauss,
                "fwhm_hz": voigt_fwhm(lorentz, gauss),
                "snr_target": snr,
                "snr_expected": tr_svs["snr_expected"],
                "snr_definition": "NAA" if s.acq == "press" else "GABA+ in DIFF",
                "noise_sd": tr_svs["noise_sd"],
                "n_coils": n_coils,
                "n_transients": n_tr,
                "n_transients_ref": n_ref,
                "drift_hz_start": d0,
                "drift_hz_total": dtot,
                "drift_hz_range": float(np.ptp(tr_svs["freq_hz"])),
                "phase0_deg": phase0,
                "phase0_ref_deg": phase0_ref,
                "corrupted_transients": ",".join(str(i) for i in tr_svs["corrupted"]),
                "ecc_amplitude_hz": ecc.amplitude_hz,
                "ecc_tau_s": ecc.tau_s,
                "residual_water_times_naa": rw_times,
                "mm_scale": mm_scale,
                "water_amplitude": w_amp,
                **w_parts,
                "te_ms": te,
                "tr_ms": tr,
                "voxel_mm": vox,
            }
        )
        for m, v in conc.items():
            conc_rows.append(
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
            )
        for kind, tr_ in (("svs", tr_svs), ("mrsref", tr_ref)):
            freq, phase, amp = (np.atleast_1d(tr_[k]) for k in ("freq_hz", "phase_deg", "amplitude"))
            bad = set(tr_["corrupted"])
            for d in range(freq.shape[0]):
                for e in range(freq.shape[1] if freq.ndim == 2 else 1):
                    idx = (d, e) if freq.ndim == 2 else (d,)
                    transient_rows.append(
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
    return {"scans": scan_rows, "conc": conc_rows, "transients": transient_rows}


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


# ---- entry point ---------------------------------------------------------------------------


def _refuse_mixing(bids: Path, subjects: set[str]) -> None:
    """A folder holding subjects of another design/size would silently mix two studies."""
    if not bids.is_dir():
        return
    stale = sorted(p.name for p in bids.glob("sub-*") if p.is_dir() and p.name not in subjects)
    if stale:
        raise InputError(
            bids,
            None,
            f"holds subjects this simulation does not write ({', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}); "
            "write to an empty folder or delete the old study first",
        )


def simulate_study(
    design_path: str | os.PathLike,
    out_bids: str | os.PathLike,
    out_truth: str | os.PathLike,
    *,
    size: str = "demo",
    seed: int | None = None,
    jobs: int = 1,
    basis_provider=None,
) -> dict:
    """Write the simulated study and its truth; returns a summary (counts, seconds, bytes)."""
    t0 = time.perf_counter()
    design = load_design(design_path, size)
    plan = build_plan(design, seed)
    bids, truth = Path(out_bids), Path(out_truth)
    _refuse_mixing(bids, {f"sub-{s.participant_id}" for s in plan.subjects})
    acqs = sorted({s.acq for s in plan.scans})
    bases = {a: build_scan_basis(a, design, provider=basis_provider) for a in acqs}
    t_basis = time.perf_counter() - t0
    _STATE.update(design=design, plan=plan, bases=bases, bids=str(bids), truth=str(truth))
    keys = sorted({(s.subject, s.session) for s in plan.scans})
    try:
        if jobs > 1 and len(keys) > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                results = pool.map(render_session, keys, chunksize=1)
        else:
            results = [render_session(k) for k in keys]
    finally:
        _STATE.clear()
    scan_rows = sorted((r for res in results for r in res["scans"]), key=lambda r: r["stem"])
    conc_rows = sorted((r for res in results for r in res["conc"]), key=lambda r: (r["stem"], r["metabolite"]))
    tr_rows = sorted(
        (r for res in results for r in res["transients"]), key=lambda r: (r["stem"], r["file"], r["dyn"], r["edit"])
    )
    _write_bids_tables(bids, design, plan)
    write_text(truth / "scans.tsv", tsv(SCAN_COLUMNS, scan_rows))
    write_text(truth / "concentrations.tsv", tsv(CONC_COLUMNS, conc_rows))
    write_text(truth / "effects.tsv", tsv(EFFECT_COLUMNS, effects_rows(design, plan)))
    write_text(truth / "transients.tsv", tsv(TRANSIENT_COLUMNS, tr_rows))
    write_text(truth / "README.md", TRUTH_README)
    write_json(
        truth / "design.json",
        {"design_file": Path(design.path).name, "size": size, "seed": plan.seed, "design": dict(design)},
    )
    seconds = time.perf_counter() - t0
    n_bytes = sum(p.stat().st_size for root in (bids, truth) for p in root.rglob("*") if p.is_file())
    summary = {
        "size": size,
        "seed": plan.seed,
        "subjects": len(plan.subjects),
        "sessions": len(keys),
        "scans": len(plan.scans),
        "scans_press": sum(s.acq == "press" for s in plan.scans),
        "scans_megapress": sum(s.acq == "megapress" for s in plan.scans),
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "seconds_basis": round(t_basis, 2),
        "bytes": n_bytes,
        "bids": str(bids),
        "truth": str(truth),
    }
    return summary
