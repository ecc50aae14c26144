"""Signal averaging over the DIM_DYN axis."""

from __future__ import annotations

from ..mrs import MRSData


def average(data: MRSData, tag: str = "DIM_DYN") -> MRSData:
    """Mean over the ``tag`` axis (no-op without it). The mean (not the sum) keeps FID units."""
    if not data.has_dim(tag):
        return data
    axis = data.axis(tag)
    n = int(data.fid.shape[axis])
    out = data.fid.mean(axis=axis)
    tags = tuple(t for t in data.dim_tags if t != tag)
    return data.with_step(out, "Signal averaging", {"dimension": tag, "n_averaged": n}, dim_tags=tags)
