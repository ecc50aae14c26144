"""jMRUI text files (``.txt``): a ``key: value`` header, then one block per signal.

Each block starts with ``Signal k out of N in file`` and holds ``PointsInDataset`` rows of
``re im`` (optionally followed by the FFT's ``re im``, ignored). ``SamplingInterval`` is in
milliseconds and ``TransmitterFrequency`` in Hz. The stored FID already follows the
NIfTI-MRS convention (checked on the ISMRM 2016 challenge basis: NAA lands at 2.00 ppm
without conjugation), so it is used as is.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text
from ..errors import InputError
from ..mrs import MRSData
from .lcmodel import parse_numbers

_SIGNAL = re.compile(r"^\s*Signal\s+(\d+)\s+out\s+of\s+(\d+)", re.I)


@dataclass
class JMRUIText:
    path: str
    fids: np.ndarray  # (n_points, n_signals), NIfTI-MRS convention
    dwell_s: float
    spectrometer_mhz: float
    signal_names: list[str]
    header: dict[str, Any] = field(default_factory=dict)


def _header_number(header: dict[str, str], key: str, src: str) -> float | None:
    raw = header.get(key.lower())
    if raw is None or raw == "":
        return None
    try:
        return float(raw.replace("D", "E"))
    except ValueError:
        raise InputError(src, key, f"not a number: {raw!r}") from None


def read_jmrui_text_file(path: str | os.PathLike) -> JMRUIText:
    """Parse a jMRUI text file; every defect raises ``InputError`` naming the field."""
    src = os.fspath(path)
    if not Path(src).is_file():
        raise InputError(src, None, "file does not exist")
    lines = Path(src).read_text(encoding="latin-1").splitlines()
    if not lines or "jmrui" not in lines[0].lower():
        raise InputError(src, "header", "first line is not 'jMRUI Data Textfile'")
    header: dict[str, str] = {}
    starts: list[int] = []
    for k, line in enumerate(lines):
        if _SIGNAL.match(line):
            starts.append(k)
        elif not starts and ":" in line:
            key, _, value = line.partition(":")
            header[key.strip().lower()] = value.strip()
    if not starts:
        raise InputError(src, "Signal", "no 'Signal k out of N' data block found")
    n_points = _header_number(header, "PointsInDataset", src)
    if n_points is None:
        raise InputError(src, "PointsInDataset", "missing")
    n_points = int(n_points)
    interval_ms = _header_number(header, "SamplingInterval", src)
    if interval_ms is None or interval_ms <= 0:
        raise InputError(src, "SamplingInterval", "missing or non-positive (ms)")
    tx_hz = _header_number(header, "TransmitterFrequency", src)
    if tx_hz is None or tx_hz <= 0:
        raise InputError(src, "TransmitterFrequency", "missing or non-positive (Hz)")
    declared = _header_number(header, "DatasetsInFile", src)
    if declared is not None and int(declared) != len(starts):
        raise InputError(src, "DatasetsInFile", f"header says {int(declared)} signals, file has {len(starts)}")
    fids = []
    for s, start in enumerate(starts):
        stop = starts[s + 1] if s + 1 < len(starts) else len(lines)
        rows = [(k, ln) for k, ln in enumerate(lines[start + 1 : stop], start + 2) if ln.strip()]
        block = []
        for row, ln in rows:
            vals = parse_numbers(ln, src, f"data of signal {s + 1}", row)
            if vals.size not in (2, 4):
                raise InputError(src, f"data of signal {s + 1}", f"expected 2 or 4 columns, got {vals.size}", row=row)
            block.append(vals[:2])
        if len(block) != n_points:
            raise InputError(src, f"data of signal {s + 1}", f"{len(block)} rows but PointsInDataset = {n_points}")
        arr = np.asarray(block)
        fids.append(arr[:, 0] + 1j * arr[:, 1])
    names_raw = header.get("signalnames", "")
    names = [n.strip() for n in names_raw.split(";") if n.strip()]
    if len(names) != len(starts):
        stem = Path(src).stem
        names = [stem] if len(starts) == 1 else [f"{stem}_{k + 1}" for k in range(len(starts))]
    names = [re.sub(r"\.txt$", "", n, flags=re.I) for n in names]
    return JMRUIText(
        path=src,
        fids=np.stack(fids, axis=1),
        dwell_s=interval_ms / 1000.0,
        spectrometer_mhz=tx_hz / 1e6,
        signal_names=names,
        header=header,
    )


def read_jmrui_text(path: str | os.PathLike, echo_time_s: float | None = None) -> MRSData:
    """A jMRUI text data file as ``MRSData`` (several signals -> a ``DIM_DYN`` axis)."""
    parsed = read_jmrui_text_file(path)
    fid = parsed.fids[:, 0] if parsed.fids.shape[1] == 1 else parsed.fids
    tags = () if fid.ndim == 1 else ("DIM_DYN",)
    hdr: dict[str, Any] = {}  # frequency and nucleus are MRSData fields, not header keys
    if echo_time_s is not None:
        hdr["EchoTime"] = float(echo_time_s)
    return MRSData(
        fid=fid,
        dwell_s=parsed.dwell_s,
        spectrometer_mhz=parsed.spectrometer_mhz,
        dim_tags=tags,
        header=hdr,
        source=parsed.path,
    )


def write_jmrui_text(
    path: str | os.PathLike, fids: np.ndarray, dwell_s: float, spectrometer_mhz: float, names=None
) -> None:
    """Write FIDs (n_points[, n_signals]) in jMRUI text format (NIfTI-MRS convention)."""
    fids = np.asarray(fids, dtype=complex)
    if fids.ndim == 1:
        fids = fids[:, None]
    n, m = fids.shape
    names = list(names) if names is not None else [Path(path).stem] * m
    lines = [
        "jMRUI Data Textfile",
        "",
        f"Filename: {Path(path).name}",
        "",
        f"PointsInDataset: {n}",
        f"DatasetsInFile: {m}",
        f"SamplingInterval: {dwell_s * 1000:.9g}",
        "ZeroOrderPhase: 0E0",
        "BeginTime: 0E0",
        f"TransmitterFrequency: {spectrometer_mhz * 1e6:.9g}",
        f"MagneticField: {spectrometer_mhz / 42.577478:.6g}",
        "TypeOfNucleus: 0E0",
        "NameOfPatient: ",
        "DateOfExperiment: ",
        "Spectrometer: ",
        "AdditionalInfo: painmrs",
        "SignalNames: " + "".join(f"{nm};" for nm in names),
        "",
        "",
        "Signal and FFT",
        "sig(real)\tsig(imag)",
    ]
    for k in range(m):
        lines.append(f"Signal {k + 1} out of {m} in file")
        lines += [f"{v.real:.9E}\t{v.imag:.9E}" for v in fids[:, k]]
    write_text(path, "\n".join(lines) + "\n")
