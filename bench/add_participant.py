"""Jobs rerun when one participant is added to a finished study (issue 12's incremental runs).

Takes a finished demo run (``./demo.sh``: results/ and its simulated BIDS folder), treats it as
a study on disk (``dataset.simulate: false``, same results folder, so nothing recomputes),
adds one participant (a copy of an existing one under a new label, with a participants.tsv
row) and runs the workflow; prints the jobs per rule from Snakemake's job statistics.

    python bench/add_participant.py [--results results] [--source sub-HC001] [--new HC999]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def job_counts(log: str) -> dict[str, int]:
    """Jobs executed, per rule: one "rule X:" / "localrule X:" header per job started. (The
    "Job stats" table is printed before the inventory checkpoint runs, so it lacks the jobs
    the checkpoint adds.)"""
    counts: dict[str, int] = {}
    for rule in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", log, flags=re.M):
        if rule != "all":
            counts[rule] = counts.get(rule, 0) + 1
    return counts


def run(config: Path, cores: int) -> tuple[dict[str, int], float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", str(config)],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit("snakemake failed")
    return job_counts(proc.stdout + proc.stderr), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results")
    ap.add_argument("--source", default=None, help="participant to copy (default: the first)")
    ap.add_argument("--new", default="HC999")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    bids = ROOT / config["dataset"]["bids_dir"]
    config["dataset"].update(simulate=False, truth_dir="")
    config["results_dir"] = args.results
    on_disk = ROOT / args.results / "study_on_disk.yaml"
    on_disk.write_text(yaml.safe_dump(config, sort_keys=False))
    before, t_before = run(on_disk, args.cores)
    print(f"as a study on disk: {before or 'nothing to be done'} ({t_before:.0f} s)")

    source = args.source or sorted(p.name for p in bids.glob("sub-*") if p.is_dir())[0]
    new = f"sub-{args.new}"
    for path in sorted((bids / source).rglob("*")):
        target = bids / new / str(path.relative_to(bids / source)).replace(source, new)
        if path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    table = (bids / "participants.tsv").read_text().splitlines()
    row = next(line for line in table if line.split("\t")[0] == source)
    (bids / "participants.tsv").write_text("\n".join(table + [row.replace(source, new, 1)]) + "\n")
    after, t_after = run(on_disk, args.cores)
    print(f"after adding {new} (a copy of {source}): {after} ({t_after:.0f} s)")


if __name__ == "__main__":
    main()
