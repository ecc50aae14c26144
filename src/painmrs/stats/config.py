"""Option objects for the study statistics, parsed from the ``stats`` section of the config.

The models are declared here (covariates, contrasts, FDR families, longitudinal designs), so
the analysis code holds no study-specific names. Every bad value raises ``InputError`` naming
the config field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import InputError
from ..quantify.qc import QCRules

KNOWN_MEASURES = (
    "ratio_tCr",
    "ratio_tNAA",
    "conc_mM",
    "conc_molal",
    "gaba_alpha",
    "gaba_alpha_norm",
    "amplitude",
)


@dataclass(frozen=True)
class ExclusionRules:
    """How the study table excludes scans (SNR, linewidth) and single estimates (CRLB) from the
    statistics. The thresholds are the quantify stage's ``QCRules`` (config ``qc:``), the one
    source of truth that also sets the fit tables' ``qc_flags``; this object only adds what the
    study table needs besides them (config ``stats.exclusion``)."""

    qc: QCRules = field(default_factory=QCRules)
    # Respect the scan_qc_pass column written by the QC stage (scan-level verdict).
    use_qc_table_verdict: bool = True

    def crlb_limit(self, metabolite: str) -> float | None:
        return self.qc.max_crlb_pct_by_metabolite.get(metabolite, self.qc.max_crlb_pct)


# stats.exclusion keys of earlier versions that duplicated the qc section: now an error naming
# the qc key, so a config can never hold two different thresholds for the same rule.
MOVED_EXCLUSION_KEYS = {
    "crlb_pct_max": "qc.max_crlb_pct", "crlb_pct_max_overrides": "qc.max_crlb_pct_by_metabolite",
    "snr_min": "qc.min_snr", "fwhm_ppm_max": "qc.max_fwhm_ppm", "fwhm_hz_max": "qc.max_fwhm_ppm",
}
# Removed keys: the linewidth rule uses each scan's own spectrometer frequency.
REMOVED_EXCLUSION_KEYS = {
    "spectrometer_mhz": "the linewidth rule uses each scan's own spectrometer frequency "
    "(spectrometer_mhz column of the fit/QC tables); remove this key",
}


@dataclass(frozen=True)
class GroupComparisonOptions:
    sessions: tuple[str, ...] = ("baseline",)
    covariates: tuple[str, ...] = ("age", "sex", "f_gm")
    fdr_family: tuple[str, ...] = ("group", "measure")


@dataclass(frozen=True)
class CorrelationOptions:
    scores: tuple[str, ...] = ()  # empty: every numeric score column found in the table
    groups: tuple[str, ...] = ()  # empty: every patient group
    pooled: bool = False
    covariates: tuple[str, ...] = ("age", "sex", "f_gm")
    sessions: tuple[str, ...] = ("baseline",)
    n_bootstrap: int = 2000
    seed: int = 20240601
    fdr_family: tuple[str, ...] = ("group", "score", "measure")
    min_n: int = 6


@dataclass(frozen=True)
class Family:
    """One declared family of tests sharing one Benjamini-Hochberg correction (config
    ``analysis.families``). Empty filters mean "all"; None means the stage default."""

    name: str
    kind: str  # group | correlation | age
    groups: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    metabolites: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    scores: tuple[str, ...] = ()
    covariates: tuple[str, ...] | None = None
    sessions: tuple[str, ...] | None = None
    fdr_q: float | None = None


@dataclass(frozen=True)
class LongitudinalStudy:
    """One treatment study. design 'parallel': value ~ arm*time + cov + (1|subject);
    design 'crossover': value ~ treatment + period + sequence + (1|subject)."""

    name: str
    design: str  # parallel | crossover
    study: str  # value of the sessions table's 'study' column
    arm_column: str = "arm"
    reference_arm: str | None = None  # sham / placebo
    time_column: str = "time"
    time_levels: tuple[str, ...] = ()  # first = baseline; empty: sorted with 'baseline'/'pre' first
    period_column: str = "period"
    sequence_column: str = "sequence_order"
    covariates: tuple[str, ...] = ("age", "sex", "f_gm")
    change_scores: tuple[str, ...] = ()  # empty: every numeric session score column
    fdr_family: tuple[str, ...] = ("study", "measure")
    groups: tuple[str, ...] = ()  # filters (empty: all)
    regions: tuple[str, ...] = ()
    metabolites: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    fdr_q: float | None = None


@dataclass(frozen=True)
class StatsOptions:
    control_group: str = "HC"
    patient_groups: tuple[str, ...] = ()  # empty: every non-control group in the table
    measures: tuple[str, ...] = ()  # empty: every measure in the table
    alpha: float = 0.05
    fdr_q: float = 0.05
    power: float = 0.80
    exclusion: ExclusionRules = field(default_factory=ExclusionRules)
    group: GroupComparisonOptions = field(default_factory=GroupComparisonOptions)
    correlation: CorrelationOptions = field(default_factory=CorrelationOptions)
    longitudinal: tuple[LongitudinalStudy, ...] | None = None  # None: infer from the table
    # Declared families (config analysis.families); empty: one default family per kind.
    families: tuple[Family, ...] = ()
    recovery_measures: tuple[str, ...] = ("conc_molal", "ratio_tCr")


def _tuple(value, where, path) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise InputError(path, where, f"expected a list, got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _number(value, where, path, *, allow_none=True, lo=None, hi=None):
    if value is None:
        if allow_none:
            return None
        raise InputError(path, where, "a number is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, where, f"expected a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(path, where, f"{value} outside [{lo}, {hi}]")
    return float(value)


def _check_keys(section: Mapping, allowed: set[str], where: str, path):
    if not isinstance(section, Mapping):
        raise InputError(path, where, f"expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise InputError(path, f"{where}.{unknown[0]}", f"unknown key (allowed: {sorted(allowed)})")


def _exclusion(s: Mapping, config: Mapping, path):
    """``stats.exclusion`` with the ``qc:`` thresholds (moved or removed keys are errors)."""
    ex = s.get("exclusion", {}) or {}
    if isinstance(ex, Mapping):
        for key, moved in sorted(MOVED_EXCLUSION_KEYS.items()):
            if key in ex:
                raise InputError(path, f"stats.exclusion.{key}",
                                 f"QC thresholds are set once, in the qc section: use {moved}")
        for key, why in sorted(REMOVED_EXCLUSION_KEYS.items()):
            if key in ex:
                raise InputError(path, f"stats.exclusion.{key}", why)
    _check_keys(ex, {"use_qc_table_verdict"}, "stats.exclusion", path)
    from ..quantify.config import qc_rules

    d = ExclusionRules()
    exclusion = ExclusionRules(
        qc=qc_rules(config.get("qc"), path),
        use_qc_table_verdict=bool(ex.get("use_qc_table_verdict", d.use_qc_table_verdict)),
    )

    return exclusion


def _group_comparison(s: Mapping, path):
    """``stats.group_comparison``."""
    gc = s.get("group_comparison", {}) or {}
    _check_keys(gc, {"sessions", "covariates", "fdr_family"}, "stats.group_comparison", path)
    dg = GroupComparisonOptions()
    group = GroupComparisonOptions(
        sessions=_tuple(gc.get("sessions", dg.sessions), "stats.group_comparison.sessions", path),
        covariates=_tuple(gc.get("covariates", dg.covariates), "stats.group_comparison.covariates", path),
        fdr_family=_tuple(gc.get("fdr_family", dg.fdr_family), "stats.group_comparison.fdr_family", path),
    )

    return group


def _correlation(s: Mapping, path):
    """``stats.correlation``."""
    co = s.get("correlation", {}) or {}
    dc = CorrelationOptions()
    _check_keys(co, set(CorrelationOptions.__dataclass_fields__), "stats.correlation", path)
    correlation = CorrelationOptions(
        scores=_tuple(co.get("scores", dc.scores), "stats.correlation.scores", path),
        groups=_tuple(co.get("groups", dc.groups), "stats.correlation.groups", path),
        pooled=bool(co.get("pooled", dc.pooled)),
        covariates=_tuple(co.get("covariates", dc.covariates), "stats.correlation.covariates", path),
        sessions=_tuple(co.get("sessions", dc.sessions), "stats.correlation.sessions", path),
        n_bootstrap=int(_number(co.get("n_bootstrap", dc.n_bootstrap), "stats.correlation.n_bootstrap", path, allow_none=False, lo=0)),
        seed=int(_number(co.get("seed", dc.seed), "stats.correlation.seed", path, allow_none=False, lo=0)),
        fdr_family=_tuple(co.get("fdr_family", dc.fdr_family), "stats.correlation.fdr_family", path),
        min_n=int(_number(co.get("min_n", dc.min_n), "stats.correlation.min_n", path, allow_none=False, lo=4)),
    )

    return correlation


def _longitudinal(s: Mapping, path):
    """``stats.longitudinal`` (None: not given)."""
    longitudinal = None
    if "longitudinal" in s and s["longitudinal"] is not None:
        items = s["longitudinal"]
        if not isinstance(items, list):
            raise InputError(path, "stats.longitudinal", "expected a list of studies")
        studies = []
        allowed = set(LongitudinalStudy.__dataclass_fields__)
        for i, item in enumerate(items):
            where = f"stats.longitudinal[{i}]"
            _check_keys(item, allowed, where, path)
            for req in ("name", "design", "study"):
                if req not in item:
                    raise InputError(path, f"{where}.{req}", "required")
            if item["design"] not in ("parallel", "crossover"):
                raise InputError(path, f"{where}.design", f"must be 'parallel' or 'crossover', got {item['design']!r}")
            kw = dict(item)
            for key in ("time_levels", "covariates", "change_scores", "fdr_family", "groups", "regions",
                        "metabolites", "measures"):
                if key in kw:
                    kw[key] = _tuple(kw[key], f"{where}.{key}", path)
            for key in ("name", "design", "study", "arm_column", "time_column", "period_column", "sequence_column"):
                if key in kw:
                    kw[key] = str(kw[key])
            studies.append(LongitudinalStudy(**kw))
        longitudinal = tuple(studies)
    return longitudinal


def _families(analysis: Mapping, path):
    """``analysis.families``: declared FDR families."""
    families = []
    for name, fam in sorted((analysis.get("families") or {}).items()):
        where = f"analysis.families.{name}"
        if not isinstance(fam, Mapping) or fam.get("kind") not in ("group", "correlation", "age"):
            raise InputError(path, f"{where}.kind", "must be group, correlation or age")
        families.append(Family(
            name=str(name), kind=fam["kind"],
            groups=_tuple(fam.get("groups"), f"{where}.groups", path),
            regions=_tuple(fam.get("regions"), f"{where}.regions", path),
            metabolites=_tuple(fam.get("metabolites"), f"{where}.metabolites", path),
            measures=_tuple(fam.get("measure", fam.get("measures")), f"{where}.measure", path),
            scores=_tuple(fam.get("scores"), f"{where}.scores", path),
            covariates=_tuple(fam["covariates"], f"{where}.covariates", path) if "covariates" in fam else None,
            sessions=_tuple(fam["sessions"], f"{where}.sessions", path) if "sessions" in fam else None,
            fdr_q=_number(fam.get("fdr_q"), f"{where}.fdr_q", path, lo=1e-6, hi=0.5),
        ))
    return tuple(families)


def _designs(analysis: Mapping, path):
    """``analysis.designs``: treatment studies declared by name (None: none)."""
    if not analysis.get("designs"):
        return None
    studies = []
    for name, des in sorted(analysis["designs"].items()):
        where = f"analysis.designs.{name}"
        if not isinstance(des, Mapping) or des.get("kind") not in ("parallel", "crossover"):
            raise InputError(path, f"{where}.kind", "must be parallel or crossover")
        sessions = tuple(x.removeprefix("ses-") for x in _tuple(des.get("sessions"), f"{where}.sessions", path))
        studies.append(LongitudinalStudy(
            name=str(name), design=des["kind"], study=str(name),
            reference_arm=None if des.get("control_treatment") is None else str(des["control_treatment"]),
            time_levels=sessions if des["kind"] == "parallel" else (),
            groups=_tuple(des.get("groups"), f"{where}.groups", path),
            regions=_tuple(des.get("regions"), f"{where}.regions", path),
            metabolites=_tuple(des.get("metabolites"), f"{where}.metabolites", path),
            measures=_tuple(des.get("measure", des.get("measures")), f"{where}.measure", path),
            fdr_q=_number(des.get("fdr_q"), f"{where}.fdr_q", path, lo=1e-6, hi=0.5),
        ))
    return tuple(studies)


def stats_options_from_config(
    config: Mapping[str, Any] | None, path: str | os.PathLike | None = None
) -> StatsOptions:
    """Build ``StatsOptions`` from a full config mapping (its ``stats`` section)."""
    config = config or {}
    s = config.get("stats", {}) or {}
    top = {
        "control_group", "patient_groups", "measures", "alpha", "fdr_q", "power", "exclusion",
        "group_comparison", "correlation", "longitudinal", "recovery",
    }
    _check_keys(s, top, "stats", path)

    exclusion = _exclusion(s, config, path)
    group = _group_comparison(s, path)
    correlation = _correlation(s, path)
    longitudinal = _longitudinal(s, path)
    analysis = config.get("analysis", {}) or {}
    families = _families(analysis, path)
    if longitudinal is None:
        longitudinal = _designs(analysis, path)
    control = s.get("control_group") or (config.get("groups", {}) or {}).get("control") or StatsOptions.control_group

    rec = s.get("recovery", {}) or {}
    _check_keys(rec, {"measures"}, "stats.recovery", path)
    d0 = StatsOptions()
    measures = _tuple(s.get("measures", ()), "stats.measures", path)
    for m in measures:
        if m not in KNOWN_MEASURES:
            raise InputError(path, "stats.measures", f"unknown measure {m!r} (known: {list(KNOWN_MEASURES)})")
    return StatsOptions(
        control_group=str(control),
        patient_groups=_tuple(s.get("patient_groups", ()), "stats.patient_groups", path),
        measures=measures,
        alpha=_number(s.get("alpha", d0.alpha), "stats.alpha", path, allow_none=False, lo=1e-6, hi=0.5),
        fdr_q=_number(s.get("fdr_q", d0.fdr_q), "stats.fdr_q", path, allow_none=False, lo=1e-6, hi=0.5),
        power=_number(s.get("power", d0.power), "stats.power", path, allow_none=False, lo=0.05, hi=0.999),
        exclusion=exclusion,
        group=group,
        correlation=correlation,
        longitudinal=longitudinal,
        recovery_measures=_tuple(rec.get("measures", d0.recovery_measures), "stats.recovery.measures", path),
        families=families,
    )
