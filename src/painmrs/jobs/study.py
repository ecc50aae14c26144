"""Study-level jobs: the QC table, the study table, the statistics and the recovery of a
simulated study's planted effects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..study.manifests import failed_scans, read_manifests
from ..configuration import RecoveryJob, StatsJob, StudyTableJob

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


def qc_table(process_manifests, fit_manifests=()) -> pd.DataFrame:
    """One row per scan: the processing QC sidecar's scalars, plus (when fitted) the fit's
    linewidth ``fwhm_hz``, its SNR ``fit_snr``, the voxel tissue fractions and its ``fit_flags``. Scans a stage
    excluded (``execution.on_bad_scan: exclude``) get ``scan_qc_pass`` false and the error as
    ``qc_reason``; ``qc_warnings`` lists what a fitted scan lacks (e.g. its water reference)."""
    from ..processing.qc import collect_qc
    from ..quantify.qc import is_fit_flag

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
                    # a fit that is no solution (painmrs.quantify.qc.fit_flags): fit_at_bound:..., ...
                    "fit_flags": ";".join(t for t in (str(fit["qc_flags"].iloc[0]) if "qc_flags" in fit
                                                      and fit["qc_flags"].notna().iloc[0] else "").split(";")
                                          if is_fit_flag(t)),
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
    for column in ("qc_warnings", "fit_flags"):
        if column in table.columns:
            table[column] = table[column].fillna("")
    return table


def study_table(fit_manifests, qc_tsv, participants_tsv, sessions_tsvs, options: StudyTableJob | Mapping) -> pd.DataFrame:
    """The tidy study table (results/metabolites.tsv) with the configured exclusion rules."""
    from ..stats import build_metabolite_table

    job = StudyTableJob.coerce(options)
    fits = read_manifests(fit_manifests)
    fit_tables = fits.loc[fits["output"] == "fit_tsv", "path"].tolist()
    return build_metabolite_table(fit_tables, qc_tsv, participants_tsv, sessions_tsvs, job.exclusion)


def statistics(table: pd.DataFrame, options: StatsJob | Mapping, out_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Group comparisons, pain correlations, treatment effects (the truth is never read here)."""
    from ..stats import run_statistics

    return run_statistics(table, StatsJob.coerce(options).stats, out_dir)


def recovery(stats_dir, truth_dir, out_tsv, options: RecoveryJob | Mapping) -> pd.DataFrame:
    """Compare the statistics with the planted effects (the only reader of the truth)."""
    from ..stats.recovery import read_truth, recover, summary_table
    from ..stats.tables import read_table, write_table

    job = RecoveryJob.coerce(options)
    results = {}
    for name in STATS_TABLES:
        path = Path(stats_dir) / f"{name}.tsv"
        if path.is_file() and path.stat().st_size > 1:
            try:
                results[name] = read_table(path)
            except InputError:
                results[name] = pd.DataFrame()
    truth_file = Path(truth_dir) / "effects.tsv"
    table, summary = recover(read_truth(truth_file), results, job.measures, job.fdr_q)
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
