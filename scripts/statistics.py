"""Snakemake wrapper: group comparisons, pain correlations, treatment effects (results/stats)."""

from pathlib import Path

from painmrs.configuration import StatsJob
from painmrs.jobs.study import statistics
from painmrs.stats import load_metabolite_table
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "statistics") as log:
    table = load_metabolite_table(snakemake.input.table)
    out_dir = Path(snakemake.output.tables[0]).parent
    # no truth here: the analysis never reads it
    results = statistics(table, StatsJob.from_json(snakemake.params.options), out_dir)
    for name, frame in results.items():
        log.info("%s: %d rows", name, len(frame))
