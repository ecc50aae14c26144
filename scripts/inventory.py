"""Snakemake wrapper: build the validated scan inventory of the study (checkpoint inventory)."""

import json
from pathlib import Path

from painmrs.study.incremental import (
    invalidate_batches,
    remove_stale_batches,
    withdraw_participants,
    write_basis_slices,
    write_batch_slices,
)
from painmrs.study.inventory import build_inventory, write_inventory
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "inventory") as log:
    inventory = build_inventory(snakemake.params.bids_dir, json.loads(snakemake.params.options))
    log.info(
        "%d scans, %d participants, %d sessions; %d scans without a water reference",
        len(inventory.scans),
        len(inventory.participants),
        len(inventory.sessions),
        int((~inventory.scans["water_available"]).sum()),
    )
    write_inventory(
        inventory,
        snakemake.output.scans,
        snakemake.output.participants,
        snakemake.output.sessions,
    )
    # Per-batch and per-acq slices, rewritten only when their bytes change (incremental runs).
    changed = write_batch_slices(
        inventory.scans,
        snakemake.params.batches_dir,
        snakemake.params.n_batches,
        bids_dir=snakemake.params.bids_dir,
    )
    log.info("batch slices changed: %s", ", ".join(changed) or "none")
    invalidate_batches(snakemake.params.batch_manifests, changed, log)
    write_basis_slices(inventory.scans, snakemake.params.basis_dir)
    withdraw_participants(snakemake.params.deriv_dir, set(inventory.scans["subject"]), log)
    current = sorted(p.stem for p in Path(snakemake.params.batches_dir).glob("*.tsv"))
    remove_stale_batches(snakemake.params.batch_manifests, current, log)
