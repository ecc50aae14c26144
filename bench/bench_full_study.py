#!/usr/bin/env python
"""Benchmark: the full-size study (config/full.yaml, >= 1,000 scans) end to end, locally.

Prints the wall time, the time per scan, snakemake's own share of the run and the peak
memory. Targets (issue 6): <= 15 min for 1,000 scans on 2 cores; snakemake's share <= 20 %.

    source tools/venv.sh
    python bench/bench_full_study.py                 # fresh run of config/full.yaml, 2 cores
    python bench/bench_full_study.py --keep          # keep existing results (measures a rerun)
    python bench/bench_full_study.py --dry-run-only  # DAG building time only (seconds)

How snakemake's share is measured (everything that is not library code running on a core):
- library time: every job's log (painmrs.study.runlog) records when the library started and
  how long it ran; summed over jobs, times the job's threads (the simulation uses both
  cores), this is the core-time spent inside the library's work;
- snakemake's share = 1 - library core-time / (wall x cores). It includes DAG building and
  the checkpoint re-evaluation, scheduling, each job's start-up (Python, snakemake's script
  preamble, imports) and cores left idle while the DAG allows only one job (a strict upper
  bound on snakemake's own cost). Printed beside it: the time before the first job's library
  code starts, after the last one ends, the summed job start-up (snakemake's job stamp ->
  library start; the stamp has 1 s resolution) and the jobs that log no library timing;
- CPU view: the CPU time of the main snakemake process itself (sampled from /proc; it runs
  no job code) against the CPU time of the whole process tree.
On a machine shared with other work, wall times (and so the wall-based share) are inflated;
the CPU figures are the ones to compare.
Peak memory: the largest sum of resident memory over snakemake and all its descendants,
sampled every 0.2 s (and the largest single process, from getrusage).
"""

from __future__ import annotations

import argparse
import datetime as dt
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


RUNLOG_START = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO painmrs\.[^:]+: start (.+?) on host")
RUNLOG_DONE = re.compile(r"INFO painmrs\.[^:]+: done (.+) in ([\d.]+) s(?: \(CPU ([\d.]+) s\))?$")
JOB_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
JOB_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def snakemake_jobs(log_text: str, workdir: Path) -> list[dict]:
    """Jobs from snakemake's own log: rule, submission stamp (epoch s), log file, threads."""
    jobs, stamp, job = [], None, None
    for line in log_text.splitlines():
        m = JOB_STAMP.match(line.strip())
        if m:
            stamp = dt.datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y").timestamp()
            job = None
            continue
        m = JOB_RULE.match(line.strip())
        if m and stamp is not None:
            job = {"rule": m.group(1), "stamp": stamp, "log": None, "threads": 1}
            jobs.append(job)
            continue
        if job is not None:
            key, _, value = line.strip().partition(": ")
            if key == "log":
                job["log"] = workdir / value.split(" (")[0].split(", ")[0]
            elif key == "threads":
                job["threads"] = int(value)
            elif not line.strip():
                job = None
    return jobs


def library_interval(log_path: Path | None) -> tuple[float, float, float] | None:
    """(start epoch s, wall s, CPU s or nan) of the library code of one job (its runlog lines)."""
    if log_path is None or not log_path.is_file():
        return None
    start = seconds = None
    cpu = float("nan")
    for line in log_path.read_text(errors="replace").splitlines():
        m = RUNLOG_START.match(line)
        if m and start is None:
            start = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        m = RUNLOG_DONE.search(line)
        if m:
            seconds = float(m.group(2))
            cpu = float(m.group(3)) if m.group(3) else float("nan")
    return (start, seconds, cpu) if start is not None and seconds is not None else None


def share_report(jobs: list[dict], t0: float, wall: float, cores: int) -> dict:
    """Library core-time (runlog) against wall x cores, and where the rest went."""
    lib = lib_cpu = startup = 0.0
    first, last, n_timed, untimed = None, None, 0, []
    per_rule: dict[str, tuple[float, float, int]] = {}
    for job in jobs:
        threads = min(job["threads"], cores)
        iv = library_interval(job["log"])
        if iv is None:
            if job["rule"] != "all":  # the target rule runs nothing
                untimed.append(job["rule"])
            continue
        start, seconds, cpu = iv
        n_timed += 1
        w, c, k = per_rule.get(job["rule"], (0.0, 0.0, 0))
        per_rule[job["rule"]] = (w + seconds, c + cpu, k + 1)
        lib += seconds * threads
        lib_cpu += cpu
        startup += max(0.0, start - (job["stamp"] + 0.5)) * threads  # stamp truncated to the second
        first = start if first is None else min(first, start)
        last = start + seconds if last is None else max(last, start + seconds)
    total = wall * cores
    return {
        "library_core_s": lib, "share": 1 - lib / total if total else float("nan"),
        "before_first_s": (first - t0) if first else float("nan"),
        "after_last_s": (t0 + wall - last) if last else float("nan"),
        "startup_core_s": startup, "n_timed": n_timed, "untimed": untimed, "library_cpu_s": lib_cpu,
        "per_rule": per_rule,
    }


def benchmark_cpu(results_dir: Path) -> dict[str, tuple[int, float, float]]:
    """rule folder -> (jobs, summed wall s, summed CPU s) from snakemake's benchmark: files."""
    out = {}
    for path in sorted((results_dir / "benchmarks").rglob("*.tsv")):
        rule = path.parent.name if path.parent.name != "benchmarks" else path.stem
        try:
            lines = path.read_text().splitlines()
            head, row = lines[0].split("\t"), lines[1].split("\t")
            wall_s, cpu_s = float(row[head.index("s")]), float(row[head.index("cpu_time")])
        except (IndexError, ValueError, OSError):
            continue
        n, w, c = out.get(rule, (0, 0.0, 0.0))
        out[rule] = (n + 1, w + wall_s, c + cpu_s)
    return out


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
    t0_epoch = time.time()
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
    print(f"CPU time of the whole process tree: {tree_cpu:.1f} s"
          f" = {tree_cpu / n_scans if n_scans else float('nan'):.3f} CPU-s per scan")
    share = sampler.main_cpu_s / tree_cpu if tree_cpu else float("nan")
    print(f"snakemake main process CPU (scheduling, bookkeeping): {sampler.main_cpu_s:.1f} s "
          f"= {100 * share:.1f} % of all CPU; per job {sampler.main_cpu_s / max(n_jobs, 1) * 1000:.0f} ms")
    acct = share_report(snakemake_jobs(text, args.workdir), t0_epoch, wall, args.cores)
    print(f"library core-time inside the jobs (runlog, {acct['n_timed']} jobs): {acct['library_core_s']:.1f} core-s "
          f"= {acct['library_core_s'] / n_scans if n_scans else float('nan'):.3f} core-s per scan")
    print(f"snakemake's share (1 - library core-time / (wall x {args.cores} cores)): {100 * acct['share']:.1f} %")
    print(f"  of which: before the first job's library code {acct['before_first_s']:.1f} s (x{args.cores} cores), "
          f"after the last {acct['after_last_s']:.1f} s, job start-up (python, imports) {acct['startup_core_s']:.1f} core-s; "
          f"rest: scheduling and cores idle in serial DAG phases")
    if acct["untimed"]:
        print(f"  jobs without in-job timing (counted as not library): {', '.join(sorted(set(acct['untimed'])))}")
    cpu_share = 1 - acct["library_cpu_s"] / tree_cpu if tree_cpu else float("nan")
    print(f"CPU view: library CPU inside the jobs {acct['library_cpu_s']:.1f} s "
          f"({acct['library_cpu_s'] / n_scans if n_scans else float('nan'):.3f} CPU-s per scan) of {tree_cpu:.1f} s "
          f"for the whole tree: snakemake + job start-up = {100 * cpu_share:.1f} % of CPU")
    print("library time per rule (runlog): jobs, wall s, CPU s, CPU s/scan")
    for rule, (w, c, k) in sorted(acct["per_rule"].items()):
        print(f"  {rule:20s} {k:4d} {w:9.1f} {c:9.1f} {c / n_scans if n_scans else float('nan'):8.3f}")
    print(f"dry run DAG building (separate, before the run): {t_dry:.2f} s")
    bench = benchmark_cpu(results)
    if bench:
        print("per-rule benchmark (snakemake benchmark: files, whole job incl. start-up): jobs, wall s, CPU s, CPU s/scan")
        for rule, (n, w, c) in sorted(bench.items()):
            print(f"  {rule:16s} {n:4d} {w:9.1f} {c:9.1f} {c / n_scans if n_scans else float('nan'):8.3f}")
    print(f"peak memory: {sampler.peak_rss / 2**20:.0f} MiB summed over the process tree; "
          f"largest single process {after.ru_maxrss / 1024:.0f} MiB")
    budget = 15 * 60 * (n_scans or 0) / 1000
    target_ok = n_scans and n_scans >= 1000 and wall <= budget and acct["share"] <= 0.20
    print(f"target (>= 1,000 scans, <= 15 min per 1,000 scans = {budget / 60:.1f} min here, share <= 20 %): "
          f"{'met' if target_ok else 'NOT met'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
