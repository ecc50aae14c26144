"""The SLURM profile's job groups and per-rule resources name rules that exist (a group for a
rule name that no rule has is silently ignored by Snakemake)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _rules() -> set[str]:
    names = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        names |= set(re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", smk.read_text(), re.M))
    return names


def test_profile_groups_match_rules():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    rules = _rules()
    assert {"process_batch", "fit_batch"} <= rules
    groups = dict(entry.split("=", 1) for entry in profile["groups"])
    assert set(groups) <= rules, sorted(set(groups) - rules)
    assert groups["process_batch"] == groups["fit_batch"] == "batch"
    components = dict(entry.split("=", 1) for entry in profile["group-components"])
    assert set(components) <= set(groups.values()), sorted(set(components) - set(groups.values()))
    assert set(profile["set-resources"]) <= rules
