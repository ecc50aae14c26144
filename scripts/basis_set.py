"""Snakemake wrapper: the basis set(s) of one acquisition (acq label): the configured
``sequences.<acq>.basis`` or a simulated one."""

from painmrs.configuration import BasisJob
from painmrs.jobs.basis import build_basis
from painmrs.study.runlog import logged

job = BasisJob.from_json(snakemake.params.options)
with logged(snakemake.log[0], f"basis {job.acq}") as log:
    build_basis(job.sequence, snakemake.params.sample, snakemake.output[0], log=log, acq=job.acq)
