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

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    table, truth = make_study(seed=4, n=12, n_trial=8)
    table.loc[table["subject"] == "sub-FM000", "group"] = EVIL  # user-supplied label
    (root / "truth").mkdir()
    truth.to_csv(root / "truth" / "effects.tsv", sep="\t", index=False)
    run_statistics(table, StatsOptions(correlation=CorrelationOptions(n_bootstrap=200)), root / "stats",
                   root / "truth", root / "validation" / "recovery.tsv")
    # two processed spectra so the mean +- SD spectra and the MRSinMRS header items are exercised
    from painmrs.io import nifti_mrs
    from painmrs.mrs import MRSData

    deriv = root / "derivatives"
    t = np.arange(1024) * 5e-4
    for stem in table.drop_duplicates("stem")["stem"].head(3):
        fid = (np.exp(2j * np.pi * (-2.6 * 123.2) * t - t / 0.08)).astype(np.complex64)
        mrs = MRSData(fid=fid, dwell_s=5e-4, spectrometer_mhz=123.2,
                      header={"EchoTime": 0.03, "RepetitionTime": 2.0, "Manufacturer": EVIL})
        sub = stem.split("_")[0]
        nifti_mrs.write(mrs, deriv / sub / "mrs" / f"{stem}_desc-processed_svs.nii.gz")
    (root / "manifest.json").write_text(json.dumps({"run": EVIL, "inputs": {"a": "sha256:00"}}))
    tpath = root / "metabolites.tsv"
    tpath.write_text(format_table(table))
    cfg = root / "config.yaml"
    cfg.write_text("stats:\n  control_group: HC\n  correlation: {n_bootstrap: 200}\nreport:\n  primary_measure: conc_mM\n")
    out = root / "report" / "index.html"
    rc = main(["report", "--table", str(tpath), "--stats", str(root / "stats"), "--config", str(cfg),
               "--derivatives", str(deriv), "--recovery", str(root / "validation" / "recovery.tsv"),
               "--provenance", str(root / "manifest.json"), "--out", str(out)])
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
    assert "mean ± SD spectrum per group" in html
    assert "TE 30 ms" in html and "TR 2000 ms" in html
    assert "Benjamini-Hochberg" in html and "statsmodels" in html
    assert "detected_group_ge8pct" in html and "null_group_fdr_rejection" in html  # recovery summary


def test_degrades_without_optional_inputs(tmp_path):
    table, _ = make_study(seed=5, n=6, n_trial=6)
    out = build_report(table, tmp_path / "index.html")
    html = out.read_text()
    assert "No group comparisons were computed." in html
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
