"""Job ``fit_batch``: fit and quantify every processed scan of one batch."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import nifti_mrs
from ..study.manifests import failed_scans, manifest_rows, scan_dir
from ..configuration import FitJob
from .scans import figure_scans, run_scan

# The files each kind of scan's fit writes (DEVELOPERS.md, "Derived outputs").
PRESS_OUTPUTS = {"fit_tsv": "_fit.tsv", "fit_json": "_fit.json", "fit_nifti": "_desc-fit_svs.nii.gz", "fit_png": "_fit.png"}
MEGA_OUTPUTS = {**PRESS_OUTPUTS, "fitoff_nifti": "_desc-fitoff_svs.nii.gz", "fitoff_png": "_fitoff.png"}


def _fractions(bids: Path, scan, affine, log) -> dict | None:
    maps = {t: getattr(scan, f"probseg_{t.lower()}") for t in ("GM", "WM", "CSF")}
    if not all(maps.values()):
        return None
    from ..quantify.tissue import voxel_tissue_fractions

    return voxel_tissue_fractions(affine, {t: bids / p for t, p in maps.items()})


def _timing(job: FitJob, scan, bids: Path):
    """The scan's quantify options with the authoritative TE/TR (:meth:`FitJob.timing`) and a
    function giving the warnings for a header that disagrees with them (the header of the
    processed file, which keeps the scan's EchoTime/RepetitionTime; the raw file is named)."""
    from ..study.plausibility import header_disagreements

    te, tr, te_src, tr_src = job.timing(scan.acq)
    quant = dataclasses.replace(job.quantify, te_s=te, tr_s=tr)

    def notes(data) -> list[str]:
        return header_disagreements(data.header, bids / scan.svs, te_s=te, tr_s=tr, te_source=te_src, tr_source=tr_src)

    return quant, notes


def fit_batch(
    scans: pd.DataFrame,
    process_manifest: pd.DataFrame,
    basis_dirs: Mapping[str, str | os.PathLike],
    bids_dir: str | os.PathLike,
    deriv_dir: str | os.PathLike,
    options: FitJob | Mapping,
    *,
    log: logging.Logger | None = None,
) -> list[dict]:
    """Fit and quantify every scan of ``scans`` from its processed files; manifest rows back.
    ``options``: the rule's ``FitJob`` (or a config mapping, parsed into one)."""
    from ..basis.readers import read_fsl_basis
    from ..quantify.scan import fit_mega_scan, fit_scan

    job = FitJob.coerce(options)
    log = log or logging.getLogger("painmrs.fit")
    bids = Path(bids_dir)
    files = {(r.stem, r.output): r.path for r in process_manifest.itertuples(index=False)}
    not_processed = failed_scans(process_manifest)
    bases: dict[str, Any] = {}
    with_figure = figure_scans(scans["stem"], job.scan_figures)
    rows: list[dict] = []
    for scan in scans.itertuples(index=False):
        if scan.stem in not_processed:
            rows.append({"stem": scan.stem, "output": "error", "path": "", "sha256": "",
                         "message": f"not fitted: {not_processed[scan.stem]}"})
            continue
        out_dir = scan_dir(deriv_dir, scan.subject, scan.session)
        figure = scan.stem in with_figure

        def one(scan=scan, out_dir=out_dir, figure=figure):
            water = nifti_mrs.read(files[(scan.stem, "water")]) if (scan.stem, "water") in files else None
            quant, notes = _timing(job, scan, bids)
            if scan.sequence == "MEGA-PRESS":
                if scan.acq not in bases:
                    root = Path(basis_dirs[scan.acq])
                    bases[scan.acq] = (read_fsl_basis(root / "diff"), read_fsl_basis(root / "off"))
                diff = nifti_mrs.read(files[(scan.stem, "diff")])
                off = nifti_mrs.read(files[(scan.stem, "off")])
                fractions = _fractions(bids, scan, off.affine, log)
                fit_mega_scan(diff, off, *bases[scan.acq], out_dir, scan.stem, water=water, fractions=fractions,
                              diff_options=job.mega_diff_fit, off_options=job.fit, quant=quant, qc=job.qc,
                              figure=figure, warnings=notes(off))
                produced = MEGA_OUTPUTS
            else:
                if scan.acq not in bases:
                    bases[scan.acq] = read_fsl_basis(basis_dirs[scan.acq])
                data = nifti_mrs.read(files[(scan.stem, "processed")])
                fractions = _fractions(bids, scan, data.affine, log)
                fit_scan(data, bases[scan.acq], out_dir, scan.stem, water=water, fractions=fractions,
                         fit_options=job.fit, quant=quant, qc=job.qc, figure=figure, sequence=scan.sequence,
                         warnings=notes(data))
                produced = PRESS_OUTPUTS
            paths = {k: out_dir / f"{scan.stem}{suffix}" for k, suffix in produced.items()
                     if figure or not suffix.endswith(".png")}  # execution.scan_figures
            return fractions, {k: p for k, p in paths.items() if p.is_file()}

        out, error = run_scan(scan.stem, bids / scan.svs, "fitting", one, job.on_bad_scan, log, out_dir)
        if error:
            rows.append(error)
            continue
        fractions, paths = out
        log.info("%s: fitted (%s), fractions %s", scan.stem, scan.sequence, fractions)
        rows += manifest_rows(scan.stem, paths)
    return rows
