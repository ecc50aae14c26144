"""Simulate the whole demo study: MRS-BIDS dataset + ground truth (DEVELOPERS.md layout).

``simulate_study(design_path, out_bids, out_truth, size="demo", seed=None, jobs=1)``:

1. ``plan.build_plan``: participants, sessions, scores, true concentrations per scan;
2. per session (in parallel with ``jobs`` > 1; every random draw comes from a stream keyed by
   (seed, subject/session/stem), so results do not depend on order or on ``jobs``):
   anatomy (tissue maps, T1w) -> exact voxel fractions -> clean spectra -> raw data via
   ``acquisition.simulate_raw_scan`` -> NIfTI-MRS files (+ truth per scan);
3. tables: participants.tsv/json, sessions.tsv, dataset_description.json, and the truth
   tables scans.tsv, concentrations.tsv, effects.tsv, transients.tsv.

All writes are atomic (painmrs.atomic) and byte-deterministic.

The parts: ``files`` (writers), ``render`` (one session), ``truth_tables`` (tables); their
public names are re-exported here.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from ..atomic import write_text
from ..errors import InputError
from .design import load_design
from .files import BIDS_VERSION, NA, fmt, tsv, write_json, write_mrs, write_nifti  # noqa: F401  (re-exported)
from .plan import build_plan
from .render import _STATE, render_session, voigt_fwhm  # noqa: F401  (re-exported)
from .spectra import build_scan_basis
from .truth_tables import (  # noqa: F401  (re-exported)
    CONC_COLUMNS,
    EFFECT_COLUMNS,
    SCAN_COLUMNS,
    TRANSIENT_COLUMNS,
    TRUTH_README,
    _write_bids_tables,
    effects_rows,
)

# ---- entry point ---------------------------------------------------------------------------


def _refuse_mixing(bids: Path, subjects: set[str]) -> None:
    """A folder holding subjects of another design/size would silently mix two studies."""
    if not bids.is_dir():
        return
    stale = sorted(p.name for p in bids.glob("sub-*") if p.is_dir() and p.name not in subjects)
    if stale:
        raise InputError(
            bids,
            None,
            f"holds subjects this simulation does not write ({', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}); "
            "write to an empty folder or delete the old study first",
        )


def simulate_study(
    design_path: str | os.PathLike,
    out_bids: str | os.PathLike,
    out_truth: str | os.PathLike,
    *,
    size: str = "demo",
    seed: int | None = None,
    jobs: int = 1,
    basis_provider=None,
) -> dict:
    """Write the simulated study and its truth; returns a summary (counts, seconds, bytes)."""
    t0 = time.perf_counter()
    design = load_design(design_path, size)
    plan = build_plan(design, seed)
    bids, truth = Path(out_bids), Path(out_truth)
    _refuse_mixing(bids, {f"sub-{s.participant_id}" for s in plan.subjects})
    acqs = sorted({s.acq for s in plan.scans})
    bases = {a: build_scan_basis(a, design, provider=basis_provider) for a in acqs}
    t_basis = time.perf_counter() - t0
    _STATE.update(design=design, plan=plan, bases=bases, bids=str(bids), truth=str(truth))
    keys = sorted({(s.subject, s.session) for s in plan.scans})
    try:
        if jobs > 1 and len(keys) > 1:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                results = pool.map(render_session, keys, chunksize=1)
        else:
            results = [render_session(k) for k in keys]
    finally:
        _STATE.clear()
    scan_rows = sorted((r for res in results for r in res["scans"]), key=lambda r: r["stem"])
    conc_rows = sorted((r for res in results for r in res["conc"]), key=lambda r: (r["stem"], r["metabolite"]))
    tr_rows = sorted(
        (r for res in results for r in res["transients"]), key=lambda r: (r["stem"], r["file"], r["dyn"], r["edit"])
    )
    _write_bids_tables(bids, design, plan)
    write_text(truth / "scans.tsv", tsv(SCAN_COLUMNS, scan_rows))
    write_text(truth / "concentrations.tsv", tsv(CONC_COLUMNS, conc_rows))
    write_text(truth / "effects.tsv", tsv(EFFECT_COLUMNS, effects_rows(design, plan)))
    write_text(truth / "transients.tsv", tsv(TRANSIENT_COLUMNS, tr_rows))
    write_text(truth / "README.md", TRUTH_README)
    write_json(
        truth / "design.json",
        {"design_file": Path(design.path).name, "size": size, "seed": plan.seed, "design": dict(design)},
    )
    seconds = time.perf_counter() - t0
    n_bytes = sum(p.stat().st_size for root in (bids, truth) for p in root.rglob("*") if p.is_file())
    summary = {
        "size": size,
        "seed": plan.seed,
        "subjects": len(plan.subjects),
        "sessions": len(keys),
        "scans": len(plan.scans),
        "scans_press": sum(s.acq == "press" for s in plan.scans),
        "scans_megapress": sum(s.acq == "megapress" for s in plan.scans),
        "jobs": jobs,
        "seconds": round(seconds, 2),
        "seconds_basis": round(t_basis, 2),
        "bytes": n_bytes,
        "bids": str(bids),
        "truth": str(truth),
    }
    return summary
