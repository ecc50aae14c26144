"""``painmrs report``: the self-contained HTML study report."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "write the self-contained HTML study report (results/report/index.html)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="study table (results/metabolites.tsv)")
    parser.add_argument("--stats", help="statistics folder (results/stats)")
    parser.add_argument("--config", help="config YAML")
    parser.add_argument("--qc", help="study QC table (results/qc/qc.tsv)")
    parser.add_argument("--derivatives", help="per-scan derivatives folder (processed spectra, *_fit.png)")
    parser.add_argument("--bids", help="BIDS root, for acquisition headers when derivatives are absent")
    parser.add_argument("--recovery", help="recovery table (results/validation/recovery.tsv), if any")
    parser.add_argument("--provenance", help="run manifest (results/provenance/manifest.json), if any")
    parser.add_argument("--max-figures", type=int, default=8, help="figures per section (strongest results first)")
    parser.add_argument("--figures-dir", help="also write the main figures there as PNG files (Snakemake report)")
    parser.add_argument("--out", required=True, help="output HTML file")


def run(args) -> int:
    from pathlib import Path

    from ..configuration import study_options
    from ..report import build_report
    from ..stats import load_metabolite_table
    from .stats import load_config

    options = study_options(load_config(args.config), args.config)  # checked before rendering
    table = load_metabolite_table(args.table)
    recovery = args.recovery if args.recovery and Path(args.recovery).is_file() else None
    out = build_report(table, args.out, stats_dir=args.stats, options=options, qc_table=args.qc, table_path=args.table,
                       derivatives=args.derivatives, bids=args.bids, recovery=recovery,
                       provenance=args.provenance, max_figures=args.max_figures, figures_dir=args.figures_dir)
    size_mb = out.stat().st_size / 1e6
    print(f"[painmrs report] wrote {out} ({size_mb:.2f} MB)")
    return 0
