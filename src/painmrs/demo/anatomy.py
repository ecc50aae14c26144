"""Synthetic anatomy per session: GM/WM/CSF probability maps and a T1-like image.

The maps live on a small scanner-space grid (48^3 voxels of 2.5 mm, centred on the origin).
Outside the MRS voxels the tissue is a smooth random "anatomy"; inside each MRS voxel box
the probabilities are set to the scan's tissue fractions plus a smooth zero-mean texture,
so that the mean of each map over the box equals the planned fraction (to the 1/256
quantisation of the stored maps; the exact box means are returned and written as truth).
Boxes are aligned with the grid edges, so averaging the map over the grid voxels whose
centres fall inside the MRS voxel gives those fractions exactly.

A PRESS voxel (20 mm) and a MEGA-PRESS voxel (30 mm) in the same region share a centre up
to 1 mm (grid alignment); the larger box is filled so that both box means equal the same
fractions (texture mean-free on the inner box and on the shell separately).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GRID = 48
VOXEL_MM = 2.5
ORIGIN_MM = -(GRID - 1) * VOXEL_MM / 2  # centre of voxel 0 -> grid centred on 0 mm
QUANT = 256.0

# PRESS voxel centres (mm, scanner space); 30 mm MEGA boxes around them never overlap.
REGION_CENTRES_MM = {
    "ACC": (-40.0, 40.0, 0.0),
    "mPFC": (0.0, 40.0, 0.0),
    "S1": (40.0, 40.0, 0.0),
    "insulaL": (-40.0, 0.0, 0.0),
    "thalamus": (0.0, 0.0, 0.0),
    "insulaR": (40.0, 0.0, 0.0),
    "precuneus": (-40.0, -40.0, 0.0),
    "PCC": (0.0, -40.0, 0.0),
    "hippocampus": (40.0, -40.0, 0.0),
}


def grid_affine() -> np.ndarray:
    aff = np.eye(4)
    aff[:3, :3] *= VOXEL_MM
    aff[:3, 3] = ORIGIN_MM
    return aff


def voxel_centre(region: str, size_mm: float) -> np.ndarray:
    """Centre of an MRS voxel of edge ``size_mm`` aligned to the 2 mm grid edges."""
    c = np.array(REGION_CENTRES_MM[region], float)
    half = size_mm / 2
    # box [c - half, c + half] must start on a grid edge (edges at ORIGIN - VOXEL/2 + k VOXEL).
    lo = c - half
    edge0 = ORIGIN_MM - VOXEL_MM / 2
    lo = edge0 + np.round((lo - edge0) / VOXEL_MM) * VOXEL_MM
    return lo + half


def mrs_affine(region: str, size_mm: float) -> np.ndarray:
    aff = np.eye(4)
    aff[:3, :3] *= size_mm
    aff[:3, 3] = voxel_centre(region, size_mm)
    return aff


def box_slices(centre_mm: np.ndarray, size_mm: float) -> tuple[slice, slice, slice]:
    lo = (centre_mm - size_mm / 2 - (ORIGIN_MM - VOXEL_MM / 2)) / VOXEL_MM
    n = int(round(size_mm / VOXEL_MM))
    lo = np.round(lo).astype(int)
    return tuple(slice(int(a), int(a) + n) for a in lo)


def _smooth_field(rng, sigma_vox: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal((GRID,) * 3), sigma_vox, mode="wrap", truncate=3.0)
    return f / f.std()


def make_anatomy(rng: np.random.Generator, boxes: list[dict]) -> dict:
    """Maps for one session.

    ``boxes``: [{"region", "fractions" (3,), "sizes_mm": [20] or [20, 30] or [30]}].
    Returns {"GM", "WM", "CSF" (float32 maps), "T1w" (int16), "affine", "fractions":
    {(region, size_mm): (fGM, fWM, fCSF) measured on the stored maps}}.
    """
    # Background anatomy: softmax of smooth fields with a WM-core / GM-shell tendency.
    fields = np.stack([_smooth_field(rng, 2.5) for _ in range(3)])
    logits = 2.0 * fields + np.array([0.3, 0.2, -0.5])[:, None, None, None]
    prob = np.exp(logits - logits.max(axis=0))
    prob /= prob.sum(axis=0)
    texture = np.stack([_smooth_field(rng, 1.6) for _ in range(3)])
    texture -= texture.mean(axis=0)  # sums to zero over tissues at every voxel

    for box in boxes:
        target = np.asarray(box["fractions"], float)
        centres = {s: voxel_centre(box["region"], s) for s in box["sizes_mm"]}
        sizes = sorted(box["sizes_mm"])
        outer = box_slices(centres[sizes[-1]], sizes[-1])
        region_mask = np.zeros((GRID,) * 3, bool)
        region_mask[outer] = True
        parts = []
        inner_mask = None
        if len(sizes) > 1:
            inner_mask = np.zeros((GRID,) * 3, bool)
            inner_mask[box_slices(centres[sizes[0]], sizes[0])] = True
            parts = [inner_mask, region_mask & ~inner_mask]
        else:
            parts = [region_mask]
        texs = [texture[:, m] - texture[:, m].mean(axis=1, keepdims=True) for m in parts]
        # Keep every probability inside (0, 1): no clipping may move the box means.
        amp = 0.8 * target.min() / max(max(np.abs(t).max() for t in texs), 1e-9)
        for mask, tex in zip(parts, texs):
            prob[:, mask] = target[:, None] + amp * tex
    prob = np.clip(prob, 0, 1)
    gm = np.round(prob[0] * QUANT) / QUANT
    wm = np.round(prob[1] * QUANT) / QUANT
    wm = np.minimum(wm, 1 - gm)
    csf = 1 - gm - wm
    maps = {"GM": gm.astype(np.float32), "WM": wm.astype(np.float32), "CSF": csf.astype(np.float32)}
    measured = {}
    for box in boxes:
        for s in box["sizes_mm"]:
            sl = box_slices(voxel_centre(box["region"], s), s)
            measured[(box["region"], float(s))] = tuple(
                float(maps[t][sl].astype(np.float64).mean()) for t in ("GM", "WM", "CSF")
            )
    bias = 1 + 0.1 * _smooth_field(rng, 8.0)
    t1 = (300 * csf + 650 * gm + 950 * wm) * bias
    return {**maps, "T1w": np.round(t1).astype(np.int16), "affine": grid_affine(), "fractions": measured}
