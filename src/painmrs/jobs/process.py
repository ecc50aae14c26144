"""Job ``process_batch``: process every scan of one batch (coil combination ... QC)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import nifti_mrs
from ..study.manifests import manifest_rows, scan_dir
from ..configuration import ProcessJob
from .scans import excluded_row, figure_scans, run_scan


def process_batch(
    scans: pd.DataFrame,
    bids_dir: str | os.PathLike,
    deriv_dir: str | os.PathLike,
    options: ProcessJob | Mapping,
    *,
    log: logging.Logger | None = None,
    progress: Callable[[str], Any] | None = None,
) -> list[dict]:
    """Process every scan of ``scans`` (rows of scans.tsv); return the manifest rows.
    ``options``: the rule's ``ProcessJob`` (or a config mapping, parsed into one)."""
    from ..processing.pipeline import process_scan, write_processed

    job = ProcessJob.coerce(options)
    log = log or logging.getLogger("painmrs.process")
    bids = Path(bids_dir)
    with_figure = figure_scans(scans["stem"], job.scan_figures)
    rows: list[dict] = []
    for scan in scans.itertuples(index=False):
        if getattr(scan, "exclusion", ""):  # bad header found by the inventory (on_bad_scan: exclude)
            log.error("%s (%s): excluded by the inventory: %s", scan.stem, bids / scan.svs, scan.exclusion)
            rows.append(excluded_row(scan.stem, scan.exclusion))
            continue
        scan_options = job.for_sequence(scan.sequence)
        out_dir = scan_dir(deriv_dir, scan.subject, scan.session)

        def one(scan=scan, scan_options=scan_options, out_dir=out_dir):
            metab = nifti_mrs.read(bids / scan.svs)
            # A water reference always decays along time: a flat one has its axes swapped.
            water = nifti_mrs.check_time_axis(nifti_mrs.read(bids / scan.mrsref)) if scan.mrsref else None
            result = process_scan(metab, water, scan_options, stem=scan.stem)
            return result, write_processed(result, out_dir, scan.stem, figure=scan.stem in with_figure)

        out, error = run_scan(scan.stem, bids / scan.svs, "processing", one, job.on_bad_scan, log, out_dir)
        if error:
            rows.append(error)
            continue
        result, paths = out
        log.info("%s: processed (%s), outputs %s", scan.stem, result.sequence, ", ".join(sorted(paths)))
        rows += manifest_rows(scan.stem, paths)
        if progress is not None:
            progress(scan.stem)
    if not rows:
        raise InputError(None, "batch", "no scans in this batch")
    return rows
