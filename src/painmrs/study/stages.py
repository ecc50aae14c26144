"""Study-level drivers of the workflow stages after processing: basis sets, batched fitting,
the QC table, the study table, statistics, recovery of planted effects and the report.

Each function is what one Snakemake rule runs (scripts/ only unpack ``snakemake``). The stage
libraries do the science; this module wires their option objects to the config sections
(``fit``, ``quantify``, ``qc``, ``stats``) and the file contracts of DEVELOPERS.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io import nifti_mrs
from .config import bad_scan_policy
from .batch import failed_scans, figure_scans, manifest_rows, read_manifests, run_scan, scan_dir
from .tables import write_tsv

def stage_options(config: Mapping, section: str, source: str | None = None):
    """The option object of a stage from its config section, parsed by the stage library
    itself (``painmrs.fitting.config``): one parser per section, so partial tables such as
    ``quantify.t2_ms`` update the defaults instead of replacing them, and unknown keys are
    errors naming the key."""
    from ..fitting import config as stage_config

    parsers = {"fit": stage_config.fit_options, "quantify": stage_config.quant_options, "qc": stage_config.qc_rules}
    if section not in parsers:
        raise KeyError(f"no option parser for config section {section!r}")
    return parsers[section](config.get(section), source)


def check_stage_options(config: Mapping, source: str | None = None) -> None:
    """Parse every stage's options once, when the workflow loads: a bad ``processing``,
    ``fit``, ``quantify``, ``qc`` or ``stats`` entry stops the run before any job, naming the
    config file. The jobs then parse the same, already checked sections without the file's
    name, so that running an identical config under another name or path reruns nothing."""
    from .batch import processing_options

    for sequence in sorted({str(s.get("sequence")) for s in (config.get("sequences") or {}).values()}):
        processing_options(config, sequence, source)
    for section in ("fit", "quantify", "qc"):
        stage_options(config, section, source)
    stats_options(config, source)


# ---- basis sets --------------------------------------------------------------------------------
#: Macromolecule model for short-TE PRESS fits: the measured 3 T MM spectrum of Birch et al.
#: 2017 as one component (consensus: measured MM at short TE). With the LCModel-style
#: parametric MM09-MM20 set instead, demo concentrations came out 30-47 % high (NAA 12.0 vs
#: 9.2 mM true); with this one within 1-6 % (sub-HC001 ACC).
PRESS_MACROMOLECULES = ("MM_3T",)


def build_basis(
    sequence: Mapping[str, Any], sample_scan: str | os.PathLike, out_dir: str | os.PathLike, log=None, *, acq: str | None = None
) -> dict:
    """The basis set(s) for one acquisition (``sequences.<acq>`` of the config), as FSL-MRS JSON.

    PRESS-type: ``out_dir`` holds one basis: the user's ``basis`` (any format
    :func:`painmrs.basis.readers.load_basis` reads; required for STEAM and sLASER, which
    painmrs cannot simulate) or else a PRESS basis simulated on the sample scan's frequency
    and grid, plus the parametric ``macromolecules``.
    MEGA-PRESS: ``out_dir/diff`` (with the co-edited MM30) and ``out_dir/off``, simulated, or
    the user's ``basis: {diff: PATH, off: PATH}`` (see :func:`_user_mega_basis`).
    ``acq`` (the acq label) only names the config keys in error messages.
    """
    from ..basis.readers import write_fsl_basis
    from ..basis.simulate import simulate_basis, simulate_mega_press_basis
    from ..quantify.scan import with_macromolecules

    log = log or logging.getLogger("painmrs.basis")
    key = f"sequences.{acq or '<acq>'}"
    # Header only: the basis needs the grid, and a sample whose data are bad (NaN, truncated;
    # excluded from the study under on_bad_scan: exclude) still has a valid grid.
    sample = nifti_mrs.read_header(sample_scan)
    grid = {"spectrometer_mhz": sample.spectrometer_mhz, "dwell_s": sample.dwell_s, "n_points": sample.n_points}
    out = Path(out_dir)
    kind = sequence["sequence"]
    if kind == "MEGA-PRESS":
        if sequence.get("macromolecules") is not None:
            raise InputError(None, f"{key}.macromolecules", "not used for MEGA-PRESS (its DIFF basis has the co-edited MM30)")
        if sequence.get("basis") is not None:
            diff, off = _user_mega_basis(sequence, sample, sample_scan, key, log)
        else:
            sets = simulate_mega_press_basis(
                echo_time_ms=float(sequence["te_ms"]),
                edit_on_ppm=float(sequence["edit_on_ppm"]),
                edit_off_ppm=float(sequence["edit_off_ppm"]),
                include_mm=True,
                **grid,
            )
            diff, off = sets["DIFF"], sets["OFF"]
            empty = _unedited(diff)
            diff = diff.subset([n for n in diff.names if n not in empty])
        write_fsl_basis(diff, out / "diff")
        write_fsl_basis(off, out / "off")
        names = {"diff": list(diff.names), "off": list(off.names)}
    elif kind in ("PRESS", "STEAM", "sLASER"):
        mm_names = sequence.get("macromolecules")
        if mm_names is not None:
            mm_names = _macromolecule_names(mm_names, f"{key}.macromolecules")
        if sequence.get("basis") is not None:
            basis = _user_basis(sequence, sample, sample_scan, key, log)
            if mm_names is None:
                from ..fitting.model import is_macromolecule

                present = [n for n in basis.names if is_macromolecule(n)]
                mm_names = () if present else PRESS_MACROMOLECULES
                if present:
                    log.info("basis has macromolecule/lipid component(s) %s: no parametric MM added", present)
                else:
                    log.info("basis has no macromolecule/lipid component: adding %s (set %s.macromolecules: [] for none)",
                             list(mm_names), key)
        else:
            if kind != "PRESS":
                raise InputError(
                    None, f"{key}.basis",
                    f"painmrs cannot simulate a {kind} basis: supply one (LCModel .BASIS or .RAW folder, "
                    "jMRUI text, FSL-MRS JSON folder) for this TE and field",
                )
            press_options = {
                "te1_ms": sequence.get("te1_ms"),
                "refocusing": sequence.get("refocusing", "ideal"),
                "refocusing_pulse": sequence.get("refocusing_pulse"),
            }
            basis = simulate_basis(sequence="PRESS", echo_time_ms=float(sequence["te_ms"]), **press_options, **grid)
            mm_names = PRESS_MACROMOLECULES if mm_names is None else mm_names
        added = [n for n in mm_names if n not in basis.names]
        basis = with_macromolecules(basis, mm_names)
        log.info("parametric macromolecules added: %s", added or "none")
        write_fsl_basis(basis, out)
        names = {"press": list(basis.names)}
    else:
        raise InputError(None, f"{key}.sequence", f"unknown sequence {kind!r}")
    log.info("basis for %s TE %s ms at %.4f MHz, %d points: %s", kind, sequence["te_ms"], grid["spectrometer_mhz"], grid["n_points"], names)
    return names


def _macromolecule_names(value: Any, field: str) -> tuple[str, ...]:
    """``sequences.<acq>.macromolecules``: names of painmrs.basis.macromolecules.MM_COMPONENTS."""
    from ..basis.macromolecules import MM_COMPONENTS

    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InputError(None, field, f"must be a list of names, got {value!r}")
    unknown = [n for n in value if n not in MM_COMPONENTS]
    if unknown:
        raise InputError(None, field, f"unknown component(s) {unknown}; known: {', '.join(MM_COMPONENTS)}")
    return tuple(dict.fromkeys(value))


def _user_basis(sequence: Mapping[str, Any], sample, sample_scan, key: str, log):
    """The basis named by ``sequences.<acq>.basis`` (PRESS, STEAM, sLASER), checked against the
    sample scan and TE; it must hold Cr or PCr."""
    kind = sequence["sequence"]
    field = f"{key}.basis"
    if isinstance(sequence["basis"], Mapping):
        raise InputError(None, field, f"{kind} takes one basis (a path); the {{diff, off}} mapping is for MEGA-PRESS")
    basis, path = _load_user_basis(sequence["basis"], field, sequence, sample, sample_scan, key, log, allowed_sequences=(kind,))
    _require_tcr(basis, path, field)
    return basis.replace(sequence=basis.sequence or kind)


#: Sequence labels a supplied MEGA-PRESS part may carry (none, "FID" or a plain "MEGA-PRESS"
#: are accepted too); what the fit's check_basis accepts for that part.
MEGA_PART_SEQUENCES = {"diff": ("MEGA-PRESS:DIFF", "MEGA-PRESS"), "off": ("MEGA-PRESS:OFF", "MEGA-PRESS", "PRESS")}
#: A DIFF component with less than this fraction of the largest one's energy is empty.
DIFF_ZERO_ENERGY = 1e-6


def _user_mega_basis(sequence: Mapping[str, Any], sample, sample_scan, key: str, log):
    """The DIFF and OFF bases named by ``sequences.<acq>.basis: {diff: PATH, off: PATH}``:
    checked like a PRESS basis (field, TE), DIFF must hold the edit target and OFF Cr or PCr.
    Empty DIFF components are dropped, the co-edited MM30 is added to a DIFF without MM, and
    both get the sequence labels the fit checks (MEGA-PRESS:DIFF / MEGA-PRESS:OFF)."""
    from ..basis.macromolecules import EDITED_MM
    from ..fitting.model import is_macromolecule
    from ..quantify.scan import with_macromolecules

    field = f"{key}.basis"
    given = sequence["basis"]
    if not isinstance(given, Mapping) or set(given) != {"diff", "off"}:
        raise InputError(None, field,
                         f"MEGA-PRESS takes its DIFF and OFF bases as a mapping {{diff: PATH, off: PATH}}, got {given!r}")
    diff, diff_path = _load_user_basis(given["diff"], f"{field}.diff", sequence, sample, sample_scan, key, log,
                                       allowed_sequences=MEGA_PART_SEQUENCES["diff"])
    off, off_path = _load_user_basis(given["off"], f"{field}.off", sequence, sample, sample_scan, key, log,
                                     allowed_sequences=MEGA_PART_SEQUENCES["off"])
    _require_tcr(off, off_path, f"{field}.off")

    empty = _unedited(diff)
    target = sequence.get("edit_target", "GABA")
    if target not in diff.names or target in empty:
        why = "is empty (zero)" if target in diff.names else "is missing"
        raise InputError(
            diff_path, f"{field}.diff (metabolite names)",
            f"the edit target {target} {why} in the DIFF basis (names: {', '.join(diff.names)}): "
            "is this the DIFF (ON - OFF) set?",
        )
    if empty:
        log.info("DIFF basis components with no edited signal (energy < %g of the largest) not fitted: %s",
                 DIFF_ZERO_ENERGY, empty)
        diff = diff.subset([n for n in diff.names if n not in empty])

    present = [n for n in diff.names if is_macromolecule(n)]
    if present:
        log.info("DIFF basis has macromolecule component(s) %s: no co-edited MM added", present)
    else:
        diff = with_macromolecules(diff, EDITED_MM, scale_from=off)
        diff = diff.replace(meta=dict(diff.meta, macromolecules=list(EDITED_MM)))
        log.info("DIFF basis has no macromolecule component: adding the co-edited %s", list(EDITED_MM))
    return diff.replace(sequence="MEGA-PRESS:DIFF"), off.replace(sequence="MEGA-PRESS:OFF")


def _unedited(diff) -> list[str]:
    """DIFF components with no edited signal (energy at most DIFF_ZERO_ENERGY of the largest;
    all of an all-zero DIFF): what editing leaves unchanged (NAA, Cr, Cho ... with ideal
    pulses) cancels in ON - OFF and cannot be identified there, so it is not fitted."""
    energy = np.sum(np.abs(diff.fids) ** 2, axis=0)
    return [n for n, e in zip(diff.names, energy) if e <= DIFF_ZERO_ENERGY * energy.max()]


def _require_tcr(basis, path: Path, field: str) -> None:
    # Quantification needs tCr: ratio_tCr is the primary measure, and the proton unit that
    # scales the parametric MM and water-referenced concentrations is calibrated on Cr/PCr.
    if not {"Cr", "PCr"} & set(basis.names):
        raise InputError(
            path, f"{field} (metabolite names)",
            f"basis has no Cr or PCr component (names: {', '.join(basis.names)}): tCr ratios and "
            "water scaling need one (LCModel/FSL-MRS aliases such as 'Creatine' are recognised)",
        )


def _load_user_basis(value: Any, field: str, sequence: Mapping[str, Any], sample, sample_scan, key: str, log, *,
                     allowed_sequences) -> tuple[Any, Path]:
    """One supplied basis file or folder (``field`` names its config key), read and checked
    against the sample scan's field, ``te_ms`` (taken as the TE when the file states none) and
    the sequence labels ``allowed_sequences``; returns the basis and its path."""
    from ..basis.readers import load_basis
    from ..quantify.scan import BASIS_FREQUENCY_TOLERANCE, BASIS_TE_TOLERANCE_S

    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InputError(None, field, f"must be a path to a basis file or folder, got {value!r}")
    path = Path(value)  # relative to the working directory, like every other config path
    if not path.exists():
        raise InputError(path, field, "basis file or folder does not exist")
    try:
        basis = load_basis(path, ppm_reference=sequence.get("basis_ppm_reference"))
    except InputError as exc:
        where = exc.path or os.fspath(path)
        raise InputError(where, field, f"cannot read the basis: {exc.message}" + (f" ({exc.field})" if exc.field else "")) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, field, f"cannot read the basis: {exc}") from None
    mhz = sample.spectrometer_mhz
    if abs(basis.spectrometer_mhz - mhz) > BASIS_FREQUENCY_TOLERANCE * mhz:
        raise InputError(
            path, f"{field} (spectrometer frequency)",
            f"basis is for {basis.spectrometer_mhz:g} MHz but the scans ({os.fspath(sample_scan)}) are at {mhz:g} MHz: "
            "supply a basis for this field strength",
        )
    te_s = float(sequence["te_ms"]) / 1000
    if basis.echo_time_s is None:
        # Formats without TE (LCModel .BASIS, jMRUI): take the configured one, so the fit's
        # check_basis compares it with the scans' header TE.
        basis = basis.replace(echo_time_s=te_s)
        te_note = f"TE not stated in the file; {sequence['te_ms']:g} ms from {key}.te_ms"
    elif abs(basis.echo_time_s - te_s) > BASIS_TE_TOLERANCE_S:
        raise InputError(
            path, f"{field} (echo time)",
            f"basis is for TE {basis.echo_time_s * 1000:g} ms but {key}.te_ms is {sequence['te_ms']:g} ms",
        )
    else:
        te_note = f"TE {basis.echo_time_s * 1000:g} ms"
    allowed = [a.upper() for a in allowed_sequences]
    if basis.sequence and basis.sequence.upper() not in (*allowed, "FID"):
        raise InputError(
            path, f"{field} (sequence)",
            f"basis is for {basis.sequence} but {field} needs {' or '.join(allowed_sequences)} "
            f"({key}.sequence is {sequence['sequence']})",
        )
    if basis.dwell_s > sample.dwell_s * (1 + 1e-6):
        log.warning("basis bandwidth %.0f Hz is narrower than the scans' %.0f Hz: it will be interpolated",
                    1 / basis.dwell_s, 1 / sample.dwell_s)
    log.info("basis loaded from %s (%s): %d components %s; %s; %.4f MHz; dwell %.3g s, %d points",
             path, basis.meta.get("format"), len(basis.names), list(basis.names), te_note,
             basis.spectrometer_mhz, basis.dwell_s, basis.n_points)
    return basis, path


# ---- fitting -----------------------------------------------------------------------------------
def _fractions(bids: Path, scan, affine, log) -> dict | None:
    maps = {t: getattr(scan, f"probseg_{t.lower()}") for t in ("GM", "WM", "CSF")}
    if not all(maps.values()):
        return None
    from ..quantify.tissue import voxel_tissue_fractions

    return voxel_tissue_fractions(affine, {t: bids / p for t, p in maps.items()})


def fit_batch(
    scans: pd.DataFrame,
    process_manifest: pd.DataFrame,
    basis_dirs: Mapping[str, str | os.PathLike],
    bids_dir: str | os.PathLike,
    deriv_dir: str | os.PathLike,
    config: Mapping,
    *,
    config_source: str | None = None,
    log: logging.Logger | None = None,
) -> list[dict]:
    """Fit and quantify every scan of ``scans`` from its processed files; manifest rows back."""
    from ..basis.readers import read_fsl_basis
    from ..quantify.scan import fit_mega_scan, fit_scan

    log = log or logging.getLogger("painmrs.fit")
    on_error = bad_scan_policy(config)
    fit_options = stage_options(config, "fit", config_source)
    quant = stage_options(config, "quantify", config_source)
    qc_rules = stage_options(config, "qc", config_source)
    bids = Path(bids_dir)
    files = {(r.stem, r.output): r.path for r in process_manifest.itertuples(index=False)}
    not_processed = failed_scans(process_manifest)
    bases: dict[str, Any] = {}
    with_figure = figure_scans(scans["stem"], config)
    rows: list[dict] = []
    for scan in scans.itertuples(index=False):
        if scan.stem in not_processed:
            rows.append({"stem": scan.stem, "output": "error", "path": "", "sha256": "",
                         "message": f"not fitted: {not_processed[scan.stem]}"})
            continue
        out_dir = scan_dir(deriv_dir, scan.subject, scan.session)

        def one(scan=scan, out_dir=out_dir):
            water = nifti_mrs.read(files[(scan.stem, "water")]) if (scan.stem, "water") in files else None
            if scan.sequence == "MEGA-PRESS":
                if scan.acq not in bases:
                    root = Path(basis_dirs[scan.acq])
                    bases[scan.acq] = (read_fsl_basis(root / "diff"), read_fsl_basis(root / "off"))
                diff = nifti_mrs.read(files[(scan.stem, "diff")])
                off = nifti_mrs.read(files[(scan.stem, "off")])
                fractions = _fractions(bids, scan, off.affine, log)
                fit_mega_scan(diff, off, *bases[scan.acq], out_dir, scan.stem, water=water, fractions=fractions,
                              off_options=fit_options, quant=quant, qc=qc_rules, figure=scan.stem in with_figure)
                produced = {
                    "fit_tsv": f"{scan.stem}_fit.tsv", "fit_json": f"{scan.stem}_fit.json",
                    "fit_nifti": f"{scan.stem}_desc-fit_svs.nii.gz", "fitoff_nifti": f"{scan.stem}_desc-fitoff_svs.nii.gz",
                    "fit_png": f"{scan.stem}_fit.png", "fitoff_png": f"{scan.stem}_fitoff.png",
                }
            else:
                if scan.acq not in bases:
                    bases[scan.acq] = read_fsl_basis(basis_dirs[scan.acq])
                data = nifti_mrs.read(files[(scan.stem, "processed")])
                fractions = _fractions(bids, scan, data.affine, log)
                fit_scan(data, bases[scan.acq], out_dir, scan.stem, water=water, fractions=fractions,
                         fit_options=fit_options, quant=quant, qc=qc_rules, figure=scan.stem in with_figure,
                         sequence=scan.sequence)
                produced = {
                    "fit_tsv": f"{scan.stem}_fit.tsv", "fit_json": f"{scan.stem}_fit.json",
                    "fit_nifti": f"{scan.stem}_desc-fit_svs.nii.gz", "fit_png": f"{scan.stem}_fit.png",
                }
            if scan.stem not in with_figure:  # execution.scan_figures: no PNGs for this scan
                produced = {k: v for k, v in produced.items() if not v.endswith(".png")}
            return fractions, {k: out_dir / v for k, v in produced.items() if (out_dir / v).is_file()}

        out, error = run_scan(scan.stem, bids / scan.svs, "fitting", one, on_error, log, out_dir)
        if error:
            rows.append(error)
            continue
        fractions, paths = out
        log.info("%s: fitted (%s), fractions %s", scan.stem, scan.sequence, fractions)
        rows += manifest_rows(scan.stem, paths)
    return rows


# ---- study QC table ----------------------------------------------------------------------------
def qc_table(process_manifests, fit_manifests=()) -> pd.DataFrame:
    """One row per scan: the processing QC sidecar's scalars, plus (when fitted) the fit's
    linewidth ``fwhm_hz``, its SNR ``fit_snr`` and the voxel tissue fractions. Scans a stage
    excluded (``execution.on_bad_scan: exclude``) get ``scan_qc_pass`` false and the error as
    ``qc_reason``; ``qc_warnings`` lists what a fitted scan lacks (e.g. its water reference)."""
    from ..processing.qc import collect_qc

    proc = read_manifests(process_manifests)
    table = collect_qc(proc.loc[proc["output"] == "qc_json", "path"].tolist())
    fits = read_manifests(fit_manifests)
    failures = {**failed_scans(fits), **failed_scans(proc)}  # the first failing stage wins
    if len(fits):
        extra = []
        for row in fits[fits["output"] == "fit_tsv"].itertuples(index=False):
            fit = pd.read_csv(row.path, sep="\t", na_values=["n/a"], keep_default_na=False, nrows=1)
            extra.append(
                {
                    "stem": row.stem,
                    "fit_snr": float(fit["snr"].iloc[0]),
                    "fwhm_hz": float(fit["fwhm_hz"].iloc[0]),
                    "spectrometer_mhz": float(fit["spectrometer_mhz"].iloc[0]) if "spectrometer_mhz" in fit else float("nan"),
                    "f_gm": float(fit["f_gm"].iloc[0]),
                    "f_wm": float(fit["f_wm"].iloc[0]),
                    "f_csf": float(fit["f_csf"].iloc[0]),
                    # e.g. no water reference: water-scaled values unavailable (quantify.table)
                    "qc_warnings": str(fit["warnings"].iloc[0]) if "warnings" in fit and fit["warnings"].notna().iloc[0] else "",
                }
            )
        table = table.drop(columns=[c for c in ("fwhm_hz", "spectrometer_mhz", "f_gm", "f_wm", "f_csf") if c in table.columns])
        if extra:
            table = table.merge(pd.DataFrame(extra), on="stem", how="left", validate="one_to_one")
    # Excluded scans (execution.on_bad_scan: exclude) stay visible, with the reason; a scan that
    # was processed but not fitted keeps its processing QC columns. scan_qc_pass here is the
    # stages' verdict only; the study table adds the configured exclusion rules.
    known = set(table["stem"]) if len(table) else set()
    missing = pd.DataFrame({"stem": sorted(set(failures) - known)})
    table = pd.concat([table, missing], ignore_index=True) if len(missing) else table
    table = table.sort_values("stem", ignore_index=True)
    table["scan_qc_pass"] = ~table["stem"].isin(failures)  # processing/scan QC (the stages)
    table["qc_reason"] = [failures.get(stem, "") for stem in table["stem"]]
    if "qc_warnings" in table.columns:
        table["qc_warnings"] = table["qc_warnings"].fillna("")
    return table


# ---- study table, statistics, recovery, report ------------------------------------------------
def stats_options(config: Mapping, source: str | None = None):
    from ..stats import stats_options_from_config

    return stats_options_from_config(config, source)


def study_table(fit_manifests, qc_tsv, participants_tsv, sessions_tsvs, config, source=None) -> pd.DataFrame:
    from ..stats import build_metabolite_table

    fits = read_manifests(fit_manifests)
    fit_tables = fits.loc[fits["output"] == "fit_tsv", "path"].tolist()
    return build_metabolite_table(fit_tables, qc_tsv, participants_tsv, sessions_tsvs, stats_options(config, source).exclusion)


STATS_TABLES = (
    "exclusions",
    "group_comparisons",
    "covariate_effects",
    "correlations",
    "longitudinal_parallel",
    "longitudinal_within_arm",
    "longitudinal_change_correlations",
    "crossover",
)


def recovery(stats_dir, truth_dir, out_tsv, config, source=None) -> pd.DataFrame:
    """Compare the statistics with the planted effects (the only reader of the truth)."""
    from ..stats.recovery import read_truth, recover, summary_table
    from ..stats.tables import read_table, write_table

    opts = stats_options(config, source)
    results = {}
    for name in STATS_TABLES:
        path = Path(stats_dir) / f"{name}.tsv"
        if path.is_file() and path.stat().st_size > 1:
            try:
                results[name] = read_table(path)
            except InputError:
                results[name] = pd.DataFrame()
    truth_file = Path(truth_dir) / "effects.tsv"
    table, summary = recover(read_truth(truth_file), results, opts.recovery_measures, opts.fdr_q)
    out = Path(out_tsv)
    write_table(
        table,
        out,
        {"description": "planted effects vs estimates (truth never read by the analysis)", "summary": summary,
         "truth": str(truth_file)},
        ["kind", "effect_id", "matched_region", "acq"],
    )
    write_table(summary_table(summary), out.with_name("recovery_summary.tsv"), {"description": "recovery summary rates"}, None)
    return table
