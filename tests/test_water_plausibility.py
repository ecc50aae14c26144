"""Is the water reference water? (issue 14) On real data: every real pair in shared/data is
accepted with its measured water peak; the metabolite file given as its own water reference,
a copy of it, or the two files swapped are refused, by ``painmrs fit`` as by the inventory
(tests/test_bad_input_corpus.py has the study cases)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from painmrs.cli import main
from painmrs.errors import InputError
from painmrs.io import nifti_mrs
from painmrs.study.plausibility import MIN_WATER_TO_RESIDUAL, check_water_reference

pytestmark = pytest.mark.real_data

PRISMA = "real/siemens_prisma_3T"
PHILIPS = "real/philips_press_3T/press_te35/sub-{s}/ses-01/mrs/sub-{s}_ses-01_press{ref}/sub-{s}_PRESS_35_{kind}"


def _prisma_pair(shared_data: Path, kind: str, sub: int) -> tuple[Path, Path]:
    acq = {"slaser_te30": "slaser", "megapress_te68_off": "megaoff"}[kind]
    folder = shared_data / PRISMA / kind / f"sub-00{sub}"
    return folder / f"sub-00{sub}_acq-{acq}_svs.nii.gz", folder / f"sub-00{sub}_acq-{acq}_mrsref.nii.gz"


@pytest.fixture(scope="module")
def philips(shared_data, tmp_path_factory):
    """Philips 3T PRESS TE 35 (both volunteers), converted with spec2nii: {sub: (act, ref)}."""
    exe = shutil.which("spec2nii")
    if exe is None:
        pytest.skip("spec2nii not installed")
    out = tmp_path_factory.mktemp("philips")
    pairs = {}
    for s in ("01", "02"):
        files = []
        for kind, ref in (("act", ""), ("ref", "-ref")):
            base = shared_data / PHILIPS.format(s=s, ref=ref, kind=kind)
            subprocess.run([exe, "philips", "-o", str(out), "-f", f"{s}_{kind}", f"{base}.sdat", f"{base}.spar"],
                           check=True, capture_output=True)
            files.append(out / f"{s}_{kind}.nii.gz")
        pairs[s] = tuple(files)
    return pairs


# measured water peak of each real reference (ppm +- one spectral point, water/residual ratio)
PRISMA_CASES = [("slaser_te30", s) for s in range(1, 6)] + [("megapress_te68_off", s) for s in range(1, 6)]


@pytest.mark.parametrize("kind, sub", PRISMA_CASES, ids=[f"{k}-{s}" for k, s in PRISMA_CASES])
def test_real_siemens_water_references_are_accepted(shared_data, kind, sub):
    svs, ref = _prisma_pair(shared_data, kind, sub)
    found = check_water_reference(nifti_mrs.read(ref), nifti_mrs.read(svs))
    # Prisma 3T, VAPOR-type suppression: water 4.63-4.65 ppm, 5,900-12,800 x the residual water,
    # 7-13 Hz magnitude FWHM
    assert 4.62 <= found["ppm"] <= 4.66
    assert 5000 <= found["water_to_residual"] <= 15000
    assert 5 <= found["fwhm_hz"] <= 15


def test_real_philips_water_references_are_accepted(philips):
    for act, ref in philips.values():
        found = check_water_reference(nifti_mrs.read(ref), nifti_mrs.read(act))
        # weak suppression on this TE 35 protocol: water only 36-40 x the residual (still > 5)
        assert found["ppm"] == pytest.approx(4.658, abs=0.01)
        assert 30 <= found["water_to_residual"] <= 50 and found["water_to_residual"] > MIN_WATER_TO_RESIDUAL
        assert 12 <= found["fwhm_hz"] <= 20


def test_real_swapped_files_are_refused(shared_data, philips):
    svs, ref = _prisma_pair(shared_data, "slaser_te30", 1)
    with pytest.raises(InputError) as info:  # processed sLASER: NAA is the tallest peak
        check_water_reference(nifti_mrs.read(svs), nifti_mrs.read(ref))
    assert (info.value.path, info.value.field) == (str(svs), "water reference")
    assert info.value.message.startswith("not water: its dominant peak is at 2.01 ppm, not within 0.4 ppm of water (4.65 ppm)")
    act, ref = philips["01"]
    with pytest.raises(InputError) as info:  # raw Philips: residual water dominates the act file
        check_water_reference(nifti_mrs.read(act), nifti_mrs.read(ref))
    assert info.value.message.startswith(
        f"not an unsuppressed water reference: its water peak is 0.0279 x the residual water of its scan {ref}")


@pytest.mark.parametrize("copy", [False, True], ids=["same_file", "copy"])
def test_fit_refuses_the_metabolite_file_as_its_water_reference(tmp_path, capsys, philips, copy):
    """`painmrs fit --data X --water X` printed tNAA 2,730 mM, exit 0 (issue 14)."""
    act = philips["01"][0]
    water = act
    if copy:
        water = tmp_path / "water_copy.nii.gz"
        shutil.copyfile(act, water)
    code = main(["fit", "--data", str(act), "--water", str(water), "--basis", str(tmp_path / "unused"),
                 "--out", str(tmp_path / "out"), "--no-figure"])
    err = capsys.readouterr().err
    assert code == 2
    if copy:
        expected = (f"painmrs fit: error: {water}, field 'water reference': not an unsuppressed water reference: its "
                    f"water peak is 1 x the residual water of its scan {act} (at least 5 x expected)")
    else:
        expected = (f"painmrs fit: error: {act}, field 'water reference': is the metabolite scan itself ({act}), "
                    "not a water reference")
    assert expected in err, err
    assert not (tmp_path / "out").exists()


def test_processed_spectrum_as_water_is_refused_by_fit(tmp_path, capsys, shared_data):
    """The issue's case: a processed (water-removed) spectrum fitted as "water" at 2.009 ppm."""
    svs, _ = _prisma_pair(shared_data, "slaser_te30", 2)
    water = tmp_path / "sub-002_acq-slaser_mrsref.nii.gz"
    shutil.copyfile(svs, water)
    code = main(["fit", "--data", str(svs), "--water", str(water), "--basis", str(tmp_path / "unused"),
                 "--out", str(tmp_path / "out"), "--no-figure"])
    err = capsys.readouterr().err
    assert code == 2
    assert (f"painmrs fit: error: {water}, field 'water reference': not water: its dominant peak is at 2.01 ppm, "
            "not within 0.4 ppm of water (4.65 ppm): a water-suppressed or processed metabolite file?") in err, err


def test_process_refuses_a_swapped_pair(tmp_path, capsys, philips):
    """`painmrs process` checks the water reference as the workflow's inventory does."""
    act, ref = philips["02"]
    code = main(["process", "--metab", str(ref), "--water", str(act), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert (f"painmrs process: error: {act}, field 'water reference': not an unsuppressed water reference: its water "
            f"peak is 0.0247 x the residual water of its scan {ref}") in err, err
    assert not (tmp_path / "out").exists()
