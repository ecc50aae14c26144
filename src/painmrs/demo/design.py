"""The demo-study design (config/demo/design.yaml): loading, checking and small look-ups.

The design is kept as the parsed YAML mapping (it transcribes facts.md §6 key for key) and
checked here for the cross-references the simulator relies on; every problem raises
``InputError(<file>, <dotted key>, ...)``.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import InputError

ACQS = ("press", "megapress")
# Combination names -> components (DEVELOPERS.md). "Cho" in facts.md is tCho.
COMBINATIONS = {
    "tNAA": ("NAA", "NAAG"),
    "tCr": ("Cr", "PCr"),
    "tCho": ("GPC", "PCh"),
    "Cho": ("GPC", "PCh"),
    "Glx": ("Glu", "Gln"),
    "GABA+": ("GABA", "MM30"),
}
REPORTED_COMBINATIONS = ("tNAA", "tCr", "tCho", "Glx", "GABA+")
SCORES = ("pain_nrs", "pain_vas", "attacks_per_month", "disease_years", "ODI")
STUDY_KINDS = {"acupuncture": "parallel", "spinal_manipulation": "parallel", "oxytocin": "crossover"}


class Design(dict):
    """The parsed design mapping plus the file it came from and the chosen size."""

    path: str
    size_name: str

    @property
    def size(self) -> Mapping[str, Any]:
        return self["sizes"][self.size_name]


def load_design(path: str | os.PathLike, size: str = "demo") -> Design:
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise InputError(src, None, "design file does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(src, None, f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(src, None, "design must be a YAML mapping")
    design = Design(copy.deepcopy(raw))
    design.path = src
    sizes = design.get("sizes")
    if not isinstance(sizes, dict) or size not in sizes:
        known = ", ".join(sorted(sizes)) if isinstance(sizes, dict) else "none"
        raise InputError(src, f"sizes.{size}", f"unknown study size {size!r} (known: {known})")
    design.size_name = size
    check_design(design)
    return design


def _need(design: Design, dotted: str, kind=dict):
    node: Any = design
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError(design.path, dotted, "missing")
        node = node[part]
    if kind is not None and not isinstance(node, kind):
        raise InputError(design.path, dotted, f"must be a {getattr(kind, '__name__', kind)}")
    return node


def check_design(design: Design) -> None:
    src = design.path
    for key in (
        "acquisition.press",
        "acquisition.megapress",
        "acquisition.water_ref",
        "acquisition.nuisance",
        "lineshape",
        "snr_target",
        "relaxation_3T.T2",
        "relaxation_3T.T1_s",
        "tissue_water",
        "baseline_GM_mM",
        "between_subject_cv",
        "regions",
        "groups",
        "group_effects_pct_vs_HC",
        "covariate_effects.age_per_decade_pct",
        "macromolecules.edited_3ppm",
    ):
        _need(design, key)
    _need(design, "pain_coupling", list)
    control = design.get("control_group", "HC")
    groups = design["groups"]
    if control not in groups:
        raise InputError(src, "control_group", f"{control!r} is not a declared group")
    regions = design["regions"]
    for name, reg in regions.items():
        if not str(name).isalnum():
            raise InputError(src, f"regions.{name}", "region labels must be alphanumeric (BIDS)")
        fr = [reg.get(k) for k in ("fGM", "fWM", "fCSF")]
        if any(not isinstance(x, (int, float)) or x < 0 for x in fr) or abs(sum(fr) - 1) > 1e-6:
            raise InputError(src, f"regions.{name}", f"fGM+fWM+fCSF must be non-negative and sum to 1, got {fr}")
    for g, spec in groups.items():
        label = spec.get("label", g)
        if not str(label).isalnum():
            raise InputError(src, f"groups.{g}.label", "subject label prefix must be alphanumeric")
        for k in ("n", "age", "female_frac"):
            if k not in spec:
                raise InputError(src, f"groups.{g}.{k}", "missing")
    metabolites = design["baseline_GM_mM"]
    known_metabs = set(metabolites) | set(COMBINATIONS) | {"MM30"}
    for g, per_region in design["group_effects_pct_vs_HC"].items():
        if g not in groups:
            raise InputError(src, f"group_effects_pct_vs_HC.{g}", "unknown group")
        for r, shifts in per_region.items():
            if r not in regions:
                raise InputError(src, f"group_effects_pct_vs_HC.{g}.{r}", "unknown region")
            for m in shifts:
                if m not in known_metabs:
                    raise InputError(src, f"group_effects_pct_vs_HC.{g}.{r}.{m}", "unknown metabolite")
    for i, c in enumerate(design["pain_coupling"]):
        for k in ("group", "region", "metab", "score", "r"):
            if k not in c:
                raise InputError(src, f"pain_coupling[{i}].{k}", "missing")
        if c["group"] not in groups or c["region"] not in regions or c["metab"] not in known_metabs:
            raise InputError(src, f"pain_coupling[{i}]", f"unknown group, region or metabolite in {c}")
        if c["score"] not in SCORES:
            raise InputError(src, f"pain_coupling[{i}].score", f"unknown score {c['score']!r} (known: {SCORES})")
        if not -1 < float(c["r"]) < 1:
            raise InputError(src, f"pain_coupling[{i}].r", "must be in (-1, 1)")
    _check_size(design)


def _check_size(design: Design) -> None:
    """The chosen ``sizes.<name>`` section: group sizes, protocol, studies, acquisition overrides."""
    src = design.path
    groups = design["groups"]
    size = design.size
    where = f"sizes.{design.size_name}"
    for g, n in size.get("groups", {}).items():
        if g not in groups:
            raise InputError(src, f"{where}.groups.{g}", "unknown group")
        if not isinstance(n, int) or n < 0:
            raise InputError(src, f"{where}.groups.{g}", "must be a non-negative integer")
    for i, entry in enumerate(size.get("protocol", [])):
        _check_scan_entry(design, entry, f"{where}.protocol[{i}]")
    for study, spec in (size.get("studies") or {}).items():
        if study not in STUDY_KINDS or study not in design.get("treatment_studies", {}):
            raise InputError(src, f"{where}.studies.{study}", f"unknown treatment study (known: {sorted(STUDY_KINDS)})")
        for i, entry in enumerate(spec.get("scans", [])):
            _check_scan_entry(design, entry, f"{where}.studies.{study}.scans[{i}]")
    for acq in ACQS + ("water_ref",):
        ov = size.get("acquisition", {}).get(acq, {})
        for k, v in ov.items():
            if k not in ("n_transients", "n_coils") or not isinstance(v, int) or v < 1:
                raise InputError(
                    src, f"{where}.acquisition.{acq}.{k}", "must be n_transients or n_coils, a positive integer"
                )


def _check_scan_entry(design: Design, entry, where: str) -> None:
    if not isinstance(entry, dict) or entry.get("acq") not in ACQS:
        raise InputError(design.path, f"{where}.acq", f"must be one of {ACQS}")
    for r in entry.get("regions", []):
        if r not in design["regions"]:
            raise InputError(design.path, f"{where}.regions", f"unknown region {r!r}")
        allowed = design["regions"][r].get("sequences", list(ACQS))
        if entry["acq"] not in allowed:
            raise InputError(design.path, f"{where}.regions", f"{entry['acq']} not planned in region {r} ({allowed})")
    for g, n in (entry.get("max_subjects") or {}).items():
        if g not in design["groups"]:
            raise InputError(design.path, f"{where}.max_subjects.{g}", "unknown group")
        if not isinstance(n, int) or n < 0:
            raise InputError(design.path, f"{where}.max_subjects.{g}", "must be a non-negative integer")
    for g in entry.get("groups", []) or []:
        if g not in design["groups"]:
            raise InputError(design.path, f"{where}.groups", f"unknown group {g!r}")


# ---- look-ups --------------------------------------------------------------------------


def components(name: str) -> tuple[str, ...]:
    return COMBINATIONS.get(name, (name,))


def metabolite_key(design: Mapping, table: str, metab: str) -> str:
    """Key of ``metab`` in relaxation table ``T2``/``T1_s`` (own key, alias, or ``other``)."""
    rel = design["relaxation_3T"]
    values = rel[table]
    if metab in values:
        return metab
    alias = rel.get("T2_key" if table == "T2" else "T1_key", {}).get(metab)
    if alias in values:
        return alias
    if metab == "MM30" and "MM" in values:
        return "MM"
    return "other"


def gm_wm_ratio(design: Mapping, metab: str) -> float:
    ratios = design.get("gm_wm_ratio", {})
    if metab in ratios:
        return float(ratios[metab])
    for combo in ("tCr", "tCho", "Glx", "tNAA"):
        if metab in COMBINATIONS[combo] and combo in ratios:
            return float(ratios[combo])
    return 1.0


def between_subject_cv(design: Mapping, metab: str) -> float:
    cvs = design["between_subject_cv"]
    return float(cvs.get(metab, cvs.get("other", 0.10)))


def stream(seed: int, *key: str) -> np.random.Generator:
    """Independent RNG stream for (seed, key...): order-independent, so scans can run in parallel."""
    digest = hashlib.sha256("\x1f".join(key).encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *words]))
