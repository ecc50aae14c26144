"""Snakemake wrapper: the tidy study table results/metabolites.tsv (+ JSON sidecar)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs import atomic  # noqa: E402
from painmrs.stats import metabolite_table_sidecar  # noqa: E402
from painmrs.stats.tables import format_table, sidecar_text  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import stats_options, study_table  # noqa: E402

with logged(snakemake.log[0], "study_table") as log:
    table = study_table(
        snakemake.input.fitted,
        snakemake.input.qc,
        snakemake.input.participants,
        snakemake.params.sessions,
        snakemake.config,
    )
    rules = stats_options(snakemake.config).exclusion
    atomic.write_text(snakemake.output.table, format_table(table))
    atomic.write_text(snakemake.output.sidecar, sidecar_text(metabolite_table_sidecar(table, rules)))
    log.info("%d rows, %d excluded by QC rules", len(table), int((~table["qc_pass"]).sum()))
