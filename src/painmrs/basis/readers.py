"""Basis-set readers and the FSL-MRS JSON writer, plus the metabolite-name alias table.

Formats: LCModel ``.BASIS``; a directory of LCModel ``.RAW`` files (one metabolite each);
jMRUI text (one file per metabolite, or one file with several signals); FSL-MRS JSON basis
directories (one ``<name>.json`` per metabolite). :func:`load_basis` picks the reader.

Every reader converts to the NIfTI-MRS convention (see :mod:`painmrs.basis.basis_set`) and
renames metabolites to painmrs names through :data:`NAME_ALIASES`; the name as stored in
the file is kept in ``meta["original_names"]``.

FSL-MRS JSON: files painmrs writes store the complex conjugate of our FID (conjugated on
write and on read). Other FSL-MRS files do not state their convention (FSL-MRS decides it
from the content on every load): they are read the same way, and a supplied basis is then
checked and repaired by :func:`painmrs.basis.registration.register_basis` (the FSL-MRS
simulator's files in the shared data store the other one). ``basis_centre`` is the
spectrometer frequency in MHz, ``basis_dwell`` the dwell time in seconds, ``seq.centralShift``
(when present) the ppm of the receiver centre and the TE comes from ``seq.TE`` (ms) or the
simulator's ``Options`` in ``seq.description`` (``"te": "[8.0, 12.0, 10.0]"``: their sum).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text
from ..errors import InputError
from ..io.jmrui import read_jmrui_text_file
from ..io.lcmodel import read_lcmodel_basis_file, read_lcmodel_raw_fid, _number
from ..mrs import H2O_PPM
from .basis_set import BasisSet

# painmrs name -> names other tools use (compared case-insensitively). Names in neither
# column are kept as they are.
_ALIASES: dict[str, tuple[str, ...]] = {
    "NAA": ("N-acetylaspartate",),
    "NAAG": ("N-acetylaspartylglutamate",),
    "Cr": ("Creatine",),
    "PCr": ("Phosphocreatine",),
    "GPC": ("Glycerophosphocholine",),
    "PCh": ("PCho", "Phosphocholine", "PC"),
    "Cho": ("Choline", "FreeCho"),
    "mI": ("Ins", "mIns", "myo", "MyoIns", "myo-inositol", "Inositol"),
    "sI": ("sIns", "Scyllo", "sIno", "scyllo-inositol"),
    "Glu": ("Glutamate",),
    "Gln": ("Glutamine",),
    "GABA": ("GABG", "gamma-aminobutyrate"),
    "GSH": ("Glutathione",),
    "Lac": ("Lactate",),
    "Asp": ("Aspartate",),
    "Tau": ("Taurine",),
    "Gly": ("Glycine",),
    "Ala": ("Alanine",),
    "Glc": ("Glucose", "bGlc"),
    "PE": ("PEth", "PEtn", "Phosphoethanolamine"),
    "Asc": ("Ascorbate",),
    "Ace": ("Acetate",),
    "MM": ("Mac", "MMBL", "MM_exp", "MMexp"),
    "MM09": ("MM0.9", "MM_09"),
    "MM12": ("MM1.2", "MM_12"),
    "MM14": ("MM1.4", "MM_14"),
    "MM17": ("MM1.7", "MM_17"),
    "MM20": ("MM2.0", "MM_20"),
    "MM30": ("MM3.0", "MM_30", "MM3co", "MMexp30"),
}
NAME_ALIASES: dict[str, str] = {}
for _canon, _alts in _ALIASES.items():
    NAME_ALIASES[_canon.lower()] = _canon
    for _alt in _alts:
        NAME_ALIASES[_alt.lower()] = _canon


def canonical_name(name: str) -> str:
    """painmrs name for a metabolite name used by another tool (unknown names unchanged)."""
    return NAME_ALIASES.get(name.strip().lower(), name.strip())


def _rename(names: Iterable[str], src: str) -> tuple[list[str], dict[str, str]]:
    out: list[str] = []
    original: dict[str, str] = {}
    for n in names:
        c = canonical_name(n)
        if c in out:
            raise InputError(src, "metabolite names", f"{n!r} and {original[c]!r} both map to {c!r}")
        out.append(c)
        original[c] = n
    return out, original


def _basis(src, names, fids, dwell, mhz, te, fmt, ppm_reference, extra_meta=None) -> BasisSet:
    canon, original = _rename(names, src)
    meta: dict[str, Any] = {"format": fmt, "original_names": original}
    if extra_meta:
        meta.update(extra_meta)
    return BasisSet(
        names=tuple(canon),
        fids=np.asarray(fids, dtype=complex),
        dwell_s=float(dwell),
        spectrometer_mhz=float(mhz),
        ppm_reference=ppm_reference,
        echo_time_s=te,
        source=src,
        meta=meta,
    )


# ---------------------------------------------------------------------------------------
def read_lcmodel_basis(
    path: str | os.PathLike, *, ppm_reference: float = H2O_PPM, echo_time_s: float | None = None
) -> BasisSet:
    """All metabolites of an LCModel ``.BASIS`` file.

    ``ppm_reference``: the ppm of the receiver centre the basis was made for. LCModel assumes
    4.65; some public sets (e.g. Osprey's) are centred on 4.68 -- pass that to read them.
    """
    f = read_lcmodel_basis_file(path)
    te = f.echo_time_s if echo_time_s is None else echo_time_s
    return _basis(
        f.path,
        f.names,
        f.fids,
        f.dwell_s,
        f.spectrometer_mhz,
        te,
        "lcmodel-basis",
        ppm_reference,
        {"idbasi": str(f.header.get("IDBASI", ""))},
    )


def read_lcmodel_raw_dir(
    path: str | os.PathLike,
    *,
    dwell_s: float | None = None,
    spectrometer_mhz: float | None = None,
    echo_time_s: float | None = None,
    ppm_reference: float = H2O_PPM,
    pattern: str = "*",
) -> BasisSet:
    """A directory of LCModel ``.RAW`` files, one metabolite each (name = file stem).

    Dwell time and frequency come from the headers when present, else from the arguments;
    missing in both is an error naming the first file that lacks them.
    """
    d = Path(path)
    if not d.is_dir():
        raise InputError(str(d), None, "not a directory")
    files = sorted(p for p in d.glob(pattern) if p.suffix.lower() == ".raw" and p.is_file())
    if not files:
        raise InputError(str(d), None, "no .RAW files in directory")
    names, fids = [], []
    dwell_seen, mhz_seen, te_seen = set(), set(), set()
    for p in files:
        fid, hdr = read_lcmodel_raw_fid(p)
        dw = _number(hdr, ("BADELT", "DWELLTIME", "DELTAT")) or dwell_s
        mhz = _number(hdr, ("HZPPPM",)) or spectrometer_mhz
        te_ms = _number(hdr, ("ECHOT",))
        if dw is None:
            raise InputError(str(p), "dwell time (BADELT/DWELLTIME)", "not in the file header and not given (dwell_s=)")
        if mhz is None:
            raise InputError(
                str(p), "spectrometer frequency (HZPPPM)", "not in the file header and not given (spectrometer_mhz=)"
            )
        if fids and fid.size != fids[0].size:
            raise InputError(str(p), "data", f"{fid.size} complex points but {files[0].name} has {fids[0].size}")
        dwell_seen.add(round(dw, 12))
        mhz_seen.add(round(mhz, 6))
        if te_ms and te_ms > 0:
            te_seen.add(te_ms / 1000)
        names.append(p.stem)
        fids.append(fid)
    if len(dwell_seen) > 1:
        raise InputError(str(d), "dwell time", f"files disagree: {sorted(dwell_seen)}")
    if len(mhz_seen) > 1:
        raise InputError(str(d), "HZPPPM", f"files disagree: {sorted(mhz_seen)}")
    te = echo_time_s if echo_time_s is not None else (te_seen.pop() if len(te_seen) == 1 else None)
    return _basis(
        str(d), names, np.stack(fids, 1), dwell_seen.pop(), mhz_seen.pop(), te, "lcmodel-raw-dir", ppm_reference
    )


def read_jmrui_basis(
    path: str | os.PathLike, *, echo_time_s: float | None = None, ppm_reference: float = H2O_PPM
) -> BasisSet:
    """jMRUI text basis: a directory of ``.txt`` files (name = file stem) or one multi-signal file."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() == ".txt" and f.is_file())
        if not files:
            raise InputError(str(p), None, "no jMRUI .txt files in directory")
        parsed = [read_jmrui_text_file(f) for f in files]
        names, fids = [], []
        for f, t in zip(files, parsed):
            if t.fids.shape[0] != parsed[0].fids.shape[0]:
                raise InputError(
                    str(f),
                    "PointsInDataset",
                    f"{t.fids.shape[0]} points but {files[0].name} has {parsed[0].fids.shape[0]}",
                )
            if abs(t.dwell_s - parsed[0].dwell_s) > 1e-9 or abs(t.spectrometer_mhz - parsed[0].spectrometer_mhz) > 1e-3:
                raise InputError(str(f), "SamplingInterval/TransmitterFrequency", f"differs from {files[0].name}")
            if t.fids.shape[1] != 1:
                raise InputError(str(f), "DatasetsInFile", "one signal per file expected in a basis directory")
            names.append(f.stem)
            fids.append(t.fids[:, 0])
        return _basis(
            str(p),
            names,
            np.stack(fids, 1),
            parsed[0].dwell_s,
            parsed[0].spectrometer_mhz,
            echo_time_s,
            "jmrui-text",
            ppm_reference,
        )
    t = read_jmrui_text_file(p)
    return _basis(
        t.path, t.signal_names, t.fids, t.dwell_s, t.spectrometer_mhz, echo_time_s, "jmrui-text", ppm_reference
    )


def read_fsl_basis(path: str | os.PathLike, *, ppm_reference: float = H2O_PPM) -> BasisSet:
    """An FSL-MRS JSON basis directory (or a single ``.json`` file)."""
    p = Path(path)
    files = sorted(f for f in p.glob("*.json")) if p.is_dir() else [p]
    if not files:
        raise InputError(str(p), None, "no .json basis files in directory")
    names, fids, dwells, mhzs, tes, order, centres = [], [], [], [], [], [], []
    extra: dict[str, Any] = {}
    for f in files:
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(str(f), None, f"not readable JSON: {exc}") from None
        b = doc.get("basis") if isinstance(doc, dict) else None
        if not isinstance(b, dict):
            raise InputError(str(f), "basis", "missing 'basis' object")
        for key in ("basis_re", "basis_im", "basis_dwell", "basis_centre"):
            if key not in b:
                raise InputError(str(f), f"basis.{key}", "missing")
        try:
            re_ = np.asarray(b["basis_re"], dtype=float)
            im_ = np.asarray(b["basis_im"], dtype=float)
            dwell = float(b["basis_dwell"])
            mhz = float(b["basis_centre"])
        except (TypeError, ValueError) as exc:
            raise InputError(str(f), "basis", f"non-numeric values: {exc}") from None
        if re_.ndim != 1 or re_.shape != im_.shape or re_.size < 2:
            raise InputError(
                str(f), "basis.basis_re/basis_im", f"shapes {re_.shape} and {im_.shape} differ or are not 1-D"
            )
        if fids and re_.size != fids[0].size:
            raise InputError(str(f), "basis.basis_re", f"{re_.size} points but {files[0].name} has {fids[0].size}")
        if not (np.all(np.isfinite(re_)) and np.all(np.isfinite(im_))):
            raise InputError(str(f), "basis.basis_re/basis_im", "contains NaN or Inf")
        names.append(str(b.get("basis_name") or f.stem))
        fids.append(np.conj(re_ + 1j * im_))
        dwells.append(dwell)
        mhzs.append(mhz)
        seq = doc.get("seq") if isinstance(doc.get("seq"), dict) else {}
        te = fsl_sim_te_s(seq)
        if te is not None:
            tes.append(te)
        if isinstance(seq.get("centralShift"), (int, float)):
            centres.append(float(seq["centralShift"]))
        pm = doc.get("painmrs")
        if isinstance(pm, dict):
            extra = pm
            order.append(pm.get("index"))
    if max(dwells) - min(dwells) > 1e-12 * max(dwells) or max(mhzs) - min(mhzs) > 1e-6:
        raise InputError(str(p), "basis_dwell/basis_centre", "files disagree on dwell time or spectrometer frequency")
    if len(order) == len(files) and all(isinstance(i, int) for i in order):
        # Files written by painmrs: restore the basis order (glob order is alphabetical).
        perm = np.argsort(order, kind="stable")
        names = [names[i] for i in perm]
        fids = [fids[i] for i in perm]
    te = extra.get("echo_time_s", tes[0] if tes and len(set(tes)) == 1 else None)
    if "ppm_reference" not in extra and centres and len(set(centres)) == 1:
        ppm_reference = centres[0]  # the simulator's receiver centre (seq.centralShift)
    bs = _basis(
        str(p),
        names,
        np.stack(fids, 1),
        dwells[0],
        mhzs[0],
        te,
        "fsl-json",
        float(extra.get("ppm_reference", ppm_reference)),
        {k: v for k, v in extra.get("meta", {}).items() if k != "format"},
    )
    if extra.get("sequence"):
        bs = bs.replace(sequence=extra["sequence"])
    return bs


def fsl_sim_te_s(seq: dict) -> float | None:
    """Echo time (s) of an FSL-MRS JSON ``seq`` entry: ``TE`` (ms; s when <= 1), else the
    ``te`` of the simulator options in ``description`` (ms, a number or the list of the
    sequence's inter-pulse intervals, summed: sLASER "[8.0, 12.0, 10.0]" is TE 30)."""
    te = seq.get("TE")
    if isinstance(te, (int, float)) and te > 0:
        return float(te) / 1000 if te > 1 else float(te)
    desc = seq.get("description")
    if not isinstance(desc, str) or "Options:" not in desc:
        return None
    text = desc.split("Options:", 1)[1].strip().rstrip(".")
    try:
        value = json.loads(text).get("te")
        parts = json.loads(value) if isinstance(value, str) else value
        parts = parts if isinstance(parts, list) else [parts]
        total = sum(float(p) for p in parts)
    except (ValueError, TypeError, AttributeError):
        return None
    return total / 1000 if total > 0 else None


def write_fsl_basis(
    basis: BasisSet, path: str | os.PathLike, *, linewidth_hz: float | None = None, overwrite: bool = False
) -> list[Path]:
    """Write ``basis`` as an FSL-MRS JSON directory (one ``<name>.json`` per metabolite).

    Deterministic: sorted keys, shortest round-trip float text, no timestamps. A directory
    that already holds other ``.json`` files is refused (a reader would silently mix the two
    sets) unless ``overwrite=True``, which deletes them first.
    """
    d = Path(path)
    if d.exists() and not d.is_dir():
        raise InputError(str(d), None, "basis output path exists and is not a directory")
    wanted = {f"{name}.json" for name in basis.names}
    stale = sorted(p for p in d.glob("*.json") if p.name not in wanted) if d.is_dir() else []
    if stale and not overwrite:
        raise InputError(
            str(d),
            None,
            f"directory already holds other basis files ({stale[0].name} ...); "
            "choose an empty directory or overwrite",
        )
    for p in stale:
        p.unlink()
    d.mkdir(parents=True, exist_ok=True)
    written = []
    lw = linewidth_hz if linewidth_hz is not None else basis.meta.get("linewidth_hz")
    is_mm = set(basis.meta.get("macromolecules", []))
    for k, name in enumerate(basis.names):
        fid = np.conj(basis.fids[:, k])
        doc = {
            "basis": {
                "basis_name": name,
                "basis_re": [float(v) for v in fid.real],
                "basis_im": [float(v) for v in fid.imag],
                "basis_dwell": float(basis.dwell_s),
                "basis_centre": float(basis.spectrometer_mhz),
                "basis_width": None if lw is None else float(lw),
            },
            "meta": {"SimVersion": "painmrs", "time": ""},
            "seq": {
                "TE": None if basis.echo_time_s is None else basis.echo_time_s * 1000,
                "B0": basis.spectrometer_mhz / 42.577478,
                "SequenceName": basis.sequence,
            },
            "painmrs": {
                "convention": "basis_re/basis_im hold conj(FID) like FSL-MRS; painmrs reads them back conjugated",
                "echo_time_s": basis.echo_time_s,
                "index": k,
                "sequence": basis.sequence,
                "ppm_reference": basis.ppm_reference,
                "meta": dict(basis.meta),
            },
        }
        if name in is_mm:
            doc["MM"] = True
        target = d / f"{name}.json"
        write_text(target, json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
        written.append(target)
    return written


# ---------------------------------------------------------------------------------------
def detect_basis_format(path: str | os.PathLike) -> str:
    """One of lcmodel-basis, lcmodel-raw-dir, jmrui-text, fsl-json (or InputError)."""
    p = Path(path)
    if not p.exists():
        raise InputError(str(p), None, "basis path does not exist")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".basis":
            return "lcmodel-basis"
        if suffix == ".json":
            return "fsl-json"
        if suffix == ".txt":
            return "jmrui-text"
        head = p.read_text(encoding="latin-1", errors="replace")[:2000]
        if "$BASIS1" in head.upper():
            return "lcmodel-basis"
        if head.lower().startswith("jmrui"):
            return "jmrui-text"
        raise InputError(str(p), None, "unknown basis file format (expected .BASIS, .json or jMRUI .txt)")
    suffixes = {f.suffix.lower() for f in p.iterdir() if f.is_file()}
    if ".basis" in suffixes:
        return "lcmodel-basis"  # a folder holding one .BASIS file (see load_basis)
    if ".json" in suffixes:
        return "fsl-json"
    if ".raw" in suffixes:
        return "lcmodel-raw-dir"
    if ".txt" in suffixes:
        return "jmrui-text"
    raise InputError(str(p), None, "directory holds no .json, .RAW or .txt basis files")


def load_basis(path: str | os.PathLike, **hints) -> BasisSet:
    """Read a basis set in any supported format.

    ``hints`` are passed to the reader that accepts them: ``dwell_s``, ``spectrometer_mhz``
    (LCModel .RAW directories), ``echo_time_s``, ``ppm_reference``. Unused hints are an error
    so that a typo cannot be silently ignored.
    """
    fmt = detect_basis_format(path)
    readers = {
        "lcmodel-basis": (read_lcmodel_basis, {"ppm_reference", "echo_time_s"}),
        "lcmodel-raw-dir": (
            read_lcmodel_raw_dir,
            {"dwell_s", "spectrometer_mhz", "echo_time_s", "ppm_reference", "pattern"},
        ),
        "jmrui-text": (read_jmrui_basis, {"echo_time_s", "ppm_reference"}),
        "fsl-json": (read_fsl_basis, {"ppm_reference"}),
    }
    reader, accepted = readers[fmt]
    if fmt == "lcmodel-basis" and Path(path).is_dir():
        found = sorted(f for f in Path(path).iterdir() if f.is_file() and f.suffix.lower() == ".basis")
        if len(found) != 1:
            raise InputError(os.fspath(path), None, f"{len(found)} .BASIS files in the folder: name the one to read")
        path = found[0]
    given = {k: v for k, v in hints.items() if v is not None}
    unknown = set(given) - accepted
    # Hints that only matter for other formats (e.g. dwell for a .BASIS that has BADELT) are
    # harmless; only names no reader knows are rejected.
    all_known = set().union(*(a for _, a in readers.values()))
    if unknown - all_known:
        raise InputError(os.fspath(path), "basis options", f"unknown option(s) {sorted(unknown - all_known)}")
    return reader(path, **{k: v for k, v in given.items() if k in accepted})
