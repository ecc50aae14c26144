"""Snakemake wrapper: the basis set(s) of one acquisition (acq label): the configured
``sequences.<acq>.basis`` or a simulated one."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import build_basis  # noqa: E402

acq = snakemake.wildcards.acq
with logged(snakemake.log[0], f"basis {acq}") as log:
    build_basis(snakemake.params.sequence, snakemake.params.sample, snakemake.output[0], log=log, acq=acq)
