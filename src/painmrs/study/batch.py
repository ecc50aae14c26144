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
import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..io import nifti_mrs
from .tables import write_tsv

MANIFEST_COLUMNS = ["stem", "output", "path", "sha256", "message"]
ON_SCAN_ERROR = ("fail", "skip")


class ScanFailure(RuntimeError):
    """A stage failed on one scan; the message names the scan and its file."""


def run_scan(stem: str, source, step: str, func, on_error: str, log: logging.Logger) -> tuple[Any, dict | None]:
    """Run ``func()`` for one scan. On failure: raise ScanFailure naming the scan ("fail"), or
    log it and return an ``error`` manifest row so the study goes on and the QC table shows
    why the scan is missing ("skip")."""
    try:
        return func(), None
    except Exception as exc:  # any library failure on this scan
        message = f"{step} failed: {type(exc).__name__}: {exc}"
        if on_error != "skip":
            raise ScanFailure(f"{stem} ({source}): {message}") from exc
        log.error("%s (%s): %s (skipped: execution.on_scan_error is 'skip')", stem, source, message)
        return None, {"stem": stem, "output": "error", "path": "", "sha256": "", "message": message}


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
    on_error = (config.get("execution") or {}).get("on_scan_error", "fail")
    bids = Path(bids_dir)
    rows: list[dict] = []
    for scan in scans.itertuples(index=False):
        options = processing_options(config, scan.sequence, config_source)

        def one(scan=scan, options=options):
            metab = nifti_mrs.read(bids / scan.svs)
            water = nifti_mrs.read(bids / scan.mrsref) if scan.mrsref else None
            result = process_scan(metab, water, options, stem=scan.stem)
            return result, write_processed(result, scan_dir(deriv_dir, scan.subject, scan.session), scan.stem)

        out, error = run_scan(scan.stem, bids / scan.svs, "processing", one, on_error, log)
        if error:
            rows.append(error)
            continue
        result, paths = out
        log.info("%s: processed (%s), outputs %s", scan.stem, result.sequence, ", ".join(sorted(paths)))
        rows += manifest_rows(scan.stem, paths)
    if not rows:
        raise InputError(None, "batch", "no scans in this batch")
    return rows
