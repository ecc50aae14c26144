"""NIfTI-MRS round trips, validator compliance and clear errors on bad files."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pytest
from nifti_mrs.nifti_mrs import NIFTI_MRS
from nifti_mrs.validator import validate_nifti_mrs

from painmrs.errors import InputError
from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData


def _example(shape=(1024, 4, 8), tags=("DIM_COIL", "DIM_DYN")) -> MRSData:
    rng = np.random.default_rng(1)
    fid = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    affine = np.diag([20.0, 20.0, 20.0, 1.0])
    affine[:3, 3] = [-5.0, 12.0, 30.0]
    return MRSData(
        fid=fid,
        dwell_s=1 / 2000,
        spectrometer_mhz=123.2,
        dim_tags=tags,
        affine=affine,
        header={"EchoTime": 0.03, "RepetitionTime": 2.0, "PatientName": "CANARY-NAME"},
    )


def test_round_trip_preserves_data_axes_and_header(tmp_path):
    mrs = _example()
    path = nifti_mrs.write(mrs, tmp_path / "a.nii.gz")
    back = nifti_mrs.read(path)
    # complex64 storage: relative error bounded by float32 epsilon
    assert np.max(np.abs(back.fid - mrs.fid)) < 1e-6 * np.max(np.abs(mrs.fid))
    assert back.dim_tags == ("DIM_COIL", "DIM_DYN")
    assert back.dwell_s == pytest.approx(1 / 2000, rel=1e-6)
    assert back.spectrometer_mhz == pytest.approx(123.2)
    assert back.echo_time_s == pytest.approx(0.03)
    np.testing.assert_allclose(back.voxel_size_mm, [20, 20, 20])
    np.testing.assert_allclose(back.affine[:3, 3], [-5, 12, 30])
    assert "PatientName" not in back.header  # identifying keys are never written


def test_written_files_pass_the_nifti_mrs_validator(tmp_path):
    for shape, tags in [((512,), ()), ((512, 8), ("DIM_COIL",)), ((512, 2, 4, 3), ("DIM_COIL", "DIM_DYN", "DIM_EDIT"))]:
        path = nifti_mrs.write(_example(shape, tags), tmp_path / f"v{len(shape)}.nii.gz")
        validate_nifti_mrs(NIFTI_MRS(str(path)))


def test_writes_are_byte_deterministic(tmp_path):
    a = nifti_mrs.write(_example(), tmp_path / "a.nii.gz").read_bytes()
    b = nifti_mrs.write(_example(), tmp_path / "b.nii.gz").read_bytes()
    assert a == b


def test_processing_history_is_recorded(tmp_path):
    mrs = _example()
    step = mrs.with_step(mrs.fid.mean(axis=2), "Signal averaging", {"n": 8}, dim_tags=("DIM_COIL",))
    back = nifti_mrs.read(nifti_mrs.write(step, tmp_path / "s.nii.gz"))
    (entry,) = back.processing_history
    assert entry["Method"] == "Signal averaging"
    assert json.loads(entry["Details"]) == {"n": 8}
    assert mrs.processing_history == ()  # the input is untouched


def test_ppm_axis_places_naa_at_2008(tmp_path):
    n, dwell, cf = 2048, 1 / 2000, 123.2
    t = np.arange(n) * dwell
    f = (2.008 - 4.65) * cf
    mrs = MRSData(fid=np.exp(2j * np.pi * f * t - t / 0.1), dwell_s=dwell, spectrometer_mhz=cf)
    peak = mrs.ppm[np.argmax(np.abs(mrs.spectrum()))]
    assert peak == pytest.approx(2.008, abs=1 / (n * dwell) / cf)


@pytest.mark.parametrize(
    "corrupt, field",
    [
        ("truncate", None),
        ("plain_nifti", "intent_name"),
        ("no_extension", "header extension"),
        ("bad_json", "header extension"),
        ("nan_data", "data"),
        ("zero_dwell", "dwell time"),
        ("missing_tag", "dim_5"),
        ("no_frequency", "SpectrometerFrequency"),
    ],
)
def test_bad_files_raise_errors_naming_file_and_field(tmp_path, corrupt, field):
    path = nifti_mrs.write(_example((256, 2), ("DIM_COIL",)), tmp_path / "good.nii.gz")
    bad = tmp_path / "bad.nii.gz"
    img = nib.load(path)
    data = np.asanyarray(img.dataobj)
    ext = json.loads(img.header.extensions[0].get_content())
    if corrupt == "truncate":
        bad.write_bytes(path.read_bytes()[:200])
    else:
        hdr = img.header.copy()
        if corrupt == "plain_nifti":
            hdr.set_intent("none", (), name="")
        if corrupt in ("no_extension", "bad_json", "missing_tag", "no_frequency"):
            hdr.extensions.clear()
            if corrupt == "bad_json":
                hdr.extensions.append(nib.nifti1.Nifti1Extension(44, b"{not json"))
            elif corrupt == "missing_tag":
                ext.pop("dim_5")
                hdr.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(ext).encode()))
            elif corrupt == "no_frequency":
                ext.pop("SpectrometerFrequency")
                hdr.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(ext).encode()))
        if corrupt == "nan_data":
            data = data.copy()
            data[0, 0, 0, 3, 0] = np.nan
        if corrupt == "zero_dwell":
            pix = hdr["pixdim"]
            pix[4] = 0
            hdr["pixdim"] = pix
        nib.save(nib.Nifti2Image(data, img.affine, hdr), bad)
    with pytest.raises(InputError) as err:
        nifti_mrs.read(bad)
    assert str(bad) in str(err.value)
    if field:
        assert field in str(err.value)
