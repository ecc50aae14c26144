"""Batched per-scan stages: one workflow job handles many scans.

A 1,000-scan study run as one job per scan pays the Python/numpy start-up and the
scheduler overhead 1,000 times (and floods SLURM); ``execution.scans_per_job`` scans per job
keeps the job count small. Each batch job writes the per-scan files named in DEVELOPERS.md
("Derived outputs") and a batch manifest TSV listing every file it wrote with its SHA-256:
the manifest is the job's declared output, so Snakemake tracks completion per batch, and
later stages and the provenance audit read the files from it.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import nifti_mrs
from .config import bad_scan_policy
from .tables import write_tsv

MANIFEST_COLUMNS = ["stem", "output", "path", "sha256", "message"]
#: execution.scan_figures: which scans get their per-scan PNGs (QC and fit figures). Rendering
#: them is most of a scan's CPU time (~0.5-1 s of ~1.5 s), so a big study can render one
#: example per batch job; the demo renders all.
SCAN_FIGURES = ("all", "first_per_batch", "none")


def figure_scans(stems, config: Mapping) -> set[str]:
    """The stems of a batch (in batch order) whose per-scan figures are rendered."""
    mode = (config.get("execution") or {}).get("scan_figures", "all")
    if mode not in SCAN_FIGURES:
        raise InputError(None, "execution.scan_figures", f"{mode!r} is not one of {', '.join(SCAN_FIGURES)}")
    stems = list(stems)
    if mode == "all":
        return set(stems)
    if mode == "first_per_batch":
        return set(stems[:1])
    return set()


class ScanFailure(RuntimeError):
    """A stage failed on one scan; the message names the scan and its file."""


def run_scan(
    stem: str, source, step: str, func, on_error: str, log: logging.Logger, out_dir: str | os.PathLike | None = None
) -> tuple[Any, dict | None]:
    """Run ``func()`` for one scan. On failure: raise ScanFailure naming the scan ("fail"), or
    log it and return an ``error`` manifest row so the study goes on and the QC table shows
    why the scan is missing ("exclude"; ``on_error`` comes from config.bad_scan_policy). Either way the
    files of this scan that ``func`` wrote into ``out_dir`` before failing are removed: a
    half-written set of outputs must not look like a result."""
    before = _scan_files(out_dir, stem)
    try:
        return func(), None
    except Exception as exc:  # any library failure on this scan
        removed = _remove_new_files(out_dir, stem, before)
        message = f"{step} failed: {type(exc).__name__}: {exc}"
        if removed:
            log.warning("%s: removed %d partial output file(s): %s", stem, len(removed), ", ".join(removed))
        if on_error != "exclude":
            raise ScanFailure(f"{stem} ({source}): {message}") from exc
        log.error("%s (%s): %s (excluded: execution.on_bad_scan is 'exclude')", stem, source, message)
        return None, {"stem": stem, "output": "error", "path": "", "sha256": "", "message": message}


_OTHER_SCAN = re.compile(r"^(sub|ses|task|acq|nuc|voi|rec|run|echo|inv)-")


def _scan_files(out_dir, stem: str) -> dict[Path, int]:
    """A scan's files in ``out_dir`` (``<stem>_*``) with their modification times."""
    if out_dir is None or not Path(out_dir).is_dir():
        return {}
    files = {}
    for p in Path(out_dir).glob(f"{glob.escape(stem)}_*"):
        # '<stem>_run-2_...' belongs to another scan (a longer stem), '<stem>_desc-...' to this one.
        if p.is_file() and not _OTHER_SCAN.match(p.name[len(stem) + 1 :]):
            files[p] = p.stat().st_mtime_ns
    return files


def _remove_new_files(out_dir, stem: str, before: Mapping[Path, int]) -> list[str]:
    """Delete the scan's files created or rewritten since ``before`` (outputs of the failed step)."""
    removed = []
    for path, mtime in sorted(_scan_files(out_dir, stem).items()):
        if before.get(path) != mtime:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def excluded_row(stem: str, reason: str) -> dict:
    """The manifest row of a scan the inventory excluded (``exclusion`` column of scans.tsv)."""
    return {"stem": stem, "output": "error", "path": "", "sha256": "", "message": f"excluded by the inventory: {reason}"}


def scan_dir(deriv_dir: str | os.PathLike, subject: str, session: str) -> Path:
    """``<deriv>/sub-<s>/[ses-<e>/]mrs`` for one scan."""
    parts = [subject] + ([session] if session else []) + ["mrs"]
    return Path(deriv_dir, *parts)


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_rows(stem: str, paths: Mapping[str, Path]) -> list[dict]:
    return [
        {"stem": stem, "output": key, "path": str(path), "sha256": sha256(path), "message": ""}
        for key, path in sorted(paths.items())
    ]


def write_manifest(rows: list[dict], path: str | os.PathLike) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_tsv(frame, path)
    return frame


def read_manifests(paths) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False) for p in paths]
    if not frames:
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    if "message" not in table.columns:
        table["message"] = ""
    return table.sort_values(["stem", "output"], ignore_index=True)


def failed_scans(manifest: pd.DataFrame) -> dict[str, str]:
    """stem -> error message for the scans a stage skipped."""
    errors = manifest[manifest["output"] == "error"]
    return dict(zip(errors["stem"], errors["message"]))


def processing_options(config: Mapping, sequence: str, source: str | None = None):
    """ProcessingOptions from the config's ``processing`` section, for one scan's sequence."""
    from ..processing.pipeline import ProcessingOptions

    options = ProcessingOptions.from_config(config.get("processing") or {}, source=source)
    if options.sequence == "auto" and sequence in ("PRESS", "MEGA-PRESS"):
        options = dataclasses.replace(options, sequence=sequence)
    return options


def process_batch(
    scans: pd.DataFrame,
    bids_dir: str | os.PathLike,
    deriv_dir: str | os.PathLike,
    config: Mapping,
    *,
    config_source: str | None = None,
    log: logging.Logger | None = None,
    progress: Callable[[str], Any] | None = None,
) -> list[dict]:
    """Process every scan of ``scans`` (rows of scans.tsv); return the manifest rows."""
    from ..processing.pipeline import process_scan, write_processed

    log = log or logging.getLogger("painmrs.process")
    on_error = bad_scan_policy(config)
    bids = Path(bids_dir)
    with_figure = figure_scans(scans["stem"], config)
    rows: list[dict] = []
    for scan in scans.itertuples(index=False):
        if getattr(scan, "exclusion", ""):  # bad header found by the inventory (on_bad_scan: exclude)
            log.error("%s (%s): excluded by the inventory: %s", scan.stem, bids / scan.svs, scan.exclusion)
            rows.append(excluded_row(scan.stem, scan.exclusion))
            continue
        options = processing_options(config, scan.sequence, config_source)
        out_dir = scan_dir(deriv_dir, scan.subject, scan.session)

        def one(scan=scan, options=options, out_dir=out_dir):
            metab = nifti_mrs.read(bids / scan.svs)
            # A water reference always decays along time: a flat one has its axes swapped.
            water = nifti_mrs.check_time_axis(nifti_mrs.read(bids / scan.mrsref)) if scan.mrsref else None
            result = process_scan(metab, water, options, stem=scan.stem)
            return result, write_processed(result, out_dir, scan.stem, figure=scan.stem in with_figure)

        out, error = run_scan(scan.stem, bids / scan.svs, "processing", one, on_error, log, out_dir)
        if error:
            rows.append(error)
            continue
        result, paths = out
        log.info("%s: processed (%s), outputs %s", scan.stem, result.sequence, ", ".join(sorted(paths)))
        rows += manifest_rows(scan.stem, paths)
    if not rows:
        raise InputError(None, "batch", "no scans in this batch")
    return rows
