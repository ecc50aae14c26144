"""Snakemake wrapper: fit and quantify one batch of processed scans, write a manifest."""

from pathlib import Path

from painmrs.configuration import FitJob
from painmrs.jobs.fit import fit_batch
from painmrs.study.inventory import read_scans
from painmrs.study.manifests import read_manifests, write_manifest
from painmrs.study.runlog import logged

with logged(snakemake.log[0], f"fit {snakemake.wildcards.batch}") as log:
    scans = read_scans(snakemake.input.scans).set_index("stem")
    batch = scans.loc[snakemake.params.stems].reset_index()
    basis_dirs = {Path(d).name: d for d in snakemake.input.basis}
    rows = fit_batch(
        batch,
        read_manifests([snakemake.input.processed]),
        basis_dirs,
        snakemake.params.bids_dir,
        snakemake.params.deriv_dir,
        FitJob.from_json(snakemake.params.options),
        log=log,
    )
    write_manifest(rows, snakemake.output[0])
