"""Writers whose output bytes depend only on the data, never on the run.

What painmrs.atomic already gives (atomic writes, gzip with mtime 0) is not repeated here.
This module adds the other usual sources of run-to-run byte differences:

- figures: matplotlib stamps its version and the creation date into PDF/PNG/SVG metadata,
  and SVG element ids come from a random salt -> :func:`savefig` fixes all three;
- tables: float repr, index columns, NaN spelling, line endings -> :func:`tsv_bytes`;
- JSON: key order, numpy scalars, NaN -> :func:`json_text`;
- random numbers: one RNG shared across scans makes results depend on job order ->
  :func:`rng_for` derives an independent, reproducible stream per (seed, key).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text

FIGURE_DPI = 100
SVG_HASHSALT = "painmrs"
# Metadata keys matplotlib would fill with its version or the date; None removes them.
SAVEFIG_METADATA: dict[str, dict[str, None]] = {
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "png": {"Software": None},
    "svg": {"Creator": None, "Date": None},
    "eps": {"Creator": None, "CreationDate": None},
    "ps": {"Creator": None, "CreationDate": None},
}
TSV_FLOAT_FORMAT = "%.6g"
TSV_NA = "n/a"  # BIDS spelling of a missing value


def savefig(fig, path: str | os.PathLike, *, dpi: int = FIGURE_DPI, **kwargs) -> Path:
    """Save a matplotlib figure byte-deterministically and atomically; returns the path.

    The format comes from the suffix (png, pdf, svg, eps, ps). Extra keyword arguments go to
    ``Figure.savefig`` (``metadata`` given here is merged over the fixed one)."""
    import matplotlib

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    metadata = {**SAVEFIG_METADATA.get(fmt, {}), **kwargs.pop("metadata", {})}
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASHSALT, "pdf.compression": 6}):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata, **kwargs)
    return path


def format_float(value: float, fmt: str = TSV_FLOAT_FORMAT) -> str:
    """One float as the tables write it: ``n/a`` for NaN/None, no ``-0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return TSV_NA
    text = fmt % value
    return "0" if text in ("-0", "-0.0") else text


def tsv_bytes(df, *, float_format: str = TSV_FLOAT_FORMAT, sort_by: list[str] | None = None) -> bytes:
    """A pandas DataFrame as deterministic TSV bytes: no index, ``\\n`` line ends, floats
    with ``float_format``, NaN as ``n/a``, rows sorted by ``sort_by`` (stable) if given."""
    if sort_by:
        df = df.sort_values(sort_by, kind="mergesort").reset_index(drop=True)
    text = df.to_csv(sep="\t", index=False, lineterminator="\n", na_rep=TSV_NA,
                     float_format=float_format)
    return text.replace("\t-0\t", "\t0\t").encode("utf-8")


def write_tsv(df, path: str | os.PathLike, **kwargs) -> Path:
    from ..atomic import write_bytes

    write_bytes(path, tsv_bytes(df, **kwargs))
    return Path(path)


def _to_plain(obj):
    """numpy and other non-JSON types -> JSON types; NaN/inf -> None (JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [_to_plain(v) for v in sorted(obj)]
    if isinstance(obj, np.ndarray):
        return _to_plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _to_plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def json_text(obj, *, indent: int | None = 2) -> str:
    """Deterministic JSON text: sorted keys, plain types, NaN as null, trailing newline."""
    return json.dumps(_to_plain(obj), sort_keys=True, indent=indent, ensure_ascii=False,
                      allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj, *, indent: int | None = 2) -> Path:
    write_text(path, json_text(obj, indent=indent))
    return Path(path)


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """A numpy Generator for (seed, key...): the same stream for the same key whatever the
    order or batching of jobs, independent streams for different keys (e.g. scan stems).
    Keys are hashed with SHA-256, not ``hash()``, which Python salts per process."""
    words = [int(seed)]
    for key in keys:
        digest = hashlib.sha256(str(key).encode("utf-8")).digest()
        words.extend(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
    return np.random.default_rng(np.random.SeedSequence(words))


__all__ = [
    "FIGURE_DPI",
    "SAVEFIG_METADATA",
    "SVG_HASHSALT",
    "TSV_FLOAT_FORMAT",
    "TSV_NA",
    "format_float",
    "json_text",
    "rng_for",
    "savefig",
    "tsv_bytes",
    "write_json",
    "write_tsv",
]
