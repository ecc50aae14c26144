"""Builders of bad NIfTI-MRS files for tests/test_bad_input_corpus.py.

Every variant starts from one realistic raw scan (simulated PRESS, 2 coils x 8 transients,
1024 points at 123.2 MHz, TE 30 ms) and changes exactly one thing in the file.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData
from painmrs.demo.synthetic import make_scan

HEADER = {"EchoTime": 0.030, "RepetitionTime": 2.0, "SequenceName": "PRESS"}


def raw_pair(seed: int) -> tuple[MRSData, MRSData]:
    """(metabolite scan, water reference) with the headers the inventory checks."""
    metab, water, _ = make_scan(seed, n=1024, n_transients=8, n_coils=2, mhz=123.2, snr=40, drift_hz=(-2.0, 2.0))
    return metab.replace(header=HEADER), water.replace(header=HEADER)


def _write_image(path: Path, data: np.ndarray, dwell: float, ext: dict | bytes | None, intent: str | None = "mrs_v0_9"):
    """A NIfTI-2 file from on-disk-frame ``data`` (x, y, z, t, ...), pixdim[4] ``dwell`` and
    the header extension ``ext`` (dict -> JSON, bytes as given, None: no extension)."""
    img = nib.Nifti2Image(data, np.eye(4))
    hdr = img.header
    hdr.set_xyzt_units("mm", "sec")
    pixdim = hdr["pixdim"]
    pixdim[4] = dwell
    hdr["pixdim"] = pixdim
    if intent:
        hdr.set_intent("none", (), name=intent)
    if ext is not None:
        payload = ext if isinstance(ext, bytes) else json.dumps(ext, allow_nan=True).encode()
        hdr.extensions.append(nib.nifti1.Nifti1Extension(nifti_mrs.NIFTI_MRS_ECODE, payload))
    raw = img.to_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0) if path.name.endswith(".gz") else raw)
    return path


def _parts(mrs: MRSData):
    """On-disk data, dwell and header extension of a valid file for ``mrs``."""
    data = mrs.fid.conj().reshape((1, 1, 1) + mrs.fid.shape).astype(np.complex64)
    ext = {"SpectrometerFrequency": [mrs.spectrometer_mhz], "ResonantNucleus": ["1H"], **dict(mrs.header)}
    for i, tag in enumerate(mrs.dim_tags):
        ext[f"dim_{i + 5}"] = tag
    return data, mrs.dwell_s, ext


def write_variant(path: Path, mrs: MRSData, kind: str) -> Path:
    """Write ``mrs`` to ``path`` spoiled as ``kind`` (see VARIANTS)."""
    data, dwell, ext = _parts(mrs)
    if kind == "valid":
        return nifti_mrs.write(mrs, path)
    if kind == "truncated":
        nifti_mrs.write(mrs, path)
        blob = path.read_bytes()
        path.write_bytes(blob[: int(len(blob) * 0.6)])
        return path
    if kind == "random_bytes":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        return path
    if kind == "empty_file":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return path
    if kind == "plain_nifti":
        return _write_image(path, np.abs(data).astype(np.float32), dwell, None, intent=None)
    if kind == "no_extension":
        return _write_image(path, data, dwell, None)
    if kind == "extension_not_json":
        return _write_image(path, data, dwell, b'{"SpectrometerFrequency": [123.2], "EchoTime": 0.03,')
    if kind == "extension_not_object":
        return _write_image(path, data, dwell, b"[123.2, 0.03]")
    if kind == "dim5_tag_missing":
        ext.pop("dim_5")
        return _write_image(path, data, dwell, ext)
    if kind == "dim5_tag_unknown":
        return _write_image(path, data, dwell, {**ext, "dim_5": "DIM_SPEC"})
    if kind == "dim_tag_twice":
        return _write_image(path, data, dwell, {**ext, "dim_5": "DIM_DYN"})
    if kind == "tag_without_dimension":
        return _write_image(path, data, dwell, {**ext, "dim_7": "DIM_EDIT"})
    if kind == "spectral_axis_not_dim4":
        # time written along NIfTI x: shape (1024, 1, 1, 1, 2, 8)
        return _write_image(path, np.moveaxis(data, 3, 0), dwell, ext)
    if kind == "dyn_axis_first":
        # transients written as NIfTI dimension 4, time as dimension 6 (still tagged DIM_DYN)
        return _write_image(path, np.swapaxes(data, 3, 5), dwell, ext)
    if kind.startswith("dwell="):
        return _write_image(path, data, float(kind.split("=", 1)[1]), ext)
    if kind.startswith("frequency="):
        return _write_image(path, data, dwell, {**ext, "SpectrometerFrequency": [float(kind.split("=", 1)[1])]})
    if kind == "frequency_missing":
        ext.pop("SpectrometerFrequency")
        return _write_image(path, data, dwell, ext)
    if kind in ("nan_data", "inf_data"):
        data = data.copy()
        data[0, 0, 0, 100, 1, 3] = np.nan if kind == "nan_data" else np.inf
        return _write_image(path, data, dwell, ext)
    if kind == "zero_data":
        return _write_image(path, np.zeros_like(data), dwell, ext)
    if kind == "echo_time_35ms":
        return _write_image(path, data, dwell, {**ext, "EchoTime": 0.035})
    if kind.startswith("nucleus="):  # ResonantNucleus, e.g. nucleus=31P
        return _write_image(path, data, dwell, {**ext, "ResonantNucleus": [kind.split("=", 1)[1]]})
    if kind.startswith("echo_time="):  # EchoTime in s
        return _write_image(path, data, dwell, {**ext, "EchoTime": float(kind.split("=", 1)[1])})
    if kind.startswith("repetition_time="):  # RepetitionTime in s
        return _write_image(path, data, dwell, {**ext, "RepetitionTime": float(kind.split("=", 1)[1])})
    if kind == "spike":  # one corrupt sample of 1e30 (float32 holds it)
        data = data.copy()
        data[0, 0, 0, 100, 1, 3] = 1e30
        return _write_image(path, data, dwell, ext)
    if kind.startswith(("shift_ppm=", "broaden_hz=")):
        # every peak moved by shift_ppm (on the in-memory ppm axis), or an extra Lorentzian
        # broadening of broaden_hz (FWHM); on disk the data are the conjugate
        value = float(kind.split("=", 1)[1])
        t = (np.arange(data.shape[3]) * dwell).reshape(1, 1, 1, -1, 1, 1)
        if kind.startswith("shift_ppm="):
            factor = np.exp(-2j * np.pi * value * mrs.spectrometer_mhz * t)
        else:
            factor = np.exp(-np.pi * value * t)
        return _write_image(path, (data * factor).astype(np.complex64), dwell, ext)
    if kind == "real_data":
        return _write_image(path, data.real.astype(np.float32), dwell, ext)
    raise ValueError(kind)
