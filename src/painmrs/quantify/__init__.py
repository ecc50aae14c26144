"""Quantification: ratios, water-scaled tissue-corrected concentrations, GABA+ alpha
correction, voxel tissue fractions, QC flags and the per-scan fit table."""

from .concentrations import (
    QuantOptions,
    WaterScaling,
    alpha_corrected,
    alpha_corrected_group_normalised,
    group_normalise,
    ratios,
    relaxation,
    water_scaling,
)

__all__ = [
    "QuantOptions",
    "WaterScaling",
    "alpha_corrected",
    "alpha_corrected_group_normalised",
    "group_normalise",
    "ratios",
    "relaxation",
    "water_scaling",
]
