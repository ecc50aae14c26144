"""LCModel text formats: ``.BASIS`` basis files and ``.RAW`` / ``.H2O`` time-domain files.

Both are Fortran namelist headers (``$NAME key=value, ... $END``) followed by free-format
numbers, two per complex point. Conventions (checked on the ISMRM 2016 challenge files):

- ``.RAW`` / ``.H2O`` hold the time-domain FID as the complex *conjugate* of the NIfTI-MRS
  convention: with ``fid = re - i*im`` the NAA singlet lands at 2.008 ppm.
- ``.BASIS`` holds, per metabolite, the *frequency-domain* spectrum (``NDATAB`` points,
  unshifted FFT order) of the conjugate FID. So ``fid = conj(ifft(stored))``.
- ``.RAW`` headers usually carry no dwell time; ``.BASIS`` headers carry ``BADELT`` (s)
  and ``HZPPPM`` (MHz). Callers pass what the file lacks; nothing is guessed.

Everything here returns plain arrays and header dicts; :mod:`painmrs.basis.readers` builds
``BasisSet`` objects from them, :func:`read_lcmodel_raw` builds ``MRSData``.
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

# A Fortran real: optional sign, digits with optional point, optional E/D exponent.
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?")
_SECTION = re.compile(r"\$(\w+)(.*?)\$END", re.S | re.I)


# ---------------------------------------------------------------------------------------
# namelist and number parsing
# ---------------------------------------------------------------------------------------
def _tokens(body: str) -> list[str]:
    """Split a namelist body into quoted strings, '=' signs and bare values."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c in " \t\r\n,":
            i += 1
        elif c == "=":
            out.append("=")
            i += 1
        elif c in "'\"":
            j = i + 1
            buf = []
            while j < n:
                if body[j] == c:
                    if j + 1 < n and body[j + 1] == c:  # doubled quote = literal quote
                        buf.append(c)
                        j += 2
                        continue
                    break
                buf.append(body[j])
                j += 1
            out.append("\x00" + "".join(buf))  # mark as string
            i = j + 1
        else:
            j = i
            while j < n and body[j] not in " \t\r\n,=":
                j += 1
            out.append(body[i:j])
            i = j
    return out


def _value(token: str) -> Any:
    if token.startswith("\x00"):
        return token[1:].strip()
    up = token.upper()
    if up in ("T", ".TRUE.", "TRUE"):
        return True
    if up in ("F", ".FALSE.", "FALSE"):
        return False
    try:
        return float(up.replace("D", "E"))
    except ValueError:
        return token


def parse_namelist(body: str) -> dict[str, Any]:
    """``key = value[, value...]`` pairs of one namelist; keys upper-cased; lists when >1 value."""
    toks = _tokens(body)
    result: dict[str, Any] = {}
    key = None
    values: list[Any] = []
    i = 0
    while i < len(toks):
        if i + 1 < len(toks) and toks[i + 1] == "=" and not toks[i].startswith("\x00"):
            if key is not None:
                result[key] = values[0] if len(values) == 1 else values
            key = re.sub(r"\(.*\)$", "", toks[i]).upper()
            values = []
            i += 2
            continue
        if key is not None and toks[i] != "=":
            values.append(_value(toks[i]))
        i += 1
    if key is not None:
        result[key] = values[0] if len(values) == 1 else values
    return result


def parse_numbers(text: str, path: str, field: str, first_line: int = 1) -> np.ndarray:
    """All numbers in ``text``; any line with something that is not a number is an error."""
    values: list[float] = []
    for k, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        found = _NUMBER.findall(line)
        rest = _NUMBER.sub(" ", line).strip()
        if rest:
            raise InputError(path, field, f"non-numeric text {rest[:30]!r} in data", row=first_line + k)
        values.extend(float(v.replace("D", "E").replace("d", "e")) for v in found)
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InputError(path, field, "data contain NaN or Inf")
    return arr


def _pairs_to_complex(values: np.ndarray, path: str, field: str) -> np.ndarray:
    if values.size == 0:
        raise InputError(path, field, "no data points found")
    if values.size % 2:
        raise InputError(path, field, f"odd number of values ({values.size}): real/imaginary pairs expected")
    return values[0::2] + 1j * values[1::2]


def _read_text(path: str | os.PathLike) -> tuple[str, str]:
    src = os.fspath(path)
    if not Path(src).is_file():
        raise InputError(src, None, "file does not exist")
    try:
        return src, Path(src).read_text(encoding="latin-1")
    except OSError as exc:
        raise InputError(src, None, f"cannot read file: {exc}") from None


def _number(header: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = header.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


# ---------------------------------------------------------------------------------------
# .BASIS
# ---------------------------------------------------------------------------------------
@dataclass
class LCModelBasisFile:
    """Contents of an LCModel ``.BASIS`` file, FIDs already in the NIfTI-MRS convention."""

    path: str
    names: list[str]
    fids: np.ndarray  # (n_points, n_metabolites)
    dwell_s: float
    spectrometer_mhz: float
    echo_time_s: float | None
    header: dict[str, Any] = field(default_factory=dict)  # SEQPAR + BASIS1 keys
    metabolite_headers: list[dict[str, Any]] = field(default_factory=list)


def read_lcmodel_basis_file(path: str | os.PathLike) -> LCModelBasisFile:
    """Parse a ``.BASIS`` file (all metabolites)."""
    src, text = _read_text(path)
    sections = list(_SECTION.finditer(text))
    if not sections:
        raise InputError(src, "$BASIS1", "no namelist sections: not an LCModel .BASIS file")
    header: dict[str, Any] = {}
    names: list[str] = []
    fids: list[np.ndarray] = []
    meta: list[dict[str, Any]] = []
    n_points = None
    for k, sec in enumerate(sections):
        kind = sec.group(1).upper()
        values = parse_namelist(sec.group(2))
        if kind in ("SEQPAR", "BASIS1"):
            header.update(values)
            if kind == "BASIS1":
                n_points = _number(values, ("NDATAB",))
            continue
        if kind != "BASIS":
            continue
        name = values.get("METABO")
        if not isinstance(name, str) or not name:
            raise InputError(src, "METABO", f"basis block {len(names) + 1} has no metabolite name")
        # Data run from this block's $END to the next namelist ($NMUSED or $BASIS) or EOF.
        stop = sections[k + 1].start() if k + 1 < len(sections) else len(text)
        chunk = text[sec.end() : stop]
        first_line = text.count("\n", 0, sec.end()) + 1
        spec = _pairs_to_complex(parse_numbers(chunk, src, f"data of {name}", first_line), src, f"data of {name}")
        if n_points is None:
            raise InputError(src, "NDATAB", "missing number of points ($BASIS1 NDATAB)")
        if spec.size != int(n_points):
            raise InputError(src, f"data of {name}", f"{spec.size} complex points but NDATAB = {int(n_points)}")
        # Stored: FFT (unshifted) of the conjugate FID -> back to our convention.
        fids.append(np.conj(np.fft.ifft(spec)))
        names.append(name)
        meta.append(values)
    if not names:
        raise InputError(src, "$BASIS", "no metabolite ($BASIS) blocks found")
    dwell = _number(header, ("BADELT",))
    if dwell is None or not dwell > 0:
        raise InputError(src, "BADELT", "missing or non-positive dwell time in $BASIS1")
    mhz = _number(header, ("HZPPPM",))
    if mhz is None or not mhz > 0:
        raise InputError(src, "HZPPPM", "missing or non-positive spectrometer frequency in $SEQPAR")
    te = _number(header, ("ECHOT",))
    return LCModelBasisFile(
        path=src,
        names=names,
        fids=np.stack(fids, axis=1),
        dwell_s=dwell,
        spectrometer_mhz=mhz,
        echo_time_s=te / 1000.0 if te is not None and te > 0 else None,
        header=header,
        metabolite_headers=meta,
    )


def _fortran_e(x: float) -> str:
    """Fixed E format with 6 significant digits, like Fortran ``E15.6``."""
    return f"{x:15.6E}"


def write_lcmodel_basis_file(
    path: str | os.PathLike,
    names: list[str],
    fids: np.ndarray,
    dwell_s: float,
    spectrometer_mhz: float,
    echo_time_s: float | None = None,
    id_text: str = "painmrs",
) -> None:
    """Write FIDs (NIfTI-MRS convention, (n_points, n)) as an LCModel ``.BASIS`` file."""
    fids = np.asarray(fids, dtype=complex)
    lines = [
        " $SEQPAR",
        f" HZPPPM = {spectrometer_mhz:.6f},",
        f" ECHOT = {(echo_time_s or 0) * 1000:.2f},",
        " SEQ = ' '",
        " $END",
        " $BASIS1",
        f" IDBASI = '{id_text}',",
        " FMTBAS = '(2E15.6)',",
        f" BADELT = {dwell_s:.9g},",
        f" NDATAB = {fids.shape[0]}",
        " $END",
    ]
    for k, name in enumerate(names):
        spec = np.fft.fft(np.conj(fids[:, k]))
        lines += [
            " $NMUSED",
            " $END",
            " $BASIS",
            f" ID = '{name}',",
            f" METABO = '{name}',",
            " CONC = 1.,",
            " TRAMP = 1.,",
            " VOLUME = 1.,",
            " ISHIFT = 0",
            " $END",
        ]
        lines += [_fortran_e(v.real) + _fortran_e(v.imag) for v in spec]
    write_text(path, "\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------
# .RAW / .H2O
# ---------------------------------------------------------------------------------------
def read_lcmodel_raw_fid(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """FID (NIfTI-MRS convention) and merged header keys of an LCModel ``.RAW``/``.H2O`` file."""
    src, text = _read_text(path)
    sections = list(_SECTION.finditer(text))
    if not sections:
        raise InputError(src, "$NMID", "no namelist header: not an LCModel .RAW file")
    header: dict[str, Any] = {}
    for sec in sections:
        header.update(parse_namelist(sec.group(2)))
    end = sections[-1].end()
    first_line = text.count("\n", 0, end) + 1
    fid = np.conj(_pairs_to_complex(parse_numbers(text[end:], src, "data", first_line), src, "data"))
    return fid, header


def read_lcmodel_raw(
    path: str | os.PathLike,
    dwell_s: float | None = None,
    spectrometer_mhz: float | None = None,
    echo_time_s: float | None = None,
    n_points: int | None = None,
) -> MRSData:
    """An LCModel ``.RAW``/``.H2O`` data file as ``MRSData``.

    Header values win over the arguments only when the arguments are not given; when both
    are present and disagree by more than 0.1 % an ``InputError`` is raised (a wrong dwell
    time silently rescales every frequency). ISMRM 2016 challenge files need
    ``dwell_s=1/4000, spectrometer_mhz=123.2, echo_time_s=0.030``.
    """
    src = os.fspath(path)
    fid, header = read_lcmodel_raw_fid(src)
    dwell = _reconcile(
        src, "dwell time (BADELT/DWELLTIME)", _number(header, ("BADELT", "DWELLTIME", "DELTAT")), dwell_s
    )
    mhz = _reconcile(src, "spectrometer frequency (HZPPPM)", _number(header, ("HZPPPM",)), spectrometer_mhz)
    te_ms = _number(header, ("ECHOT",))
    te = _reconcile(
        src, "echo time (ECHOT)", te_ms / 1000 if te_ms and te_ms > 0 else None, echo_time_s, required=False
    )
    if n_points is not None and fid.size != int(n_points):
        raise InputError(src, "data", f"{fid.size} complex points, expected {int(n_points)}")
    declared = _number(header, ("NUMBEROFPOINTS", "NUNFIL"))
    if declared is not None and int(declared) != fid.size:
        raise InputError(src, "data", f"{fid.size} complex points but the header says {int(declared)}")
    hdr: dict[str, Any] = {}  # frequency and nucleus are MRSData fields, not header keys
    if te is not None:
        hdr["EchoTime"] = te
    # The $NMID ID string is not kept: it often holds a subject or scan identifier.
    return MRSData(fid=fid, dwell_s=dwell, spectrometer_mhz=mhz, header=hdr, source=src)


def _reconcile(src: str, field: str, from_file: float | None, given: float | None, required: bool = True):
    if from_file is not None and from_file <= 0:
        from_file = None
    if given is not None:
        given = float(given)
        if not (np.isfinite(given) and given > 0):
            raise InputError(src, field, f"given value must be positive, got {given!r}")
        if from_file is not None and abs(from_file - given) > 1e-3 * given:
            raise InputError(src, field, f"file says {from_file:g} but {given:g} was given")
        return given
    if from_file is None and required:
        raise InputError(src, field, "not in the file header and not given: pass it explicitly")
    return from_file


def write_lcmodel_raw(
    path: str | os.PathLike,
    fid: np.ndarray,
    ident: str = "painmrs",
    echo_time_s: float | None = None,
    spectrometer_mhz: float | None = None,
    dwell_s: float | None = None,
) -> None:
    """Write a 1-D FID (NIfTI-MRS convention) as an LCModel ``.RAW`` file (conjugated)."""
    fid = np.conj(np.asarray(fid, dtype=complex).ravel())
    lines = []
    seq = []
    if echo_time_s is not None:
        seq.append(f" ECHOT = {echo_time_s * 1000:.3f}")
    if spectrometer_mhz is not None:
        seq.append(f" HZPPPM = {spectrometer_mhz:.6f}")
    if dwell_s is not None:
        seq.append(f" DWELLTIME = {dwell_s:.9g}")
    if seq:
        lines += [" $SEQPAR", ",\n".join(seq), " $END"]
    lines += [f" $NMID ID='{ident}', FMTDAT='(2E15.6)'", " TRAMP=1., VOLUME=1. $END"]
    lines += [_fortran_e(v.real) + _fortran_e(v.imag) for v in fid]
    write_text(path, "\n".join(lines) + "\n")
