"""Fit + quantify one scan and write its outputs (what the Snakemake rule and the CLI call).

Outputs in ``out_dir``: ``<stem>_fit.tsv`` (:mod:`.table`), ``<stem>_desc-fit_svs.nii.gz``
(data/model/baseline/residual along DIM_USER_0), ``<stem>_fit.png`` and ``<stem>_fit.json``
(nonlinear parameters, noise SD, water fit, settings).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import write_text
from ..basis.basis_set import BasisSet
from ..basis.registration import check_against_data
from ..basis.supplied import BASIS_FREQUENCY_TOLERANCE, BASIS_TE_TOLERANCE_S
from ..errors import InputError
from ..fitting.mega import DIFF_OPTIONS, fit_mega_press
from ..fitting.model import FitOptions, fit_spectrum, resample_basis
from ..fitting.output import plot_fit, write_fit_nifti
from ..fitting.water import basis_proton_unit, fit_water
from ..mrs import MRSData
from .concentrations import QuantOptions
from .qc import QCRules
from .table import fit_table, table_fit_flags, write_fit_table


def with_macromolecules(
    basis: BasisSet, names: Sequence[str] = ("MM09", "MM12", "MM14", "MM17", "MM20"), *, scale_from: BasisSet | None = None
) -> BasisSet:
    """``basis`` plus parametric MM components scaled to the basis' own per-proton unit, or to
    that of ``scale_from`` when ``basis`` cannot calibrate it (a MEGA-PRESS DIFF has no Cr;
    DIFF = ON - OFF shares OFF's scale)."""
    from ..basis.macromolecules import mm_basis

    names = [n for n in names if n not in basis.names]
    if not names:
        return basis
    mm = mm_basis(tuple(names), spectrometer_mhz=basis.spectrometer_mhz, dwell_s=basis.dwell_s, n_points=basis.n_points,
                  ppm_reference=basis.ppm_reference)
    unit, _ = basis_proton_unit(scale_from if scale_from is not None else basis)
    fids = np.concatenate([basis.fids, unit * resample_basis(mm, basis.n_points, basis.dwell_s)], axis=1)
    return basis.replace(names=basis.names + tuple(mm.names), fids=fids)


#: basis id -> (basis, proton unit): the HSVD calibration of a basis costs ~0.2 s and a batch
#: job fits dozens of scans with the same basis object (the identity check guards id reuse).
_PROTON_UNITS: dict[int, tuple[BasisSet, tuple[float, str]]] = {}


def _proton_unit(basis: BasisSet) -> float:
    hit = _PROTON_UNITS.get(id(basis))
    if hit is None or hit[0] is not basis:
        hit = _PROTON_UNITS[id(basis)] = (basis, basis_proton_unit(basis))
    return hit[1][0]


def _json(path, obj):
    write_text(path, json.dumps(obj, sort_keys=True, indent=1, default=_default) + "\n")


def _default(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if dataclasses.is_dataclass(v):
        return dataclasses.asdict(v)
    raise TypeError(type(v).__name__)


def _timing(data: MRSData, te_s, tr_s):
    te = te_s if te_s is not None else data.echo_time_s
    tr = tr_s if tr_s is not None else data.repetition_time_s
    return te, tr




def _sequence_of(data: MRSData) -> str | None:
    """PRESS / STEAM / sLASER / MEGA-PRESS from the scan header's sequence names, if they say."""
    text = " ".join(str(data.header.get(k, "")) for k in ("SequenceName", "PulseSequenceType")).upper()
    for name in ("MEGA", "SLASER", "STEAM", "PRESS"):
        if name in text:
            return {"MEGA": "MEGA-PRESS", "SLASER": "sLASER"}.get(name, name)
    return None


def check_basis(data: MRSData, basis: BasisSet, *, te_s: float | None, allowed_sequences: Sequence[str] | None,
                what: str = "basis", against_data: bool = True, max_shift_hz: float = 12.0) -> dict:
    """Refuse a basis simulated for another field, echo time or sequence than the scan's, or
    whose NAA/tCr/tCho singlets miss the scan's peaks (``InputError`` naming the basis file
    and the field). Unknown values are not checked. Returns the basis check record (the
    basis' own ``basis_check`` and, unless ``against_data`` is false, the comparison with this
    scan) for the fit JSON."""
    src = basis.source or what
    mhz = data.spectrometer_mhz
    if abs(basis.spectrometer_mhz - mhz) > BASIS_FREQUENCY_TOLERANCE * mhz:
        raise InputError(
            src, "spectrometer frequency",
            f"{what} is for {basis.spectrometer_mhz:g} MHz but {data.source or 'the scan'} was acquired at {mhz:g} MHz "
            "(another field strength): simulate the basis for this scanner",
        )
    if te_s is not None and basis.echo_time_s is not None and abs(basis.echo_time_s - te_s) > BASIS_TE_TOLERANCE_S:
        raise InputError(
            src, "echo time",
            f"{what} is for TE {basis.echo_time_s * 1000:g} ms but {data.source or 'the scan'} has TE {te_s * 1000:g} ms",
        )
    if allowed_sequences is not None and basis.sequence and basis.sequence.upper() != "FID":
        if basis.sequence.upper() not in {a.upper() for a in allowed_sequences}:
            raise InputError(
                src, "sequence",
                f"{what} is for {basis.sequence} but {data.source or 'the scan'} needs {' or '.join(allowed_sequences)}",
            )
    record = dict(basis.meta.get("basis_check") or {})
    if against_data:
        record["against_data"] = check_against_data(basis, data, what=what, max_offset_hz=max_shift_hz)
    return record


def fit_scan(
    data: MRSData,
    basis: BasisSet,
    out_dir: str | os.PathLike,
    stem: str,
    *,
    water: MRSData | None = None,
    fractions: Mapping[str, float] | None = None,
    fit_options: FitOptions | None = None,
    quant: QuantOptions | None = None,
    qc: QCRules | None = None,
    figure: bool = True,
    sequence: str | None = None,
    warnings: Sequence[str] = (),
) -> pd.DataFrame:
    """PRESS-type scan: fit, quantify, write the outputs; returns the table.

    ``sequence`` (PRESS, STEAM, sLASER; default: from the scan header, if it says) must match
    the basis' sequence, as must its field and echo time (:func:`check_basis`). ``warnings``:
    scan-level warnings to record (``_fit.tsv`` warnings, e.g. a header TE other than the config's)."""
    quant = quant or QuantOptions()
    te, tr = _timing(data, quant.te_s, quant.tr_s)
    sequence = sequence or _sequence_of(data)
    allowed = None
    if sequence is not None:
        # A processed MEGA-PRESS sub-spectrum may be fitted alone with its own basis.
        allowed = ["MEGA-PRESS:DIFF", "MEGA-PRESS:OFF", "MEGA-PRESS:ON", "MEGA-PRESS:SUM"] if sequence == "MEGA-PRESS" else [sequence]
    fit_options = fit_options or FitOptions()
    checked = check_basis(data, basis, te_s=te, allowed_sequences=allowed, max_shift_hz=fit_options.max_shift_hz)
    fit = fit_spectrum(data, basis, fit_options)
    wfit = fit_water(water) if water is not None else None
    unit = _proton_unit(basis) if wfit is not None else None
    if wfit is not None and (te is None or tr is None):
        raise InputError(data.source, "EchoTime/RepetitionTime", "water scaling needs TE and TR (header or --te/--tr)")
    table = fit_table([("press", fit)], water_area=wfit.area if wfit else None, proton_unit=unit,
                      fractions=fractions, te_s=te, tr_s=tr, quant=quant, qc=qc, warnings=warnings)
    out = Path(out_dir)
    write_fit_table(out / f"{stem}_fit.tsv", table)
    write_fit_nifti(out / f"{stem}_desc-fit_svs.nii.gz", fit, data)
    if figure:
        plot_fit(fit, out / f"{stem}_fit.png", title=stem)
    _json(out / f"{stem}_fit.json", {"params": fit.params, "noise_sd": fit.noise_sd, "snr": fit.snr,
                                     "fwhm_hz": fit.fwhm_hz, "fit_quality": fit.fit_quality,
                                     "fit_flags": table_fit_flags(table), "water": wfit, "proton_unit": unit, "te_s": te,
                                     "tr_s": tr, "basis_check": checked})
    return table


#: What a GABA-edited (1.9 ppm ON) DIFF spectrum measures.
EDITED_TARGETS = ("GABA", "MM30", "GABA+", "Glu", "Gln", "Glx")


def fit_mega_scan(
    diff: MRSData,
    off: MRSData,
    basis_diff: BasisSet,
    basis_off: BasisSet,
    out_dir: str | os.PathLike,
    stem: str,
    *,
    water: MRSData | None = None,
    fractions: Mapping[str, float] | None = None,
    diff_options: FitOptions = DIFF_OPTIONS,
    off_options: FitOptions | None = None,
    quant: QuantOptions | None = None,
    qc: QCRules | None = None,
    figure: bool = True,
    warnings: Sequence[str] = (),
) -> pd.DataFrame:
    """MEGA-PRESS scan: DIFF (edited) + OFF fits, Gaussian GABA+ cross-check, outputs."""
    quant = quant or QuantOptions()
    te, tr = _timing(off, quant.te_s, quant.tr_s)
    checked = {"diff": check_basis(diff, basis_diff, te_s=te, allowed_sequences=["MEGA-PRESS:DIFF"], what="DIFF basis"),
               "off": check_basis(off, basis_off, te_s=te, allowed_sequences=["MEGA-PRESS:OFF", "PRESS"], what="OFF basis",
                                  max_shift_hz=(off_options or FitOptions()).max_shift_hz)}
    res = fit_mega_press(diff, basis_diff, off, basis_off, diff_options, off_options)
    wfit = fit_water(water) if water is not None else None
    unit = _proton_unit(basis_off) if wfit is not None else None
    gauss_sd = res.gaba_gaussian_amplitude * res.gaba_gaussian.fit_error_pct / 100.0  # not a CRLB: Gannet-style
    # DIFF reports only the edited targets; everything else (NAA, tCr, ... and so the tCr of
    # GABA+/tCr) comes from OFF, where those metabolites are actually measured.
    table = fit_table([("diff", res.diff, EDITED_TARGETS), ("off", res.off)],
                      extra_rows=[("GABA+_gauss", "diff", res.gaba_gaussian_amplitude, gauss_sd)],
                      water_area=wfit.area if wfit else None, proton_unit=unit, fractions=fractions,
                      te_s=te, tr_s=tr, quant=quant, qc=qc, warnings=warnings)
    out = Path(out_dir)
    write_fit_table(out / f"{stem}_fit.tsv", table)
    write_fit_nifti(out / f"{stem}_desc-fit_svs.nii.gz", res.diff, diff)
    write_fit_nifti(out / f"{stem}_desc-fitoff_svs.nii.gz", res.off, off)
    if figure:
        plot_fit(res.diff, out / f"{stem}_fit.png", title=f"{stem} DIFF")
        plot_fit(res.off, out / f"{stem}_fitoff.png", title=f"{stem} OFF")
    _json(out / f"{stem}_fit.json", {"diff": res.diff.params, "off": res.off.params, "gaba_gaussian": res.gaba_gaussian,
                                     "fit_quality": {"diff": res.diff.fit_quality, "off": res.off.fit_quality},
                                     "fit_flags": table_fit_flags(table), "water": wfit, "proton_unit": unit, "te_s": te,
                                     "tr_s": tr, "basis_check": checked})
    return table
