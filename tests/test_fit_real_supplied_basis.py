"""Real Siemens Prisma 3 T spectra fitted with the FSL-MRS bases their authors used (issue 13,
items 2 and 5): five volunteers' sLASER TE 30 and MEGA-PRESS TE 68 edit-OFF spectra with
``../shared/data/basis/fslmrs_siemens_prisma_3T/{slaser_te30,megapress_te68_off}``.

Before the basis check these files were read mirrored about 4.65 ppm (their FIDs are stored
in the other conjugation convention from the one painmrs assumed for FSL-MRS JSON): NAA, tCho
and mI came out 0 and every lineshape/shift parameter at its bound. Now the check conjugates
them (recorded in ``_fit.json``), drops ``H2O`` and fits ``Mac`` as the MM.

Healthy ranges (molar ratios to tCr), from facts.md section 1.2 B (GUD2023 random-effects
meta-analysis, healthy adults, mean +- SD in IU ~ mM): tNAA 11.27 +- 3.83, tCr 10.17 +- 2.38,
tCho 2.58 +- 0.86, mI 5.83 +- 1.87, Glx 11.51 +- 4.19. Range = ratio of the means x
exp(+-2 sqrt(CV_x^2 + CV_tCr^2)), the 95 % interval of the ratio of two independent
log-normal concentrations (computed in :data:`HEALTHY_RATIO_TCR`): tNAA/tCr 0.49-2.53,
tCho/tCr 0.11-0.57, mI/tCr 0.26-1.27, Glx/tCr 0.48-2.69. (Independence makes them wide:
within-subject ratios vary less than concentrations.) tNAA CRLB < 5 %.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from painmrs.basis.readers import load_basis
from painmrs.basis.registration import register_basis
from painmrs.cli import main as painmrs
from painmrs.errors import InputError
from painmrs.fitting._threads import limit_blas_threads

limit_blas_threads(1)

_CONC = {"tNAA": (11.27, 3.83), "tCho": (2.58, 0.86), "mI": (5.83, 1.87), "Glx": (11.51, 4.19)}
_TCR = (10.17, 2.38)
HEALTHY_RATIO_TCR = {
    name: tuple(m / _TCR[0] * math.exp(k * 2 * math.hypot(s / m, _TCR[1] / _TCR[0])) for k in (-1, 1))
    for name, (m, s) in _CONC.items()
}
SUBJECTS = ("sub-001", "sub-002", "sub-003", "sub-004", "sub-005")
SETS = {  # data folder, acq label, TE ms, basis folder
    "slaser": ("slaser_te30", "slaser", 30),
    "megaoff": ("megapress_te68_off", "megaoff", 68),
}
pytestmark = pytest.mark.real_data


def _paths(shared, kind, subject):
    folder, acq, te = SETS[kind]
    scan = shared / "real" / "siemens_prisma_3T" / folder / subject / f"{subject}_acq-{acq}"
    return scan, shared / "basis" / "fslmrs_siemens_prisma_3T" / folder, te


def test_healthy_ranges_are_the_stated_ones():
    expected = {"tNAA": (0.49, 2.53), "tCho": (0.11, 0.57), "mI": (0.26, 1.27), "Glx": (0.48, 2.69)}
    for name, (lo, hi) in expected.items():
        assert HEALTHY_RATIO_TCR[name] == pytest.approx((lo, hi), abs=0.006)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SETS))
def test_five_volunteers_with_their_fsl_mrs_basis_give_healthy_ratios(shared_data, tmp_path, kind, capsys):
    rows = []
    for subject in SUBJECTS:
        scan, basis_dir, te = _paths(shared_data, kind, subject)
        out = tmp_path / subject
        # exactly the command of issue 13 (which exited 0 with tNAA/tCr 3.67, tCho 0, mI 0)
        assert painmrs(["fit", "--data", f"{scan}_svs.nii.gz", "--water", f"{scan}_mrsref.nii.gz",
                        "--basis", str(basis_dir), "--te", str(te), "--no-figure", "--name", subject,
                        "--out", str(out)]) == 0
        table = pd.read_csv(out / f"{subject}_fit.tsv", sep="\t", na_values="n/a").set_index("metabolite")
        check = json.loads((out / f"{subject}_fit.json").read_text())["basis_check"]
        assert check["dropped"] == ["H2O"] and "NAA" in check["conjugated"]
        assert all(abs(v) < 2.0 for v in check["against_data"]["data_minus_basis_hz"].values()), check
        assert "H2O" not in table.index
        ratios = {n: table.loc[n, "ratio_tCr"] for n in HEALTHY_RATIO_TCR}
        rows.append((subject, ratios, table.loc["tNAA", "crlb_pct"]))
    with capsys.disabled():
        print(f"\n{kind} with the FSL-MRS basis: " + "; ".join(
            f"{s} " + " ".join(f"{n}/tCr={v:.2f}" for n, v in r.items()) + f" tNAA CRLB {c:.1f}%" for s, r, c in rows))
    for subject, ratios, crlb in rows:
        assert crlb < 5.0, (subject, crlb)
        for name, (lo, hi) in HEALTHY_RATIO_TCR.items():
            assert lo <= ratios[name] <= hi, (kind, subject, name, ratios[name])


def _copy_basis(src, dest, change):
    """The FSL-MRS JSON files of ``src`` with each stored FID replaced by ``change(fid, dwell, mhz)``."""
    dest.mkdir()
    for f in sorted(src.glob("*.json")):
        doc = json.loads(f.read_text())
        b = doc["basis"]
        fid = change(np.asarray(b["basis_re"]) + 1j * np.asarray(b["basis_im"]), b["basis_dwell"], b["basis_centre"])
        b["basis_re"], b["basis_im"] = fid.real.tolist(), fid.imag.tolist()
        (dest / f.name).write_text(json.dumps(doc))
    return dest


@pytest.mark.slow
def test_either_convention_and_a_shifted_copy_give_the_same_basis_or_are_refused(shared_data, tmp_path):
    from painmrs.jobs.basis import build_basis

    scan, basis_dir, _ = _paths(shared_data, "slaser", "sub-004")
    given = register_basis(load_basis(basis_dir))  # the supplied files: repaired (conjugated)
    flipped = _copy_basis(basis_dir, tmp_path / "conj", lambda fid, dw, mhz: np.conj(fid))
    other = register_basis(load_basis(flipped))  # stored in the convention painmrs assumed
    assert "conjugated" not in other.meta["basis_check"]
    np.testing.assert_allclose(other.fids, given.fids, atol=1e-12 * np.abs(given.fids).max())

    def shift(fid, dwell, mhz):  # 0.1 ppm off (in the stored frame, mirrored when read)
        return fid * np.exp(2j * np.pi * 0.1 * mhz * dwell * np.arange(fid.size))

    shifted = _copy_basis(basis_dir, tmp_path / "shifted", shift)
    sequence = {"sequence": "sLASER", "te_ms": 30, "basis": str(shifted)}
    build_basis(sequence, f"{scan}_svs.nii.gz", tmp_path / "built", acq="slaser")
    built = load_basis(tmp_path / "built")
    check = built.meta["basis_check"]
    assert check["dropped"] == ["H2O"] and "NAA" in check["conjugated"]
    assert check["shift_hz"] == pytest.approx(-0.1 * given.spectrometer_mhz, abs=0.5)
    assert "MM" in built.names and "MM_3T" not in built.names  # the measured Mac is the MM
    assert abs(check["singlets_ppm"]["NAA"] - given.meta["basis_check"]["singlets_ppm"]["NAA"]) < 0.002

    with pytest.raises(InputError) as err:
        build_basis({**sequence, "basis_repair": "refuse"}, f"{scan}_svs.nii.gz", tmp_path / "refused", acq="slaser")
    assert err.value.path == str(shifted) and err.value.field.startswith("sequences.slaser.basis (basis orientation")
    assert "stored in the other conjugation convention" in err.value.message
    # upright (registration passes) and refuse: accepted; upright but 0.1 ppm off: refused
    build_basis({**sequence, "basis": str(flipped), "basis_repair": "refuse"}, f"{scan}_svs.nii.gz",
                tmp_path / "upright", acq="slaser")
    off = _copy_basis(flipped, tmp_path / "off", lambda fid, dw, mhz: np.conj(shift(np.conj(fid), dw, mhz)))
    with pytest.raises(InputError) as err:
        build_basis({**sequence, "basis": str(off), "basis_repair": "refuse"}, f"{scan}_svs.nii.gz",
                    tmp_path / "refused2", acq="slaser")
    assert err.value.path == str(off) and err.value.field == "sequences.slaser.basis (basis ppm registration)"
    assert "+12.3 Hz (+0.100 ppm) from their nominal shifts" in err.value.message
