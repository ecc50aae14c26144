"""``painmrs process``: process one scan (coil combination ... QC) and write its derived files."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

NAME = "process"
HELP = "process one MRS scan (NIfTI-MRS) into clean spectra, a QC sidecar and a QC figure"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metab", required=True, help="metabolite scan (NIfTI-MRS, e.g. *_svs.nii.gz)")
    parser.add_argument("--water", help="water reference (NIfTI-MRS, e.g. *_mrsref.nii.gz)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--stem", help="output file stem (default: the metabolite file name up to _svs)")
    parser.add_argument("--config", help="YAML file whose 'processing:' section sets the options")
    parser.add_argument(
        "--sequence", choices=["auto", "PRESS", "MEGA-PRESS"], help="override sequence detection (default: auto)"
    )


def default_stem(path: str | Path) -> str:
    name = Path(path).name
    name = re.sub(r"\.nii(\.gz)?$", "", name)
    return re.sub(r"_svs$", "", name)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from ..configuration import study_options
    from ..io import nifti_mrs
    from ..processing import process_scan, write_processed
    from .stats import load_config

    # the config's processing: section, parsed by the workflow's own model
    options = study_options(load_config(args.config), args.config).processing
    if args.sequence:
        options = dataclasses.replace(options, sequence=args.sequence)
    from ..mrs import check_nucleus

    metab = nifti_mrs.read(args.metab)
    check_nucleus(metab.nucleus, args.metab)  # as the inventory: 1H only (issue 13)
    water = nifti_mrs.read(args.water) if args.water else None
    if water is not None:
        check_nucleus(water.nucleus, args.water, "water reference")
    if water is not None:  # as the workflow's inventory checks it (issue 14)
        from ..study.plausibility import check_water_reference

        check_water_reference(nifti_mrs.check_time_axis(water), metab)
    stem = args.stem or default_stem(args.metab)
    scan = process_scan(metab, water, options, stem=stem)
    paths = write_processed(scan, args.out, stem)
    for key in sorted(paths):
        print(f"{key}\t{paths[key]}")
    return 0
