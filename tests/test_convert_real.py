"""Vendor conversion (spec2nii + de-identification) on the real files in ../shared/data/real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nifti_mrs.nifti_mrs import NIFTI_MRS
from nifti_mrs.validator import validate_nifti_mrs

from painmrs.convert import convert, spec2nii_command
from painmrs.errors import InputError
from painmrs.io import nifti_mrs

pytestmark = pytest.mark.real_data

PHILIPS_TE35 = "real/philips_press_3T/press_te35/sub-01/ses-01/mrs/sub-01_ses-01_press/sub-01_PRESS_35_act.sdat"
PHILIPS_TE30 = "real/philips_press_3T/press_te30_with_mm/sub-01/ses-01/mrs/sub-01_ses-01_press/sub-01_ses-01_PRESS_raw-act_noID.SDAT"
RDA = "real/siemens_press_3T/SVS_30.rda"
IMA = "real/siemens_press_3T/SVS_30.IMA"
XA60 = "real/siemens_press_3T/SVS_XA60.dcm"

# (file, format, dwell s, MHz, points): dwell and frequency as the vendor headers state them
# (Philips SPAR: 2000 Hz sample frequency, synthesizer 127.750896 MHz; Siemens: 1200 Hz
# bandwidth -> 833 us, RDA stores 833.0 us, the DICOM 833.4 us).
CASES = [
    (PHILIPS_TE35, "philips", 1 / 2000, 127.750896, 2048),
    (PHILIPS_TE30, "philips", 1 / 2000, 127.755264, 2048),
    (RDA, "rda", 833.0e-6, 123.234655, 1024),
    (IMA, "dicom", 833.4e-6, 123.234655, 1024),
    (XA60, "dicom", 833.4e-6, 123.255089, 1024),
]
IDENTIFYING = ("PatientName", "PatientID", "PatientDoB", "PatientSex", "PatientWeight", "OriginalFile", "ConversionTime")


def _extension(path: Path) -> dict:
    img = nib.load(str(path))
    return json.loads(img.header.extensions[0].get_content())


@pytest.mark.parametrize("rel, fmt, dwell, mhz, points", CASES, ids=["philips35_lowercase", "philips30", "rda", "ima", "xa60"])
def test_convert_real_files(shared_data, tmp_path, rel, fmt, dwell, mhz, points):
    out = tmp_path / "sub-01_acq-press_voi-ACC_svs.nii.gz"
    mrs = convert(shared_data / rel, fmt, out)
    assert mrs.fid.shape == (points,)
    assert mrs.dwell_s == pytest.approx(dwell, rel=1e-6)
    assert mrs.spectrometer_mhz == pytest.approx(mhz, abs=1e-6)
    back = nifti_mrs.read(out)
    assert back.fid.shape == (points,)
    assert back.dwell_s == pytest.approx(dwell, rel=1e-6)
    assert back.spectrometer_mhz == pytest.approx(mhz, abs=1e-6)
    assert back.header["EchoTime"] == pytest.approx(0.035 if "35" in rel else 0.030)
    ext = _extension(out)
    for key in IDENTIFYING:
        assert key not in ext, f"{key} must be stripped"
    assert ext["ConversionMethod"].startswith("spec2nii")
    validate_nifti_mrs(NIFTI_MRS(str(out)))
    # The signal is real data: a decaying FID, not zeros.
    assert np.abs(back.fid[:16]).mean() > 5 * np.abs(back.fid[-256:]).mean()


def test_identifiers_present_in_raw_spec2nii_output_are_removed(shared_data, tmp_path):
    """The check above is meaningful: spec2nii itself writes the patient fields for the RDA."""
    raw_dir = tmp_path / "raw"
    subprocess.run(spec2nii_command("rda", shared_data / RDA, raw_dir, "raw"), check=True, capture_output=True)
    raw = _extension(raw_dir / "raw.nii.gz")
    assert {"PatientName", "PatientID", "ConversionTime", "OriginalFile"} <= set(raw)
    out = tmp_path / "clean.nii.gz"
    convert(shared_data / RDA, "rda", out)
    clean = _extension(out)
    assert not {"PatientName", "PatientID", "ConversionTime", "OriginalFile"} & set(clean)
    # Same samples as spec2nii wrote (complex64 on both sides).
    np.testing.assert_array_equal(
        np.asarray(nib.load(str(out)).dataobj).ravel(), np.asarray(nib.load(str(raw_dir / "raw.nii.gz")).dataobj).ravel()
    )


def test_rda_and_dicom_of_the_same_scan_agree(shared_data, tmp_path):
    rda = convert(shared_data / RDA, "rda", tmp_path / "rda.nii.gz")
    ima = convert(shared_data / IMA, "dicom", tmp_path / "ima.nii.gz")
    a, b = rda.fid, ima.fid
    corr = abs(np.vdot(a, b)) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert corr > 0.999


def test_conversion_is_byte_deterministic(shared_data, tmp_path):
    first = convert(shared_data / PHILIPS_TE35, "philips", tmp_path / "a.nii.gz")
    convert(shared_data / PHILIPS_TE35, "philips", tmp_path / "b.nii.gz")
    assert first.fid.size == 2048
    assert (tmp_path / "a.nii.gz").read_bytes() == (tmp_path / "b.nii.gz").read_bytes()


def test_philips_without_spar(shared_data, tmp_path):
    lone = tmp_path / "lone.sdat"
    lone.write_bytes((shared_data / PHILIPS_TE35).read_bytes())
    with pytest.raises(InputError) as info:
        convert(lone, "philips", tmp_path / "x.nii.gz")
    assert info.value.field == "SPAR" and str(lone) in str(info.value)


def test_truncated_vendor_file(shared_data, tmp_path):
    bad = tmp_path / "cut.rda"
    bad.write_bytes((shared_data / RDA).read_bytes()[:4000])
    with pytest.raises(InputError) as info:
        convert(bad, "rda", tmp_path / "x.nii.gz")
    assert info.value.field == "spec2nii" and str(bad) in str(info.value)
    assert not (tmp_path / "x.nii.gz").exists()


def test_unknown_format_and_wrong_suffix(tmp_path):
    src = tmp_path / "scan.rda"
    src.write_bytes(b"x")
    with pytest.raises(InputError, match="not a supported format"):
        convert(src, "bruker", tmp_path / "x.nii.gz")
    with pytest.raises(InputError, match="expects a .sdat file"):
        convert(src, "philips", tmp_path / "x.nii.gz")


def _naa_side(mrs) -> float:
    """Ratio of NAA+Cr peak prominence at their true ppm to that at their mirror images about
    4.65 ppm, in the project's convention (spectrum = fftshift(fft(fid)), ppm = 4.65 + f/MHz)."""
    from scipy.ndimage import median_filter

    from painmrs.processing.water_removal import water_component

    water, _ = water_component(mrs, (4.2, 5.1), 25, 512)
    n = mrs.n_points
    fid = (mrs.fid - water) * np.exp(-np.arange(n) * mrs.dwell_s * np.pi * 4.0)
    mag = np.abs(np.fft.fftshift(np.fft.fft(fid)))
    ppm = 4.65 + np.fft.fftshift(np.fft.fftfreq(n, mrs.dwell_s)) / mrs.spectrometer_mhz
    width = int(round(0.4 * mrs.spectrometer_mhz * n * mrs.dwell_s)) | 1
    prominence = mag - median_filter(mag, width)

    def peaks(windows):
        return sum(prominence[(ppm > lo) & (ppm < hi)].max() for lo, hi in windows)

    true = peaks([(1.9, 2.15), (2.9, 3.1)])
    mirrored = peaks([(9.3 - 2.15, 9.3 - 1.9), (9.3 - 3.1, 9.3 - 2.9)])
    return true / max(mirrored, 1e-30)


@pytest.mark.parametrize("rel, fmt", [(PHILIPS_TE35, "philips"), (RDA, "rda")], ids=["philips", "rda"])
def test_converted_spectrum_has_naa_at_2ppm(shared_data, tmp_path, rel, fmt):
    """NIfTI-MRS stores data in the right-handed frame, which readers conjugate (as the
    nifti-mrs package and FSL-MRS do): read back, NAA and Cr sit at 2.0 and 3.0 ppm, not
    at their mirror images (7.3 and 6.3 ppm) -- the ratio was 70-300 the other way round
    before painmrs.io.nifti_mrs conjugated."""
    convert(shared_data / rel, fmt, tmp_path / "x.nii.gz")
    assert _naa_side(nifti_mrs.read(tmp_path / "x.nii.gz")) > 5.0
