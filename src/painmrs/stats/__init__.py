"""Study statistics: the tidy study table, group comparisons, pain correlations, longitudinal
contrasts, minimum detectable effects and recovery of planted effects.

Names are imported on first use (PEP 562): reading the stats options of a config (done when the
workflow loads, in every Snakemake process) must not import statsmodels (~0.7 s)."""

import importlib

_EXPORTS = {
    "ExclusionRules": ".config", "LongitudinalStudy": ".config", "StatsOptions": ".config",
    "stats_options_from_config": ".config", "run_statistics": ".run", "build_metabolite_table": ".study_table",
    "load_metabolite_table": ".study_table", "metabolite_table_sidecar": ".study_table",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
