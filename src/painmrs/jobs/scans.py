"""Running one stage over the scans of a batch: one scan's failure is either the job's
failure, naming the scan and its file (``execution.on_bad_scan: fail``), or an ``error``
manifest row on record while the study goes on (``exclude``); a failed scan's partial
outputs never stay behind. Also which scans of a batch get their figures."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..configuration import SCAN_FIGURES


def figure_scans(stems, mode: str = "all") -> set[str]:
    """The stems of a batch (in batch order) whose per-scan figures are rendered
    (``execution.scan_figures``)."""
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
    why the scan is missing ("exclude"; ``on_error`` is ``execution.on_bad_scan``). Either way the
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
