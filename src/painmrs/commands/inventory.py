"""``painmrs inventory``: write the validated scan inventory of an MRS-BIDS study."""

from __future__ import annotations

from pathlib import Path

NAME = "inventory"
HELP = "list the scans of an MRS-BIDS study (scans.tsv) after validating its tables"


def configure(parser):
    parser.add_argument("--config", default="config/config.yaml", help="study config (YAML)")
    parser.add_argument("--bids", help="MRS-BIDS folder (default: the config's dataset.bids_dir)")
    parser.add_argument("--out", default="results/inventory", help="output folder")


def run(args) -> int:
    from ..study.config import load_config
    from ..study.inventory import build_inventory, write_inventory

    config = load_config(args.config)
    bids = Path(args.bids or config["dataset"]["bids_dir"])
    inv = build_inventory(bids, config, config_source=str(args.config))
    out = Path(args.out)
    write_inventory(inv, out / "scans.tsv", out / "participants.tsv", out / "sessions.tsv")
    print(f"{out / 'scans.tsv'}: {len(inv.scans)} scans")
    return 0
