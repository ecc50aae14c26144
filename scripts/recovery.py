"""Snakemake wrapper: compare the statistics with the simulated study's planted effects."""

from pathlib import Path

from painmrs.configuration import RecoveryJob
from painmrs.jobs.study import recovery
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "recovery") as log:
    table = recovery(
        Path(snakemake.input.tables[0]).parent,
        snakemake.input.truth,
        snakemake.output.table,
        RecoveryJob.from_json(snakemake.params.options),
    )
    log.info("%d planted effects matched", len(table))
