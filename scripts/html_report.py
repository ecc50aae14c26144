"""Snakemake wrapper: the self-contained HTML study report."""

from pathlib import Path

from painmrs.configuration import ReportJob
from painmrs.report import build_report
from painmrs.stats import load_metabolite_table
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "html_report") as log:
    out = build_report(
        load_metabolite_table(snakemake.input.table),
        snakemake.output[0],
        stats_dir=Path(snakemake.input.stats[0]).parent,
        options=ReportJob.from_json(snakemake.params.options).study,
        qc_table=snakemake.input.qc,
        derivatives=snakemake.params.deriv_dir,
        bids=snakemake.params.bids_dir,
        recovery=snakemake.input.get("recovery"),
        table_path=snakemake.input.table,
        figures_dir=snakemake.output.get("figures"),
    )
    log.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
