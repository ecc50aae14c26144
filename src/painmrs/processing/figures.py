"""The per-scan QC figure (PNG): transients before/after alignment, drift, final spectra and
the removed water. Deterministic: Agg backend, fixed size/DPI, no date or software metadata.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..atomic import write_bytes  # noqa: E402

PPM_RANGE = (0.5, 4.3)


def _ppm_panel(ax, ppm, spectra, title, colors=None, **kw):
    sel = (ppm >= PPM_RANGE[0]) & (ppm <= PPM_RANGE[1])
    if spectra.ndim == 1:
        spectra = spectra[:, None]
    for j in range(spectra.shape[1]):
        ax.plot(ppm[sel], spectra[sel, j], lw=0.6, color=None if colors is None else colors[j], **kw)
    ax.set_xlim(PPM_RANGE[1], PPM_RANGE[0])
    ax.set_xlabel("ppm")
    ax.set_title(title, fontsize=9)
    ax.set_yticks([])


def qc_figure(scan, path: str | Path, title: str = "") -> Path:
    """Render the QC figure of a :class:`ProcessedScan` to ``path`` (PNG)."""
    fig_data = scan.figure
    ppm = fig_data["ppm"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), dpi=100)
    if "transients_before" in fig_data:
        cmap = plt.get_cmap("viridis")
        k = fig_data["transients_before"].shape[1]
        colors = [cmap(j / max(1, k - 1)) for j in range(k)]
        _ppm_panel(axes[0, 0], ppm, fig_data["transients_before"], "transients before alignment", colors, alpha=0.5)
        _ppm_panel(axes[0, 1], ppm, fig_data["transients_after"], "transients after alignment", colors, alpha=0.5)
    else:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "single (pre-averaged) transient:\nno alignment", ha="center", va="center")
            ax.set_axis_off()
    ax = axes[1, 0]
    spectra = fig_data["spectra"]
    for name in sorted(spectra):
        sel = (ppm >= PPM_RANGE[0]) & (ppm <= PPM_RANGE[1])
        ax.plot(ppm[sel], spectra[name][sel], lw=0.8, label=name)
    ax.set_xlim(PPM_RANGE[1], PPM_RANGE[0])
    ax.set_xlabel("ppm")
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper left")
    qc = scan.qc
    ax.set_title(
        f"final: SNR {qc.get('snr', float('nan')):.1f}, FWHM NAA {qc.get('fwhm_naa_hz', float('nan')):.1f} Hz, "
        f"rejected {qc.get('n_rejected', 0)}/{qc.get('n_transients', 0)}",
        fontsize=9,
    )
    ax = axes[1, 1]
    if "water_removed" in fig_data:
        sel = (ppm >= 3.5) & (ppm <= 5.8)
        main = spectra["off" if "off" in spectra else "processed"]
        ax.plot(ppm[sel], main[sel] + fig_data["water_removed"][sel], lw=0.7, color="0.5", label="before removal")
        ax.plot(ppm[sel], fig_data["water_removed"][sel], lw=0.7, color="tab:red", label="removed (HLSVD)")
        ax.plot(ppm[sel], main[sel], lw=0.8, color="k", label="after")
        ax.set_xlim(5.8, 3.5)
        ax.legend(fontsize=7)
        ax.set_yticks([])
        ax.set_xlabel("ppm")
        ax.set_title("residual water removal", fontsize=9)
    else:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    path = Path(path)
    write_bytes(path, buf.getvalue())
    return path
