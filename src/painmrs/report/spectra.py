"""The report's spectra: mean +- SD processed spectra per group (normalised to the water
reference area), the acquisition headers they come from, and the per-scan figure files."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import figures
from .checklist import header_summary


SPECTRA_PPM = np.linspace(4.2, 0.2, 801)  # the common axis of the mean +- SD spectra (0.005 ppm)


WATER_BAND = (4.25, 5.05)


TCR_BAND = (2.95, 3.10)


def _mean_spectrum(mrs) -> tuple[np.ndarray, np.ndarray]:
    """(ppm ascending, complex spectrum averaged over any extra dimension)."""
    spec = mrs.spectrum()
    spec = spec.reshape(spec.shape[0], -1).mean(axis=1)
    ppm = np.asarray(mrs.ppm, float)
    order = np.argsort(ppm)
    return ppm[order], spec[order]


def _band_integral(ppm, spec, band, phase_free: bool) -> float:
    sel = (ppm >= band[0]) & (ppm <= band[1])
    if sel.sum() < 2:
        return math.nan
    step = float(np.mean(np.diff(ppm[sel])))
    total = spec[sel].sum() * step
    # |complex integral| does not depend on the zero-order phase (water references are not phased);
    # the tCr area uses the real part of the phased metabolite spectrum.
    return float(abs(total)) if phase_free else float(total.real)


def spectra_cells(table: pd.DataFrame, derivatives, max_per_cell: int = 40) -> dict:
    """Normalised processed spectra of QC-passing scans on one ppm axis (``SPECTRA_PPM``).

    Returns {(acq, region): {"norm": "water" | "tCr", "groups": {group: matrix n_scans x 801}}}.
    PRESS: the processed spectrum; MEGA-PRESS: the difference spectrum. Each spectrum is divided
    by the area of its processed water reference when every scan of the cell has one (so tissue
    water, not a metabolite, sets the scale), else by its own tCr area (MEGA-PRESS: the OFF
    spectrum's), which removes coil loading and voxel size but hides a tCr group difference.
    """
    cells: dict = {}
    if derivatives is None or not Path(derivatives).is_dir():
        return cells
    from ..io import nifti_mrs

    scan_ok = table.groupby("stem")["qc_pass"].any()
    scans = table.drop_duplicates("stem")[["stem", "region", "acq", "group"]]
    scans = scans[scans["stem"].map(scan_ok).fillna(False).astype(bool)]
    index = {p.name: p for p in Path(derivatives).rglob("*.nii.gz")}
    raw: dict = {}
    for s in scans.sort_values("stem").itertuples(index=False):
        met = next((index[c] for c in (f"{s.stem}_desc-processed_svs.nii.gz", f"{s.stem}_desc-diff_svs.nii.gz") if c in index), None)
        if met is None:
            continue
        per_group = raw.setdefault((s.acq, s.region), {}).setdefault(s.group, [])
        if len(per_group) >= max_per_cell:
            continue
        try:
            ppm, spec = _mean_spectrum(nifti_mrs.read(met))
            water = index.get(f"{s.stem}_desc-processed_mrsref.nii.gz")
            w_area = _band_integral(*_mean_spectrum(nifti_mrs.read(water)), WATER_BAND, True) if water else math.nan
            off = index.get(f"{s.stem}_desc-off_svs.nii.gz")
            tcr_src = _mean_spectrum(nifti_mrs.read(off)) if met.name.endswith("_desc-diff_svs.nii.gz") and off else (ppm, spec)
            if met.name.endswith("_desc-diff_svs.nii.gz") and off is None:
                tcr_src = None
            tcr = _band_integral(*tcr_src, TCR_BAND, False) if tcr_src is not None else math.nan
        except (InputError, OSError, ValueError):
            continue
        if not (ppm.min() <= SPECTRA_PPM.min() and ppm.max() >= SPECTRA_PPM.max()):
            continue
        on_axis = np.interp(SPECTRA_PPM, ppm, spec.real)
        per_group.append((on_axis, w_area, tcr))
    for key, groups in sorted(raw.items()):
        items = [it for g in groups.values() for it in g]
        if not items:
            continue
        use_water = all(np.isfinite(w) and w > 0 for _, w, _ in items)
        norm = "water" if use_water else "tCr"
        out = {}
        for g, its in sorted(groups.items()):
            rows = [sp / (w if use_water else t) for sp, w, t in its if (w if use_water else t) > 0]
            if rows:
                out[g] = np.vstack(rows)
        if out:
            cells[key] = {"norm": norm, "groups": out}
    return cells


def _spectra_figures(table: pd.DataFrame, derivatives, max_per_cell: int = 40) -> tuple[list[dict], dict]:
    """Mean +- SD spectra per region x group (PRESS processed, MEGA-PRESS difference), and the
    acquisition headers of one processed scan per acquisition (for the MRSinMRS checklist)."""
    figs, headers = [], {}
    if derivatives is None or not Path(derivatives).is_dir():
        return figs, headers
    from ..io import nifti_mrs

    for acq, d in table.drop_duplicates("stem").sort_values("stem").groupby("acq", sort=True):
        for stem in d["stem"]:
            hit = next(iter(sorted(Path(derivatives).rglob(f"{stem}_desc-*_svs.nii.gz"))), None)
            if hit is not None:
                try:
                    headers[acq] = header_summary(nifti_mrs.read(hit))
                except (InputError, OSError, ValueError):
                    continue
                break
    for (acq, region), cell in spectra_cells(table, derivatives, max_per_cell).items():
        unit = "water reference area" if cell["norm"] == "water" else "tCr area (2.95-3.10 ppm)"
        kind = "difference spectrum" if acq.lower().startswith("mega") else "processed spectrum"
        data = {g: (SPECTRA_PPM, m) for g, m in cell["groups"].items()}
        figs.append({"title": f"{region} ({acq}): mean ± SD {kind} per group, QC-passing scans, normalised to the {unit}",
                     "uri": figures.mean_sd_spectra(data, f"{region} {acq}", ylabel=f"signal / {cell['norm']} area")})
    return figs, headers


def _bids_headers(bids) -> dict:
    headers = {}
    if bids is None or not Path(bids).is_dir():
        return headers
    from ..io import nifti_mrs

    for acq in ("press", "megapress"):
        files = sorted(Path(bids).glob(f"sub-*/**/mrs/*_acq-{acq}_*_svs.nii.gz"))
        if files:
            try:
                headers[acq] = header_summary(nifti_mrs.read(files[0]))
            except (InputError, OSError, ValueError):
                pass
    return headers


def _find(root: Path | None, pattern: str) -> list[Path]:
    if root is None or not Path(root).is_dir():
        return []
    return sorted(Path(root).rglob(pattern))


def _png_uri(path: Path, max_bytes: int = 400_000) -> str | None:
    data = path.read_bytes()
    if len(data) > max_bytes or not data.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
