"""Snakemake wrapper: convert one vendor file to de-identified NIfTI-MRS with spec2nii."""

from painmrs.convert import convert
from painmrs.study.runlog import logged

with logged(snakemake.log[0], "convert") as log:
    mrs = convert(snakemake.input[0], snakemake.params.fmt, snakemake.output[0])
    log.info(
        "%s -> %s: %s points, dwell %.6g s, %.4f MHz",
        snakemake.input[0],
        snakemake.output[0],
        mrs.fid.shape,
        mrs.dwell_s,
        mrs.spectrometer_mhz,
    )
