"""Deterministic writers of the simulated study (split out of ``painmrs.demo.study``): TSV and
JSON formatting, gzip without timestamps, NIfTI and NIfTI-MRS files.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from ..atomic import write_bytes, write_text
from ..io import nifti_mrs
from ..mrs import MRSData

BIDS_VERSION = "1.10.0"
NA = "n/a"

# ---- formatting ----------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return NA
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return NA
        return f"{float(value):.6g}"
    return str(value)


def tsv(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join(fmt(row.get(c)) for c in columns))
    return "\n".join(lines) + "\n"


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value).__name__)


def _complex_list(a) -> dict:
    a = np.asarray(a)
    return {"real": np.round(a.real, 10).tolist(), "imag": np.round(a.imag, 10).tolist()}


def _gzip(data: bytes, *, huffman_only: bool = False) -> bytes:
    """Deterministic gzip member (no name, mtime 0, OS 255 -- like atomic.gzip_bytes).

    Level 1 instead of 6, and Huffman-only coding for raw MRS data: multi-coil transients
    are mostly noise, which LZ77 matching cannot shrink (level 6 saves < 1 % more) but which
    costs 3x (level 1) to 10x (level 6) the time of entropy coding alone.
    """
    comp = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY if huffman_only else zlib.Z_DEFAULT_STRATEGY)
    body = comp.compress(data) + comp.flush()
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def write_mrs(mrs: MRSData, path: Path) -> None:
    """NIfTI-MRS via painmrs.io.nifti_mrs.to_image ; the NIfTI bytes are those of
    ``nifti_mrs.write``, only the gzip coding differs (see ``_gzip``)."""
    write_bytes(path, _gzip(nifti_mrs.to_image(mrs).to_bytes(), huffman_only=True))


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray, *, slope: float | None = None) -> None:
    """NIfTI-1 image in scanner space (qform/sform code 1); ``slope``: stored ints * slope."""
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    if slope is not None:
        img.header.set_slope_inter(slope, 0.0)
    write_bytes(path, _gzip(img.to_bytes()))
