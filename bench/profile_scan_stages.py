#!/usr/bin/env python
"""CPU time per scan by stage of the per-scan work (processing, fitting, quantification,
figures), on a small simulated study with the full study's acquisition settings.

    source tools/venv.sh
    python bench/profile_scan_stages.py                       # 21 scans, every figure rendered
    python bench/profile_scan_stages.py --scan-figures none   # as config/full.yaml's non-example scans

Times are process CPU seconds (time.process_time), summed by wrapping the stage functions, so
they are meaningful on a shared machine; wall seconds are printed beside them.
"""

from __future__ import annotations

import argparse
import collections
import functools
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CPU: collections.Counter = collections.Counter()
CALLS: collections.Counter = collections.Counter()


def _wrap(module, name, label):
    func = getattr(module, name)

    @functools.wraps(func)
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            CPU[label] += time.process_time() - start
            CALLS[label] += 1

    setattr(module, name, timed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scan-figures", default="all", choices=["all", "first_per_batch", "none"])
    ap.add_argument("--config", default=str(ROOT / "config/full.yaml"))
    ap.add_argument("--workdir", default=None, help="keep the study here (default: a temporary folder)")
    args = ap.parse_args(argv)

    import painmrs.fitting.output as fit_output  # noqa: F401
    import painmrs.io.nifti_mrs as nifti_mrs
    import painmrs.processing.figures as proc_figures
    import painmrs.processing.pipeline as pipeline
    import painmrs.quantify.scan as qscan
    from painmrs.demo.study import simulate_study
    from painmrs.jobs.process import process_batch
    from painmrs.study.inventory import build_inventory
    from painmrs.jobs.basis import build_basis
    from painmrs.jobs.fit import fit_batch

    for module, name, label in [
        (nifti_mrs, "read", "NIfTI-MRS read"), (nifti_mrs, "write", "NIfTI-MRS write"),
        (pipeline, "process_scan", "processing (coil combination .. QC)"), (proc_figures, "qc_figure", "QC figure"),
        (qscan, "fit_spectrum", "PRESS fit"), (qscan, "fit_mega_press", "MEGA-PRESS fit (DIFF + OFF)"),
        (qscan, "plot_fit", "fit figure(s)"), (qscan, "fit_water", "water fit"),
        (qscan, "fit_table", "quantification table"), (qscan, "basis_proton_unit", "basis calibration (HSVD)"),
    ]:
        _wrap(module, name, label)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="painmrs-profile-"))
    design = yaml.safe_load((ROOT / "config/demo/design.yaml").read_text())
    design["sizes"]["tiny"] = {  # 21 scans, the full size's acquisition settings
        "groups": {"HC": 4, "cLBP": 3},
        "protocol": [{"acq": "press", "regions": ["ACC", "thalamus"]}, {"acq": "megapress", "regions": ["ACC"]}],
        "studies": {},
        "acquisition": design["sizes"]["full"]["acquisition"],
    }
    design_path = work / "design.yaml"
    work.mkdir(parents=True, exist_ok=True)
    design_path.write_text(yaml.safe_dump(design))
    bids = work / "bids"
    if not bids.exists():
        simulate_study(design_path, bids, work / "truth", size="tiny")
    config = yaml.safe_load(Path(args.config).read_text())
    config.setdefault("execution", {})["scan_figures"] = args.scan_figures
    scans = build_inventory(bids, config).scans
    bases = {}
    for acq in sorted(set(scans["acq"])):
        out = work / "basis" / acq
        if not out.exists():
            build_basis(config["sequences"][acq], bids / scans[scans["acq"] == acq]["svs"].iloc[0], out)
        bases[acq] = str(out)
    CPU.clear()
    CALLS.clear()
    logging.basicConfig(level=logging.WARNING)
    deriv = work / f"derivatives-{args.scan_figures}"
    c0, w0 = time.process_time(), time.perf_counter()
    rows = process_batch(scans, bids, deriv, config)
    c1, w1 = time.process_time(), time.perf_counter()
    fit_batch(scans, pd.DataFrame(rows), bases, bids, deriv, config)
    c2, w2 = time.process_time(), time.perf_counter()
    n = len(scans)
    print(f"{n} scans ({(scans['sequence'] == 'MEGA-PRESS').sum()} MEGA-PRESS), scan_figures={args.scan_figures}, study in {work}")
    print(f"process batch: {(c1 - c0) / n:.3f} CPU-s/scan ({(w1 - w0) / n:.3f} wall-s); "
          f"fit batch: {(c2 - c1) / n:.3f} CPU-s/scan ({(w2 - w1) / n:.3f} wall-s); total {(c2 - c0) / n:.3f} CPU-s/scan")
    for label, seconds in CPU.most_common():
        print(f"  {label:38s} {seconds / n:.3f} CPU-s/scan ({CALLS[label]} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
