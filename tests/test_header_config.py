"""A header that disagrees with the config (issue 13, item 4).

- TE / TR: the config is authoritative (``sequences.<acq>.te_ms`` / ``tr_ms``, or
  ``quantify.te_s`` / ``tr_s``; ``painmrs fit --te/--tr``): its value is used for the basis check
  and the relaxation correction, and the scan carries a ``header_te:`` / ``header_tr:`` warning
  naming the file and both values (``_fit.tsv`` warnings, ``qc.tsv`` qc_warnings, the report's
  "Scan warnings"). Before, the inventory stopped a study at any TE difference and
  ``painmrs fit --te`` replaced the header's TE silently.
- The real Siemens sLASER files say ``EchoTime`` 0.008 s (the first of three inter-pulse
  intervals, 8 + 12 + 10 ms); the warning says so.
- A nucleus other than 1H (``ResonantNucleus``) is refused: an error naming the file and the
  field, or an exclusion under ``on_bad_scan: exclude`` (tests/test_bad_input_corpus.py rows
  ``nucleus_31P``, ``water_reference_31P``). Before, a 31P spectrum was fitted as 1H.
- Field: a supplied basis for another field is refused (``check_basis``), an acq mixing fields
  too (the inventory); there is no configured field to disagree with.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from study_fixtures import base_config
from test_bad_input_corpus import _study as corpus_study

from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.mrs import MRSData
from painmrs.study.plausibility import header_disagreements

NOTE = ("a header TE shorter than the configured one is what sLASER files converted by spec2nii hold: EchoTime is then "
        "the first of the sequence's inter-pulse intervals (e.g. 8 ms of 8 + 12 + 10 ms = TE 30 ms), not the effective "
        "TE; check that the configured value is the sequence's effective TE")


def test_header_disagreements_name_the_file_and_both_values():
    header = {"EchoTime": 0.008, "RepetitionTime": 1.5}
    assert header_disagreements(header, "a.nii.gz", te_s=0.030, tr_s=2.0, te_source="config sequences.slaser.te_ms",
                                tr_source="config sequences.slaser.tr_ms") == [
        "header_te: a.nii.gz: the header's EchoTime is 8 ms but config sequences.slaser.te_ms is 30 ms; 30 ms is used "
        f"(basis echo time and relaxation correction) ({NOTE})",
        "header_tr: a.nii.gz: the header's RepetitionTime is 1500 ms but config sequences.slaser.tr_ms is 2000 ms; "
        "2000 ms is used (relaxation correction)",
    ]
    # a longer header TE gets no sLASER note; agreement within 1 ms / 10 ms, or nothing configured: no warning
    assert header_disagreements({"EchoTime": 0.035}, "b", te_s=0.030) == [
        "header_te: b: the header's EchoTime is 35 ms but the config is 30 ms; 30 ms is used "
        "(basis echo time and relaxation correction)"]
    assert header_disagreements({"EchoTime": 0.0305, "RepetitionTime": 2.005}, "c", te_s=0.030, tr_s=2.0) == []
    assert header_disagreements({"EchoTime": 0.008}, "d") == []


def test_real_slaser_header_is_explained(shared_data):
    from painmrs.io.nifti_mrs import read_header

    path = shared_data / "real" / "siemens_prisma_3T" / "slaser_te30" / "sub-001" / "sub-001_acq-slaser_svs.nii.gz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    info = read_header(path)
    assert info.nucleus == "1H" and info.extension["EchoTime"] == pytest.approx(0.008)
    notes = header_disagreements(info.extension, path, te_s=0.030, te_source="config sequences.slaser.te_ms")
    assert notes == [f"header_te: {path}: the header's EchoTime is 8 ms but config sequences.slaser.te_ms is 30 ms; "
                     f"30 ms is used (basis echo time and relaxation correction) ({NOTE})"]


# ---- through the workflow's jobs: inventory -> processing -> fit -> qc.tsv -> report ------------
def _study(root):
    """Two participants; sub-HC002's scan and water reference say TE 35 ms (config: 30)."""
    return corpus_study(root, svs_kind="echo_time_35ms", ref_kind="echo_time_35ms")


def _basis(path):
    from painmrs.basis.basis_set import BasisSet
    from painmrs.basis.readers import write_fsl_basis
    from painmrs.demo.synthetic import press_fid

    _, clean = press_fid(n=1024, mhz=123.2, lorentz_hz=0.0, gauss_hz=0.0)
    basis = BasisSet(names=("NAA", "Cr", "Cr39", "PCh"), fids=np.stack([clean[k] for k in ("NAA", "tCr", "tCr39", "tCho")], 1),
                     dwell_s=5e-4, spectrometer_mhz=123.2, echo_time_s=0.03, sequence="PRESS")
    write_fsl_basis(basis, path)
    return path


def test_header_te_other_than_the_config_is_a_warning_and_the_config_wins(tmp_path, caplog):
    import json

    from painmrs.jobs.fit import fit_batch
    from painmrs.jobs.process import process_batch
    from painmrs.jobs.study import qc_table
    from painmrs.report.sections import _excluded_and_warned
    from painmrs.study.inventory import build_inventory
    from painmrs.study.manifests import read_manifests, write_manifest

    bids = _study(tmp_path)
    config = base_config()
    config["execution"]["scan_figures"] = "none"
    bad = "sub-HC002_acq-press_voi-ACC"
    svs = bids / "sub-HC002" / "mrs" / f"{bad}_svs.nii.gz"
    with caplog.at_level(logging.WARNING, logger="painmrs.inventory"):
        inv = build_inventory(bids, config)  # before: InputError "header TE is 35 ms but config ... is 30 ms"
    assert inv.scans["te_ms"].tolist() == [30.0, 30.0] and (inv.scans["exclusion"] == "").all()
    expected = (f"header_te: {svs}: the header's EchoTime is 35 ms but config sequences.press.te_ms is 30 ms; "
                "30 ms is used (basis echo time and relaxation correction)")
    assert f"{bad}: {expected}" in caplog.text
    rows = process_batch(inv.scans, bids, tmp_path / "deriv", config)
    write_manifest(rows, tmp_path / "process.tsv")
    fits = fit_batch(inv.scans, read_manifests([tmp_path / "process.tsv"]), {"press": _basis(tmp_path / "basis")}, bids,
                     tmp_path / "deriv", config)
    write_manifest(fits, tmp_path / "fit.tsv")
    out = tmp_path / "deriv" / "sub-HC002" / "mrs"
    table = pd.read_csv(out / f"{bad}_fit.tsv", sep="\t", keep_default_na=False)
    assert set(table["warnings"]) == {expected}
    assert json.loads((out / f"{bad}_fit.json").read_text())["te_s"] == 0.03  # the config's TE
    qc = qc_table([tmp_path / "process.tsv"], [tmp_path / "fit.tsv"]).set_index("stem")
    assert qc["qc_warnings"].to_dict() == {"sub-HC001_acq-press_voi-ACC": "", bad: expected}
    _, warned = _excluded_and_warned(qc.reset_index())
    assert warned.set_index("stem")["warning"].to_dict() == {bad: expected}


# ---- painmrs fit --te: the header's 8 ms is reported, the given 30 ms used ------------------------
def _spectrum_file(tmp_path, header, nucleus="1H"):
    from painmrs.demo.synthetic import press_fid
    from painmrs.io import nifti_mrs

    fid, _ = press_fid(n=1024, mhz=123.2)
    noisy = fid + 0.002 * np.random.default_rng(1).normal(size=(fid.size, 2)) @ np.array([1, 1j])
    data = MRSData(fid=noisy, dwell_s=5e-4, spectrometer_mhz=123.2, header=header, nucleus=nucleus)
    return nifti_mrs.write(data, tmp_path / "spec.nii.gz")


def test_fit_cli_reports_the_header_te_it_overrides(tmp_path, capsys):
    import json

    spec = _spectrum_file(tmp_path, {"EchoTime": 0.008, "RepetitionTime": 2.0, "SequenceName": "PRESS"})
    out = tmp_path / "out"
    assert main(["fit", "--data", str(spec), "--basis", str(_basis(tmp_path / "basis")), "--te", "30", "--out", str(out),
                 "--name", "scan", "--no-figure"]) == 0
    expected = (f"header_te: {spec}: the header's EchoTime is 8 ms but --te is 30 ms; 30 ms is used "
                f"(basis echo time and relaxation correction) ({NOTE})")
    assert f"painmrs fit: warning: {expected}" in capsys.readouterr().err
    table = pd.read_csv(out / "scan_fit.tsv", sep="\t", keep_default_na=False)
    assert table["warnings"].iloc[0] == "no_water_reference: conc_mM, conc_molal and alpha_corrected unavailable (n/a); " + expected
    assert json.loads((out / "scan_fit.json").read_text())["te_s"] == 0.03


def test_a_31p_spectrum_is_refused(tmp_path, capsys):
    from painmrs.fitting.model import fit_spectrum
    from painmrs.basis.readers import load_basis

    spec = _spectrum_file(tmp_path, {"EchoTime": 0.03, "RepetitionTime": 2.0}, nucleus="31P")
    basis = _basis(tmp_path / "basis")
    assert main(["fit", "--data", str(spec), "--basis", str(basis), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (f"painmrs fit: error: {spec}, field 'ResonantNucleus': spectrum is of nucleus '31P', but painmrs analyses "
            "1H spectra only") in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    from painmrs.io import nifti_mrs

    with pytest.raises(InputError) as info:  # the fit itself refuses it too (library callers)
        fit_spectrum(nifti_mrs.read(spec), load_basis(basis))
    assert info.value.field == "ResonantNucleus" and info.value.path == str(spec)
