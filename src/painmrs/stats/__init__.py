"""Study statistics: the tidy study table, group comparisons, pain correlations, longitudinal
contrasts, minimum detectable effects and recovery of planted effects."""

from .config import ExclusionRules, LongitudinalStudy, StatsOptions, stats_options_from_config
from .run import run_statistics
from .study_table import build_metabolite_table, load_metabolite_table, metabolite_table_sidecar

__all__ = [
    "ExclusionRules", "LongitudinalStudy", "StatsOptions", "stats_options_from_config",
    "run_statistics", "build_metabolite_table", "load_metabolite_table", "metabolite_table_sidecar",
]
