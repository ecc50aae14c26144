"""Snakemake wrapper: compare the statistics with the simulated study's planted effects."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import recovery  # noqa: E402

with logged(snakemake.log[0], "recovery") as log:
    table = recovery(
        Path(snakemake.input.tables[0]).parent,
        snakemake.input.truth,
        snakemake.output.table,
        snakemake.config,
    )
    log.info("%d planted effects matched", len(table))
