"""The workflow's jobs, side by side: what each Snakemake rule runs (scripts/ only unpack the
``snakemake`` object), and the typed options each receives (``painmrs.configuration``).

process (``process``) -> basis sets (``basis``) -> fit and quantify (``fit``) -> QC table, study
table, statistics, recovery of planted effects (``study``) -> report (``report``). The stage
libraries do the science; these modules wire their option objects to the file contracts of
DEVELOPERS.md.
"""
