"""Snakemake wrapper: fit and quantify one batch of processed scans, write a manifest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.batch import read_manifests, write_manifest  # noqa: E402
from painmrs.study.inventory import read_scans  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import fit_batch  # noqa: E402

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
        snakemake.config,
        log=log,
    )
    write_manifest(rows, snakemake.output[0])
