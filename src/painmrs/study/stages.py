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

import pandas as pd

from ..errors import InputError
from ..io import nifti_mrs
from .config import bad_scan_policy
from .batch import failed_scans, figure_scans, manifest_rows, read_manifests, run_scan, scan_dir
from .tables import write_tsv

def stage_options(config: Mapping, section: str, source: str | None = None):
    """The option object of a stage from its config section, parsed by the stage library
    itself (``painmrs.fitting.config``, ``painmrs.quantify.config``): one parser per section, so partial tables such as
    ``quantify.t2_ms`` update the defaults instead of replacing them, and unknown keys are
    errors naming the key."""
    from ..fitting.config import fit_options
    from ..quantify.config import qc_rules, quant_options

    parsers = {"fit": fit_options, "quantify": quant_options, "qc": qc_rules}
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


# ---- basis sets (supplied-basis checks and macromolecules: painmrs.basis.supplied) ---------------
def build_basis(
    sequence: Mapping[str, Any], sample_scan: str | os.PathLike, out_dir: str | os.PathLike, log=None, *, acq: str | None = None
) -> dict:
    """The basis set(s) for one acquisition (``sequences.<acq>`` of the config), as FSL-MRS JSON.

    PRESS-type: ``out_dir`` holds one basis: the user's ``basis`` (any format
    :func:`painmrs.basis.readers.load_basis` reads; required for STEAM and sLASER, which
    painmrs cannot simulate) or else a PRESS basis simulated on the sample scan's frequency
    and grid, plus the parametric ``macromolecules``.
    MEGA-PRESS: ``out_dir/diff`` (with the co-edited MM30) and ``out_dir/off``, simulated, or
    the user's ``basis: {diff: PATH, off: PATH}`` (see :func:`painmrs.basis.supplied.supplied_mega_basis`).
    ``acq`` (the acq label) only names the config keys in error messages.
    """
    from ..basis import supplied
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
            diff, off = supplied.supplied_mega_basis(sequence, sample, sample_scan, key, log,
                                                     add_macromolecules=with_macromolecules)
        else:
            sets = simulate_mega_press_basis(
                echo_time_ms=float(sequence["te_ms"]),
                edit_on_ppm=float(sequence["edit_on_ppm"]),
                edit_off_ppm=float(sequence["edit_off_ppm"]),
                include_mm=True,
                **grid,
            )
            diff, off = sets["DIFF"], sets["OFF"]
            empty = supplied.unedited(diff)
            diff = diff.subset([n for n in diff.names if n not in empty])
        write_fsl_basis(diff, out / "diff")
        write_fsl_basis(off, out / "off")
        names = {"diff": list(diff.names), "off": list(off.names)}
    elif kind in ("PRESS", "STEAM", "sLASER"):
        mm_names = sequence.get("macromolecules")
        if mm_names is not None:
            mm_names = supplied.macromolecule_names(mm_names, f"{key}.macromolecules")
        if sequence.get("basis") is not None:
            basis = supplied.supplied_basis(sequence, sample, sample_scan, key, log)
            mm_names = supplied.press_macromolecules(basis, mm_names, key, log)
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
            mm_names = supplied.PRESS_MACROMOLECULES if mm_names is None else mm_names
        added = [n for n in mm_names if n not in basis.names]
        basis = with_macromolecules(basis, mm_names)
        log.info("parametric macromolecules added: %s", added or "none")
        write_fsl_basis(basis, out)
        names = {"press": list(basis.names)}
    else:
        raise InputError(None, f"{key}.sequence", f"unknown sequence {kind!r}")
    log.info("basis for %s TE %s ms at %.4f MHz, %d points: %s", kind, sequence["te_ms"], grid["spectrometer_mhz"], grid["n_points"], names)
    return names


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
