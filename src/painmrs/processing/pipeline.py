"""The per-scan processing pipeline: raw (multi-coil, multi-transient) data to clean spectra + QC.

Order (Near et al., NMR Biomed 2021; facts.md §3.1): coil combination (weights from the
water reference when there is one) -> frequency/phase alignment of transients (MEGA-PRESS:
within each edit condition) -> outlier rejection -> averaging -> eddy-current correction ->
residual water removal -> (MEGA-PRESS: sub-spectrum alignment, done after water removal so
residual-water tails cannot bias it) -> frequency referencing and zero-order phasing
(MEGA-PRESS: estimated on OFF, applied to ON and OFF) -> DIFF / SUM -> QC.

MEGA-PRESS sub-spectrum alignment, default "auto": "water" when both averaged sub-spectra
hold residual water well above the noise (peak/noise >= 50), else "mean-drift".
"water": the averaged ON is registered onto OFF over the residual water (4.3-5.0 ppm, before
water removal). No metabolite near water is edited by a 1.9 ppm pulse and the OFF pulse at
7.5 ppm is placed symmetrically about water, so the residual water is the same in ON and OFF
and shares each transient's frequency and phase error: the registration measures exactly the
ON/OFF offset left by the per-condition alignment (the difference of the conditions' mean
phase jitters, ~jitter/sqrt(N)). "mean-drift": within each edit condition the
per-transient corrections are centred (zero mean frequency, zero circular-mean phase), which
puts each averaged sub-spectrum at the mean drift of its own transients, whatever reference
was used. ON and OFF are interleaved, so their mean drifts agree to within the drift of half
a TR pair: the sub-spectra are aligned by construction. Registering the averaged ON onto OFF
in a spectral window ("spectral") is offered, but edited signals (Glx, GSH, GABA, MM and NAA
tails) differ between ON and OFF in every window near the strong singlets and bias it: on
density-matrix-simulated MEGA-PRESS spectra (painmrs.basis.simulate) the tCr 3.9 ppm window
gave 5-13 deg phase errors and DIFF GABA+ integrals off by 40-90%. The spectral estimate is
always reported in the QC (subspectra_offset_*) as a diagnostic.

Zero-order phase, default "auto": after Klose eddy-current correction the receiver phase has
been removed with the water reference's phase, so no further phasing is needed (and the
peak-based estimate, which must cope with NAAG/Glx/GABA overlapping NAA and tCr, was biased
by about 5 deg on simulated full spectra); without a water reference the phase is fitted on
the NAA and tCr peaks (phasing.py).

Eddy-current correction is applied after averaging rather than to each transient: it is a
multiplication by the same exp(-i phi_w(t)) for every transient, as are the alignment
corrections exp(i(2 pi f t + phi)), so the two commute and the result is identical, at a
fraction of the cost; alignment estimates are unaffected because all transients share the
eddy-current phase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..mrs import MRSData
from ..options import options_from_mapping
from . import qc as qcm
from ._spectra import ppm_window, to_spectrum, transients
from .align import align_to_reference, align_transients, estimate_alignment
from .averaging import average
from .coil_combine import CoilWeights, combine_coils, estimate_coil_weights
from .eddy_current import eddy_current_correction, water_phase
from .mega_press import combine_subspectra, split_edit_conditions
from .outliers import find_outliers, reject_outliers
from .phasing import apply_referencing, estimate_referencing
from .water_removal import water_component


@dataclasses.dataclass(frozen=True)
class ProcessingOptions:
    """Options of every step; the config's ``processing:`` section maps onto these fields."""

    sequence: str = "auto"  # auto | PRESS | MEGA-PRESS
    coil_noise_fraction: float = 0.25
    coil_weight_points: int = 16
    align: bool = True
    align_window_ppm: tuple[float, float] = (1.8, 4.2)
    align_reference: str = "median"  # median | mean | best
    align_apodise_hz: float = 2.0
    align_max_shift_hz: float = 20.0
    water_align_window_ppm: tuple[float, float] = (4.0, 5.3)
    outlier_rejection: bool = True
    outlier_window_ppm: tuple[float, float] = (1.8, 4.2)
    outlier_z_threshold: float = 3.0
    eddy_current_correction: bool = True
    water_removal: bool = True
    water_window_ppm: tuple[float, float] = (4.5, 4.9)
    hlsvd_components: int = 25
    hlsvd_points: int = 512
    reference_peaks: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"NAA": 2.008, "tCr": 3.027})
    referencing_search_ppm: float = 0.4
    zero_order_phase: str = "peaks"  # peaks (fit on the reference peaks) | auto (water phase if eddy-current corrected, else peaks) | none
    mega_zero_order_phase: str = "auto"  # the same choice for MEGA-PRESS sub-spectra
    mega_subspectra_alignment: str = "auto"  # auto | water | mean-drift | spectral (module docstring)
    mega_water_window_ppm: tuple[float, float] = (4.3, 5.0)  # residual water, identical in ON and OFF
    mega_subspectra_window_ppm: tuple[float, float] = (3.85, 3.98)  # for "spectral": tCr CH2
    display_line_broadening_hz: float = 1.0
    display_zero_fill: int = 2

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, source: str | None = None) -> "ProcessingOptions":
        """Options from a config mapping; unknown keys are an InputError naming the key."""
        opts = options_from_mapping(cls, section, "processing", source)
        for key in ("zero_order_phase", "mega_zero_order_phase"):
            if getattr(opts, key) not in ("auto", "peaks", "none"):
                raise InputError(source, f"processing.{key}", f"must be auto, peaks or none, got {getattr(opts, key)!r}")
        if opts.mega_subspectra_alignment not in ("auto", "water", "mean-drift", "spectral"):
            raise InputError(source, "processing.mega_subspectra_alignment", f"must be auto, water, mean-drift or spectral, got {opts.mega_subspectra_alignment!r}")
        if opts.sequence not in ("auto", "PRESS", "MEGA-PRESS"):
            raise InputError(source, "processing.sequence", f"must be auto, PRESS or MEGA-PRESS, got {opts.sequence!r}")
        return opts


@dataclasses.dataclass(frozen=True)
class ProcessedScan:
    outputs: dict[str, MRSData]  # "processed" (PRESS) or "off", "on", "diff", "sum"
    water: MRSData | None  # processed water reference
    qc: dict
    figure: dict  # arrays for the QC figure (see figures.py)
    coil_weights: CoilWeights | None = None  # applied to the scan (and the water reference)

    @property
    def sequence(self) -> str:
        return "MEGA-PRESS" if "diff" in self.outputs else "PRESS"


def _strong_residual_water(averaged, window, min_snr: float = 50.0) -> bool:
    """True if both sub-spectra hold residual water far above the noise (usable for alignment)."""
    for key in ("off", "on"):
        data = averaged[key]
        spec = data.spectrum()
        height = np.max(np.abs(spec[ppm_window(data.ppm, window)]))
        noise = qcm._noise_sd(spec, data.ppm, qcm.noise_window(data.ppm))[0]
        if not (noise > 0 and height / noise >= min_snr):
            return False
    return True


def _is_mega(metab: MRSData, options: ProcessingOptions) -> bool:
    if options.sequence != "auto":
        return options.sequence == "MEGA-PRESS"
    if metab.has_dim("DIM_EDIT"):
        return True
    text = " ".join(str(metab.header.get(k, "")) for k in ("SequenceName", "ProtocolName", "EditPulse"))
    return "MEGA" in text.upper()


def _transient_stage(data: MRSData, options: ProcessingOptions, window_ppm, do_outliers: bool):
    """Align, reject outliers and average one condition; returns (averaged, info)."""
    fids = transients(data, "alignment")
    info: dict[str, Any] = {"n_transients": int(fids.shape[1]), "rejected": [], "freq_hz": np.zeros(fids.shape[1])}
    if not data.has_dim("DIM_DYN"):
        return data, info
    before = fids
    if options.align and fids.shape[1] > 1:
        alignment = estimate_alignment(
            data,
            window_ppm,
            reference=options.align_reference,
            apodise_hz=options.align_apodise_hz,
            max_shift_hz=options.align_max_shift_hz,
        )
        data = align_transients(data, alignment)
        info["freq_hz"] = alignment.freq_hz
        info["phase_deg"] = alignment.phase_deg
    info["before"], info["after"] = before, transients(data, "alignment")
    if do_outliers and options.outlier_rejection:
        result = find_outliers(data, options.outlier_window_ppm, z_threshold=options.outlier_z_threshold)
        info["rejected"] = [int(i) for i in result.rejected]
        info["z"] = result.z_score
        data = reject_outliers(data, result)
    return average(data), info


def _process_water(water: MRSData, options: ProcessingOptions) -> MRSData:
    if water.has_dim("DIM_EDIT"):  # water for MEGA-PRESS may come with both conditions: use all
        axis = water.axis("DIM_EDIT")
        water = water.with_step(
            water.fid.mean(axis=axis), "Signal averaging", {"dimension": "DIM_EDIT"},
            dim_tags=tuple(t for t in water.dim_tags if t != "DIM_EDIT"),
        )
    water, _ = _transient_stage(water, options, options.water_align_window_ppm, do_outliers=False)
    if water.fid.ndim != 1:
        raise InputError(water.source, "dim_tags", f"unsupported water reference dimensions {water.dim_tags}")
    return water


def process_scan(
    metab: MRSData, water: MRSData | None = None, options: ProcessingOptions | None = None, *, stem: str = ""
) -> ProcessedScan:
    """Process one scan (module docstring); returns outputs, processed water, QC and figure data."""
    o = options or ProcessingOptions()
    qc: dict[str, Any] = {"stem": stem}
    # 1. coil combination: one set of weights for both scans keeps water scaling valid
    metab, water, weights = _combine_coils_stage(metab, water, o, qc)
    if water is not None:
        water = _process_water(water, o)

    # 2-4. per condition: align, reject outliers, average
    mega = _is_mega(metab, o)
    conditions = split_edit_conditions(metab) if mega else {"processed": metab}
    averaged, infos = {}, {}
    for name, data in conditions.items():
        averaged[name], infos[name] = _transient_stage(data, o, o.align_window_ppm, do_outliers=True)
    # 5. eddy currents (Klose) with the water reference's phase; then the water itself
    ecc_phase = None
    if water is not None and o.eddy_current_correction:
        ecc_phase = water_phase(water)
        averaged = {k: eddy_current_correction(v, water) for k, v in averaged.items()}
        water = eddy_current_correction(water, water)

    # sub-spectrum alignment (see module docstring for the three modes)
    if mega:
        _align_subspectra(averaged, o, qc)

    # 6. residual water removal. MEGA-PRESS: one HLSVD model fitted to the mean of ON and OFF
    # is subtracted from both, so DIFF = ON - OFF is left exactly as it was (residual water is
    # the same in both conditions; separate fits differed and leaked into the GABA region).
    removed = _remove_residual_water(averaged, o, mega) if o.water_removal else {}

    # 7. frequency referencing + zero-order phase, estimated on OFF (MEGA) / the spectrum (PRESS)
    primary = "off" if mega else "processed"
    # PRESS: phase on the reference peaks (metabolite and water scans are separate acquisitions
    # whose receiver phases differ). MEGA-PRESS: peak phasing on OFF is biased by the edited
    # and MM signals (DIFF GABA+ integral -8% on simulated data), so its own option.
    phase_method = o.mega_zero_order_phase if mega else o.zero_order_phase
    if phase_method == "auto":
        phase_method = "water" if ecc_phase is not None else "peaks"
    ref = estimate_referencing(
        averaged[primary], dict(o.reference_peaks), search_ppm=o.referencing_search_ppm, phase=phase_method == "peaks"
    )
    qc["zero_order_phase_method"] = phase_method
    averaged = {k: apply_referencing(v, ref) for k, v in averaged.items()}
    outputs = combine_subspectra(averaged["off"], averaged["on"]) if mega else averaged
    qc["referencing_shift_hz"] = ref.shift_hz
    qc["zero_order_phase_deg"] = float(np.degrees(ref.phase_rad))

    # 8. QC
    qc.update(_scan_qc(outputs, water, infos, removed, ref, mega))
    figure = _figure_data(outputs, infos, removed, ref, primary, ecc_phase)
    return ProcessedScan(outputs=outputs, water=water, qc=qc, figure=figure, coil_weights=weights)


def _combine_coils_stage(metab: MRSData, water: MRSData | None, o: ProcessingOptions, qc: dict):
    """Coil combination of the metabolite scan and the water reference (one set of weights
    when their coils match); records the weights' source and the coil count in ``qc``."""
    weights = None
    if metab.has_dim("DIM_COIL"):
        ref_is_water = water is not None and water.has_dim("DIM_COIL") and water.fid.shape[water.axis("DIM_COIL")] == metab.fid.shape[metab.axis("DIM_COIL")]
        weights = estimate_coil_weights(
            water if ref_is_water else metab,
            weight_points=o.coil_weight_points,
            noise_fraction=o.coil_noise_fraction,
            source="water reference" if ref_is_water else "metabolite scan",
        )
        metab = combine_coils(metab, weights)
        qc["coil_weights_from"] = weights.source
        qc["n_coils"] = int(weights.weights.size)
        if ref_is_water:
            water = combine_coils(water, weights)
    else:
        qc["n_coils"] = 1
    if water is not None and water.has_dim("DIM_COIL"):
        water = combine_coils(water, estimate_coil_weights(water, weight_points=o.coil_weight_points, noise_fraction=o.coil_noise_fraction))
    return metab, water, weights


def _align_subspectra(averaged: dict, o: ProcessingOptions, qc: dict) -> None:
    """MEGA-PRESS: register ON to OFF (``averaged["on"]`` replaced in the water and spectral
    modes); records the mode and the offsets in ``qc``."""
    mode = o.mega_subspectra_alignment
    window = o.mega_subspectra_window_ppm
    if mode == "auto":
        mode = "water" if _strong_residual_water(averaged, o.mega_water_window_ppm) else "mean-drift"
    if mode == "water":
        window = o.mega_water_window_ppm
    registered, f_sub, p_sub = align_to_reference(averaged["on"], averaged["off"], window, apodise_hz=0.0)
    qc["subspectra_alignment"] = mode
    qc["subspectra_offset_freq_hz"] = f_sub
    qc["subspectra_offset_phase_deg"] = float(np.degrees(p_sub))
    if mode in ("water", "spectral"):
        averaged["on"] = registered


def _remove_residual_water(averaged: dict, o: ProcessingOptions, mega: bool) -> dict:
    """HLSVD residual water removal in place on every condition of ``averaged``; returns the
    removed component per condition."""
    removed = {}
    target = averaged["off"].replace(fid=(averaged["off"].fid + averaged["on"].fid) / 2) if mega else averaged["processed"]
    comp, _ = water_component(target, o.water_window_ppm, o.hlsvd_components, o.hlsvd_points)
    for name, data in averaged.items():
        removed[name] = comp
        averaged[name] = data.with_step(
            (data.fid - comp).astype(data.fid.dtype),
            "Nuisance peak removal",
            {"method": "HLSVD", "window_ppm": list(o.water_window_ppm), "n_components": o.hlsvd_components,
             "n_points": min(o.hlsvd_points, data.n_points), "fitted_on": "mean of ON and OFF" if mega else "spectrum"},
        )
    return removed


def _scan_qc(outputs, water, infos, removed, ref, mega) -> dict:
    main = outputs["off" if mega else "processed"]
    out: dict[str, Any] = {"sequence": "MEGA-PRESS" if mega else "PRESS"}
    out.update(qcm.snr_values(main))
    out["snr_definition"] = qcm.SNR_DEFINITION
    for name, window in (("naa", qcm.PEAK_WINDOWS_PPM["NAA"]), ("tcr", qcm.PEAK_WINDOWS_PPM["tCr"])):
        hz, _ = qcm.fwhm(main, window)
        out[f"fwhm_{name}_hz"] = hz
        out[f"fwhm_{name}_ppm"] = hz / main.spectrometer_mhz
    if water is not None:
        hz, _ = qcm.fwhm(water, qcm.PEAK_WINDOWS_PPM["water"])
        out["fwhm_water_hz"], out["fwhm_water_ppm"] = hz, hz / water.spectrometer_mhz
    else:
        out["fwhm_water_hz"] = out["fwhm_water_ppm"] = None
    # drift: the alignment corrections are minus the drift
    def kept_drift(info):  # rejected transients carry motion-related shifts, not scanner drift
        f = -np.asarray(info["freq_hz"], float)
        return np.delete(f, info["rejected"]) if f.size > 1 else f

    drift = np.concatenate([kept_drift(i) for i in infos.values()])
    first = kept_drift(next(iter(infos.values())))
    out["freq_drift_range_hz"] = float(np.ptp(drift)) if drift.size else 0.0
    out["freq_drift_sd_hz"] = float(np.std(drift)) if drift.size else 0.0
    out["freq_drift_linear_hz"] = float(np.polyfit(np.arange(first.size), first, 1)[0] * (first.size - 1)) if first.size > 2 else 0.0
    out["n_transients"] = int(sum(i["n_transients"] for i in infos.values()))
    out["n_rejected"] = int(sum(len(i["rejected"]) for i in infos.values()))
    for name, info in infos.items():
        key = "rejected_transients" if name == "processed" else f"rejected_transients_{name}"
        out[key] = list(info["rejected"])
    spec = main.spectrum()
    wsel = ppm_window(main.ppm, (4.5, 4.9))
    height = out["naa_height"]
    out["residual_water_ratio_naa"] = float(np.max(np.abs(spec[wsel])) / height) if height > 0 else None
    comp = removed.get("off" if mega else "processed")
    out["removed_water_ratio_naa"] = float(np.max(np.abs(to_spectrum(comp))) / height) if comp is not None and height > 0 else 0.0
    if mega:
        diff = outputs["diff"]
        dspec = diff.spectrum().real
        sel = ppm_window(diff.ppm, (2.8, 3.2))
        df = 1.0 / (diff.n_points * diff.dwell_s)
        out["gaba_diff_integral_2p8_3p2"] = float(np.sum(dspec[sel]) * df)
        noise = qcm._noise_sd(diff.spectrum(), diff.ppm, qcm.noise_window(diff.ppm))[0]
        out["snr_gaba_diff"] = float(np.max(dspec[sel]) / noise) if noise > 0 else None
    out["definitions"] = {
        "snr": qcm.SNR_DEFINITION,
        "snr_fsl_style": "max Re S in 0.2-4.2 ppm / (sqrt(2) x SD Re S outside -2..10 ppm) (FSL-MRS style)",
        "snr_gannet_style": "NAA height / (2 x min detrended SD of Re S in two 1-ppm downfield windows) (Gannet/LCModel style)",
        "fwhm": "direct half-maximum width of Re S (8x zero-filled, phased, first point halved, no baseline)",
        "freq_drift": "from the per-transient alignment corrections (range, SD, linear fit over the scan)",
        "residual_water_ratio_naa": "max |S| in 4.5-4.9 ppm after water removal / NAA height",
        "gaba_diff_integral_2p8_3p2": "sum of Re DIFF over 2.8-3.2 ppm x frequency step (Hz)",
    }
    return out


def _figure_data(outputs, infos, removed, ref, primary, ecc_phase) -> dict:
    main = outputs[primary]
    info = infos[primary]
    fig = {"ppm": main.ppm, "rejected": list(info["rejected"]), "freq_drift_hz": -np.asarray(info["freq_hz"], float)}
    t = main.time_s[:, None]
    glob = np.exp(1j * (2 * np.pi * ref.shift_hz * t + ref.phase_rad))
    if ecc_phase is not None and ecc_phase.size >= t.shape[0]:
        glob = glob * np.exp(-1j * ecc_phase[: t.shape[0], None])
    if "before" in info:
        take = np.linspace(0, info["before"].shape[1] - 1, min(64, info["before"].shape[1])).astype(int)
        fig["transients_before"] = to_spectrum(info["before"][:, take] * glob).real
        fig["transients_after"] = to_spectrum(info["after"][:, take] * glob).real
    fig["spectra"] = {k: v.spectrum().real for k, v in outputs.items()}
    if primary in removed:
        # removed before referencing but after eddy-current correction
        shift = np.exp(1j * (2 * np.pi * ref.shift_hz * t[:, 0] + ref.phase_rad))
        fig["water_removed"] = to_spectrum(removed[primary] * shift).real
    return fig


def output_names(stem: str, scan: ProcessedScan) -> dict[str, str]:
    """File names (DEVELOPERS.md "Derived outputs") for a scan's outputs."""
    names = {}
    for key in scan.outputs:
        names[key] = f"{stem}_desc-{key}_svs.nii.gz"
    if scan.water is not None:
        names["water"] = f"{stem}_desc-processed_mrsref.nii.gz"
    names["qc_json"] = f"{stem}_qc.json"
    names["qc_png"] = f"{stem}_qc.png"
    return names


def write_processed(scan: ProcessedScan, out_dir: str | Path, stem: str, *, figure: bool = True) -> dict[str, Path]:
    """Write the processed NIfTI-MRS files, the QC JSON sidecar and (``figure``) the QC figure."""
    from ..atomic import write_text
    from ..io import nifti_mrs
    from .figures import qc_figure

    out_dir = Path(out_dir)
    names = output_names(stem, scan)
    paths = {}
    for key, data in scan.outputs.items():
        paths[key] = nifti_mrs.write(data, out_dir / names[key])
    if scan.water is not None:
        paths["water"] = nifti_mrs.write(scan.water, out_dir / names["water"])
    qc = dict(scan.qc, stem=stem)
    write_text(out_dir / names["qc_json"], qcm.dumps(qc))
    paths["qc_json"] = out_dir / names["qc_json"]
    if figure:
        paths["qc_png"] = qc_figure(scan, out_dir / names["qc_png"], title=stem)
    return paths
