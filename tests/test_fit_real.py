"""Real 3 T PRESS data: Philips sub-01/sub-02 (TE 35) and the Siemens RDA (TE 30).

Converted with spec2nii here, processed with painmrs.processing.process_scan, fitted with the
public Osprey-made LCModel basis for the vendor's timing (TE 35, no MM) plus painmrs' parametric
MM and lipid components.

Healthy ranges (molar ratios to tCr), from facts.md section 1.2 B (GUD2023 meta-analysis of
healthy adults): tNAA 11.27 +- 3.83, tCr 10.17 +- 2.38, tCho 2.58 +- 0.86, mI 5.83 +- 1.87,
Glx 11.51 +- 4.19 mM (ratio-to-Cr column: tNAA/Cr 1.55, tCho/Cr 0.55 as a peak-area ratio,
i.e. ~0.18 molar, mI/Cr 0.60, Glx/Cr 1.33). The ranges below span those means +- ~2 SD of
the concentrations propagated to a ratio, widened to hold both columns' values.

Reading note: painmrs.io.nifti_mrs.read conjugates the on-disk NIfTI-MRS frame (as the
``nifti-mrs`` package does), so spec2nii output reads with NAA at 2.01 ppm, not mirrored about
4.65 ppm (asserted by tests/test_processing_real.py::test_converted_scan_reads_unmirrored and
tests/test_convert_real.py::test_converted_spectrum_has_naa_at_2ppm).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from painmrs.basis.readers import load_basis
from painmrs.fitting import FitOptions, fit_spectrum
from painmrs.fitting._threads import limit_blas_threads
from painmrs.io.nifti_mrs import read
from painmrs.processing.pipeline import process_scan
from painmrs.quantify.qc import QCRules, fit_flags
from painmrs.quantify.scan import with_macromolecules

limit_blas_threads(1)

HEALTHY_RATIO_TCR = {"tNAA": (0.9, 1.8), "tCho": (0.12, 0.40), "mI": (0.35, 1.05), "Glx": (0.7, 1.8)}
MM_AND_LIPIDS = ("MM09", "MM12", "MM14", "MM17", "MM20", "Lip09", "Lip13", "Lip20")
PHILIPS = "real/philips_press_3T/press_te35/{s}/ses-01/mrs/{s}_ses-01_press{ref}/{s}_PRESS_35_{kind}.{ext}"


def _spec2nii(fmt, files, out_dir, name):
    exe = shutil.which("spec2nii") or str(Path(sys.executable).with_name("spec2nii"))
    subprocess.run([exe, fmt, "-o", str(out_dir), "-f", name, *map(str, files)], check=True, capture_output=True)
    return out_dir / f"{name}.nii.gz"


def _load(path):
    from nifti_mrs.nifti_mrs import NIFTI_MRS

    mrs = read(path)
    return mrs.replace(fid=np.asarray(NIFTI_MRS(str(path))[:]).reshape(mrs.fid.shape))


def _fit_and_check(data, water, basis_file, label):
    processed = process_scan(data, water).outputs["processed"]
    basis = with_macromolecules(load_basis(basis_file), MM_AND_LIPIDS)
    fit = fit_spectrum(processed, basis, FitOptions())
    tcr = fit.amplitude("tCr")
    ratios = {n: fit.amplitude(n) / tcr for n in HEALTHY_RATIO_TCR}
    crlb = 100 * fit.sd("tNAA") / fit.amplitude("tNAA")
    print(f"\n{label}: " + ", ".join(f"{n}/tCr={v:.3f}" for n, v in ratios.items())
          + f", tNAA CRLB={crlb:.1f}%, SNR={fit.snr:.0f}, FWHM={fit.fwhm_hz:.1f} Hz, fitQ={fit.fit_quality:.2f}")
    assert crlb <= 5.0
    # a healthy fit carries no fit flag (issue 13: nothing at a bound, converged, residual
    # 0.9-10.5 x the noise variance, below qc.max_fit_quality 30)
    assert fit_flags(fit.params, fit.fit_quality, QCRules()) == [], (label, fit.params["groups"], fit.fit_quality)
    for name, (lo, hi) in HEALTHY_RATIO_TCR.items():
        assert lo <= ratios[name] <= hi, (label, name, ratios[name])


@pytest.mark.slow
@pytest.mark.parametrize("subject", ["sub-01", "sub-02"])
def test_philips_press_te35(shared_data, tmp_path, subject):
    files = {}
    for kind, ref in (("act", ""), ("ref", "-ref")):
        pair = [shared_data / PHILIPS.format(s=subject, ref=ref, kind=kind, ext=e) for e in ("sdat", "spar")]
        files[kind] = _load(_spec2nii("philips", pair, tmp_path, f"{subject}_{kind}"))
    _fit_and_check(files["act"], files["ref"], shared_data / "basis" / "3T_PRESS_Philips_35ms_noMM.BASIS",
                   f"Philips {subject}")


@pytest.mark.slow
def test_siemens_rda(shared_data, tmp_path):
    data = _load(_spec2nii("rda", [shared_data / "real" / "siemens_press_3T" / "SVS_30.rda"], tmp_path, "svs"))
    # The RDA holds no water reference; TE 30 data with the TE 35 Siemens-timing basis.
    _fit_and_check(data, None, shared_data / "basis" / "3T_PRESS_Siemens_35ms_noMM.BASIS", "Siemens RDA")
