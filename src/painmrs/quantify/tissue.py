"""Voxel tissue fractions from GM/WM/CSF probability maps, and the voxel mask image.

The MRS voxel is the single voxel of the NIfTI-MRS image: its affine (``MRSData.affine``)
maps voxel indices to scanner mm, so the box is the index cube [-0.5, 0.5]^3. We supersample
that box on a regular grid, map the points to the tissue map's voxel indices with the inverse
of the map's affine and sample the maps trilinearly (points outside the map count as 0).
Fractions are the mean probabilities, normalised to sum to 1. All numpy, no voxel loops.

Expected map names (any of these, in one directory; ``find_tissue_maps``):

- BIDS derivatives: ``*_label-GM_probseg.nii.gz``, ``*_label-WM_probseg.nii.gz``,
  ``*_label-CSF_probseg.nii.gz`` (what painmrs' demo writes and what fMRIPrep/sMRIPrep give);
- FSL FAST: ``*_pve_0`` = CSF, ``*_pve_1`` = GM, ``*_pve_2`` = WM (T1 input, 3 classes);
- SPM segment: ``c1*`` = GM, ``c2*`` = WM, ``c3*`` = CSF;
- FreeSurfer-derived: ``gm.nii.gz``, ``wm.nii.gz``, ``csf.nii.gz`` (e.g. partial-volume maps
  resampled from ``mri/`` to the T1 in scanner space; FreeSurfer's conformed space must be
  mapped back to native space first, since its affine is not the scanner's).
Maps must be in scanner (world) coordinates, like the NIfTI-MRS affine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates

from ..atomic import gzip_bytes, write_bytes
from ..errors import InputError

TISSUE_PATTERNS = {
    "GM": (r"label-GM_probseg\.nii(\.gz)?$", r"_pve_1\.nii(\.gz)?$", r"^c1.*\.nii(\.gz)?$", r"^gm\.nii(\.gz)?$"),
    "WM": (r"label-WM_probseg\.nii(\.gz)?$", r"_pve_2\.nii(\.gz)?$", r"^c2.*\.nii(\.gz)?$", r"^wm\.nii(\.gz)?$"),
    "CSF": (r"label-CSF_probseg\.nii(\.gz)?$", r"_pve_0\.nii(\.gz)?$", r"^c3.*\.nii(\.gz)?$", r"^csf\.nii(\.gz)?$"),
}


def find_tissue_maps(directory: str | os.PathLike, prefix: str = "") -> dict[str, Path]:
    """GM/WM/CSF map paths in ``directory`` by the naming conventions above."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.name.startswith(prefix)) if directory.is_dir() else []
    found = {}
    for tissue, patterns in TISSUE_PATTERNS.items():
        for pat in patterns:
            hits = [p for p in files if re.search(pat, p.name)]
            if hits:
                found[tissue] = hits[0]
                break
    missing = [t for t in TISSUE_PATTERNS if t not in found]
    if missing:
        raise InputError(directory, "tissue maps", f"no {missing} probability map found (see painmrs.quantify.tissue)")
    return found


def voxel_points(mrs_affine: np.ndarray, n_per_axis: int) -> np.ndarray:
    """World coordinates (N, 3) of an n^3 grid of cell centres filling the MRS voxel box."""
    c = (np.arange(n_per_axis) + 0.5) / n_per_axis - 0.5
    ijk = np.stack(np.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)
    return ijk @ mrs_affine[:3, :3].T + mrs_affine[:3, 3]


def _load(path, field):
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj, dtype=np.float64)
    except Exception as exc:  # nibabel raises many types for bad files
        raise InputError(path, field, f"not a readable NIfTI image: {exc}") from None
    data = np.squeeze(data)
    if data.ndim != 3:
        raise InputError(path, field, f"tissue map must be 3-D, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise InputError(path, field, "contains NaN or Inf")
    return img, data


def _samples_per_axis(mrs_affine, img_affine, max_n=60):
    vox_mm = np.sqrt((mrs_affine[:3, :3] ** 2).sum(axis=0)).max()
    img_mm = np.sqrt((img_affine[:3, :3] ** 2).sum(axis=0)).min()
    return int(np.clip(np.ceil(2 * vox_mm / img_mm), 5, max_n))


def voxel_tissue_fractions(mrs_affine: np.ndarray, maps: dict[str, str | os.PathLike], n_per_axis: int | None = None):
    """{"GM", "WM", "CSF"} fractions of the MRS voxel (sum 1) from probability maps."""
    mrs_affine = np.asarray(mrs_affine, float)
    if np.linalg.matrix_rank(mrs_affine[:3, :3]) < 3:
        raise InputError(None, "affine", "MRS voxel affine is singular: no voxel geometry in the NIfTI-MRS header")
    means = {}
    ref_shape = None
    for tissue in ("GM", "WM", "CSF"):
        if tissue not in maps:
            raise InputError(None, "tissue maps", f"missing {tissue} map")
        img, data = _load(maps[tissue], f"{tissue} map")
        if ref_shape is None:
            ref_shape = data.shape
        n = n_per_axis or _samples_per_axis(mrs_affine, img.affine)
        pts = voxel_points(mrs_affine, n)
        ijk = np.c_[pts, np.ones(len(pts))] @ np.linalg.inv(img.affine).T
        vals = map_coordinates(data, ijk[:, :3].T, order=1, mode="constant", cval=0.0)
        inside = np.all((ijk[:, :3] > -0.5) & (ijk[:, :3] < np.array(data.shape) - 0.5), axis=1)
        if inside.mean() < 0.5:
            raise InputError(maps[tissue], f"{tissue} map", "MRS voxel lies mostly outside the image: wrong space?")
        means[tissue] = float(np.clip(vals, 0, None).mean())
    total = sum(means.values())
    if total <= 0:
        raise InputError(maps["GM"], "tissue maps", "tissue probabilities are zero inside the MRS voxel")
    return {t: v / total for t, v in means.items()}


def voxel_mask(mrs_affine: np.ndarray, reference_image: str | os.PathLike, out_path: str | os.PathLike | None = None):
    """uint8 mask on the reference image grid: 1 where a voxel centre lies inside the MRS box.

    Candidates are the image voxels inside the bounding box of the MRS voxel's corners; their
    centres are mapped into MRS voxel coordinates, where the box is [-0.5, 0.5)^3.
    """
    mrs_affine = np.asarray(mrs_affine, float)
    img = nib.load(str(reference_image))
    shape = np.array(img.shape[:3])
    inv_img = np.linalg.inv(img.affine)
    corners = np.array(np.meshgrid([-0.5, 0.5], [-0.5, 0.5], [-0.5, 0.5], indexing="ij")).reshape(3, -1).T
    world = corners @ mrs_affine[:3, :3].T + mrs_affine[:3, 3]
    ijk = world @ inv_img[:3, :3].T + inv_img[:3, 3]
    lo = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, shape - 1)
    hi = np.clip(np.ceil(ijk.max(axis=0)).astype(int), 0, shape - 1)
    grids = np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi)], indexing="ij")
    cand = np.stack([g.reshape(-1) for g in grids], axis=1)
    centres = cand @ img.affine[:3, :3].T + img.affine[:3, 3]
    inv_mrs = np.linalg.inv(mrs_affine)
    u = centres @ inv_mrs[:3, :3].T + inv_mrs[:3, 3]
    inside = np.all((u >= -0.5 - 1e-9) & (u < 0.5 - 1e-9), axis=1)
    mask = np.zeros(tuple(shape), np.uint8)
    mask[tuple(cand[inside].T)] = 1
    out = nib.Nifti1Image(mask, img.affine)
    out.header.set_data_dtype(np.uint8)
    if out_path is not None:
        raw = out.to_bytes()
        write_bytes(out_path, gzip_bytes(raw) if str(out_path).endswith(".gz") else raw)
    return out


def scan_tissue_fractions(mrs_affine: np.ndarray, segmentation_dir: str | os.PathLike, prefix: str = "",
                          mask_path: str | os.PathLike | None = None) -> dict[str, float]:
    """Find the maps in ``segmentation_dir`` (names above), return the voxel's fractions and,
    if ``mask_path`` is given, write the voxel mask on the GM map's grid (for the report)."""
    maps = find_tissue_maps(segmentation_dir, prefix)
    fractions = voxel_tissue_fractions(mrs_affine, maps)
    if mask_path is not None:
        voxel_mask(mrs_affine, maps["GM"], mask_path)
    return fractions
