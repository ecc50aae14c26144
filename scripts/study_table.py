"""Snakemake wrapper: the tidy study table results/metabolites.tsv (+ JSON sidecar)."""

from painmrs import atomic
from painmrs.configuration import StudyTableJob
from painmrs.jobs.study import study_table
from painmrs.stats import metabolite_table_sidecar
from painmrs.stats.tables import format_table, sidecar_text
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "study_table") as log:
    job = StudyTableJob.from_json(snakemake.params.options)
    table = study_table(
        snakemake.input.fitted,
        snakemake.input.qc,
        snakemake.input.participants,
        snakemake.params.sessions,
        job,
    )
    atomic.write_text(snakemake.output.table, format_table(table))
    atomic.write_text(
        snakemake.output.sidecar,
        sidecar_text(metabolite_table_sidecar(table, job.exclusion)),
    )
    log.info("%d rows, %d excluded by QC rules", len(table), int((~table["qc_pass"]).sum()))
