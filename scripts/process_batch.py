"""Snakemake wrapper: process one batch of scans (coil combination ... QC), write a manifest."""

from painmrs.configuration import ProcessJob
from painmrs.jobs.process import process_batch
from painmrs.study.inventory import read_scans
from painmrs.study.manifests import write_manifest
from painmrs.study.runlog import logged

with logged(snakemake.log[0], f"process {snakemake.wildcards.batch}") as log:
    scans = read_scans(snakemake.input.scans).set_index("stem")
    batch = scans.loc[snakemake.params.stems].reset_index()
    rows = process_batch(
        batch,
        snakemake.params.bids_dir,
        snakemake.params.deriv_dir,
        ProcessJob.from_json(snakemake.params.options),
        log=log,
    )
    write_manifest(rows, snakemake.output[0])
