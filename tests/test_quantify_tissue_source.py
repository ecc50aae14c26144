"""Tissue source of the water scaling: segmentation | assumed (quantify.assumed_fractions) | refuse."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from painmrs.errors import InputError
from painmrs.quantify.concentrations import QuantOptions
from painmrs.quantify.table import REFUSED_FRACTIONS_WARNING, fit_table


def _fit():
    rows = [("NAA", 10.0, 0.3), ("tCr", 8.0, 0.2)]
    return SimpleNamespace(rows=lambda: rows, snr=40.0, fwhm_hz=6.0, spectrometer_mhz=123.2, fit_quality=1.0)


KW = dict(water_area=1000.0, proton_unit=1.0, te_s=0.03, tr_s=2.0)


def test_tissue_source_recorded_and_assumed_fractions_configurable():
    seg = fit_table([("press", _fit())], fractions={"GM": 0.6, "WM": 0.3, "CSF": 0.1}, **KW)
    assumed = fit_table([("press", _fit())], fractions=None, **KW)
    assert set(seg["tissue_source"]) == {"segmentation"} and set(assumed["tissue_source"]) == {"assumed"}
    # the default assumption (GM 0.5 / WM 0.5 / CSF 0) equals a segmentation giving those values
    same = fit_table([("press", _fit())], fractions={"GM": 0.5, "WM": 0.5, "CSF": 0.0}, **KW)
    assert assumed["conc_mM"].to_numpy() == pytest.approx(same["conc_mM"].to_numpy(), rel=1e-12)
    # another assumption: CSF 0.2 raises the molar concentration by 1/(1-0.2) (tissue water ratio aside)
    other = fit_table([("press", _fit())], fractions=None,
                      quant=QuantOptions(assumed_fractions={"GM": 0.4, "WM": 0.4, "CSF": 0.2}), **KW)
    assert np.all(other["conc_mM"].to_numpy() != assumed["conc_mM"].to_numpy())


def test_refuse_gives_no_water_scaled_values_but_ratios():
    t = fit_table([("press", _fit())], fractions=None, quant=QuantOptions(assumed_fractions="refuse"), **KW)
    assert t["conc_mM"].isna().all() and t["conc_molal"].isna().all()
    assert t.set_index("metabolite").loc["NAA", "ratio_tCr"] == pytest.approx(10.0 / 8.0)
    assert set(t["warnings"]) == {REFUSED_FRACTIONS_WARNING} and set(t["tissue_source"]) == {"none"}
    with_seg = fit_table([("press", _fit())], fractions={"GM": 0.6, "WM": 0.3, "CSF": 0.1},
                         quant=QuantOptions(assumed_fractions="refuse"), **KW)
    assert with_seg["conc_mM"].notna().all()


def test_bad_assumed_fractions_refused():
    with pytest.raises(InputError, match="quantify.assumed_fractions"):
        QuantOptions(assumed_fractions="guess")
    with pytest.raises(InputError, match="quantify.assumed_fractions"):
        QuantOptions(assumed_fractions={"GM": 0.9, "WM": 0.9, "CSF": 0.0})


def test_fit_table_names_its_own_verdict_fit_qc_pass():
    # qc_pass is kept for the study table's final inclusion only (metabolites.tsv)
    t = fit_table([("press", _fit())], fractions=None, **KW)
    assert "fit_qc_pass" in t.columns and "qc_pass" not in t.columns and t["fit_qc_pass"].all()
