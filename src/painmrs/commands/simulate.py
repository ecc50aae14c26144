"""``painmrs simulate``: write the simulated demo study (MRS-BIDS) and its ground truth."""

from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "simulate"
DEFAULT_DESIGN = "config/demo/design.yaml"
HELP = "simulate the demo study from a design (config/demo/design.yaml): OUT/bids + OUT/truth"


def configure(parser) -> None:
    parser.add_argument(
        "--design",
        default=None,
        help=f"study design YAML (default {DEFAULT_DESIGN} if it exists, else the copy installed with painmrs)",
    )
    parser.add_argument(
        "--size", default="demo", help="size section of the design: demo, full, tiny ... (default %(default)s)"
    )
    parser.add_argument(
        "--out", default="results/demo", help="output folder; writes OUT/bids and OUT/truth (default %(default)s)"
    )
    parser.add_argument("--bids", default=None, help="BIDS folder (overrides OUT/bids)")
    parser.add_argument("--truth", default=None, help="truth folder (overrides OUT/truth)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the design's random_seed)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _design(path: str | None) -> str:
    if path is not None:
        return path
    if Path(DEFAULT_DESIGN).is_file():
        return DEFAULT_DESIGN
    from ..resources import demo_design

    found = demo_design()
    return str(found) if found is not None else DEFAULT_DESIGN


def run(args) -> int:
    from ..demo.study import simulate_study

    out = Path(args.out)
    summary = simulate_study(
        _design(args.design),
        args.bids or out / "bids",
        args.truth or out / "truth",
        size=args.size,
        seed=args.seed,
        jobs=max(1, min(int(args.jobs), os.cpu_count() or 1)),
    )
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(
            f"simulated {summary['scans']} scans ({summary['scans_press']} PRESS, {summary['scans_megapress']} MEGA-PRESS) "
            f"of {summary['subjects']} subjects / {summary['sessions']} sessions in {summary['seconds']:.1f} s "
            f"({summary['bytes'] / 1e6:.0f} MB) -> {summary['bids']} (truth: {summary['truth']})"
        )
    return 0
