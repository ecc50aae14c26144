"""Recovery of the demo study's planted effects (truth/effects.tsv) from the statistics tables.

For every planted effect: truth vs estimate with CI, whether the CI covers the truth, and
whether it is detected with the right sign at FDR q. Summary: CI coverage, detection of planted
group effects >= 8% and arm x time effects >= 5%, the rejection rate among group tests where
nothing was planted, and correlation recovery within +-0.15 of r.

Planted correlations are defined on the true tissue concentration, while the statistics see the
measured one, whose CRLB-sized error attenuates r by sqrt(reliability). So a planted r is
compared with the attenuation-corrected r (``pearson_r_corrected`` and its CI, see
correlation.attenuation_corrected) when that is reported, else with the raw Pearson r and its
bootstrap CI; the note says which (``r_corrected`` | ``r_raw``) and ``estimate_raw`` keeps the raw r.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .tables import read_table

TRUTH_COLUMNS = ["effect_id", "kind", "study", "group", "arm", "comparator", "region", "metabolite",
                 "measure", "score", "value", "unit", "observed"]
# Truth measures (demo simulator) -> study-table measures.
MEASURE_MAP = {"conc_tissue_mM": "conc_mM", "change_conc_tissue": "conc_mM", "conc_molal": "conc_molal",
               "conc_mM": "conc_mM", "ratio_tCr": "ratio_tCr", "ratio_tNAA": "ratio_tNAA", "gaba_alpha": "gaba_alpha"}
ALL = {"", "all"}
KINDS = {"group", "correlation", "arm_time", "crossover", "age"}
COMPONENTS = {
    "tNAA": {"NAA", "NAAG"}, "tCr": {"Cr", "PCr"}, "tCho": {"GPC", "PCh"}, "Cho": {"GPC", "PCh"},
    "Glx": {"Glu", "Gln"}, "GABA+": {"GABA"},
}
ALIASES = {"Cho": ["tCho"], "tCho": ["Cho"], "GABA": ["GABA+"], "GABA+": ["GABA"], "Cr": ["tCr"]}
ACQ_PREFERENCE = ["press", "megapress"]
# GABA+ is what the edited acquisition measures; a short-TE PRESS "GABA+" (GABA fitted under
# the Cr/Glx/MM overlap) is far noisier (~50 % vs ~8 % per scan in the demo simulation).
EDITED_ACQ_PREFERENCE = ["megapress", "press"]
EDITED_METABOLITES = {"GABA", "GABA+", "MM30"}
MEASURE_PREFERENCE = ["conc_molal", "conc_mM", "gaba_alpha", "ratio_tCr"]


def _norm(label) -> str:
    """Region/study labels compared without case or punctuation (insula_L == insulaL)."""
    return re.sub(r"[^a-z0-9]", "", str(label).lower()) if isinstance(label, str) else ""


def _truthy(v) -> bool:
    """Booleans read back from TSV may be bool or the strings true/false."""
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v) if v == v else False


def _expand(met: str) -> set[str]:
    return COMPONENTS.get(met, {met}) | {met}


def read_truth(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    return normalise_truth(read_table(path), path)


def normalise_truth(df: pd.DataFrame, path=None) -> pd.DataFrame:
    """Check the planted-effects table and fill optional columns (arm, observed ...)."""
    df = df.copy()
    for c in ("effect_id", "kind", "value"):
        if c not in df.columns:
            raise InputError(path, c, "required column missing")
    for c in TRUTH_COLUMNS:
        if c not in df.columns:
            df[c] = ""
    for c in TRUTH_COLUMNS:
        if c != "value":
            df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    bad = ~df["kind"].isin(KINDS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(path, "kind", f"unknown kind {df['kind'].iloc[i]!r} (known: {sorted(KINDS)})", row=i + 2)
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["observed"] = df["observed"].str.lower().map(lambda v: v not in ("false", "0", "no", "0.0"))
    return df


def _candidates(tab: pd.DataFrame, met: str, measure: str, measures_pref) -> pd.DataFrame:
    if tab is None or tab.empty:
        return pd.DataFrame()
    mets = [met, *ALIASES.get(met, [])]
    for m in mets:
        hit = tab[tab["metabolite"] == m]
        if len(hit):
            break
    else:
        return pd.DataFrame()
    if measure:
        h = hit[hit["measure"] == MEASURE_MAP.get(measure, measure)]
        if len(h):
            return h
    for meas in [*measures_pref, *MEASURE_PREFERENCE]:
        h = hit[hit["measure"] == meas]
        if len(h):
            return h
    return hit.iloc[0:0]


def _pick_acq(hit: pd.DataFrame) -> pd.DataFrame:
    if hit.empty:
        return hit
    edited = set(hit["metabolite"]) <= EDITED_METABOLITES if "metabolite" in hit.columns else False
    order = {a: i for i, a in enumerate(EDITED_ACQ_PREFERENCE if edited else ACQ_PREFERENCE)}
    rank = hit["acq"].map(lambda a: order.get(a, len(order)))
    return hit.loc[[rank.idxmin()]]


CORRELATION_ESTIMATE_DOC = (
    "correlations: estimate/CI = attenuation-corrected Pearson r (pearson_r_corrected, Fisher-z CI / "
    "sqrt(reliability)) when reported, else raw pearson_r with its bootstrap CI; note r_corrected | r_raw; "
    "estimate_raw = raw pearson_r. Planted r refers to the true (error-free) concentration.")


def _correlation_columns(row, raw_ci=("pearson_ci_low", "pearson_ci_high")):
    """(estimate, ci low, ci high, note) columns: corrected r when finite, else the raw r."""
    v = pd.to_numeric(pd.Series([row.get("pearson_r_corrected", math.nan)]), errors="coerce").iloc[0]
    if np.isfinite(v):
        return "pearson_r_corrected", "pearson_r_corrected_ci_low", "pearson_r_corrected_ci_high", "r_corrected"
    return "pearson_r", raw_ci[0], raw_ci[1], "r_raw"


def recover(truth: pd.DataFrame, results: dict[str, pd.DataFrame], measures_pref=(), q: float = 0.05):
    """Match each planted effect to its estimate. Returns (recovery table, summary dict)."""
    truth = normalise_truth(truth)
    rows = []
    tabs = {k: results.get(k, pd.DataFrame()) for k in (
        "group_comparisons", "correlations", "longitudinal_parallel", "longitudinal_within_arm", "crossover",
        "covariate_effects", "longitudinal_change_correlations")}
    for tr in truth.itertuples(index=False):
        base = {c: getattr(tr, c) for c in TRUTH_COLUMNS}
        base["truth"] = base.pop("value")
        rows += _recovery_rows(base, tr, _matches(tr, tabs, measures_pref))
    table = pd.DataFrame(rows)
    if not table.empty:
        table["abs_error"] = (table["estimate"] - table["truth"]).abs()
        table = table.sort_values(["kind", "effect_id", "matched_region", "acq"], kind="mergesort").reset_index(drop=True)
    return table, summarise(table, truth, tabs["group_comparisons"], q)


def _matches(tr, tabs: dict[str, pd.DataFrame], measures_pref) -> list[tuple]:
    """The estimates matching one planted effect: (row, estimate col, ci low col, ci high col,
    reject col, note) each."""
    gc, cor, par = tabs["group_comparisons"], tabs["correlations"], tabs["longitudinal_parallel"]
    wit, cro, age = tabs["longitudinal_within_arm"], tabs["crossover"], tabs["covariate_effects"]
    chc = tabs["longitudinal_change_correlations"]
    matches = []  # (row, estimate col, ci low col, ci high col, reject col, note)
    region_ok = (lambda tab: tab["region"].map(_norm) == _norm(tr.region)) if tr.region not in ALL else \
        (lambda tab: pd.Series(True, index=tab.index))
    if not getattr(tr, "observed", True):
        matches = []
    elif tr.kind == "group" and not gc.empty:
        t = gc[(gc["group"] == tr.group) & region_ok(gc)]
        if tr.comparator:
            t = t[t["control"] == tr.comparator]
        hit = _pick_acq(_candidates(t, tr.metabolite, tr.measure, measures_pref))
        matches += [(r, "diff_adj_pct", "diff_adj_pct_ci_low", "diff_adj_pct_ci_high", "fdr_reject", "")
                    for _, r in hit.iterrows()]
    elif tr.kind == "correlation" and (tr.arm or tr.score.startswith("change_")):
        if not chc.empty:
            score = tr.score.removeprefix("change_")
            t = chc[(chc["study"].map(_norm) == _norm(tr.study)) & (chc["score"] == score) & region_ok(chc)]
            t = t[t["arm"] != "pooled"] if tr.arm in ("within_arm", "") else t[t["arm"] == tr.arm]
            for _, arm_rows in t.groupby("arm", sort=True):
                hit = _pick_acq(_candidates(arm_rows, tr.metabolite, tr.measure, measures_pref))
                for _, r in hit.iterrows():
                    e, lo, hi, which = _correlation_columns(r)
                    matches.append((r, e, lo, hi, "fdr_reject", f"change:{r['arm']};{which}"))
    elif tr.kind == "correlation" and not cor.empty:
        t = cor[(cor["group"] == tr.group) & region_ok(cor) & (cor["score"] == tr.score)]
        hit = _pick_acq(_candidates(t, tr.metabolite, tr.measure, measures_pref))
        for _, r in hit.iterrows():
            e, lo, hi, which = _correlation_columns(r)
            matches.append((r, e, lo, hi, "pearson_fdr_reject", which))
    elif tr.kind == "arm_time":
        arm = tr.arm or tr.group
        within = tr.comparator in ("", "time:baseline") or tr.comparator.startswith("time:")
        src = wit if within else par
        if src is not None and not src.empty:
            t = src[(src["study"].map(_norm) == _norm(tr.study)) & (src["arm"] == arm) & region_ok(src)]
            if not within:
                t = t[t["reference_arm"] == tr.comparator]
            hit = _pick_acq(_candidates(t, tr.metabolite, tr.measure, measures_pref))
            if within:
                matches += [(r, "mean_change_pct", "ci_low_pct", "ci_high_pct", "fdr_reject", "within_arm")
                            for _, r in hit.iterrows()]
            else:
                matches += [(r, "estimate_pct", "ci_low_pct", "ci_high_pct", "fdr_reject", "interaction")
                            for _, r in hit.iterrows()]
    elif tr.kind == "crossover" and not cro.empty:
        trt = tr.arm or tr.group
        t = cro[(cro["study"].map(_norm) == _norm(tr.study)) & (cro["treatment"] == trt) & region_ok(cro)]
        if tr.comparator:
            t = t[t["reference"] == tr.comparator]
        hit = _pick_acq(_candidates(t, tr.metabolite, tr.measure, measures_pref))
        matches += [(r, "estimate_pct", "ci_low_pct", "ci_high_pct", "fdr_reject", "")
                    for _, r in hit.iterrows()]
    elif tr.kind == "age" and not age.empty:
        t = age[(age["covariate"] == "age") & region_ok(age)]
        for _, reg in t.groupby("region", sort=True):
            hit = _pick_acq(_candidates(reg, tr.metabolite, tr.measure, measures_pref))
            matches += [(r, "pct_per", "pct_per_ci_low", "pct_per_ci_high", "fdr_reject", "")
                        for _, r in hit.iterrows()]
    return matches


def _recovery_rows(base: dict, tr, matches: list[tuple]) -> list[dict]:
    """Recovery table rows of one planted effect: one per match, or one 'no_estimate' /
    'not_observed' row."""
    if not matches:
        return [{**base, "matched_region": "", "acq": "", "matched_measure": "", "estimate": math.nan,
                 "ci_low": math.nan, "ci_high": math.nan, "covered": False, "detected": False,
                 "estimate_raw": math.nan,
                 "note": "no_estimate" if getattr(tr, "observed", True) else "not_observed"}]
    rows = []
    for r, e, lo, hi, rej, note in matches:
        est, l, h = float(r[e]), float(r[lo]), float(r[hi])
        covered = bool(np.isfinite(l) and l <= tr.value <= h)
        detected = _truthy(r.get(rej, False)) and np.sign(est) == np.sign(tr.value)
        if not np.isfinite(est):
            note = ";".join(filter(None, [note, "not_estimable"]))
        raw = float(r["pearson_r"]) if tr.kind == "correlation" and "pearson_r" in r.index else math.nan
        rows.append({**base, "matched_region": r["region"], "acq": r["acq"], "matched_measure": r["measure"],
                     "estimate": est, "ci_low": l, "ci_high": h, "covered": covered,
                     "detected": bool(detected), "note": note, "estimate_raw": raw})
    return rows


def null_group_tests(gc: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Group tests where no planted group effect touches the metabolite (or its ratio reference)."""
    if gc.empty:
        return gc
    planted = truth[truth["kind"] == "group"]
    touched: dict[tuple[str, str], set[str]] = {}
    for tr in planted.itertuples(index=False):
        touched.setdefault((tr.group, _norm(tr.region)), set()).update(_expand(tr.metabolite))
    keep = []
    for r in gc.itertuples(index=False):
        mets = touched.get((r.group, _norm(r.region)), set())
        comp = _expand(r.metabolite)
        if r.measure == "ratio_tCr":
            comp = comp | _expand("tCr")
        elif r.measure == "ratio_tNAA":
            comp = comp | _expand("tNAA")
        keep.append(not (comp & mets))
    return gc[np.array(keep, bool)]


def summarise(table: pd.DataFrame, truth: pd.DataFrame, gc: pd.DataFrame, q: float = 0.05) -> dict:
    def rate(mask_num, mask_den):
        den = int(mask_den.sum())
        return {"n": den, "k": int((mask_num & mask_den).sum()),
                "rate": (float((mask_num & mask_den).sum()) / den) if den else None}

    if table.empty:
        return {"n_effects": 0}
    has = table["estimate"].notna()
    out = {"n_effects": int(truth["effect_id"].nunique()), "n_rows": int(len(table)),
           "n_not_observed": int((table["note"] == "not_observed").sum()),
           "n_unmatched": int((table["note"] == "no_estimate").sum()), "fdr_q": q}
    out["ci_coverage"] = rate(table["covered"], has)
    out["ci_coverage_by_kind"] = {k: rate(table["covered"], has & (table["kind"] == k))
                                  for k in sorted(table["kind"].unique())}
    observed = table["note"] != "not_observed"
    big_group = observed & (table["kind"] == "group") & (table["truth"].abs() >= 8) & (table["unit"].isin(["pct", ""]))
    out["detected_group_ge8pct"] = rate(table["detected"], big_group)
    big_at = observed & (table["kind"] == "arm_time") & (table["truth"].abs() >= 5) & table["note"].str.startswith("interaction")
    out["detected_arm_time_ge5pct"] = rate(table["detected"], big_at)
    at_within = observed & (table["kind"] == "arm_time") & (table["truth"].abs() >= 5) & table["note"].str.startswith("within_arm")
    out["detected_within_arm_ge5pct"] = rate(table["detected"], at_within)
    out["detected_all"] = rate(table["detected"], observed)
    out["n_not_estimable"] = int((observed & ~has).sum())
    corr = (table["kind"] == "correlation") & has
    out["correlation_within_0.15"] = rate(table["abs_error"] <= 0.15, corr)
    out["correlation_estimate"] = CORRELATION_ESTIMATE_DOC
    out["correlation_n_corrected"] = int((corr & table["note"].str.contains("r_corrected")).sum())
    raw_err = (table["estimate_raw"] - table["truth"]).abs()
    out["correlation_raw_r_within_0.15"] = rate(raw_err <= 0.15, corr & table["estimate_raw"].notna())
    null = null_group_tests(gc, truth)
    if len(null):
        null = null[pd.to_numeric(null["p"], errors="coerce").notna()]

    def null_rates(d):
        n = int(len(d))
        rej = d["fdr_reject"].map(_truthy) if n else d.get("fdr_reject", pd.Series(dtype=bool))
        return {"n": n, "fdr_rejections": int(rej.sum()) if n else 0,
                "fdr_rejection_rate": float(rej.mean()) if n else None,
                "raw_p_lt_0.05_rate": float((pd.to_numeric(d["p"]) < 0.05).mean()) if n else None}

    out["null_group_tests"] = null_rates(null)
    if len(null):
        out["null_group_tests_by_measure"] = {m: null_rates(d) for m, d in null.groupby("measure", sort=True)}
    return out


def summary_table(summary: dict) -> pd.DataFrame:
    rows = []
    for key, val in summary.items():
        if isinstance(val, dict) and "rate" in val:
            rows.append({"metric": key, "k": val["k"], "n": val["n"], "rate": val["rate"]})
        elif key == "null_group_tests":
            rows.append({"metric": "null_group_fdr_rejection", "k": val["fdr_rejections"], "n": val["n"],
                         "rate": val["fdr_rejection_rate"]})
            rows.append({"metric": "null_group_raw_p_lt_0.05", "k": math.nan, "n": val["n"],
                         "rate": val["raw_p_lt_0.05_rate"]})
        elif key == "null_group_tests_by_measure":
            for m, v in val.items():
                rows.append({"metric": f"null_group_fdr_rejection_{m}", "k": v["fdr_rejections"], "n": v["n"],
                             "rate": v["fdr_rejection_rate"]})
        elif key == "ci_coverage_by_kind":
            for k, v in val.items():
                rows.append({"metric": f"ci_coverage_{k}", "k": v["k"], "n": v["n"], "rate": v["rate"]})
    return pd.DataFrame(rows)
