"""Metabolite combinations (tNAA, tCr, GABA+ ...): amplitudes and CRLB SDs from the fitted
amplitudes and their covariance, with GABA+ in GABA-equivalent units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _combo_sd(cov: np.ndarray, idx: list[int], weights=None) -> float:
    w = np.zeros(cov.shape[0])
    w[idx] = 1.0 if weights is None else weights
    return float(np.sqrt(max(w @ cov @ w, 0.0)))


#: The window over which an edited signal is integrated to put MM30 in GABA-equivalent units.
GABA_EDITED_WINDOW_PPM = (2.8, 3.2)  # as the demo's GABA window (demo.acquisition)


def gaba_equivalent_weight(fids: np.ndarray, names: Sequence[str], ppm: np.ndarray) -> float:
    """Factor turning an MM30 amplitude into GABA-equivalent units (GABA+ = GABA + w * MM30).

    The basis amplitudes count different things: GABA per molecule (its edited 3.0 ppm
    multiplet), MM30 per 2 protons. A GABA-equivalent is the GABA concentration that would
    give the same edited signal: w = (MM30 basis area) / (GABA basis area), both the real
    spectrum integrated over ``GABA_EDITED_WINDOW_PPM`` of the unbroadened basis on the data
    grid (``ppm`` in fftshift order). Without GABA or MM30 in the basis, or with a non-positive
    GABA area, w = 1 (plain sum)."""
    if "GABA" not in names or "MM30" not in names:
        return 1.0
    lo, hi = GABA_EDITED_WINDOW_PPM
    m = (ppm >= lo) & (ppm <= hi)
    spec = np.fft.fftshift(np.fft.fft(fids[:, [list(names).index("GABA"), list(names).index("MM30")]], axis=0), axes=0)
    area_gaba, area_mm = spec[m].real.sum(axis=0)
    return float(area_mm / area_gaba) if area_gaba > 0 else 1.0


def combination_amplitudes(a: np.ndarray, cov: np.ndarray, names: Sequence[str],
                           combinations: Mapping[str, Sequence[str]], w_mm30: float) -> dict[str, tuple[float, float]]:
    """name -> (amplitude, CRLB SD) of every combination with a member in the basis (and not
    itself a basis name); MM30 enters GABA+ with weight ``w_mm30`` (:func:`gaba_equivalent_weight`)."""
    combos = {}
    for cname, members in combinations.items():
        present = [m for m in members if m in names]
        idx = [names.index(m) for m in present]
        if idx and cname not in names:
            w = np.array([w_mm30 if (cname == "GABA+" and m == "MM30") else 1.0 for m in present])
            combos[cname] = (float(a[idx] @ w), _combo_sd(cov, idx, w))
    return combos
