"""Snakemake wrapper: group comparisons, pain correlations, treatment effects (results/stats)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))

from painmrs.stats import load_metabolite_table, run_statistics  # noqa: E402
from painmrs.study.runlog import logged  # noqa: E402
from painmrs.study.stages import stats_options  # noqa: E402

with logged(snakemake.log[0], "statistics") as log:
    table = load_metabolite_table(snakemake.input.table)
    options = stats_options(snakemake.config)
    out_dir = Path(snakemake.output.tables[0]).parent
    results = run_statistics(table, options, out_dir)  # no truth: the analysis never reads it
    for name, frame in results.items():
        log.info("%s: %d rows", name, len(frame))
