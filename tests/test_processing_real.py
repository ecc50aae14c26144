"""Processing on real public data (../shared/data/real), converted with spec2nii.

painmrs.io.nifti_mrs.read conjugates the on-disk NIfTI-MRS frame into the in-memory
convention (NAA at 2.008 ppm with ppm = 4.65 + f/MHz); ``test_converted_scan_reads_unmirrored``
guards that, since every processing number below depends on it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData
from painmrs.processing import estimate_coil_weights, process_scan, write_processed
from painmrs.processing._spectra import detrended_sd, ppm_window

# xdist: the whole module on one worker, so its module-scoped fixture is built once
# (the converted Philips scan)
pytestmark = [pytest.mark.real_data, pytest.mark.xdist_group("module-test_processing_real")]

PHILIPS = "real/philips_press_3T/press_te35/sub-01/ses-01/mrs"


def spec2nii(kind: str, out: Path, name: str, *files: Path) -> Path:
    exe = shutil.which("spec2nii")
    if exe is None:
        pytest.skip("spec2nii not installed")
    subprocess.run([exe, kind, "-o", str(out), "-f", name, *map(str, files)], check=True, capture_output=True)
    return out / f"{name}.nii.gz"


def read(path: Path) -> MRSData:
    return nifti_mrs.read(path)


@pytest.fixture(scope="module")
def philips(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("philips")
    base = shared_data / PHILIPS
    act = spec2nii("philips", out, "act", base / "sub-01_ses-01_press/sub-01_PRESS_35_act.sdat", base / "sub-01_ses-01_press/sub-01_PRESS_35_act.spar")
    ref = spec2nii("philips", out, "ref", base / "sub-01_ses-01_press-ref/sub-01_PRESS_35_ref.sdat", base / "sub-01_ses-01_press-ref/sub-01_PRESS_35_ref.spar")
    return act, ref


def test_converted_scan_reads_unmirrored(philips):
    data = nifti_mrs.read(philips[0])
    spec = np.abs(data.spectrum())
    near = lambda p: spec[ppm_window(data.ppm, (p - 0.05, p + 0.05))].max()  # noqa: E731
    assert near(2.01) > 2 * near(7.29)  # NAA where it belongs, not mirrored about 4.65 ppm


def test_philips_press_processes_with_sensible_qc(philips, tmp_path):
    metab, water = read(philips[0]), read(philips[1])
    scan = process_scan(metab, water, stem="sub-01_acq-press")
    qc = scan.qc
    print({k: qc[k] for k in ("snr", "snr_fsl_style", "snr_gannet_style", "fwhm_naa_hz", "fwhm_tcr_hz", "fwhm_water_hz", "referencing_shift_hz")})
    # 27 mL, 64 averages at 3T: SNR of order 100 and NAA/water FWHM of 5-10 Hz (facts.md 1.5)
    assert 50 < qc["snr"] < 400
    assert 4 < qc["fwhm_naa_hz"] < 10 and 4 < qc["fwhm_tcr_hz"] < 10 and 5 < qc["fwhm_water_hz"] < 12
    out = scan.outputs["processed"]
    spec = out.spectrum().real
    for peak in (2.008, 3.027):
        sel = ppm_window(out.ppm, (peak - 0.1, peak + 0.1))
        assert out.ppm[sel][np.argmax(spec[sel])] == pytest.approx(peak, abs=0.01)
    assert qc["residual_water_ratio_naa"] < 0.5
    paths = write_processed(scan, tmp_path, "sub-01_acq-press")
    assert paths["qc_png"].stat().st_size > 10_000


@pytest.mark.parametrize("kind, name", [("rda", "SVS_30.rda"), ("dicom", "SVS_30.IMA")])
def test_siemens_press_processes(shared_data, tmp_path, kind, name):
    path = spec2nii(kind, tmp_path, "svs", shared_data / "real/siemens_press_3T" / name)
    scan = process_scan(read(path), None)
    qc = scan.qc
    print(kind, {k: qc[k] for k in ("snr", "fwhm_naa_hz", "noise_window_ppm")})
    assert 30 < qc["snr"] < 400 and 3 < qc["fwhm_naa_hz"] < 10


def water_snr(fid: np.ndarray, data: MRSData) -> float:
    """max |S| near water / detrended SD of Re S in the outer 15% of the spectrum (both edges)."""
    spec = np.fft.fftshift(np.fft.fft(fid))
    ppm = data.ppm
    n = ppm.size
    edge = np.r_[0 : int(0.15 * n), n - int(0.15 * n) : n]
    noise = np.mean([detrended_sd(spec.real[idx], ppm[idx]) for idx in (edge[: edge.size // 2], edge[edge.size // 2 :])])
    return float(np.abs(spec[ppm_window(ppm, (4.2, 5.1))]).max() / noise)


def test_coil_combination_on_real_32_coil_7t_water(shared_data):
    data = read(shared_data / "real/siemens_7T_coils/sub-01_ses-01_SVS-ref.nii.gz")
    assert data.dim_tags == ("DIM_COIL",) and data.fid.shape[1] == 32
    weights = estimate_coil_weights(data)
    combined = data.fid @ weights.weights
    coils = data.fid.T
    snr_single = [water_snr(c, data) for c in coils]
    simple_sum = data.fid.sum(axis=1)
    phased_sum = (data.fid * np.exp(-1j * np.angle(data.fid[0]))).sum(axis=1)
    snr = {
        "wsvd": water_snr(combined, data),
        "best_single": max(snr_single),
        "simple_sum": water_snr(simple_sum, data),
        "phased_sum": water_snr(phased_sum, data),
    }
    print("7T 32-coil water SNR:", {k: round(v, 1) for k, v in snr.items()})
    assert snr["wsvd"] > 1.5 * snr["best_single"]
    assert snr["wsvd"] > 2 * snr["simple_sum"]
    assert snr["wsvd"] >= 0.98 * snr["phased_sum"]
