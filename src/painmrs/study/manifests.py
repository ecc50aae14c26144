"""Batch manifests: each batch job lists every file it wrote, with its SHA-256.

The manifest TSV is the job's declared output, so Snakemake tracks completion per batch; later
stages, the integrity check at load (``painmrs.study.incremental``) and the provenance audit
read the per-scan files from it (file layout: DEVELOPERS.md, "Derived outputs").
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .tables import write_tsv

MANIFEST_COLUMNS = ["stem", "output", "path", "sha256", "message"]


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
