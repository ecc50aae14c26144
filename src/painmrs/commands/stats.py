"""``painmrs stats``: build the tidy study table, or run the configured study statistics."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "stats"
HELP = "build results/metabolites.tsv (--build-table) or run group/correlation/longitudinal statistics"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="study table (results/metabolites.tsv): input, or output with --build-table")
    parser.add_argument("--config", help="config YAML (its 'stats' section); defaults apply when omitted")
    parser.add_argument("--out", help="output folder for the statistics tables (results/stats)")
    parser.add_argument("--truth", help="ground-truth folder with effects.tsv (demo); writes the recovery table")
    parser.add_argument("--recovery", help="recovery table path (default: <out>/../validation/recovery.tsv)")
    g = parser.add_argument_group("table building (--build-table)")
    g.add_argument("--build-table", action="store_true", help="build the study table instead of running statistics")
    g.add_argument("--fits", nargs="*", default=[], help="per-scan *_fit.tsv files")
    g.add_argument("--fits-dir", help="folder searched recursively for *_fit.tsv")
    g.add_argument("--qc", help="study QC table (results/qc/qc.tsv)")
    g.add_argument("--bids", help="BIDS root (participants.tsv and sub-*/sub-*_sessions.tsv)")
    g.add_argument("--participants", help="participants.tsv (default: <bids>/participants.tsv)")


def load_config(path) -> dict:
    """A config file for a single command (sections may be partial; duplicate keys refused):
    {} without one. Its sections are parsed by the same model as the workflow's
    (``painmrs.configuration.study_options``)."""
    from ..errors import InputError
    from ..study.config import read_yaml_strict

    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise InputError(p, None, "config file not found")
    cfg = read_yaml_strict(p) or {}
    if not isinstance(cfg, dict):
        raise InputError(p, None, "config must be a mapping")
    return cfg


def run(args) -> int:
    from .. import atomic
    from ..errors import InputError
    from ..configuration import study_options
    from ..stats import build_metabolite_table, load_metabolite_table, metabolite_table_sidecar, run_statistics
    from ..stats.tables import format_table, sidecar_text

    opts = study_options(load_config(args.config), args.config).stats
    if args.build_table:
        fits = list(args.fits)
        if args.fits_dir:
            fits += sorted(str(p) for p in Path(args.fits_dir).rglob("*_fit.tsv"))
        if not fits:
            raise InputError(args.fits_dir, "fits", "no *_fit.tsv files found")
        participants = args.participants or (Path(args.bids) / "participants.tsv" if args.bids else None)
        if participants is None:
            raise InputError(None, "participants", "give --participants or --bids")
        sessions = sorted(Path(args.bids).glob("sub-*/sub-*_sessions.tsv")) if args.bids else []
        table = build_metabolite_table(fits, args.qc, participants, sessions, opts.exclusion)
        atomic.write_text(args.table, format_table(table))
        atomic.write_text(Path(args.table).with_suffix(".json"), sidecar_text(metabolite_table_sidecar(table, opts.exclusion)))
        n_bad = int((~table["qc_pass"]).sum())
        print(f"[painmrs stats] wrote {args.table}: {len(table)} rows, {n_bad} excluded by QC rules")
        return 0
    if not args.out:
        raise InputError(None, "--out", "required unless --build-table")
    table = load_metabolite_table(args.table)
    results = run_statistics(table, opts, args.out, args.truth, args.recovery)
    for name, df in results.items():
        print(f"[painmrs stats] {name}: {len(df)} rows")
    return 0
