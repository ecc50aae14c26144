"""Snakemake wrapper: the self-contained HTML study report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.report import build_report  # noqa: E402
from painmrs.stats import load_metabolite_table  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402

with logged(snakemake.log[0], "html_report") as log:
    recovery = snakemake.input.get("recovery")
    out = build_report(
        load_metabolite_table(snakemake.input.table),
        snakemake.output[0],
        stats_dir=Path(snakemake.input.stats[0]).parent,
        config=snakemake.config,
        qc_table=snakemake.input.qc,
        derivatives=snakemake.params.deriv_dir,
        bids=snakemake.params.bids_dir,
        recovery=recovery,
        table_path=snakemake.input.table,
        figures_dir=snakemake.output.get("figures"),
    )
    log.info("wrote %s (%.2f MB)", out, out.stat().st_size / 1e6)
