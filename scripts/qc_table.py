"""Snakemake wrapper: the study QC table (one row per scan) from processing and fit outputs."""

from painmrs.jobs.study import qc_table
from painmrs.study.runlog import logged
from painmrs.study.tables import write_tsv

with logged(snakemake.log[0], "qc_table") as log:
    table = qc_table(snakemake.input.processed, snakemake.input.fitted)
    write_tsv(table, snakemake.output[0])
    log.info("%d scans in the QC table", len(table))
