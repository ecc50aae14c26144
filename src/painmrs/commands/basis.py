"""``painmrs basis``: simulate (or convert) a basis set and write it to disk.

Writes an FSL-MRS JSON basis directory (default) or an LCModel ``.BASIS`` file. MEGA-PRESS
writes one set per sub-spectrum: ``<output>/ON``, ``<output>/OFF``, ``<output>/DIFF``
(or ``<output>_ON.BASIS`` ...). Line lists come from the simulation cache
(``$PAINMRS_CACHE`` or ``~/.cache/painmrs``), so repeated calls are fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import InputError

NAME = "basis"
HELP = "simulate a PRESS / MEGA-PRESS basis set (or convert one) and write it to disk"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", required=True, help="output directory (fsl) or .BASIS file (lcmodel)")
    parser.add_argument(
        "--format", choices=("fsl", "lcmodel"), default="fsl", help="output format (default fsl: FSL-MRS JSON)"
    )
    parser.add_argument("--sequence", choices=("PRESS", "MEGA-PRESS", "FID"), default="PRESS")
    parser.add_argument("--echo-time-ms", type=float, default=None, help="TE in ms (default 30 PRESS, 68 MEGA-PRESS)")
    parser.add_argument(
        "--te1-ms", type=float, default=None, help="first PRESS echo period TE1 in ms (default: see docs)"
    )
    parser.add_argument("--spectrometer-mhz", type=float, default=123.2, help="1H frequency, MHz (default 123.2)")
    parser.add_argument("--dwell-s", type=float, default=None, help="dwell time, s (default 1/4000)")
    parser.add_argument(
        "--bandwidth-hz", type=float, default=None, help="spectral width, Hz (alternative to --dwell-s)"
    )
    parser.add_argument("--points", type=int, default=2048, help="number of points (default 2048)")
    parser.add_argument("--linewidth-hz", type=float, default=2.0, help="Lorentzian FWHM of every line, Hz (default 2)")
    parser.add_argument("--metabolites", default=None, help="comma-separated names (default: the full painmrs set)")
    parser.add_argument("--include-mm", action="store_true", help="add the parametric macromolecule components")
    parser.add_argument("--gaba-set", choices=("govindaraju", "near2013"), default=None, help="GABA spin parameters")
    parser.add_argument(
        "--refocusing",
        choices=("ideal", "shaped"),
        default="ideal",
        help="PRESS refocusing pulses: ideal (default) or shaped slice-selective, simulated across the voxel",
    )
    parser.add_argument(
        "--pulse-duration-ms", type=float, default=None, help="shaped refocusing pulse duration, ms (default 7)"
    )
    parser.add_argument(
        "--pulse-bandwidth-hz",
        type=float,
        default=None,
        help="shaped refocusing pulse bandwidth (FWHM of its refocusing profile), Hz (default 1200)",
    )
    parser.add_argument(
        "--pulse-positions", type=int, default=None, help="simulated positions per slice direction (default 41)"
    )
    parser.add_argument("--edit-on-ppm", type=float, default=1.9)
    parser.add_argument("--edit-off-ppm", type=float, default=7.5)
    parser.add_argument("--edit-bandwidth-hz", type=float, default=None, help="full width of the editing band, Hz")
    parser.add_argument(
        "--force", action="store_true", help="replace other basis files already in the output directory"
    )
    parser.add_argument(
        "--input",
        default=None,
        help="convert this basis (LCModel .BASIS/.RAW dir, jMRUI, FSL JSON) instead of simulating",
    )


def _dwell(args) -> float:
    if args.dwell_s is not None and args.bandwidth_hz is not None:
        raise InputError(None, "--dwell-s/--bandwidth-hz", "give one of them, not both")
    if args.bandwidth_hz is not None:
        if not args.bandwidth_hz > 0:
            raise InputError(None, "--bandwidth-hz", f"must be > 0, got {args.bandwidth_hz}")
        return 1.0 / args.bandwidth_hz
    return args.dwell_s if args.dwell_s is not None else 1 / 4000


def _refocusing_pulse(args) -> dict | None:
    given = {
        "duration_ms": args.pulse_duration_ms,
        "bandwidth_hz": args.pulse_bandwidth_hz,
        "n_positions": args.pulse_positions,
    }
    given = {k: v for k, v in given.items() if v is not None}
    if given and args.refocusing != "shaped":
        raise InputError(None, "--pulse-*", "pulse options need --refocusing shaped")
    if args.refocusing == "shaped" and args.sequence != "PRESS":
        raise InputError(None, "--refocusing", f"shaped refocusing is implemented for PRESS only, not {args.sequence}")
    return given if args.refocusing == "shaped" else None


def _write(basis, target: Path, fmt: str, force: bool) -> None:
    from ..basis.readers import write_fsl_basis
    from ..io.lcmodel import write_lcmodel_basis_file

    if fmt == "fsl":
        write_fsl_basis(basis, target, overwrite=force)
    else:
        if target.exists() and not force:
            raise InputError(str(target), None, "output file exists (use --force to replace it)")
        write_lcmodel_basis_file(
            target, list(basis.names), basis.fids, basis.dwell_s, basis.spectrometer_mhz, basis.echo_time_s
        )


def run(args) -> int:
    from ..basis.readers import load_basis
    from ..basis.simulate import DEFAULT_EDIT_BANDWIDTH_HZ, resample_basis, simulate_basis, simulate_mega_press_basis

    out = Path(args.output)
    dwell = _dwell(args)
    start = time.perf_counter()
    if args.input:
        basis = load_basis(args.input)
        if args.dwell_s is not None or args.bandwidth_hz is not None or args.points != basis.n_points:
            basis = resample_basis(basis, dwell, args.points)
        _write(basis, out, args.format, args.force)
        print(f"painmrs basis: converted {len(basis.names)} spectra from {args.input} -> {out}")
        return 0
    metabolites = [m.strip() for m in args.metabolites.split(",") if m.strip()] if args.metabolites else None
    pulse = _refocusing_pulse(args)
    try:
        if args.sequence == "MEGA-PRESS":
            sets = simulate_mega_press_basis(
                metabolites,
                echo_time_ms=68.0 if args.echo_time_ms is None else args.echo_time_ms,
                te1_ms=args.te1_ms,
                spectrometer_mhz=args.spectrometer_mhz,
                dwell_s=dwell,
                n_points=args.points,
                linewidth_hz=args.linewidth_hz,
                edit_on_ppm=args.edit_on_ppm,
                edit_off_ppm=args.edit_off_ppm,
                edit_bandwidth_hz=(
                    DEFAULT_EDIT_BANDWIDTH_HZ if args.edit_bandwidth_hz is None else args.edit_bandwidth_hz
                ),
                include_mm=args.include_mm,
                gaba_set=args.gaba_set or "near2013",
            )
            for part, basis in sets.items():
                target = (
                    out / part if args.format == "fsl" else out.with_name(f"{out.stem}_{part}{out.suffix or '.BASIS'}")
                )
                _write(basis, target, args.format, args.force)
            n = len(sets["ON"].names)
        else:
            basis = simulate_basis(
                metabolites,
                sequence=args.sequence,
                echo_time_ms=30.0 if args.echo_time_ms is None else args.echo_time_ms,
                te1_ms=args.te1_ms,
                spectrometer_mhz=args.spectrometer_mhz,
                dwell_s=dwell,
                n_points=args.points,
                linewidth_hz=args.linewidth_hz,
                include_mm=args.include_mm,
                gaba_set=args.gaba_set,
                refocusing=args.refocusing,
                refocusing_pulse=pulse,
            )
            _write(basis, out, args.format, args.force)
            n = len(basis.names)
    except KeyError as exc:  # unknown metabolite / MM name
        raise InputError(None, "--metabolites", str(exc.args[0])) from None
    print(
        f"painmrs basis: {args.sequence} basis with {n} spectra written to {out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
