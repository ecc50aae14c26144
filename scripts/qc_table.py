"""Snakemake wrapper: the study QC table (one row per scan) from processing and fit outputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import qc_table  # noqa: E402
from painmrs.study.tables import write_tsv  # noqa: E402

with logged(snakemake.log[0], "qc_table") as log:
    table = qc_table(snakemake.input.processed, snakemake.input.fitted)
    write_tsv(table, snakemake.output[0])
    log.info("%d scans in the QC table", len(table))
