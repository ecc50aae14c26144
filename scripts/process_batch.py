"""Snakemake wrapper: process one batch of scans (coil combination ... QC), write a manifest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.batch import process_batch, write_manifest  # noqa: E402
from painmrs.study.inventory import read_scans  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402

with logged(snakemake.log[0], f"process {snakemake.wildcards.batch}") as log:
    scans = read_scans(snakemake.input.scans).set_index("stem")
    batch = scans.loc[snakemake.params.stems].reset_index()
    rows = process_batch(
        batch,
        snakemake.params.bids_dir,
        snakemake.params.deriv_dir,
        snakemake.config,
        log=log,
    )
    write_manifest(rows, snakemake.output[0])
