"""MEGA-PRESS: identify ON/OFF transients, and form DIFF = ON - OFF and SUM = ON + OFF.

Edit conditions come from, in order:
1. the DIM_EDIT axis: its dim header "EditCondition" (e.g. ["OFF", "ON"], or a dict with a
   "Value" list) when present, else index 0 = OFF, 1 = ON (painmrs convention);
2. the data, when all transients are interleaved along DIM_DYN: the editing pulse at
   1.9 ppm saturates or inverts NAA at 2.01 ppm, so the NAA signal relative to tCr
   (phase independent, see ``classify_on_off``) is lower in ON: two clearly separated
   clusters are required, else an InputError says the data cannot be split.
DIFF and SUM are formed from the *averaged* sub-spectra (means over transients), so
DIFF = mean(ON) - mean(OFF), in the same units as OFF.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..mrs import MRSData
from ._spectra import ppm_window, to_spectrum


def _edit_labels(data: MRSData) -> list[str]:
    n_edit = data.fid.shape[data.axis("DIM_EDIT")]
    meta = dict(data.header.get("painmrs_dim_meta", {}))
    hdr = meta.get("DIM_EDIT_header") or {}
    labels = hdr.get("EditCondition") if isinstance(hdr, dict) else None
    if isinstance(labels, dict):
        labels = labels.get("Value")
    if labels is None:
        if n_edit != 2:
            raise InputError(data.source, "DIM_EDIT", f"{n_edit} edit conditions without an EditCondition header; expected 2 (OFF, ON)")
        return ["OFF", "ON"]
    labels = [str(x).upper() for x in labels]
    if len(labels) != n_edit or sorted(labels) != ["OFF", "ON"]:
        raise InputError(data.source, "dim_header EditCondition", f"expected OFF and ON for {n_edit} edit indices, got {labels}")
    return labels


def classify_on_off(fids: np.ndarray, ppm: np.ndarray) -> np.ndarray:
    """Boolean array, True for ON transients, from the NAA signal relative to tCr.

    r_k = Re(S_NAA conj(S_tCr)) / |S_tCr|^2 (window sums; independent of the zero-order phase)
    is lower in ON, where the 1.9 ppm editing pulse saturates or inverts NAA. Two clusters
    are found by 1-D k-means; they must be clearly separated (gap > 4 within-cluster SDs),
    else an ``InputError`` is raised by the caller.
    """
    spec = to_spectrum(fids)
    naa = spec[ppm_window(ppm, (1.93, 2.09))].sum(axis=0)
    cr = spec[ppm_window(ppm, (2.95, 3.10))].sum(axis=0)
    r = np.real(naa * np.conj(cr)) / np.maximum(np.abs(cr) ** 2, 1e-300)
    lo, hi = float(r.min()), float(r.max())
    for _ in range(20):
        is_on = np.abs(r - lo) < np.abs(r - hi)
        if is_on.all() or not is_on.any():
            return is_on
        lo, hi = float(r[is_on].mean()), float(r[~is_on].mean())
    spread = np.sqrt((np.var(r[is_on]) * is_on.sum() + np.var(r[~is_on]) * (~is_on).sum()) / r.size)
    if hi - lo < 4 * spread:
        return np.zeros(r.size, bool)  # not separable
    return is_on


def split_edit_conditions(data: MRSData) -> dict[str, MRSData]:
    """{"off": ..., "on": ...}, each with DIM_DYN (and DIM_COIL if present) but no DIM_EDIT."""
    if data.has_dim("DIM_EDIT"):
        labels = _edit_labels(data)
        axis = data.axis("DIM_EDIT")
        tags = tuple(t for t in data.dim_tags if t != "DIM_EDIT")
        out = {}
        for i, label in enumerate(labels):
            fid = np.take(data.fid, i, axis=axis)
            if not data.has_dim("DIM_DYN"):  # one transient per condition
                fid, tags_i = fid[..., None], tags + ("DIM_DYN",)
            else:
                tags_i = tags
            out[label.lower()] = data.with_step(
                fid, "Edit condition selection", {"condition": label, "source": "DIM_EDIT"}, dim_tags=tags_i
            )
        return out
    if not data.has_dim("DIM_DYN"):
        raise InputError(data.source, "dim_tags", "MEGA-PRESS data needs a DIM_EDIT axis or interleaved transients in DIM_DYN")
    dyn = data.axis("DIM_DYN")
    fids = np.moveaxis(data.fid, dyn, -1)
    probe = fids.reshape(fids.shape[0], -1, fids.shape[-1]).mean(axis=1)  # coils summed: sign test only
    is_on = classify_on_off(probe, data.ppm)
    if is_on.all() or not is_on.any():
        raise InputError(data.source, "DIM_EDIT", "no edit dimension and ON/OFF transients cannot be told apart from the data (no NAA saturation found)")
    out = {}
    for label, mask in (("off", ~is_on), ("on", is_on)):
        idx = np.flatnonzero(mask)
        fid = np.moveaxis(fids[..., idx], -1, dyn)
        out[label] = data.with_step(
            fid, "Edit condition selection", {"condition": label.upper(), "source": "data (NAA saturation)", "indices": idx}
        )
    return out


def combine_subspectra(off: MRSData, on: MRSData) -> dict[str, MRSData]:
    """{"off", "on", "diff", "sum"} from averaged, aligned, referenced OFF and ON spectra."""
    if off.fid.shape != on.fid.shape or off.fid.ndim != 1:
        raise InputError(off.source, "data", "DIFF/SUM need averaged OFF and ON spectra of equal length")
    diff = on.with_step(on.fid - off.fid, "Subspectrum combination", {"operation": "DIFF = ON - OFF"})
    total = on.with_step(on.fid + off.fid, "Subspectrum combination", {"operation": "SUM = ON + OFF"})
    return {"off": off, "on": on, "diff": diff, "sum": total}
