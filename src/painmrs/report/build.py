"""The self-contained HTML study report (results/report/index.html).

One file: figures are base64 PNG data URIs, styles and the small render-check script are
inline, and a Content-Security-Policy forbids any network fetch. jinja2 autoescaping escapes
every string that comes from users (labels, config values, headers, provenance).
Optional inputs (QC table, processed spectra, per-scan fit figures, recovery table,
provenance manifest) degrade gracefully: their sections say what is missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd

from .. import atomic
from ..errors import InputError
from ..stats.tables import read_table, software_versions
from ..configuration import StudyOptions, study_options
from .checklist import methods_paragraph, mrsinmrs_checklist
from .sections import (
    MEASURE_PREFERENCE,
    _correlation_section,
    _diagnostics,
    _excluded_and_warned,
    _group_section,
    _longitudinal_section,
    _missing_sessions_text,
    _overview,
    _qc_figures,
    _recovery_section,
    _snr_fwhm_text,
    html_table,
)
from .spectra import _bids_headers, _find, _png_uri, _spectra_figures

STATS_TABLES = ["group_comparisons", "correlations", "longitudinal_parallel", "longitudinal_within_arm",
                "longitudinal_change_correlations", "crossover", "covariate_effects", "exclusions"]


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).with_name("templates"))),
        autoescape=True,  # every string is escaped unless explicitly marked safe; we mark none
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _load_stats(stats_dir) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    tabs, metas = {}, {}
    if stats_dir is None:
        return tabs, metas
    stats_dir = Path(stats_dir)
    for name in STATS_TABLES:
        p = stats_dir / f"{name}.tsv"
        if p.is_file() and p.stat().st_size > 1:
            try:
                tabs[name] = read_table(p)
            except InputError:
                tabs[name] = pd.DataFrame()
            side = p.with_suffix(".json")
            if side.is_file():
                metas[name] = json.loads(side.read_text())
    return tabs, metas


def _primary_measure(table: pd.DataFrame, options: StudyOptions) -> str:
    want = options.report.primary_measure
    present = list(dict.fromkeys(table["measure"]))
    if want in present:
        return want
    return next((m for m in MEASURE_PREFERENCE if m in present), present[0] if present else "")


def build_report(
    table: pd.DataFrame,
    out_path: str | os.PathLike,
    *,
    stats_dir=None,
    options: StudyOptions | None = None,
    table_path=None,
    figures_dir=None,
    qc_table=None,
    derivatives=None,
    bids=None,
    recovery=None,
    provenance=None,
    max_figures: int = 8,
    title: str = "painmrs study report",
) -> Path:
    """Render the report for ``table`` (the study table) and write it atomically to ``out_path``.

    ``table_path``: the study table's file (hashed into the run provenance); ``figures_dir``:
    also write the main figures there as PNG files (for Snakemake's own report).
    ``options``: the study's parsed configuration (``painmrs.configuration``), the one source
    of every setting the report states; None: the stage defaults."""
    options = options if options is not None else study_options({})
    tabs, metas = _load_stats(stats_dir)
    versions = software_versions()
    measure = _primary_measure(table, options)
    ok = table[table["qc_pass"]]
    scans = table.drop_duplicates("stem")

    overview = _overview(table, ok, scans, tabs, measure)
    design = overview["design"]
    regions = sorted(table["region"].unique())
    qc_figs = _qc_figures(scans, options.qc)  # the one set of QC thresholds (config qc:)
    spectra_figs, headers = _spectra_figures(table, derivatives)
    if not headers:
        headers = _bids_headers(bids)
    fit_figs = _example_fits(derivatives, min(4, max_figures))
    qc_tab = _qc_scans(qc_table, scans)
    excluded_scans, scan_warnings = _excluded_and_warned(qc_tab, options.qc.exclude_fit_flags)

    gc = tabs.get("group_comparisons", pd.DataFrame())
    groups = _group_section(gc, ok, options, design, measure, max_figures)
    cor = _correlation_section(tabs.get("correlations", pd.DataFrame()), ok, options, measure, max_figures)
    par = tabs.get("longitudinal_parallel", pd.DataFrame())
    cro = tabs.get("crossover", pd.DataFrame())
    longitudinal = _longitudinal_section(par, cro, ok, measure, max_figures)
    missing = _missing_sessions_text(par, cro)
    diagnostics = html_table(_diagnostics(gc, par, cro, opts_alpha=options.stats.alpha))
    recovered = _recovery_section(recovery)
    table_info = {
        "regions": regions, "measures": sorted(table["measure"].unique()), "painmrs_version": versions["painmrs"],
        "n_subjects": design["n_subjects"], "n_scans": design["n_scans"], "n_excluded_rows": design["n_excluded"],
        "has_spectra": bool(spectra_figs or fit_figs), "snr_fwhm": _snr_fwhm_text(scans),
    }
    run_prov = run_provenance(options, {"study table": table_path, "QC table": qc_table, "recovery table": recovery},
                              stats_dir)
    html = _env().get_template("index.html.j2").render(
        title=title, design=design, versions=versions, n_assumed_tissue=overview["n_assumed_tissue"],
        n_cell=html_table(overview["n_cell"]), exclusions=html_table(overview["excl"]),
        qc_figs=qc_figs, spectra_figs=spectra_figs, fit_figs=fit_figs, qc_table=html_table(qc_tab, max_rows=300),
        excluded_scans=html_table(excluded_scans, max_rows=1000), scan_warnings=html_table(scan_warnings, max_rows=1000),
        **groups, **cor, **longitudinal, **recovered,
        within_table=html_table(tabs.get("longitudinal_within_arm"), None, 100),
        checklist=mrsinmrs_checklist(headers, options, table_info),
        methods=methods_paragraph(options, versions, table_info, metas), provenance=_manifest_text(provenance),
        # the resolved configuration: every option as the stages ran it (config values over defaults)
        config_text=json.dumps(json.loads(options.to_json()), indent=2, sort_keys=True),
        model_notes=[(k, v.get("model", "")) for k, v in sorted(metas.items()) if v.get("model")],
        missing_sessions=missing, diagnostics=diagnostics, run_provenance=json.dumps(run_prov, indent=2, sort_keys=True),
    )
    if figures_dir is not None:  # the main figures, for Snakemake's own report
        rec = [{"title": "recovery", "uri": recovered["rec_fig"]}] if recovered["rec_fig"] else []
        write_figures([("qc", f) for f in qc_figs] + [("spectra", f) for f in spectra_figs]
                      + [("group", f) for f in groups["group_figs"]] + [("correlation", f) for f in cor["cor_figs"][:2]]
                      + [("longitudinal", f) for f in longitudinal["long_figs"][:3]] + [("recovery", f) for f in rec],
                      figures_dir)
    out_path = Path(out_path)
    atomic.write_text(out_path, html)
    return out_path


def _example_fits(derivatives, n: int) -> list[dict]:
    """The first ``n`` per-scan fit figures of the derivatives, as data URIs."""
    figs = []
    for p in _find(Path(derivatives) if derivatives else None, "*_fit.png")[:n]:
        uri = _png_uri(p)
        if uri:
            figs.append({"title": f"example fit: {p.name}", "uri": uri})
    return figs


def _qc_scans(qc_table, scans: pd.DataFrame) -> pd.DataFrame:
    """The study QC table, or (without one) the scans' QC columns of the study table."""
    if qc_table is not None and Path(qc_table).is_file():
        return read_table(qc_table)
    return scans[[c for c in ["stem", "region", "acq", "group", "snr", "fwhm_hz", "f_gm", "f_wm", "f_csf"] if c in scans]]


def _manifest_text(provenance) -> str | None:
    """The run manifest (results/provenance/manifest.json) pretty-printed, if given."""
    if provenance is None or not Path(provenance).is_file():
        return None
    try:
        return json.dumps(json.loads(Path(provenance).read_text()), indent=2, sort_keys=True)
    except json.JSONDecodeError:
        return Path(provenance).read_text()[:20000]


def write_figures(items, figures_dir) -> list[Path]:
    """The main figures as numbered PNG files (Snakemake report); stale ones are removed."""
    out = Path(figures_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    written = []
    for i, (section, f) in enumerate(items):
        path = out / f"{i + 1:02d}_{section}.png"
        atomic.write_bytes(path, base64.b64decode(f["uri"].split(",", 1)[1]))
        written.append(path)
    return written


def _sha256(path) -> str | None:
    if path is None or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_provenance(options: StudyOptions, inputs: Mapping[str, Any], stats_dir=None) -> dict:
    """What this report was made from: the resolved options' SHA-256 and the config's seeds, the git commit and
    package versions, and the SHA-256 of every table read (the full run manifest,
    results/provenance/manifest.json, is written after the report and hashes it)."""
    from ..provenance.hashing import sha256_json
    from ..provenance.manifest import git_state, package_versions

    files = {k: _sha256(v) for k, v in inputs.items() if v is not None and _sha256(v)}
    if stats_dir is not None:
        for name in STATS_TABLES:
            h = _sha256(Path(stats_dir) / f"{name}.tsv")
            if h:
                files[f"stats/{name}.tsv"] = h
    seeds = {**options.seeds, "stats.correlation.seed": options.stats.correlation.seed}
    return {"options_sha256": sha256_json(json.loads(options.to_json())), "seeds": seeds,
            "git": git_state(Path(__file__).resolve().parents[3]),
            "packages": {k: v for k, v in package_versions().items() if v},
            "inputs_sha256": files}


