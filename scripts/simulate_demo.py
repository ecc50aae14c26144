"""Snakemake wrapper: write the simulated demo study (MRS-BIDS) and its ground truth."""

from painmrs.demo.study import simulate_study
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "simulate_demo"):
    simulate_study(
        snakemake.input.design,
        snakemake.output.bids,
        snakemake.output.truth,
        size=snakemake.params.size,
        seed=snakemake.params.seed,
        jobs=snakemake.threads,
    )
