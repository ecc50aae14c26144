"""The study configuration as one typed model: parsed once, checked once, handed to each job.

``load_study_options(config, source)`` runs every check (the schema with file-and-key
messages, Snakemake's own schema validation, each stage's option parser) and returns frozen
``StudyOptions``: the options of every stage (processing, fit and the MEGA-PRESS DIFF fit,
quantify, qc, stats, report, execution, the sequences). ``painmrs validate`` and the workflow
call the same function, so they accept and refuse the same configs with the same messages.

Each workflow rule gets exactly what its job uses (``job_options(study, rule)``) as one
canonical JSON string param: Snakemake reruns the job when that string changes, and the job
decodes the same string (``ProcessJob.from_json`` ...) into the typed objects. No job reads
``snakemake.config``; the report and its checklist read the same ``StudyOptions``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from .errors import InputError
from .fitting.config import fit_options, mega_diff_options
from .fitting.model import FitOptions
from .options import options_from_json, options_from_mapping, options_to_json
from .processing.pipeline import ProcessingOptions
from .provenance.manifest import find_seeds
from .quantify.concentrations import QuantOptions
from .quantify.config import qc_rules, quant_options
from .quantify.qc import QCRules
from .stats.config import ExclusionRules, StatsOptions, stats_options_from_config
from .study.config import bad_scan_policy, validate_config

SCAN_FIGURES = ("all", "first_per_batch", "none")


class _JSON:
    """Canonical JSON round trip of a frozen option dataclass."""

    def to_json(self) -> str:
        return options_to_json(self)

    @classmethod
    def from_json(cls, text: str):
        return options_from_json(cls, text)

    @classmethod
    def coerce(cls, options):
        """``options`` itself, or (for library callers holding a config dict) the job options
        that ``job_options`` gives its rule (``RULE``) from that config."""
        if isinstance(options, cls):
            return options
        if isinstance(options, Mapping) and getattr(cls, "RULE", None):
            return cls.from_json(job_options(study_options(options), cls.RULE))
        raise TypeError(f"expected {cls.__name__} or a config mapping, got {type(options).__name__}")


@dataclasses.dataclass(frozen=True)
class ExecutionOptions(_JSON):
    """``execution:`` (how jobs are cut and run; the schema fills the defaults)."""

    batches: int = 48
    threads_per_job: int = 1
    mem_mb_per_job: int = 4000
    runtime_min_per_scan: float = 2.0
    # execution.scan_figures: which scans get their per-scan PNGs (QC and fit figures).
    # Rendering is most of a scan's CPU time (~0.5-1 s of ~1.5 s), so a big study can render
    # one example per batch job; the demo renders all.
    scan_figures: str = "all"
    on_bad_scan: str = "fail"  # fail | exclude (the scan, with its reason on record)
    scans_per_job: int = 25  # legacy: batches are keyed by participant now


@dataclasses.dataclass(frozen=True)
class ReportOptions(_JSON):
    """``report:``."""

    primary_measure: str | None = None  # None: the first present of report.build.MEASURE_PREFERENCE


@dataclasses.dataclass(frozen=True)
class SequenceOptions(_JSON):
    """``sequences.<acq>``: the acquisition a basis is made for."""

    sequence: str
    te_ms: float
    tr_ms: float | None = None
    edit_on_ppm: float | None = None
    edit_off_ppm: float | None = None
    edit_target: str | None = None
    te1_ms: float | None = None
    refocusing: str = "ideal"
    refocusing_pulse: Mapping[str, Any] | None = None
    # one path (PRESS, STEAM, sLASER) or {diff: PATH, off: PATH} (MEGA-PRESS); None: simulated
    basis: str | Mapping[str, str] | None = None
    basis_ppm_reference: float | None = None
    # a supplied basis in the other conjugation convention or off its ppm reference:
    # repair (conjugate / shift, recorded) or refuse (painmrs.basis.registration)
    basis_repair: str = "repair"
    macromolecules: tuple[str, ...] | None = None

    def as_mapping(self) -> dict:
        """The config entry's form (keys that are set), for the basis checks that take it."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclasses.dataclass(frozen=True)
class StudyOptions(_JSON):
    """Every stage's options, as the jobs run them."""

    processing: ProcessingOptions
    fit: FitOptions
    mega_diff_fit: FitOptions
    quantify: QuantOptions
    qc: QCRules
    stats: StatsOptions
    report: ReportOptions
    execution: ExecutionOptions
    sequences: Mapping[str, SequenceOptions]
    seeds: Mapping[str, int]  # every seed of the config, by dotted key (provenance)


# ---- the per-rule option bundles ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ProcessJob(_JSON):
    RULE = "process_batch"  # (a class attribute, not a field)
    processing: ProcessingOptions
    scan_figures: str = "all"
    on_bad_scan: str = "fail"

    def for_sequence(self, sequence: str) -> ProcessingOptions:
        """The scan's options: ``processing.sequence: auto`` takes the scan's own sequence."""
        if self.processing.sequence == "auto" and sequence in ("PRESS", "MEGA-PRESS"):
            return dataclasses.replace(self.processing, sequence=sequence)
        return self.processing


@dataclasses.dataclass(frozen=True)
class AcqTiming(_JSON):
    """``sequences.<acq>.te_ms`` / ``tr_ms``: what the fit jobs use of the sequences."""

    te_ms: float
    tr_ms: float | None = None


@dataclasses.dataclass(frozen=True)
class FitJob(_JSON):
    RULE = "fit_batch"  # (a class attribute, not a field)
    fit: FitOptions
    mega_diff_fit: FitOptions
    quantify: QuantOptions
    qc: QCRules
    scan_figures: str = "all"
    on_bad_scan: str = "fail"
    # the acquisitions' TE/TR (sequences.<acq>.te_ms / tr_ms): authoritative over the headers
    sequences: Mapping[str, AcqTiming] = dataclasses.field(default_factory=dict)

    def timing(self, acq: str) -> tuple[float | None, float | None, str, str]:
        """(TE s, TR s, TE source, TR source) the fit of an ``acq`` scan uses: ``quantify.te_s`` /
        ``tr_s`` when set, else ``sequences.<acq>.te_ms`` / ``tr_ms``, else (None) the header's."""
        q, seq = self.quantify, self.sequences.get(acq)
        if q.te_s is not None:
            te, te_src = q.te_s, "config quantify.te_s"
        else:
            te = None if seq is None else seq.te_ms / 1000.0
            te_src = f"config sequences.{acq}.te_ms"
        if q.tr_s is not None:
            tr, tr_src = q.tr_s, "config quantify.tr_s"
        else:
            tr = None if seq is None or seq.tr_ms is None else seq.tr_ms / 1000.0
            tr_src = f"config sequences.{acq}.tr_ms"
        return te, tr, te_src, tr_src


@dataclasses.dataclass(frozen=True)
class BasisJob(_JSON):
    acq: str
    sequence: SequenceOptions


@dataclasses.dataclass(frozen=True)
class StudyTableJob(_JSON):
    RULE = "study_table"  # (a class attribute, not a field)
    exclusion: ExclusionRules


@dataclasses.dataclass(frozen=True)
class StatsJob(_JSON):
    RULE = "statistics"  # (a class attribute, not a field)
    stats: StatsOptions


@dataclasses.dataclass(frozen=True)
class RecoveryJob(_JSON):
    RULE = "recovery"  # (a class attribute, not a field)
    measures: tuple[str, ...]
    fdr_q: float


@dataclasses.dataclass(frozen=True)
class ReportJob(_JSON):
    RULE = "html_report"  # (a class attribute, not a field)
    study: StudyOptions  # the report states every stage's settings (methods, checklist)


def job_options(study: StudyOptions, rule: str, acq: str | None = None) -> str:
    """The canonical JSON param of one rule: exactly the options its job uses."""
    ex = study.execution
    if rule == "process_batch":
        job = ProcessJob(study.processing, ex.scan_figures, ex.on_bad_scan)
    elif rule == "fit_batch":
        timing = {acq: AcqTiming(seq.te_ms, seq.tr_ms) for acq, seq in study.sequences.items()}
        job = FitJob(study.fit, study.mega_diff_fit, study.quantify, study.qc, ex.scan_figures, ex.on_bad_scan, timing)
    elif rule == "basis_set":
        job = BasisJob(acq, study.sequences[acq])
    elif rule == "study_table":
        job = StudyTableJob(study.stats.exclusion)
    elif rule == "statistics":
        job = StatsJob(study.stats)
    elif rule == "recovery":
        job = RecoveryJob(study.stats.recovery_measures, study.stats.fdr_q)
    elif rule == "html_report":
        job = ReportJob(study)
    else:
        raise KeyError(f"no job options for rule {rule!r}")
    return job.to_json()


# ---- parsing --------------------------------------------------------------------------------------
def _execution(section: Mapping, source) -> ExecutionOptions:
    section = dict(section or {})
    try:  # the one reading of on_bad_scan (with the deprecated on_scan_error of unvalidated dicts)
        section["on_bad_scan"] = bad_scan_policy({"execution": section})
    except InputError as exc:
        raise InputError(source, exc.field, exc.message) from None
    section.pop("on_scan_error", None)
    opts = options_from_mapping(ExecutionOptions, section, "execution", source)
    if opts.scan_figures not in SCAN_FIGURES:
        raise InputError(source, "execution.scan_figures", f"{opts.scan_figures!r} is not one of {', '.join(SCAN_FIGURES)}")
    return dataclasses.replace(opts, runtime_min_per_scan=float(opts.runtime_min_per_scan))


def _sequences(section: Mapping, source) -> dict[str, SequenceOptions]:
    out = {}
    for acq, entry in sorted((section or {}).items()):
        entry = dict(entry)
        basis = entry.get("basis")
        if isinstance(basis, Mapping):
            entry["basis"] = {k: str(v) for k, v in sorted(basis.items())}
        out[str(acq)] = options_from_mapping(SequenceOptions, entry, f"sequences.{acq}", source)
    return out


def study_options(config: Mapping, source: str | os.PathLike | None = None) -> StudyOptions:
    """Every stage's options from a validated config (see :func:`load_study_options`)."""
    source = None if source is None else str(source)
    sequences = _sequences(config.get("sequences"), source)
    processing = ProcessingOptions.from_config(config.get("processing") or {}, source=source)
    return StudyOptions(
        processing=processing,
        fit=fit_options(config.get("fit"), source),
        mega_diff_fit=mega_diff_options(config.get("fit"), source),
        quantify=quant_options(config.get("quantify"), source),
        qc=qc_rules(config.get("qc"), source),
        stats=stats_options_from_config(config, source),
        report=options_from_mapping(ReportOptions, config.get("report"), "report", source),
        execution=_execution(config.get("execution"), source),
        sequences=sequences,
        seeds=find_seeds(config),
    )


def load_study_options(config: dict, source: str | os.PathLike | None = "config") -> StudyOptions:
    """Every check the workflow runs when it loads (rules/common.smk) and ``painmrs validate``
    runs too: our schema validation with file-and-key messages (defaults filled into
    ``config``), Snakemake's own schema validation (the snakemake-workflows idiom), then every
    stage's options. Returns the parsed options."""
    validate_config(config, source)
    try:
        from snakemake.utils import validate as snakemake_validate
    except ImportError:  # the library without Snakemake: our validator ran the same schema
        snakemake_validate = None
    if snakemake_validate is not None:
        from .study.config import CONFIG_SCHEMA, schema_dir

        snakemake_validate(config, str(schema_dir() / CONFIG_SCHEMA))
    return study_options(config, source)
