"""``painmrs fit``: fit and quantify one spectrum outside the workflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError

NAME = "fit"
HELP = "fit one spectrum with a basis set (LCM, CRLBs) and quantify it (ratios, water-scaled mM)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="spectrum: NIfTI-MRS (.nii[.gz]), LCModel .RAW or jMRUI .txt")
    parser.add_argument("--basis", required=True, help="basis: LCModel .BASIS, .RAW directory, FSL-MRS JSON dir, jMRUI")
    parser.add_argument("--water", help="unsuppressed water reference (same formats as --data)")
    parser.add_argument("--te", type=float, help="echo time in ms (overrides the header)")
    parser.add_argument("--tr", type=float, help="repetition time in ms (overrides the header)")
    parser.add_argument("--tissue", type=float, nargs=3, metavar=("GM", "WM", "CSF"), help="voxel tissue fractions")
    parser.add_argument("--dwell", type=float, help="dwell time in s (LCModel .RAW has none)")
    parser.add_argument("--frequency", type=float, help="spectrometer frequency in MHz (LCModel .RAW)")
    parser.add_argument("--ppm-range", type=float, nargs=2, default=(0.2, 4.2), metavar=("LO", "HI"))
    parser.add_argument("--mm", action="store_true", help="add parametric MM components (MM09..MM20) to the basis")
    parser.add_argument("--basis-repair", choices=("repair", "refuse"), default="repair",
                        help="a basis stored in the other FID conjugation convention or off its ppm reference: "
                             "repair it (conjugate / shift, recorded in _fit.json) or refuse it (default: repair)")
    parser.add_argument("--name", help="output stem (default: data file name)")
    parser.add_argument("--no-figure", action="store_true")
    parser.add_argument("--out", required=True, help="output directory")


def read_spectrum(path: str, *, dwell_s=None, mhz=None, te_s=None, tr_s=None, what="spectrum"):
    """A processed single spectrum from NIfTI-MRS / LCModel .RAW,.H2O / jMRUI text, as 1-D
    MRSData (1H only), with ``te_s``/``tr_s`` (``--te``/``--tr``) in its header, and the
    warnings for a header that said otherwise (:func:`~painmrs.study.plausibility.header_disagreements`)."""
    p = Path(path)
    low = p.name.lower()
    if low.endswith((".nii", ".nii.gz")):
        from ..io.nifti_mrs import read

        mrs = read(p)
    elif low.endswith((".raw", ".h2o")):
        from ..io.lcmodel import read_lcmodel_raw

        mrs = read_lcmodel_raw(p, dwell_s=dwell_s, spectrometer_mhz=mhz, echo_time_s=te_s)
    elif low.endswith(".txt"):
        from ..io.jmrui import read_jmrui_text

        mrs = read_jmrui_text(p, echo_time_s=te_s)
    else:
        raise InputError(p, None, "unknown spectrum format (expected .nii/.nii.gz, .RAW/.H2O or jMRUI .txt)")
    from ..io.nifti_mrs import check_samples
    from ..mrs import check_nucleus
    from ..study.plausibility import header_disagreements

    check_nucleus(mrs.nucleus, p, what)  # a 31P spectrum was fitted as 1H (issue 13)
    check_samples(mrs.fid, p)  # a corrupt sample (NIfTI-MRS files are checked on read already)
    if mrs.fid.ndim > 1:
        bad = [t for t in mrs.dim_tags if t not in ("DIM_DYN", "DIM_MEAS")]
        if bad:
            raise InputError(p, "dim_tags", f"needs one processed spectrum; has {mrs.dim_tags} (run painmrs process)")
        # Plain average of repeated acquisitions (already-aligned data only).
        mrs = mrs.with_step(mrs.fid.reshape(mrs.n_points, -1).mean(axis=1), "Signal averaging",
                            {"note": "painmrs fit: plain mean over " + ",".join(mrs.dim_tags)}, dim_tags=())
    notes = header_disagreements(mrs.header, p, te_s=te_s, tr_s=tr_s, te_source="--te", tr_source="--tr")
    header_updates = {k: v for k, v in (("EchoTime", te_s), ("RepetitionTime", tr_s)) if v is not None}
    if header_updates:
        mrs = mrs.replace(header={**mrs.header, **header_updates})
    return mrs, notes


def run(args: argparse.Namespace) -> int:
    from ..basis.readers import load_basis
    from ..basis.registration import register_basis
    from ..quantify.concentrations import QuantOptions
    from ..quantify.scan import check_basis, fit_scan, with_macromolecules
    from ..fitting.model import FitOptions

    te_s = args.te / 1000.0 if args.te is not None else None
    tr_s = args.tr / 1000.0 if args.tr is not None else None
    data, notes = read_spectrum(args.data, dwell_s=args.dwell, mhz=args.frequency, te_s=te_s, tr_s=tr_s)
    water = None
    if args.water:
        water, _ = read_spectrum(args.water, dwell_s=args.dwell, mhz=args.frequency, te_s=te_s, tr_s=tr_s,
                                 what="water reference")
    for note in notes:
        print(f"painmrs fit: warning: {note}", file=sys.stderr)
    if water is not None:
        from ..study.plausibility import check_water_reference

        # the water reference must be water, of this scan (a metabolite file given as its own
        # water reference gave tNAA 2,730 mM, exit 0: issue 14)
        check_water_reference(water, data, water_te_s=te_s, water_tr_s=tr_s)
    basis = load_basis(args.basis)
    # the field first: a basis for another field is refused as such, not as mis-registered
    check_basis(data, basis, te_s=None, allowed_sequences=None, against_data=False)
    basis = register_basis(basis, repair=args.basis_repair == "repair")
    if args.mm:
        basis = with_macromolecules(basis)
    fractions = None
    if args.tissue:
        fractions = dict(zip(("GM", "WM", "CSF"), args.tissue))
    stem = args.name or Path(args.data).name.split(".")[0]
    table = fit_scan(data, basis, args.out, stem, water=water, fractions=fractions,
                     fit_options=FitOptions(ppm_range=tuple(args.ppm_range)),
                     quant=QuantOptions(te_s=te_s, tr_s=tr_s), figure=not args.no_figure, warnings=notes)
    show = table[["metabolite", "amplitude", "crlb_pct", "ratio_tCr", "conc_mM"]]
    print(show.to_string(index=False, float_format=lambda v: f"{v:.3g}" if np.isfinite(v) else "n/a"))
    return 0
