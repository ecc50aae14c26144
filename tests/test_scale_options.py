"""Options that keep the full-size study fast and powered: execution.scan_figures, the design's
protocol max_subjects, and the recovery's choice of the edited acquisition for GABA+."""

from __future__ import annotations

import collections
from pathlib import Path

import pandas as pd
import pytest

from painmrs.demo.design import load_design
from painmrs.demo.plan import build_plan
from painmrs.errors import InputError
from painmrs.stats.recovery import _pick_acq
from painmrs.jobs.scans import figure_scans

DESIGN = Path(__file__).resolve().parents[1] / "config" / "demo" / "design.yaml"


@pytest.mark.parametrize(
    "mode, expected", [("all", {"a", "b", "c"}), ("first_per_batch", {"a"}), ("none", set())]
)
def test_figure_scans_modes(mode, expected):
    assert figure_scans(["a", "b", "c"], mode) == expected


def test_figure_scans_default_is_all_and_bad_mode_names_the_field():
    from painmrs.configuration import study_options

    assert figure_scans(["x", "y"]) == {"x", "y"}
    assert study_options({}).execution.scan_figures == "all"
    for bad in (lambda: figure_scans(["x"], "some"),
                lambda: study_options({"execution": {"scan_figures": "some"}}, "study.yaml")):
        with pytest.raises(InputError) as err:
            bad()
        assert err.value.field == "execution.scan_figures"


def test_protocol_max_subjects_scans_only_the_first_subjects_of_a_group():
    design = load_design(DESIGN, "full")
    size = design.size
    plan = build_plan(design)
    subjects = {s.participant_id: s for s in plan.subjects}
    cross = collections.Counter(
        (subjects[s.subject].group, s.region, s.acq)
        for s in plan.scans
        if subjects[s.subject].study == "crosssectional"
    )
    for entry in size["protocol"]:
        for g in entry["groups"]:
            want = min(size["groups"][g], (entry.get("max_subjects") or {}).get(g, size["groups"][g]))
            for r in entry["regions"]:
                assert cross[(g, r, entry["acq"])] == want, (g, r, entry["acq"])
    # the first HC subjects get the limited entries, later ones not
    acc = {s.subject for s in plan.scans if s.region == "ACC" and s.acq == "press" and s.group == "HC"}
    assert "HC001" in acc and "HC080" in acc and "HC081" not in acc
    assert len(plan.scans) >= 1000


def test_gaba_plus_recovery_prefers_the_edited_acquisition():
    rows = pd.DataFrame(
        {"acq": ["press", "megapress"], "metabolite": ["GABA+", "GABA+"], "diff_adj_pct": [30.0, 9.0]}
    )
    assert _pick_acq(rows)["acq"].tolist() == ["megapress"]
    naa = rows.assign(metabolite="NAA")
    assert _pick_acq(naa)["acq"].tolist() == ["press"]
