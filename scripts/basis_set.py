"""Snakemake wrapper: simulate the basis set(s) of one acquisition (acq label)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import build_basis  # noqa: E402

with logged(snakemake.log[0], f"basis {snakemake.wildcards.acq}") as log:
    build_basis(snakemake.params.sequence, snakemake.params.sample, snakemake.output[0], log=log)
