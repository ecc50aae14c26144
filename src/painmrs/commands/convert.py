"""``painmrs convert``: vendor MRS file -> de-identified NIfTI-MRS (spec2nii)."""

from __future__ import annotations

NAME = "convert"
HELP = "convert a vendor file (Philips SDAT/SPAR, Siemens RDA/DICOM/twix, GE P-file) to NIfTI-MRS"


def configure(parser):
    from ..convert import FORMATS

    parser.add_argument("source", help="vendor file (for Philips: the .sdat; its .spar must sit beside it)")
    parser.add_argument("output", help="output NIfTI-MRS file (.nii.gz)")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS), help="spec2nii sub-command")


def run(args) -> int:
    from ..convert import convert

    mrs = convert(args.source, args.format, args.output)
    print(
        f"{args.output}: {mrs.fid.shape[0]} points, dwell {mrs.dwell_s:.6g} s, "
        f"{mrs.spectrometer_mhz:.6f} MHz, dims {list(mrs.dim_tags)}"
    )
    return 0
