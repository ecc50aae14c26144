"""The tidy study table ``results/metabolites.tsv``: one row per scan x metabolite x measure.

It joins the per-scan fit tables (``<stem>_fit.tsv``), the study QC table, tissue fractions,
participants.tsv and the per-subject sessions tables, then applies the configured QC exclusion
rules. Excluded rows stay in the table (``qc_pass`` false, ``qc_reason`` says why) so every
exclusion is counted and shown; the statistics use only ``qc_pass`` rows.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..quantify import qc as qc_rules
from .config import ExclusionRules
from .tables import read_table

# Fit-table column -> measure name in the study table (DEVELOPERS.md).
FIT_MEASURE_COLUMNS = {
    "ratio_tCr": "ratio_tCr",
    "ratio_tNAA": "ratio_tNAA",
    "conc_mM": "conc_mM",
    "conc_molal": "conc_molal",
    "alpha_corrected": "gaba_alpha",
    "gaba_alpha": "gaba_alpha",
    "gaba_alpha_norm": "gaba_alpha_norm",
    "amplitude": "amplitude",
}

SCAN_LEVEL = ("snr", "fwhm_hz", "spectrometer_mhz", "f_gm", "f_wm", "f_csf")
SCAN_KEYS = ["subject", "session", "region", "acq", "stem"]
CORE_COLUMNS = SCAN_KEYS + [
    "metabolite", "measure", "value", "crlb_pct", "snr", "fwhm_hz", "spectrometer_mhz", "qc_pass", "qc_reason",
    "f_gm", "f_wm", "f_csf", "tissue_source",
]

COLUMN_DESCRIPTIONS = {
    "subject": "BIDS participant label, e.g. sub-HC001",
    "session": "BIDS session label, e.g. ses-baseline (n/a when the study has no sessions)",
    "region": "voxel of interest (BIDS voi- entity)",
    "acq": "acquisition (press | megapress)",
    "stem": "scan file stem up to _svs",
    "metabolite": "metabolite or combination (tNAA, tCr, tCho, Glx, GABA+)",
    "measure": "ratio_tCr | ratio_tNAA | conc_mM (water-scaled, tissue-corrected molar) | "
    "conc_molal (mmol/kg tissue water) | gaba_alpha (alpha-corrected GABA+, Harris 2015) | "
    "gaba_alpha_norm (alpha-corrected, group-normalised) | amplitude (raw fit amplitude)",
    "value": "estimate in the unit of the measure",
    "crlb_pct": "Cramer-Rao lower bound, % of the estimate",
    "snr": "scan SNR from the QC stage (peak height / noise SD)",
    "fwhm_hz": "scan linewidth (FWHM, Hz) from the QC stage",
    "spectrometer_mhz": "the scan's own spectrometer frequency (MHz); turns fwhm_hz into ppm for the linewidth rule",
    "qc_pass": "true when the row passes every configured exclusion rule",
    "qc_reason": "semicolon-separated reasons for exclusion (empty when qc_pass)",
    "f_gm": "voxel grey-matter fraction",
    "f_wm": "voxel white-matter fraction",
    "f_csf": "voxel CSF fraction",
    "tissue_source": "tissue fractions of the water scaling: segmentation | assumed (quantify.assumed_fractions; "
    "f_gm/f_wm/f_csf n/a) | none (not water-scaled) | n/a (older fit table)",
}

_STEM_RE = re.compile(
    r"^(?P<subject>sub-[A-Za-z0-9]+)(?:_(?P<session>ses-[A-Za-z0-9]+))?"
    r"(?:_acq-(?P<acq>[A-Za-z0-9]+))?(?:_voi-(?P<region>[A-Za-z0-9]+))?"
)


def parse_stem(stem: str, path=None) -> dict[str, str]:
    """Split a scan stem like ``sub-HC001_ses-baseline_acq-press_voi-ACC`` into its entities."""
    m = _STEM_RE.match(stem)
    if not m or not m.group("region"):
        raise InputError(path, "stem", f"cannot parse BIDS entities (sub-, voi-) from {stem!r}")
    d = m.groupdict()
    return {
        "subject": d["subject"],
        "session": d["session"] or "",
        "acq": d["acq"] or "",
        "region": d["region"],
        "stem": stem,
    }


def read_fit_table(path: str | os.PathLike) -> pd.DataFrame:
    """Reshape one per-scan fit table (wide, one row per metabolite) into long form."""
    path = Path(path)
    df = read_table(path)
    if "metabolite" not in df.columns:
        raise InputError(path, "metabolite", "fit table has no 'metabolite' column")
    name = path.name
    stem = name[: -len("_fit.tsv")] if name.endswith("_fit.tsv") else path.stem
    ids = parse_stem(stem, path)
    measure_cols = [c for c in df.columns if c in FIT_MEASURE_COLUMNS]
    if not measure_cols:
        raise InputError(path, None, f"no measure columns (expected any of {sorted(FIT_MEASURE_COLUMNS)})")
    crlb = pd.to_numeric(df["crlb_pct"], errors="coerce") if "crlb_pct" in df.columns else np.nan
    rows = []
    for col in measure_cols:
        values = pd.to_numeric(df[col], errors="coerce")
        part = pd.DataFrame(
            {
                "metabolite": df["metabolite"].astype(str).to_numpy(),
                "measure": FIT_MEASURE_COLUMNS[col],
                "value": values.to_numpy(dtype=float),
                "crlb_pct": np.asarray(crlb, dtype=float) if np.ndim(crlb) else np.nan,
            }
        )
        rows.append(part[np.isfinite(part["value"])] if col != "amplitude" else part)
    long = pd.concat(rows, ignore_index=True)
    # A measure can be undefined for a metabolite (e.g. gaba_alpha for NAA): drop those rows,
    # but keep NaN amplitudes so failed fits stay visible as exclusions.
    long = long[np.isfinite(long["value"]) | (long["measure"] == "amplitude")]
    long = long.drop_duplicates(["metabolite", "measure"], keep="first")
    for k, v in ids.items():
        long[k] = v
    # Scan-level values repeated on every row of the fit table (quantify stage); the study QC
    # table, when given, takes precedence. The fit table's fit_qc_pass/qc_flags are re-derived by
    # apply_exclusions with the same QCRules (config qc:) on these values, except the fit-quality
    # verdict, which needs the fit residual and is carried over.
    for col in SCAN_LEVEL:
        vals = pd.to_numeric(df[col], errors="coerce").dropna() if col in df.columns else pd.Series(dtype=float)
        long[f"_fit_{col}"] = float(vals.iloc[0]) if len(vals) else np.nan
    # How the water-scaled values' tissue fractions were obtained (segmentation | assumed | none).
    ts = df["tissue_source"].dropna().astype(str) if "tissue_source" in df.columns else pd.Series([], dtype=str)
    long["tissue_source"] = ts.iloc[0] if len(ts) else "n/a"
    # The fit flags (fit_at_bound:..., fit_eval_limit, fit_residual>X; fit_quality>X in older
    # tables) are scan-level: in the order written, on every row.
    flags = df["qc_flags"].fillna("").astype(str) if "qc_flags" in df.columns else pd.Series([], dtype=str)
    tokens = [] if not len(flags) else [t for t in flags.iloc[0].split(";") if qc_rules.is_fit_flag(t)]
    long["_fit_flags"] = ";".join(tokens)
    return long


def _participants(path) -> pd.DataFrame:
    df = read_table(path)
    for req in ("participant_id", "group"):
        if req not in df.columns:
            raise InputError(path, req, "required column missing")
    dup = df["participant_id"][df["participant_id"].duplicated()]
    if len(dup):
        raise InputError(path, "participant_id", f"duplicate participant {dup.iloc[0]!r}")
    missing = df["group"].isna() | (df["group"].astype(str).str.strip() == "")
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(path, "group", f"no group for {df['participant_id'].iloc[i]!r}", row=i + 2)
    df = df.rename(columns={"participant_id": "subject"})
    df["group"] = df["group"].astype(str)
    return df


def _sessions(paths: Iterable) -> pd.DataFrame:
    frames = []
    for p in paths:
        p = Path(p)
        df = read_table(p)
        if "session_id" not in df.columns:
            raise InputError(p, "session_id", "required column missing")
        m = re.match(r"^(sub-[A-Za-z0-9]+)_sessions\.tsv$", p.name)
        if not m:
            raise InputError(p, None, "sessions table must be named sub-<label>_sessions.tsv")
        df = df.rename(columns={"session_id": "session"})
        df.insert(0, "subject", m.group(1))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["subject", "session"])
    return pd.concat(frames, ignore_index=True)


def apply_exclusions(table: pd.DataFrame, rules: ExclusionRules, qc_verdict: pd.Series | None = None) -> pd.DataFrame:
    """Set ``qc_pass``/``qc_reason`` on every row: no estimate, the QC stage's verdict, then the
    quantify stage's own rules (``painmrs.quantify.qc.scan_flags`` / ``metabolite_flags`` with
    the config's ``qc:`` thresholds) on the study table's SNR, linewidth and CRLB values."""
    reasons: list[list[str]] = [[] for _ in range(len(table))]

    def flag(mask, text_fn):
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons[i].append(text_fn(i))

    value = table["value"].to_numpy(dtype=float)
    flag(~np.isfinite(value), lambda i: "no_estimate")
    if qc_verdict is not None:
        bad = qc_verdict.reindex(table.index)
        mask = bad.notna().to_numpy() & (bad.fillna("").astype(str).to_numpy() != "")
        flag(mask, lambda i: f"qc_stage:{bad.iloc[i]}")
    # Scan-level rules once per scan. The fit flags need the fit (its residual, parameters and
    # bounds), which only the quantify stage saw: they come from the fit table (_fit_flags).
    scan_rules = dataclasses.replace(rules.qc, max_fit_quality=None)
    # Hz -> ppm with each scan's own spectrometer frequency (never a study-wide constant): a
    # fwhm_ppm column (QC table) wins; a scan without a known frequency fails the linewidth rule.
    mhz = (pd.to_numeric(table["spectrometer_mhz"], errors="coerce").to_numpy(dtype=float)
           if "spectrometer_mhz" in table.columns else np.full(len(table), np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        from_hz = np.where(mhz > 0, table["fwhm_hz"].to_numpy(dtype=float) / mhz, np.nan)
    if "fwhm_ppm" in table.columns:
        fwhm_ppm = pd.to_numeric(table["fwhm_ppm"], errors="coerce").to_numpy(dtype=float)
        fwhm_ppm = np.where(np.isfinite(fwhm_ppm), fwhm_ppm, from_hz)
    else:
        fwhm_ppm = from_hz
    snr = table["snr"].to_numpy(dtype=float)
    cache: dict[tuple, list[str]] = {}
    scan_reasons = []
    for s_, f_ in zip(snr, fwhm_ppm):
        key = (s_, f_)
        if key not in cache:
            cache[key] = qc_rules.scan_flags(s_, f_, 1.0, math.nan, scan_rules)  # fwhm already in ppm
        scan_reasons.append(cache[key])
    for i, r in enumerate(scan_reasons):
        reasons[i].extend(r)
    if "_fit_flags" in table.columns and rules.qc.exclude_fit_flags:  # else: recorded, not excluded
        ff = table["_fit_flags"].fillna("").astype(str).to_numpy()
        flag(ff != "", lambda i: ff[i])
    crlb = table["crlb_pct"].to_numpy(dtype=float)
    for i, (met, c) in enumerate(zip(table["metabolite"].astype(str), crlb)):
        reasons[i].extend(qc_rules.metabolite_flags(met, c, rules.qc))
    out = table.copy()
    out["qc_reason"] = [";".join(r) for r in reasons]
    out["qc_pass"] = [not r for r in reasons]
    return out


def build_metabolite_table(
    fit_tables: Sequence[str | os.PathLike],
    qc_table: str | os.PathLike | pd.DataFrame | None,
    participants: str | os.PathLike,
    sessions_tables: Sequence[str | os.PathLike] = (),
    rules: ExclusionRules | None = None,
) -> pd.DataFrame:
    """Build the tidy study table (columns as DEVELOPERS.md) with QC exclusions applied.

    ``qc_table`` (results/qc/qc.tsv) needs a ``stem`` column and may carry snr, fwhm_hz,
    fwhm_ppm, f_gm, f_wm, f_csf, scan_qc_pass and qc_reason (the QC stage's own verdict).
    """
    rules = rules or ExclusionRules()
    if not fit_tables:
        raise InputError(None, "fit_tables", "no per-scan fit tables given")
    long = pd.concat([read_fit_table(p) for p in sorted(map(str, fit_tables))], ignore_index=True)

    qc_path = None
    if qc_table is None:
        qc = pd.DataFrame({"stem": long["stem"].unique()})
    elif isinstance(qc_table, pd.DataFrame):
        qc = qc_table.copy()
    else:
        qc_path = qc_table
        qc = read_table(qc_table)
    if "stem" not in qc.columns:
        raise InputError(qc_path, "stem", "QC table needs a 'stem' column")
    if qc["stem"].duplicated().any():
        raise InputError(qc_path, "stem", f"duplicate stem {qc['stem'][qc['stem'].duplicated()].iloc[0]!r}")
    if "scan_qc_pass" not in qc.columns and "qc_pass" in qc.columns:  # QC tables of earlier versions
        qc = qc.rename(columns={"qc_pass": "scan_qc_pass"})
    keep = [c for c in ("stem", "snr", "fwhm_hz", "spectrometer_mhz", "fwhm_ppm", "f_gm", "f_wm", "f_csf", "scan_qc_pass", "qc_reason") if c in qc.columns]
    qc = qc[keep].rename(columns={"scan_qc_pass": "_qc_stage_pass", "qc_reason": "_qc_stage_reason"})
    table = long.merge(qc, on="stem", how="left", validate="many_to_one")
    for col in SCAN_LEVEL:
        if col not in table.columns:
            table[col] = np.nan
        table[col] = pd.to_numeric(table[col], errors="coerce").combine_first(table[f"_fit_{col}"])
        table = table.drop(columns=f"_fit_{col}")

    verdict = None
    if rules.use_qc_table_verdict and "_qc_stage_pass" in table.columns:
        passed = table["_qc_stage_pass"].map(_as_bool)
        why = table["_qc_stage_reason"] if "_qc_stage_reason" in table.columns else pd.Series("failed", index=table.index)
        why = why.fillna("failed").astype(str).replace("", "failed")
        verdict = pd.Series(np.where(passed == False, why, ""), index=table.index)  # noqa: E712
    table = table.reset_index(drop=True)
    if verdict is not None:
        verdict = verdict.reset_index(drop=True)
    table = apply_exclusions(table, rules, verdict)
    table = table.drop(columns=[c for c in table.columns if c.startswith("_qc_stage") or c in ("fwhm_ppm", "_fit_flags")])

    parts = _participants(participants)
    unknown = sorted(set(table["subject"]) - set(parts["subject"]))
    if unknown:
        raise InputError(participants, "participant_id", f"scan subject {unknown[0]!r} not in participants table")
    table = table.merge(parts, on="subject", how="left", validate="many_to_one")

    sess = _sessions(sessions_tables)
    if len(sess):
        if sess.duplicated(["subject", "session"]).any():
            raise InputError(None, "session_id", "duplicate session rows in the sessions tables")
        # Session values (e.g. pain at that visit) win over participant-level columns of the same name.
        overlap = [c for c in sess.columns if c in parts.columns and c not in ("subject",)]
        sess_only = sess.drop(columns=overlap)
        table = table.merge(sess_only, on=["subject", "session"], how="left", validate="many_to_one")
        if overlap:
            over = sess[["subject", "session", *overlap]].rename(columns={c: f"_s_{c}" for c in overlap})
            table = table.merge(over, on=["subject", "session"], how="left", validate="many_to_one")
            for c in overlap:
                table[c] = table[f"_s_{c}"].combine_first(table[c])
                table = table.drop(columns=f"_s_{c}")
    ordered = CORE_COLUMNS + ["group"] + [c for c in parts.columns if c not in ("subject", "group")]
    ordered += [c for c in table.columns if c not in ordered]
    table = table[ordered]
    return table.sort_values(["subject", "session", "region", "acq", "metabolite", "measure"], kind="mergesort").reset_index(drop=True)


def _as_bool(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "pass"):
        return True
    if s in ("false", "0", "no", "fail"):
        return False
    return None


def metabolite_table_sidecar(table: pd.DataFrame, rules: ExclusionRules) -> dict:
    cols = {}
    for c in table.columns:
        cols[c] = COLUMN_DESCRIPTIONS.get(c, "participant or session column (participants.tsv / sessions.tsv)")
    return {
        "description": "Tidy study table: one row per scan x metabolite x measure (painmrs).",
        "columns": cols,
        "exclusion_rules": exclusion_rules_dict(rules),
        "exclusions": exclusion_counts(table).to_dict(orient="records"),
    }


def exclusion_rules_dict(rules: ExclusionRules) -> dict:
    """The rules as written to sidecars and the report (``qc`` = the config's qc section)."""
    return {"qc": dataclasses.asdict(rules.qc), "linewidth_ppm_from": "each scan's spectrometer_mhz",
            "use_qc_table_verdict": rules.use_qc_table_verdict,
            "source": "config qc: section (painmrs.quantify.qc.QCRules), also applied by the quantify stage"}


def exclusion_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Count excluded rows (and scans) per region x acq x metabolite x reason."""
    bad = table[~table["qc_pass"].astype(bool)]
    if bad.empty:
        return pd.DataFrame(columns=["region", "acq", "metabolite", "reason", "n_rows", "n_scans"])
    exploded = bad.assign(reason=bad["qc_reason"].str.split(";")).explode("reason")
    out = (
        exploded.groupby(["region", "acq", "metabolite", "reason"], dropna=False)
        .agg(n_rows=("value", "size"), n_scans=("stem", "nunique"))
        .reset_index()
    )
    return out.sort_values(["region", "acq", "metabolite", "reason"]).reset_index(drop=True)


def load_metabolite_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read results/metabolites.tsv back, checking the core columns."""
    df = read_table(path)
    for col in ("subject", "region", "metabolite", "measure", "value", "qc_pass", "group"):
        if col not in df.columns:
            raise InputError(path, col, "required column missing from the study table")
    df["qc_pass"] = df["qc_pass"].map(_as_bool)
    if df["qc_pass"].isna().any():
        row = int(np.flatnonzero(df["qc_pass"].isna().to_numpy())[0])
        raise InputError(path, "qc_pass", "must be true/false", row=row + 2)
    df["qc_pass"] = df["qc_pass"].astype(bool)
    for col in ("session", "acq", "qc_reason", "stem"):
        if col in df.columns:
            df[col] = df[col].fillna("").astype(str)
        else:
            df[col] = ""
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["group"] = df["group"].astype(str)
    return df
