"""The self-contained HTML report: escaping, self-containment, graceful degradation, size, and
rendering in headless Chromium (skipped when chromium is not installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_stats_synthetic import make_study

from painmrs.cli import main
from painmrs.report import build_report
from painmrs.stats import StatsOptions, run_statistics
from painmrs.stats.config import CorrelationOptions
from painmrs.stats.tables import format_table

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (the statistics and report of a synthetic study)
pytestmark = pytest.mark.xdist_group("module-test_report_html")

EVIL = "<script>alert(1)</script>"
MHZ, DWELL, NPTS = 123.2, 5e-4, 2048
NAA_AMP = {"HC": 1.0, "cLBP": 1.2}  # planted group difference in the spectra (NAA, 2.008 ppm)
TCR_AMP = 0.8
LOADING = [0.5, 1.0, 2.0]  # per-scan receive scaling: normalisation must remove it


def _fid(ppm_amp, t2=0.08):
    t = np.arange(NPTS) * DWELL
    return sum(a * np.exp(2j * np.pi * (ppm - 4.65) * MHZ * t - t / t2) for ppm, a in ppm_amp).astype(np.complex64)


def write_spectra(deriv, water=True, skip_water=()):
    """Processed PRESS spectra for sub-{HC,cLBP}00{0,1,2} ACC baseline; returns the stems."""
    from painmrs.io import nifti_mrs
    from painmrs.mrs import MRSData

    stems = []
    for g in ("HC", "cLBP"):
        for i, k in enumerate(LOADING):
            stem = f"sub-{g}{i:03d}_ses-baseline_acq-press_voi-ACC"
            head = {"EchoTime": 0.03, "RepetitionTime": 2.0, "Manufacturer": EVIL}
            mrs = MRSData(fid=k * _fid([(2.008, NAA_AMP[g]), (3.027, TCR_AMP)]), dwell_s=DWELL, spectrometer_mhz=MHZ, header=head)
            d = deriv / stem.split("_")[0] / "ses-baseline" / "mrs"
            nifti_mrs.write(mrs, d / f"{stem}_desc-processed_svs.nii.gz")
            if water and stem not in skip_water:
                # unphased water (receiver phase 1 rad): the normaliser must not depend on phase
                ref = MRSData(fid=(k * 5000 * np.exp(1j) * _fid([(4.65, 1.0)])).astype(np.complex64), dwell_s=DWELL,
                              spectrometer_mhz=MHZ, header=head)
                nifti_mrs.write(ref, d / f"{stem}_desc-processed_mrsref.nii.gz")
            stems.append(stem)
    return stems


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    table, truth = make_study(seed=4, n=12, n_trial=8)
    table.loc[table["subject"] == "sub-FM000", "group"] = EVIL  # user-supplied label
    (root / "truth").mkdir()
    truth.to_csv(root / "truth" / "effects.tsv", sep="\t", index=False)
    run_statistics(table, StatsOptions(correlation=CorrelationOptions(n_bootstrap=200)), root / "stats",
                   root / "truth", root / "validation" / "recovery.tsv")
    # processed spectra + water references of 3 HC and 3 cLBP ACC scans, so the mean +- SD spectra
    # and the MRSinMRS header items are exercised (see test_mean_sd_spectra_normalisation)
    write_spectra(root / "derivatives", water=True)
    deriv = root / "derivatives"
    (root / "manifest.json").write_text(json.dumps({"run": EVIL, "inputs": {"a": "sha256:00"}}))
    tpath = root / "metabolites.tsv"
    tpath.write_text(format_table(table))
    cfg = root / "config.yaml"
    cfg.write_text("stats:\n  control_group: HC\n  correlation: {n_bootstrap: 200}\nreport:\n  primary_measure: conc_mM\n")
    out = root / "report" / "index.html"
    rc = main(["report", "--table", str(tpath), "--stats", str(root / "stats"), "--config", str(cfg),
               "--derivatives", str(deriv), "--recovery", str(root / "validation" / "recovery.tsv"),
               "--provenance", str(root / "manifest.json"), "--figures-dir", str(root / "figures"), "--out", str(out)])
    assert rc == 0
    return root, out, out.read_text(encoding="utf-8")


def test_user_strings_are_escaped(built):
    _, _, html = built
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # exactly one script element: the inline render check
    assert len(re.findall(r"<script\b", html)) == 1


def test_self_contained_and_small(built):
    _, out, html = built
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(href|src)="(https?:)?//', html)
    assert "default-src 'none'" in html
    assert out.stat().st_size < 20e6
    for section in ("overview", "qc", "groups", "correlations", "longitudinal", "recovery", "checklist", "methods", "provenance"):
        assert f'id="{section}"' in html
    # mean +- SD spectra drawn from the processed files; header values in the checklist
    assert "mean ± SD processed spectrum per group, QC-passing scans, normalised to the water reference area" in html
    assert "TE 30 ms" in html and "TR 2000 ms" in html
    assert "Benjamini-Hochberg" in html and "statsmodels" in html
    assert "detected_group_ge8pct" in html and "null_group_fdr_rejection" in html  # recovery summary


def test_degrades_without_optional_inputs(tmp_path):
    table, _ = make_study(seed=5, n=6, n_trial=6)
    out = build_report(table, tmp_path / "index.html")
    html = out.read_text()
    assert "No group comparisons were computed" in html
    assert "Processed spectra not available" in html
    assert "No ground-truth table" in html
    assert "not reported" in html  # checklist items without headers


def test_deterministic(built, tmp_path):
    root, out, html = built
    rc = main(["report", "--table", str(root / "metabolites.tsv"), "--stats", str(root / "stats"),
               "--config", str(root / "config.yaml"), "--derivatives", str(root / "derivatives"),
               "--recovery", str(root / "validation" / "recovery.tsv"), "--provenance", str(root / "manifest.json"),
               "--out", str(tmp_path / "again.html")])
    assert rc == 0
    assert (tmp_path / "again.html").read_bytes() == out.read_bytes()


CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--virtual-time-budget=10000"]


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (CI installs it via tools/install_chromium.sh)")
def test_renders_in_headless_chromium(built, tmp_path):
    _, out, html = built
    exe = _chromium()
    n_figs = len(re.findall(r'<img class="fig"', html))
    assert n_figs >= 8
    profile = tmp_path / "profile"
    dom = subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'<pre id="render-check"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert m, "render check did not run"
    check = json.loads(m.group(1))
    assert check == {"figures": n_figs, "rendered": n_figs, "errors": []}
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln or "Refused to" in ln]
    assert not console, console
    shot = tmp_path / "report.png"
    res = subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
                          f"--screenshot={shot}", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def _naa_peak(cell):
    from painmrs.report.spectra import SPECTRA_PPM

    j = int(np.argmin(abs(SPECTRA_PPM - 2.008)))
    return {g: m[:, j] for g, m in cell["groups"].items()}


def test_mean_sd_spectra_normalisation(tmp_path):
    """Spectra on one ppm axis, scaled by the water reference (else tCr): the per-scan loading
    factors (0.5, 1, 2) vanish (SD ~ 0) and the planted 20 % NAA group difference remains."""
    from painmrs.report.spectra import SPECTRA_PPM, spectra_cells

    table, _ = make_study(seed=4, n=6, n_trial=4)
    stems = write_spectra(tmp_path / "w", water=True)
    cells = spectra_cells(table, tmp_path / "w")
    cell = cells[("press", "ACC")]
    assert cell["norm"] == "water" and set(cell["groups"]) == {"HC", "cLBP"}
    assert cell["groups"]["HC"].shape == (3, len(SPECTRA_PPM))
    peak = _naa_peak(cell)
    for g in peak:  # loading removed: relative SD across scans < 0.1 %
        assert np.std(peak[g]) / np.mean(peak[g]) < 1e-3
    assert np.mean(peak["cLBP"]) / np.mean(peak["HC"]) == pytest.approx(1.2, rel=1e-3)
    # one scan without a water reference: the whole cell falls back to tCr-area scaling
    write_spectra(tmp_path / "t", water=True, skip_water={stems[0]})
    cell = spectra_cells(table, tmp_path / "t")[("press", "ACC")]
    assert cell["norm"] == "tCr"
    peak = _naa_peak(cell)
    assert np.std(peak["HC"]) / np.mean(peak["HC"]) < 1e-3
    # 1 %: the 2.95-3.10 ppm tCr integral also picks up the NAA Lorentzian tail and the DFT
    # first-point baseline offset, both growing with the NAA amplitude (0.3 % here)
    assert np.mean(peak["cLBP"]) / np.mean(peak["HC"]) == pytest.approx(1.2, rel=1e-2)
    # scans failing QC are left out of the mean
    bad = table["stem"] == stems[0]
    cell = spectra_cells(table.assign(qc_pass=table["qc_pass"] & ~bad), tmp_path / "w")[("press", "ACC")]
    assert cell["groups"]["HC"].shape[0] == 2


def test_sections_and_snakemake_figures(built, tmp_path):
    root, out, html = built
    # missing sessions reported; residual diagnostics and sensitivity analyses summarised
    assert "have a missing session; they stay in the mixed model" in html
    assert "Shapiro-Wilk on mixed-model residuals" in html and "Mann-Whitney U disagrees" in html
    assert "carry-over (Grizzle" in html
    # run provenance: the study table's SHA-256 and the stats tables'
    import hashlib

    assert hashlib.sha256((root / "metabolites.tsv").read_bytes()).hexdigest() in html
    assert "stats/group_comparisons.tsv" in html and "options_sha256" in html
    assert "qc: exclude_fit_flags=True, fit_bound_tolerance=0.005, max_crlb_pct=20" in html  # methods: resolved parameters
    # forest plots, box/strip, scatter, spaghetti plots present (titles)
    for t in ("adjusted difference (% of control mean, 95% CI", "rho=", "interaction", "arm x time interaction"):
        assert t in html, t
    # the main figures as files for Snakemake's report
    figs = root / "figures"
    names = sorted(p.name for p in figs.glob("*.png"))
    assert names[0].startswith("01_") and any("spectra" in n for n in names) and any("group" in n for n in names)
    assert all((figs / n).read_bytes()[:4] == b"\x89PNG" for n in names)


def test_warns_how_many_scans_used_assumed_tissue_fractions(tmp_path):
    table, _ = make_study(seed=5, n=6, n_trial=6)
    stems = sorted(table["stem"].unique())
    table["tissue_source"] = np.where(table["stem"].isin(stems[:3]), "assumed", "segmentation")
    html = build_report(table, tmp_path / "index.html").read_text()
    assert re.search(r'id="assumed-tissue">Warning: 3 scans had no segmentation', html)
    table["tissue_source"] = "segmentation"
    assert 'id="assumed-tissue"' not in build_report(table, tmp_path / "b.html").read_text()
