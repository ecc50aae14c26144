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

import dataclasses
import json
import math
import os
from pathlib import Path

import nibabel as nib
import numpy as np

from ..atomic import gzip_bytes, write_bytes
from ..errors import InputError
from ..mrs import DIMENSION_TAGS, H2O_PPM, MRSData
from .deidentify import IDENTIFYING_KEYS, allowed_header, log_dropped, strip_identifiers  # noqa: F401 (re-exported)

NIFTI_MRS_ECODE = 44
# The standard version we write; readers accept any mrs_vX_Y.
NIFTI_MRS_INTENT = "mrs_v0_9"

# Header fields that can identify a person or site are dropped from everything painmrs
# writes (converted data included): outputs must be shareable. Every write keeps only the
# allow-list of safe keys (painmrs.io.deidentify.allowed_header); the explicit list and the
# matching rules live in painmrs.io.deidentify (imported above; re-exported here).


# Plausible spectrometer frequencies (MHz): 1H from 0.5 T to 28 T spans ~21-1200 MHz. A value
# outside is almost always a unit error (Hz or kHz written as MHz), which would silently
# rescale the ppm axis.
MAX_SPECTROMETER_MHZ = 1500.0
# An unsuppressed water reference decays along time by orders of magnitude (simulated 4
# coils x 4 transients at metabolite SNR 5: first/last-eighth RMS ratio 360; the 7 T Siemens
# reference in shared/data: 190); with DIM_DYN or DIM_COIL written as dimension 4 the ratio is
# ~1. Water-suppressed metabolite scans at low SNR can be as flat as 1.04 per coil, so only
# water references are checked (painmrs.jobs.process).
MIN_TIME_AXIS_DECAY = 1.5
# A corrupt sample: |x| above this many times the largest of its SPIKE_NEIGHBOURS neighbours on
# each side in the same trace. A FID's envelope is smooth (it decays over tens of points even
# for a 30 Hz line at 4 kHz), and one noise sample 1000 x its 16 neighbours' maximum is out of
# reach of Gaussian noise; one point of 1e30 in a FID gave tCr 1.8e31 mM with qc_pass true
# (issue 14). Real data in shared/data: at most 2.4 (Philips, Siemens 3 T and 7 T, 32 coils).
SPIKE_FACTOR = 1000.0
SPIKE_NEIGHBOURS = 8


@dataclasses.dataclass(frozen=True)
class HeaderInfo:
    """What a NIfTI-MRS file's header says, validated without reading the data."""

    path: str
    shape: tuple[int, ...]
    dwell_s: float
    spectrometer_mhz: float
    nucleus: str
    dim_tags: tuple[str, ...]
    extension: dict

    @property
    def n_points(self) -> int:
        return int(self.shape[3])

    @property
    def echo_time_s(self) -> float | None:
        te = self.extension.get("EchoTime")
        return float(te) if isinstance(te, (int, float)) and not isinstance(te, bool) else None


def _load(src: str):
    try:
        return nib.load(src)
    except Exception as exc:  # nibabel raises many types (OSError, EOFError, zlib/gzip errors, ImageFileError ...)
        raise InputError(src, None, f"not a readable NIfTI file (corrupt or truncated?): {type(exc).__name__}: {exc}") from None


def _validate_header(img, src: str) -> HeaderInfo:
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
        raise InputError(src, "header extension", f"must be a JSON object, got {type(ext).__name__}")
    dtype = hdr.get_data_dtype()
    if dtype.kind != "c":
        raise InputError(src, "datatype", f"data must be complex, got {dtype}")
    shape = tuple(int(n) for n in img.shape)
    if len(shape) < 4 or len(shape) > 7:
        raise InputError(src, "dim", f"NIfTI-MRS needs 4 to 7 dimensions (x, y, z, spectral, ...), got shape {shape}")
    if shape[:3] != (1, 1, 1):
        raise InputError(
            src, "dim[1:3]",
            f"only single-voxel data is supported: spatial shape {shape[:3]} must be (1, 1, 1) and the spectral "
            f"(time) axis NIfTI dimension 4; got shape {shape}",
        )
    if shape[3] < 2:
        raise InputError(src, "dim[4]", f"the spectral (time) axis, NIfTI dimension 4, has {shape[3]} point(s)")
    try:
        cf = ext["SpectrometerFrequency"]
        cf = float(cf[0] if isinstance(cf, (list, tuple)) else cf)
    except (KeyError, TypeError, ValueError, IndexError):
        raise InputError(src, "SpectrometerFrequency", "missing or not a number") from None
    if not (math.isfinite(cf) and 0 < cf <= MAX_SPECTROMETER_MHZ):
        raise InputError(
            src, "SpectrometerFrequency", f"must be a positive number of MHz (at most {MAX_SPECTROMETER_MHZ:g}), got {cf!r}"
        )
    nucleus = ext.get("ResonantNucleus", ["1H"])
    nucleus = nucleus[0] if isinstance(nucleus, (list, tuple)) and nucleus else nucleus
    if not isinstance(nucleus, str):
        raise InputError(src, "ResonantNucleus", "must be a list of strings")
    dwell = float(hdr["pixdim"][4])
    if not (math.isfinite(dwell) and 0 < dwell < 1):
        raise InputError(src, "dwell time (pixdim[4])", f"must be in (0, 1) s, got {dwell!r}")
    tags = []
    for axis in range(4, len(shape)):
        key = f"dim_{axis + 1}"
        tag = ext.get(key)
        if tag not in DIMENSION_TAGS:
            raise InputError(src, key, f"missing or unknown dimension tag {tag!r} for axis of size {shape[axis]}")
        if tag in tags:
            raise InputError(src, key, f"dimension tag {tag!r} is used twice (dim_{tags.index(tag) + 5} and {key})")
        tags.append(tag)
    # Tags beyond the stored dimensions are allowed: NIfTI drops trailing dimensions of size 1,
    # so spec2nii's DICOM output (averaged on the scanner) keeps dim_5 = DIM_DYN over 4-D data.
    return HeaderInfo(src, shape, dwell, cf, nucleus, tuple(tags), ext)


def read_header(path: str | os.PathLike) -> HeaderInfo:
    """Validate a NIfTI-MRS file's header (not its data: nothing is decompressed beyond the header)."""
    src = str(path)
    if not Path(src).exists():
        raise InputError(src, None, "file does not exist")
    return _validate_header(_load(src), src)


def read(path: str | os.PathLike) -> MRSData:
    """Read a single-voxel NIfTI-MRS file; every defect raises ``InputError`` naming the field."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise InputError(src, None, "file does not exist")
    img = _load(src)
    info = _validate_header(img, src)
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # truncated gzip stream, short file ...
        raise InputError(src, "data", f"cannot read the data (file truncated or corrupt?): {type(exc).__name__}: {exc}") from None
    ext, tags = info.extension, list(info.dim_tags)
    fid = np.ascontiguousarray(data.reshape(data.shape[3:]).conj())
    if not np.all(np.isfinite(fid.view(fid.real.dtype))):
        bad = int(np.count_nonzero(~np.isfinite(fid)))
        raise InputError(src, "data", f"contains NaN or Inf values ({bad} of {fid.size} points)")
    if not np.any(fid):
        raise InputError(src, "data", "all values are zero (empty acquisition)")
    check_samples(fid, src)
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
        dwell_s=info.dwell_s,
        spectrometer_mhz=info.spectrometer_mhz,
        dim_tags=tuple(tags),
        nucleus=info.nucleus,
        affine=affine,
        header=header,
        ppm_reference=H2O_PPM,
        source=src,
    )


def sample_outliers(fid: np.ndarray, factor: float = SPIKE_FACTOR, neighbours: int = SPIKE_NEIGHBOURS):
    """(point, trace, |x| / neighbour maximum) of the worst sample of ``fid`` (time axis first)
    relative to the largest magnitude among its ``neighbours`` neighbours on each side, or None
    when no sample exceeds ``factor`` times that (see SPIKE_FACTOR)."""
    mag = np.abs(fid.reshape(fid.shape[0], -1)).astype(np.float64)
    n = mag.shape[0]
    if n < 3:
        return None
    around = np.zeros_like(mag)
    for k in range(1, min(neighbours, n - 1) + 1):
        around[k:] = np.maximum(around[k:], mag[:-k])
        around[:-k] = np.maximum(around[:-k], mag[k:])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(mag > 0, mag / around, 0.0)
    point, trace = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst = float(ratio[point, trace])
    return (int(point), int(trace), worst) if worst > factor else None


def check_samples(fid: np.ndarray, src) -> None:
    """Refuse data with an absurd sample (a corrupt point: see SPIKE_FACTOR)."""
    found = sample_outliers(fid)
    if found is not None:
        point, trace, ratio = found
        value = np.abs(fid.reshape(fid.shape[0], -1)[point, trace])
        where = f"point {point} of trace {trace}" if fid.ndim > 1 else f"point {point}"
        raise InputError(
            src, "data",
            f"corrupt sample: |x| = {value:.3g} at {where} is {ratio:.3g} x the largest of its "
            f"{SPIKE_NEIGHBOURS} neighbours on each side (limit {SPIKE_FACTOR:g} x)",
        )


def time_axis_decay(mrs: MRSData) -> float:
    """RMS |FID| over the first eighth of the time axis / over the last eighth, after
    averaging repeated transients (DIM_DYN); coils and other axes are pooled."""
    fid = mrs.fid
    if "DIM_DYN" in mrs.dim_tags:
        fid = fid.mean(axis=1 + mrs.dim_tags.index("DIM_DYN"))
    flat = fid.reshape(fid.shape[0], -1)
    k = max(1, flat.shape[0] // 8)
    profile = np.sqrt(np.mean(np.abs(flat) ** 2, axis=1))
    tail = float(profile[-k:].mean())
    return float("inf") if tail == 0 else float(profile[:k].mean()) / tail


def check_time_axis(mrs: MRSData) -> MRSData:
    """Refuse raw data whose NIfTI dimension 4 does not look like time (no FID decay)."""
    decay = time_axis_decay(mrs)
    if decay < MIN_TIME_AXIS_DECAY:  # water references only: see MIN_TIME_AXIS_DECAY
        raise InputError(
            mrs.source, "dim order",
            f"the signal does not decay along NIfTI dimension 4 (first/last-eighth RMS ratio {decay:.2f} < "
            f"{MIN_TIME_AXIS_DECAY:g}): the spectral (time) axis must be dimension 4, with DIM_DYN, DIM_COIL ... "
            f"in dimensions 5-7 (tags {list(mrs.dim_tags)})",
        )
    return mrs


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
    dropped: set[str] = set()
    ext = allowed_header(ext, dropped)  # only keys painmrs knows to be safe (painmrs.io.deidentify)
    log_dropped(dropped)
    payload = json.dumps(ext, sort_keys=True).encode("utf-8")
    hdr.extensions.append(nib.nifti1.Nifti1Extension(NIFTI_MRS_ECODE, payload))
    return img


def write(mrs: MRSData, path: str | os.PathLike) -> Path:
    """Write ``mrs`` to ``path`` (``.nii.gz`` or ``.nii``) atomically and deterministically."""
    path = Path(path)
    raw = to_image(mrs).to_bytes()
    write_bytes(path, gzip_bytes(raw) if path.name.endswith(".gz") else raw)
    return path
