#!/usr/bin/env python
"""Benchmark: the full-size study (config/full.yaml, >= 1,000 scans) end to end, locally.

Prints the wall time, the time per scan, snakemake's own share of the run and the peak
memory. Targets (issue 6): <= 15 min for 1,000 scans on 2 cores; snakemake's share <= 20 %.

    source tools/venv.sh
    python bench/bench_full_study.py                 # fresh run of config/full.yaml, 2 cores
    python bench/bench_full_study.py --keep          # keep existing results (measures a rerun)
    python bench/bench_full_study.py --dry-run-only  # DAG building time only (seconds)

How snakemake's share is measured:
- DAG building and planning: the wall time of `snakemake -n` on the same config, before
  the run (for a checkpointed workflow this covers the DAG up to the checkpoint);
- scheduling and bookkeeping during the run: the CPU time of the main snakemake process
  itself (it runs no job code: every rule is a script/shell subprocess), sampled from
  /proc until it exits, against the CPU time of the whole process tree;
- per-job overhead: that main-process CPU time divided by the number of jobs.
Peak memory: the largest sum of resident memory over snakemake and all its descendants,
sampled every 0.2 s (and the largest single process, from getrusage).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _tree(pid: int) -> list[int]:
    kids, todo, seen = _children_map(), [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return seen


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _own_cpu_s(pid: int) -> float | None:
    """utime + stime of one process, without its children."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK


class Sampler(threading.Thread):
    def __init__(self, pid: int, period_s: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.period_s = pid, period_s
        self.peak_rss = 0
        self.main_cpu_s = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak_rss = max(self.peak_rss, sum(_rss_bytes(p) for p in _tree(self.pid)))
            cpu = _own_cpu_s(self.pid)
            if cpu is not None:
                self.main_cpu_s = cpu
            self.stop.wait(self.period_s)


def snakemake_cmd(args, *extra) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(args.snakefile),
            "--configfile", args.configfile, "--cores", str(args.cores),
            "--directory", str(args.workdir), *extra]


def count_scans(results_dir: Path) -> int | None:
    scans = results_dir / "inventory" / "scans.tsv"
    if not scans.is_file():
        return None
    with open(scans) as fh:
        return max(0, sum(1 for _ in fh) - 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configfile", default="config/full.yaml")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="do not delete the results directory first")
    p.add_argument("--dry-run-only", action="store_true")
    p.add_argument("--log", default=None, help="snakemake output (default <results>/bench_full_study.log)")
    p.add_argument("--workdir", type=Path, default=ROOT, help="working directory (default: the repository)")
    p.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    args = p.parse_args(argv)
    args.snakefile, args.workdir = args.snakefile.resolve(), args.workdir.resolve()

    cfg = yaml.safe_load((args.workdir / args.configfile).read_text())
    results = args.workdir / cfg.get("results_dir", "results")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "MPLBACKEND": "Agg"}
    if not args.keep and not args.dry_run_only and results.exists():
        print(f"removing {results} for a fresh run")
        shutil.rmtree(results)
        subprocess.run(snakemake_cmd(args, "--unlock"), cwd=args.workdir, env=env, capture_output=True)

    t0 = time.perf_counter()
    dry = subprocess.run(snakemake_cmd(args, "-n", "--quiet", "rules"), cwd=args.workdir, env=env,
                         capture_output=True, text=True)
    t_dry = time.perf_counter() - t0
    if dry.returncode != 0:
        print(dry.stdout[-2000:], dry.stderr[-3000:], sep="\n")
        return 1
    m = re.search(r"^total\s+(\d+)", dry.stdout + dry.stderr, re.M)
    print(f"dry run (DAG building, to the first checkpoint): {t_dry:.2f} s, "
          f"{m.group(1) if m else 0} jobs planned")
    if args.dry_run_only:
        return 0

    log_path = Path(args.log) if args.log else results / "bench_full_study.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(snakemake_cmd(args), cwd=args.workdir, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        sampler = Sampler(proc.pid)
        sampler.start()
        rc = proc.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tree_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = log_path.read_text()
    steps = re.findall(r"(\d+) of (\d+) steps", text)
    n_jobs = int(steps[-1][1]) if steps else 0
    n_scans = count_scans(results)

    print(f"snakemake exit code: {rc} (log: {log_path})")
    print(f"wall time: {wall:.1f} s ({wall / 60:.2f} min) on {args.cores} cores")
    if n_scans:
        print(f"scans: {n_scans}; time per scan: {wall / n_scans:.3f} s wall, "
              f"{wall * args.cores / n_scans:.3f} core-s")
    print(f"jobs run: {n_jobs}")
    print(f"CPU time of the whole process tree: {tree_cpu:.1f} s")
    share = sampler.main_cpu_s / tree_cpu if tree_cpu else float("nan")
    print(f"snakemake main process CPU (scheduling, bookkeeping): {sampler.main_cpu_s:.1f} s "
          f"= {100 * share:.1f} % of all CPU; per job {sampler.main_cpu_s / max(n_jobs, 1) * 1000:.0f} ms")
    print(f"snakemake share of wall time (DAG dry run + main-process CPU): "
          f"{100 * (t_dry + sampler.main_cpu_s) / wall:.1f} %")
    print(f"peak memory: {sampler.peak_rss / 2**20:.0f} MiB summed over the process tree; "
          f"largest single process {after.ru_maxrss / 1024:.0f} MiB")
    target_ok = n_scans and n_scans >= 1000 and wall <= 15 * 60
    print(f"target (<= 15 min for >= 1,000 scans): {'met' if target_ok else 'NOT met'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
