"""NIfTI-MRS read/write with nibabel.

Files are NIfTI-2 images of shape (1, 1, 1, n_points, [dim5, dim6, dim7]) holding complex
data, the dwell time in pixdim[4], intent name ``mrs_vMAJOR_MINOR`` and a JSON header
extension (ecode 44) with SpectrometerFrequency, ResonantNucleus, dim_N tags and the
ProcessingApplied history. Writes are atomic and byte-deterministic (gzip mtime 0).

Handedness: the NIfTI-MRS standard stores the complex conjugate of the in-memory convention
used here (and by FSL-MRS; see painmrs.mrs). The reference implementation (the nifti-mrs
package) conjugates on read and on write, and spec2nii writes the on-disk frame, so we do the
same: without it every converted scan reads back mirrored about 4.65 ppm (NAA at 7.3 ppm).
"""

from __future__ import annotations

import json
import os
import zlib
import gzip
from pathlib import Path

import nibabel as nib
import numpy as np

from ..atomic import gzip_bytes, write_bytes
from ..errors import InputError
from ..mrs import DIMENSION_TAGS, H2O_PPM, MRSData

NIFTI_MRS_ECODE = 44
# The standard version we write; readers accept any mrs_vX_Y.
NIFTI_MRS_INTENT = "mrs_v0_9"

# Header fields that can identify a person or site. They are dropped from everything
# painmrs writes (converted data included): outputs must be shareable.
IDENTIFYING_KEYS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientDoB",
        "PatientBirthDate",
        "PatientSex",
        "PatientAge",
        "PatientWeight",
        "PatientSize",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "OperatorsName",
        "PerformingPhysicianName",
        "ReferringPhysicianName",
        "DeviceSerialNumber",
        "StationName",
        "AccessionNumber",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "OriginalFile",
        "ConversionTime",
    }
)


def strip_identifiers(header: dict) -> dict:
    """Header without identifying (or run-time-dependent) keys; nested dicts too."""
    clean = {}
    for key, value in header.items():
        if key in IDENTIFYING_KEYS:
            continue
        if isinstance(value, dict):
            value = strip_identifiers(value)
        clean[key] = value
    return clean


def read(path: str | os.PathLike) -> MRSData:
    """Read a single-voxel NIfTI-MRS file; every defect raises ``InputError`` naming the field."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError(src, None, "file does not exist")
    try:
        img = nib.load(src)
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise InputError(src, None, f"not a readable NIfTI file (corrupt or truncated?): {exc}") from None
    hdr = img.header
    intent = hdr.get_intent()[2] if hasattr(hdr, "get_intent") else ""
    if not str(intent).startswith("mrs_v"):
        raise InputError(src, "intent_name", f"not NIfTI-MRS: intent name is {intent!r}, expected 'mrs_vX_Y'")
    exts = [e for e in hdr.extensions if e.get_code() == NIFTI_MRS_ECODE]
    if not exts:
        raise InputError(src, "header extension", "no NIfTI-MRS header extension (ecode 44)")
    try:
        ext = json.loads(exts[0].get_content())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(src, "header extension", f"not valid JSON: {exc}") from None
    if not isinstance(ext, dict):
        raise InputError(src, "header extension", "must be a JSON object")
    if not np.iscomplexobj(data):
        raise InputError(src, "datatype", f"data must be complex, got {data.dtype}")
    if data.ndim < 4 or data.ndim > 7:
        raise InputError(src, "dim", f"NIfTI-MRS needs 4 to 7 dimensions, got shape {data.shape}")
    if data.shape[:3] != (1, 1, 1):
        raise InputError(src, "dim[1:3]", f"only single-voxel data is supported, spatial shape {data.shape[:3]}")
    try:
        cf = ext["SpectrometerFrequency"]
        cf = float(cf[0] if isinstance(cf, (list, tuple)) else cf)
    except (KeyError, TypeError, ValueError, IndexError):
        raise InputError(src, "SpectrometerFrequency", "missing or not a number") from None
    nucleus = ext.get("ResonantNucleus", ["1H"])
    nucleus = nucleus[0] if isinstance(nucleus, (list, tuple)) and nucleus else nucleus
    if not isinstance(nucleus, str):
        raise InputError(src, "ResonantNucleus", "must be a list of strings")
    dwell = float(hdr["pixdim"][4])
    tags = []
    for axis in range(4, data.ndim):
        key = f"dim_{axis + 1}"
        tag = ext.get(key)
        if tag not in DIMENSION_TAGS:
            raise InputError(src, key, f"missing or unknown dimension tag {tag!r} for axis of size {data.shape[axis]}")
        tags.append(tag)
    fid = np.ascontiguousarray(data.reshape(data.shape[3:]).conj())
    if not np.all(np.isfinite(fid.view(fid.real.dtype))):
        raise InputError(src, "data", "contains NaN or Inf values")
    header = {
        k: v
        for k, v in ext.items()
        if k not in ("SpectrometerFrequency", "ResonantNucleus") and not k.startswith(("dim_5", "dim_6", "dim_7"))
    }
    # Keep dim_N_info / dim_N_header with the tag they describe.
    for axis in range(4, data.ndim):
        for suffix in ("_info", "_header"):
            key = f"dim_{axis + 1}{suffix}"
            if key in ext:
                header.setdefault("painmrs_dim_meta", {})[f"{tags[axis - 4]}{suffix}"] = ext[key]
    affine = img.affine if img.affine is not None else np.eye(4)
    return MRSData(
        fid=fid,
        dwell_s=dwell,
        spectrometer_mhz=cf,
        dim_tags=tuple(tags),
        nucleus=nucleus,
        affine=affine,
        header=header,
        ppm_reference=H2O_PPM,
        source=src,
    )


def to_image(mrs: MRSData) -> nib.Nifti2Image:
    """Build the NIfTI-2 image for ``mrs`` (complex64 data, header extension)."""
    if len(mrs.dim_tags) > 3:
        raise InputError(mrs.source, "dim_tags", "NIfTI-MRS allows at most 3 non-spectral dimensions")
    data = mrs.fid.conj().reshape((1, 1, 1) + mrs.fid.shape).astype(np.complex64)
    img = nib.Nifti2Image(data, mrs.affine)
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    pixdim = hdr["pixdim"]
    pixdim[4] = mrs.dwell_s
    hdr["pixdim"] = pixdim
    hdr.set_intent("none", (), name=NIFTI_MRS_INTENT)
    ext = {
        "SpectrometerFrequency": [float(mrs.spectrometer_mhz)],
        "ResonantNucleus": [mrs.nucleus],
    }
    dim_meta = dict(mrs.header.get("painmrs_dim_meta", {}))
    for i, tag in enumerate(mrs.dim_tags):
        ext[f"dim_{i + 5}"] = tag
        for suffix in ("_info", "_header"):
            if f"{tag}{suffix}" in dim_meta:
                ext[f"dim_{i + 5}{suffix}"] = dim_meta[f"{tag}{suffix}"]
    for key, value in mrs.header.items():
        if key != "painmrs_dim_meta":
            ext[key] = value
    if "SpectralWidth" in ext:
        ext["SpectralWidth"] = 1.0 / mrs.dwell_s
    payload = json.dumps(strip_identifiers(ext), sort_keys=True).encode("utf-8")
    hdr.extensions.append(nib.nifti1.Nifti1Extension(NIFTI_MRS_ECODE, payload))
    return img


def write(mrs: MRSData, path: str | os.PathLike) -> Path:
    """Write ``mrs`` to ``path`` (``.nii.gz`` or ``.nii``) atomically and deterministically."""
    path = Path(path)
    raw = to_image(mrs).to_bytes()
    write_bytes(path, gzip_bytes(raw) if path.name.endswith(".gz") else raw)
    return path
