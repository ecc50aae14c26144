"""Incremental study runs: per-batch and per-acquisition slices of the scans table, withdrawal
of participants that left the study, and the integrity check of per-scan derivatives.

The inventory checkpoint rewrites scans.tsv on every change of the BIDS folder, so no batch
rule reads it. Each batch reads only its slice (``inventory/batches/<batch>.tsv``) and each
basis only what defines it (``inventory/basis/<acq>.tsv``); a slice is rewritten only when
its bytes change, so Snakemake (mtime trigger) reruns only the jobs whose scans changed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from .. import atomic
from .manifests import sha256
from .layout import subject_batches

#: The columns of a scan that define its acquisition's basis set (with the config's sequence
#: settings, which the basis rule gets as a param).
BASIS_COLUMNS = ["acq", "sequence", "svs", "te_ms", "spectrometer_mhz"]


def _table_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g", lineterminator="\n")


def write_if_changed(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly these bytes (its mtime
    is then left alone, so nothing downstream reruns). True when written."""
    path = Path(path)
    if path.is_file() and path.read_bytes() == text.encode("utf-8"):
        return False
    atomic.write_text(path, text)
    return True


def _sync_folder(folder: Path, texts: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    changed = [name for name, text in texts.items() if write_if_changed(folder / f"{name}.tsv", text)]
    for stale in sorted(folder.glob("*.tsv")):
        if stale.stem not in texts:
            stale.unlink()
            changed.append(stale.stem)
    return changed


#: The files of a scan that its batch jobs read (paths relative to the BIDS root).
SCAN_FILE_COLUMNS = ("svs", "mrsref", "probseg_gm", "probseg_wm", "probseg_csf")


def with_file_digests(scans: pd.DataFrame, bids_dir) -> pd.DataFrame:
    """The scans with the SHA-256 of every file their batch reads (``<column>_sha256``), so a
    slice changes, and its batch reruns, when a file's content does. Needed because a
    simulated study is one directory output whose files are not per-batch inputs: a
    re-simulation with another design or seed must not leave results of the old data."""
    out = scans.copy()
    for column in SCAN_FILE_COLUMNS:
        if column in out.columns:
            out[f"{column}_sha256"] = [sha256(Path(bids_dir, p)) if p and Path(bids_dir, p).is_file() else ""
                                       for p in out[column].fillna("")]
    return out


def write_batch_slices(scans: pd.DataFrame, folder, n_batches: int, bids_dir=None) -> list[str]:
    """One slice of the scans table per batch (with the digests of its files when ``bids_dir``
    is given); returns the batches written or removed."""
    if bids_dir is not None:
        scans = with_file_digests(scans, bids_dir)
    indexed = scans.set_index("stem", drop=False)
    texts = {b: _table_text(indexed.loc[stems].reset_index(drop=True)) for b, stems in subject_batches(scans, n_batches).items()}
    return _sync_folder(Path(folder), texts)


def acquisitions_without_usable_scans(scans: pd.DataFrame) -> list[str]:
    """Acq labels all of whose scans the inventory excluded (``on_bad_scan: exclude``): their
    basis set and fits are skipped, not built on an excluded scan."""
    if "exclusion" not in scans.columns:
        return []
    usable = set(scans.loc[scans["exclusion"] == "", "acq"])
    return sorted(set(scans["acq"]) - usable)


def write_basis_slices(scans: pd.DataFrame, folder, log: logging.Logger | None = None) -> list[str]:
    """Per acquisition: the sample scan its basis is simulated on. The previous sample is kept
    while it is still a usable scan of the study (a new participant never moves it); else the
    first usable scan (the inventory lists usable scans first). An acquisition without a usable
    scan gets no slice (its basis stage is skipped: the workflow asks for the bases of usable
    scans only) and a warning in the log; its scans' reasons are in the QC table."""
    folder = Path(folder)
    log = log or logging.getLogger("painmrs.inventory")
    usable = scans[scans["exclusion"] == ""] if "exclusion" in scans.columns else scans
    texts = {}
    for acq in sorted(set(scans["acq"])):
        rows = usable[usable["acq"] == acq]
        if rows.empty:
            n = int((scans["acq"] == acq).sum())
            log.warning("acq-%s: all %d scan(s) excluded (execution.on_bad_scan: exclude): its basis set and fits "
                        "are skipped", acq, n)
            continue
        pick = rows.iloc[[0]]
        old = folder / f"{acq}.tsv"
        if old.is_file():
            previous = pd.read_csv(old, sep="\t", dtype=str, keep_default_na=False)
            kept = rows[rows["svs"] == previous["svs"].iloc[0]] if len(previous) else rows.iloc[[]]
            if len(kept):
                pick = kept.iloc[[0]]
        columns = [c for c in BASIS_COLUMNS if c in pick.columns]
        texts[acq] = _table_text(pick[columns].reset_index(drop=True))
    return _sync_folder(folder, texts)


def withdraw_participants(deriv_dir, subjects, log: logging.Logger | None = None) -> dict[str, int]:
    """Remove ``<deriv>/sub-X/`` of every participant no longer in the study; log each with
    the number of files removed. Returns participant -> files removed."""
    log = log or logging.getLogger("painmrs.inventory")
    deriv = Path(deriv_dir)
    removed: dict[str, int] = {}
    if not deriv.is_dir():
        return removed
    keep = set(subjects)
    for folder in sorted(deriv.glob("sub-*")):
        if folder.is_dir() and folder.name not in keep:
            n = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
            removed[folder.name] = n
            log.warning("%s withdrawn (no longer in the BIDS folder): removed %d derivative file(s) in %s", folder.name, n, folder)
    return removed


def manifest_problems(manifest, verified: dict | None = None) -> list[str]:
    """Files listed in a batch manifest that were edited or deleted since the batch wrote them
    (SHA-256 against the recorded one); [] when the manifest is absent or intact.

    ``verified`` (path -> [size, mtime_ns, sha256], updated in place): files whose size and
    modification time are those of an earlier check with the same digest are not hashed
    again (an edit changes the mtime; ``painmrs audit`` always hashes everything)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        return []
    table = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)
    problems = []
    for path, digest in zip(table["path"], table["sha256"]):
        if not path or not digest:
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            problems.append(f"{path} (deleted)")
            continue
        stamp = [st.st_size, st.st_mtime_ns, digest]
        if verified is not None and verified.get(path) == stamp:
            continue
        if sha256(path) != digest:
            problems.append(f"{path} (edited: SHA-256 differs from the batch manifest)")
        elif verified is not None:
            verified[path] = stamp
    return problems


def _marked_incomplete(manifest, incomplete_dir) -> bool:
    """Snakemake's marker of an output whose job has not finished: ``<dir>/<base64 of path>``."""
    if not incomplete_dir:
        return False
    import base64

    name = base64.urlsafe_b64encode(str(manifest).encode()).decode()
    return Path(incomplete_dir, name).is_file()


def _read_verified(path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def invalidate_tampered(manifests, dry_run: bool, log: logging.Logger | None = None, *,
                        slices=(), stages=("process", "fit"), batches_root=None,
                        downstream=(), verified_cache=None, incomplete_dir=None) -> list[str]:
    """Remove each batch manifest whose derivative files were edited or deleted (SHA-256
    against the recorded one), so Snakemake rebuilds the batch: an edited value is never
    absorbed into the study tables. A batch that has a slice (``slices``: its inventory
    slice files) but lost a stage's manifest is rebuilt too.

    Snakemake re-evaluates the inputs of a job downstream of a finished checkpoint only when
    that job has to run anyway (measured: a removed fit manifest alone gave "Nothing to be
    done"), so the study-level outputs that read the manifests (``downstream``, e.g. qc.tsv)
    are removed as well: their rules then rerun, see the missing manifests and rebuild the
    batches first. In a dry run nothing is removed; the problem is only logged. Returns the
    manifests concerned. ``verified_cache``: a JSON file remembering the files already
    verified (see :func:`manifest_problems`), so a finished study is not re-hashed on every run."""
    log = log or logging.getLogger("painmrs")
    verified = _read_verified(verified_cache) if verified_cache else None
    hit = []
    for manifest in manifests:
        problems = manifest_problems(manifest, verified)
        if not problems and _marked_incomplete(manifest, incomplete_dir):
            # written by a job that was killed before Snakemake recorded its end (observed:
            # --rerun-incomplete then kept the manifest, and its marker, after the checkpoint)
            problems = [f"{manifest} (its job was interrupted: Snakemake's incomplete marker)"]
        if not problems:
            continue
        hit.append(str(manifest))
        action = "would be rebuilt (dry run)" if dry_run else "is rebuilt"
        log.warning(
            "batch %s (%s): %d derivative file(s) changed since the batch wrote them, e.g. %s; the batch %s",
            Path(manifest).stem, manifest, len(problems), problems[0], action,
        )
        if not dry_run:
            Path(manifest).unlink()
    if batches_root is not None:
        for batch in sorted(Path(s).stem for s in slices):
            for stage in stages:
                manifest = Path(batches_root, stage, f"{batch}.tsv")
                if str(manifest) not in hit and not manifest.is_file() and Path(batches_root, stage).is_dir():
                    hit.append(str(manifest))
                    log.warning("batch %s: %s is missing; the batch %s", batch, manifest,
                                "would be rebuilt (dry run)" if dry_run else "is rebuilt")
    if verified is not None and not dry_run and manifests:
        atomic.write_text(Path(verified_cache), json.dumps(verified, sort_keys=True))
    if hit and not dry_run:
        for path in downstream:
            if Path(path).is_file():
                Path(path).unlink()
                log.warning("removed %s so that it is rebuilt from the rebuilt batches", path)
    return hit


def invalidate_batches(batches_root, changed, log: logging.Logger | None = None,
                       stages=("process", "fit")) -> list[str]:
    """Remove the manifests of the batches whose slice the inventory just rewrote (a participant
    added, withdrawn or re-acquired), so the batch is rebuilt in this run.

    The slices change while the inventory checkpoint runs; Snakemake decided before that which
    batch jobs are up to date and, after the checkpoint, re-checks only the jobs downstream
    that run anyway (qc_table, ...). Measured on the demo: a participant added to an existing
    batch reran the inventory and the study tables but not its batch (the study table silently
    lacked it). With its manifests gone, the batch is missing output and runs."""
    log = log or logging.getLogger("painmrs.inventory")
    removed = []
    for batch in sorted(changed):
        for stage in stages:
            manifest = Path(batches_root, stage, f"{batch}.tsv")
            if manifest.is_file():
                manifest.unlink()
                removed.append(str(manifest))
                log.info("batch %s changed: removed %s so that the batch is rebuilt", batch, manifest)
    return removed


def remove_stale_batches(batches_root, current, log: logging.Logger | None = None) -> list[str]:
    """Remove the manifests (``<root>/<stage>/<batch>.tsv``) of batches that no longer exist
    (their participants all withdrawn), so no later rule, manifest or report reads them."""
    log = log or logging.getLogger("painmrs.inventory")
    removed = []
    for manifest in sorted(Path(batches_root).glob("*/*.tsv")):
        if manifest.stem not in set(current):
            manifest.unlink()
            removed.append(str(manifest))
            log.warning("batch %s has no participants left: removed %s", manifest.stem, manifest)
    return removed
