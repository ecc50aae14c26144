"""The study inventory: scans found on disk, cross-checked against the study tables.

``build_inventory`` is what the workflow's ``inventory`` checkpoint runs: it parses the
MRS-BIDS folder (:mod:`.layout`), loads and validates ``participants.tsv`` and every
``sub-<s>_sessions.tsv`` (:mod:`.tables`), and refuses a study whose data and tables
disagree (a subject with scans but no participants row, a participant without scans, a
scanned session missing from the subject's sessions table). The scans table it writes is
the single source of the workflow's wildcards.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .config import bad_scan_policy
from .layout import find_scans
from .tables import load_participants, load_sessions, sessions_path, write_tsv


@dataclasses.dataclass(frozen=True)
class Inventory:
    scans: pd.DataFrame  # one row per svs scan, layout.SCAN_COLUMNS
    participants: pd.DataFrame  # participants.tsv, validated
    sessions: pd.DataFrame  # all subjects' sessions tables, long, with a 'subject' column


# Tolerances for the header checks: TE as the scanner rounds it; one scanner's frequency
# drifts by far less than 0.5 % between a scan and its water reference.
TE_TOLERANCE_MS = 1.0
FREQUENCY_TOLERANCE = 0.005


def _scan_header(path: Path):
    """The validated NIfTI-MRS header of ``path`` (the data are not decompressed)."""
    from ..io.nifti_mrs import read_header

    return read_header(path)


def _check_scan(bids: Path, row, sequences: Mapping, timing: Mapping | None = None, log=None) -> tuple[float, float]:
    """(TE in ms, frequency in MHz) of one scan after checking its (and its water
    reference's) header and data; ``InputError`` naming the file and field otherwise. The TE
    is the config's (``sequences.<acq>.te_ms``, authoritative: the basis is made for it); a
    header TE that differs is logged here and recorded in the scan's fit warnings
    (:func:`painmrs.study.plausibility.header_disagreements`). A nucleus other than 1H is refused."""
    from ..io.nifti_mrs import check_time_axis, read
    from ..mrs import check_nucleus
    from .plausibility import check_water_reference, header_disagreements

    path = bids / row.svs
    info = _scan_header(path)
    check_nucleus(info.nucleus, path)
    mhz = info.spectrometer_mhz
    declared = float(sequences[row.acq]["te_ms"])
    te = info.extension.get("EchoTime")
    if te is not None:
        try:
            float(te)
        except (TypeError, ValueError):
            raise InputError(path, "EchoTime", f"{te!r} is not a number of seconds") from None
    tr_ms = sequences[row.acq].get("tr_ms")
    for text in header_disagreements(info.extension, path, te_s=declared / 1000.0,
                                     tr_s=None if tr_ms is None else float(tr_ms) / 1000.0,
                                     te_source=f"config sequences.{row.acq}.te_ms",
                                     tr_source=f"config sequences.{row.acq}.tr_ms"):
        (log or logging.getLogger("painmrs.inventory")).warning("%s: %s", row.stem, text)
    te_ms = declared
    if row.mrsref:
        ref = bids / row.mrsref
        ref_info = _scan_header(ref)
        check_nucleus(ref_info.nucleus, ref, "water reference")
        ref_mhz = ref_info.spectrometer_mhz
        if abs(ref_mhz - mhz) > FREQUENCY_TOLERANCE * mhz:
            raise InputError(
                ref, "SpectrometerFrequency", f"{ref_mhz:g} MHz but its scan {row.svs} has {mhz:g} MHz: not the same scanner"
            )
    # The data (NaN/Inf, all-zero, corrupt samples, truncated files), so that `painmrs validate`
    # and the workflow agree; then the water reference must be water, of this scan's TE/TR
    # (painmrs.study.plausibility).
    metab = read(path)
    if row.mrsref:
        water = check_time_axis(read(bids / row.mrsref))
        check_water_reference(water, metab, **dict(timing or {}))
    return te_ms, mhz


def water_timing(config: Mapping) -> dict:
    """The configured water reference TE/TR (``quantify.water_te_s``/``water_tr_s``, seconds),
    when the water reference is acquired with other timings than its scans."""
    section = config.get("quantify") or {}
    return {key: float(section[key]) for key in ("water_te_s", "water_tr_s") if section.get(key) is not None}


def check_headers(bids: Path, scans: pd.DataFrame, sequences: Mapping, on_bad_scan: str = "fail", log=None,
                  timing: Mapping | None = None) -> pd.DataFrame:
    """Read every scan's header and data: it must be valid NIfTI-MRS (:func:`painmrs.io.nifti_mrs.read`:
    no NaN/Inf, all-zero or corrupt samples; 1H only), a header TE/TR other than the config's
    sequence's is logged (the config's wins: the basis set is made for its TE), and a water
    reference must come from the same scanner frequency, be
    water and match the scan's TE/TR (:func:`painmrs.study.plausibility.check_water_reference`;
    ``timing``: the configured water TE/TR, :func:`water_timing`). Adds ``te_ms``, ``spectrometer_mhz``
    and ``exclusion`` columns. A bad scan raises ``InputError`` (``on_bad_scan: fail``) or is
    kept with the error as its ``exclusion`` reason (``exclude``); later stages skip it."""
    log = log or logging.getLogger("painmrs.inventory")
    te_col, mhz_col, reasons = [], [], []
    for row in scans.itertuples():
        try:
            te_ms, mhz = _check_scan(bids, row, sequences, timing, log)
            reason = ""
        except InputError as exc:
            if on_bad_scan != "exclude":
                raise
            te_ms, mhz, reason = float("nan"), float("nan"), str(exc)
            log.error("%s: excluded (execution.on_bad_scan is 'exclude'): %s", row.stem, reason)
        te_col.append(te_ms)
        mhz_col.append(mhz)
        reasons.append(reason)
    scans = scans.assign(te_ms=te_col, spectrometer_mhz=mhz_col, exclusion=reasons)
    # One basis set is simulated per acq label, at one field strength: scanners of different
    # field (e.g. 123.2 and 127.8 MHz) need their own acq labels. A study-level problem: an error.
    usable = scans[scans["exclusion"] == ""]
    for acq, group in usable.groupby("acq"):
        lo, hi = group["spectrometer_mhz"].min(), group["spectrometer_mhz"].max()
        if hi - lo > FREQUENCY_TOLERANCE * lo:
            odd = group.loc[group["spectrometer_mhz"].idxmax()]
            raise InputError(
                bids / odd.svs, "SpectrometerFrequency",
                f"acq-{acq} mixes scans at {lo:g} and {hi:g} MHz; give each scanner or field its own acq label",
            )
    # Usable scans first: the workflow simulates each acq's basis on its first listed scan.
    order = scans.assign(_excluded=scans["exclusion"] != "").sort_values(["_excluded", "stem"], kind="stable")
    return order.drop(columns="_excluded").reset_index(drop=True)


#: Scan-level columns of the study table (from the fits and QC) a model may adjust for.
SCAN_COVARIATES = ("f_gm", "f_wm", "f_csf", "snr", "fwhm_hz")


def configured_covariates(config: Mapping) -> list[tuple[str, str]]:
    """(dotted config key, covariate) for every covariate the config names explicitly
    (``analysis.families.<name>.covariates``, ``stats.group_comparison.covariates``,
    ``stats.correlation.covariates``, ``stats.longitudinal[i].covariates``)."""

    def listed(value) -> list[str]:
        if value is None:
            return []
        return [str(value)] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    found = []
    analysis = config.get("analysis") or {}
    for name, family in sorted((analysis.get("families") or {}).items()):
        if isinstance(family, Mapping):
            key = f"analysis.families.{name}.covariates"
            found += [(key, c) for c in listed(family.get("covariates"))]
    stats = config.get("stats") or {}
    for section in ("group_comparison", "correlation"):
        if isinstance(stats.get(section), Mapping):
            found += [(f"stats.{section}.covariates", c) for c in listed(stats[section].get("covariates"))]
    for i, study in enumerate(stats.get("longitudinal") or []):
        if isinstance(study, Mapping):
            found += [(f"stats.longitudinal[{i}].covariates", c) for c in listed(study.get("covariates"))]
    return found


def check_covariates(config: Mapping, participants: pd.DataFrame, sessions: pd.DataFrame,
                     participants_file, config_source=None) -> None:
    """Every covariate the config names must be a participants.tsv or sessions column (or a
    scan-level column of the study table): a missing one would otherwise be dropped from the
    model with only a note. ``InputError`` naming the config file and key."""
    available = (set(participants.columns) | set(sessions.columns) | set(SCAN_COVARIATES)) - {
        "participant_id", "session_id", "subject"}
    for key, covariate in configured_covariates(config):
        if covariate not in available:
            raise InputError(
                config_source or "config", key,
                f"covariate {covariate!r} is not a column of {participants_file} or the sessions tables "
                f"nor a scan-level column ({', '.join(SCAN_COVARIATES)}); available: {', '.join(sorted(available))}",
            )


def check_covariates_on_disk(config: Mapping, bids_dir: str | os.PathLike, config_source=None) -> None:
    """:func:`check_covariates` from the header lines of ``participants.tsv`` and the sessions
    tables only (cheap enough for the workflow's load, before the inventory job, of a study
    already on disk); nothing to check when participants.tsv is absent."""
    bids = Path(bids_dir)
    participants_file = bids / "participants.tsv"
    if not participants_file.is_file():
        return

    def header(path: Path) -> list[str]:
        with path.open(encoding="utf-8-sig") as fh:
            return [c.strip() for c in fh.readline().rstrip("\r\n").split("\t")]

    session_columns: set[str] = set()
    for path in sorted(bids.glob("sub-*/sub-*_sessions.tsv")):
        session_columns |= set(header(path))
    check_covariates(config, pd.DataFrame(columns=header(participants_file)),
                     pd.DataFrame(columns=sorted(session_columns)), participants_file, config_source)


def build_inventory(bids_dir: str | os.PathLike, config: Mapping, *, read_headers: bool = True, log=None,
                    config_source: str | os.PathLike | None = None) -> Inventory:
    """Scans, participants and sessions of an MRS-BIDS study, cross-checked. Table and layout
    problems are errors; a scan with a bad header is an error or an exclusion, as
    ``execution.on_bad_scan`` says. Covariates the config names must be table columns
    (:func:`check_covariates`; ``config_source`` names the config file in that error)."""
    bids = Path(bids_dir)
    scans = find_scans(bids, config["sequences"])
    if scans.empty:
        raise InputError(bids, None, "no MRS scans found (expected sub-*/[ses-*/]mrs/*_svs.nii.gz): the study is empty")
    regions = config["regions"]
    for row in scans.itertuples():
        if row.region not in regions:
            raise InputError(bids / row.svs, "voi", f"{row.region!r} is not a declared region (config regions: {', '.join(regions)})")
    if read_headers:
        scans = check_headers(bids, scans, config["sequences"], bad_scan_policy(config), log, water_timing(config))
        if not (scans["exclusion"] == "").any():
            raise InputError(bids, None, f"every scan is excluded ({len(scans)}); first: {scans['exclusion'].iloc[0]}")

    participants_file = bids / "participants.tsv"
    participants = load_participants(participants_file, config)
    listed = {pid: i for i, pid in enumerate(participants["participant_id"], start=1)}
    scanned = set(scans["subject"])
    for subject in sorted(scanned - set(listed)):
        first = scans.loc[scans["subject"] == subject, "svs"].iloc[0]
        raise InputError(
            participants_file, "participant_id", f"{subject} has scans (e.g. {first}) but no row in participants.tsv"
        )
    for subject in sorted(set(listed) - scanned):
        raise InputError(participants_file, "participant_id", f"{subject} is listed but has no MRS scans in {bids}", row=listed[subject])

    frames = []
    for subject in sorted(scanned):
        scanned_sessions = sorted(set(scans.loc[scans["subject"] == subject, "session"]) - {""})
        path = sessions_path(bids, subject)
        if path.is_file():
            table = load_sessions(path, subject, config)
            known = set(table["session_id"])
            for session in scanned_sessions:
                if session not in known:
                    raise InputError(path, "session_id", f"{session} has scans but no row in this sessions table")
            # and the other way: a listed session needs its folder (BIDS: one row per session
            # folder); a row without one was ignored silently (issue 14)
            for i, session in enumerate(table["session_id"], start=1):
                if not (bids / subject / session).is_dir():
                    raise InputError(path, "session_id", f"{session} is listed but {bids / subject / session} does not "
                                     "exist (remove the row, or add the session's data)", row=i)
        else:
            table = pd.DataFrame({"subject": subject, "session_id": scanned_sessions})
        frames.append(table)
    sessions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["subject", "session_id"])
    check_covariates(config, participants, sessions, participants_file, config_source)
    return Inventory(scans=scans, participants=participants, sessions=sessions)


def write_inventory(inv: Inventory, scans_tsv, participants_tsv, sessions_tsv) -> None:
    write_tsv(inv.scans, scans_tsv)
    write_tsv(inv.participants, participants_tsv)
    write_tsv(inv.sessions, sessions_tsv)


def read_scans(path: str | os.PathLike) -> pd.DataFrame:
    """Read a scans.tsv written by :func:`write_inventory` (paths as text, booleans restored)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame["water_available"] = frame["water_available"].map({"True": True, "False": False})
    for column in ("te_ms", "spectrometer_mhz"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")  # n/a for excluded scans
    if "exclusion" not in frame.columns:
        frame["exclusion"] = ""
    return frame
