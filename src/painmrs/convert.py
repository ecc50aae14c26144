"""Vendor data -> NIfTI-MRS with spec2nii, then de-identified and rewritten deterministically.

spec2nii (the community converter, pinned in pyproject.toml) knows the vendor formats far
better than anything we would write, so we call it rather than re-implement the readers.
Its output carries names, IDs, birth dates, sex, weight, the institution, the conversion time
and the original file path; we re-read it with painmrs.io.nifti_mrs and write it back, which
drops the identifying keys (the explicit list in painmrs.io.deidentify, at any nesting depth)
and makes the file byte-identical across reruns. spec2nii's console output (which can echo
header values) is never logged.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import InputError
from .io import nifti_mrs
from .io.deidentify import strip_identifiers

# spec2nii sub-command per format, and the file suffixes it expects (for early, clear errors).
FORMATS = {
    "philips": (".sdat",),
    "rda": (".rda",),
    "dicom": (".ima", ".dcm", ""),
    "twix": (".dat",),
    "ge": (".7",),
}


def _spec2nii() -> list[str]:
    exe = Path(sys.executable).with_name("spec2nii")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("spec2nii")
    if found:
        return [found]
    raise InputError(None, "spec2nii", "the spec2nii converter is not installed (pip install spec2nii)")


def _philips_spar(sdat: Path) -> Path:
    for ext in (".spar", ".SPAR"):
        candidate = sdat.with_suffix(ext)
        if candidate.is_file():
            return candidate
    raise InputError(sdat, "SPAR", "Philips SDAT needs its .SPAR header file beside it (same name)")


def spec2nii_command(fmt: str, source: Path, out_dir: Path, name: str) -> list[str]:
    """The spec2nii command line converting ``source`` to ``out_dir/name.nii.gz``."""
    base = _spec2nii()
    if fmt == "philips":
        return base + ["philips", "-o", str(out_dir), "-f", name, str(source), str(_philips_spar(source))]
    if fmt == "twix":
        return base + ["twix", "-e", "image", "-o", str(out_dir), "-f", name, str(source)]
    return base + [fmt, "-o", str(out_dir), "-f", name, str(source)]


def convert(source: str | os.PathLike, fmt: str, out_path: str | os.PathLike, *, extra_header: dict | None = None):
    """Convert one vendor file to a de-identified NIfTI-MRS file at ``out_path``; return its MRSData.

    ``fmt`` is a spec2nii sub-command: philips (SDAT/SPAR, either case), rda, dicom (.IMA /
    .dcm), twix (Siemens .dat) or ge (P-file). Errors name the source file.
    """
    source = Path(source)
    if fmt not in FORMATS:
        raise InputError(source, "format", f"{fmt!r} is not a supported format ({', '.join(FORMATS)})")
    if not source.is_file():
        raise InputError(source, None, "vendor file does not exist")
    if source.suffix.lower() not in FORMATS[fmt] and "" not in FORMATS[fmt]:
        raise InputError(source, "format", f"format {fmt!r} expects a {'/'.join(FORMATS[fmt])} file")
    with tempfile.TemporaryDirectory(prefix="painmrs-spec2nii-") as tmp:
        tmp_path = Path(tmp)
        src = source
        if fmt == "dicom":
            # spec2nii dicom scans a whole folder when given one; isolate the file so that
            # neighbouring series are never picked up.
            src = tmp_path / "in" / source.name
            src.parent.mkdir()
            shutil.copy2(source, src)
        cmd = spec2nii_command(fmt, src, tmp_path / "out", "converted")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        outputs = sorted((tmp_path / "out").glob("*.nii*")) if (tmp_path / "out").is_dir() else []
        if proc.returncode != 0 or not outputs:
            # Only the last line (the exception) of spec2nii's output: verbose output can
            # echo the vendor header, identifying fields included.
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            tail = detail[-1] if detail else f"exit status {proc.returncode}"
            raise InputError(source, "spec2nii", f"conversion failed: {tail}")
        if len(outputs) > 1:
            names = ", ".join(p.name for p in outputs)
            raise InputError(source, "spec2nii", f"conversion produced {len(outputs)} files ({names}); expected one scan")
        mrs = nifti_mrs.read(outputs[0])
    header = dict(mrs.header)
    header.update(extra_header or {})
    header["ConversionMethod"] = header.get("ConversionMethod", "spec2nii")
    clean = strip_identifiers(header)
    mrs = dataclasses.replace(mrs, header=clean, source=str(source))
    nifti_mrs.write(mrs, out_path)
    return mrs
