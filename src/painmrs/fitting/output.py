"""Per-scan fit outputs: the fitted spectra as NIfTI-MRS and the fit figure.

The NIfTI-MRS file holds four FIDs along DIM_USER_0: data, model (metabolites + MM), baseline
and residual, in that order (``dim_5_info`` says so); each is the inverse FFT of the
corresponding spectrum, so opening it in any NIfTI-MRS viewer shows the fit.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..atomic import write_bytes
from ..io import nifti_mrs
from ..mrs import MRSData
from .model import FitResult, is_macromolecule

FIT_COMPONENTS = ("data", "model", "baseline", "residual")


def _to_fid(spectrum: np.ndarray) -> np.ndarray:
    return np.fft.ifft(np.fft.ifftshift(spectrum, axes=0), axis=0)


def fit_to_mrs(fit: FitResult, source: MRSData) -> MRSData:
    """The fit as an MRSData with DIM_USER_0 = (data, model, baseline, residual)."""
    spectra = np.stack([fit.data, fit.model, fit.baseline, fit.residual], axis=1)
    header = {k: v for k, v in source.header.items() if k != "painmrs_dim_meta"}
    header["painmrs_dim_meta"] = {"DIM_USER_0_info": "painmrs fit: " + ", ".join(FIT_COMPONENTS)}
    return source.with_step(
        _to_fid(spectra),
        "painmrs linear-combination fit",
        {"components": list(FIT_COMPONENTS), **{k: v for k, v in fit.params.items() if k not in ("groups", "bounds")}},
        dim_tags=("DIM_USER_0",),
        header_updates=header,
    )


def write_fit_nifti(path: str | os.PathLike, fit: FitResult, source: MRSData) -> Path:
    return nifti_mrs.write(fit_to_mrs(fit, source), path)


def plot_fit(fit: FitResult, path: str | os.PathLike, title: str = "", ppm_range=None, max_components: int = 12) -> Path:
    """Data, fit, baseline, residual and the largest individual components (deterministic PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = ppm_range or fit.params["ppm_range"]
    m = (fit.ppm >= min(lo, hi)) & (fit.ppm <= max(lo, hi))
    x = fit.ppm[m]
    plt.rcParams.update({"svg.hashsalt": "painmrs", "font.size": 8})
    fig, (ax, axc) = plt.subplots(2, 1, figsize=(7, 8), gridspec_kw={"height_ratios": [3, 2]}, sharex=True)
    data = fit.data[m].real
    model = (fit.model + fit.baseline)[m].real
    base = fit.baseline[m].real
    resid = fit.residual[m].real
    span = np.ptp(data) if np.ptp(data) > 0 else 1.0
    ax.plot(x, data, color="0.3", lw=0.8, label="data")
    ax.plot(x, model, color="tab:red", lw=1.0, label="fit")
    ax.plot(x, base, color="tab:green", lw=0.8, label="baseline")
    offset = data.max() + 0.15 * span - resid.min()
    ax.plot(x, resid + offset, color="0.5", lw=0.6, label="residual (offset)")
    ax.legend(loc="upper left", frameon=False, ncol=4)
    ax.set_title(title)
    ax.set_yticks([])
    order = np.argsort(-np.abs(fit.amplitudes))[:max_components]
    step = 0.0
    for k in sorted(order, key=lambda i: fit.names[i]):
        comp = fit.components[m, k].real
        if np.ptp(comp) < 0.02 * span:  # invisible at this scale: keep the panel readable
            continue
        axc.plot(x, comp - step, lw=0.7, color="tab:purple" if is_macromolecule(fit.names[k]) else "tab:blue")
        axc.text(x.max(), -step, f" {fit.names[k]}", va="center", ha="right", fontsize=7)
        step += 0.6 * max(np.ptp(comp), 0.05 * span)
    axc.set_yticks([])
    axc.set_xlabel("ppm")
    axc.set_xlim(x.max(), x.min())
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buf.getvalue())
    return Path(path)
