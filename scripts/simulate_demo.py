"""Snakemake wrapper: write the simulated demo study (MRS-BIDS) and its ground truth."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.demo.study import simulate_study  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402

with logged(snakemake.log[0], "simulate_demo"):
    simulate_study(
        snakemake.input.design,
        snakemake.output.bids,
        snakemake.output.truth,
        size=snakemake.params.size,
        seed=snakemake.params.seed,
        jobs=snakemake.threads,
    )
