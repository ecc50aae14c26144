"""Benchmark: processing time per scan on one core (targets: PRESS <= 0.5 s, MEGA-PRESS <= 2 s).

PRESS: 64 transients x 8 coils, 2048 points, with water reference (4 transients x 8 coils).
MEGA-PRESS: 320 transients (160 OFF/ON pairs) x 8 coils, 2048 points, with water reference.
Run: python bench/bench_processing.py [--repeats N]
Data generation is not timed; the verdict uses CPU time (time.process_time). Single-threaded BLAS/FFT is forced before numpy is imported.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from painmrs.processing import process_scan  # noqa: E402
from painmrs.demo.synthetic import make_scan  # noqa: E402


def bench(label, metab, water, repeats):
    process_scan(metab, water)  # warm-up (imports, FFT plans)
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        process_scan(metab, water)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    # CPU time is the robust figure on a shared machine (wall time includes waiting for a core).
    print(
        f"{label:<48s} CPU median {statistics.median(cpu):.3f} s; wall median {statistics.median(times):.3f} s  "
        f"min {min(times):.3f} s  max {max(times):.3f} s  (n={repeats})"
    )
    return statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    press = make_scan(1, n_transients=64, n_coils=8, n_corrupted=3)
    mega = make_scan(2, mega=True, snr=20.0, n_transients=160, n_coils=8, n_corrupted=4)
    t_press = bench("PRESS 64 transients x 8 coils (target 0.5 s)", press[0], press[1], args.repeats)
    t_mega = bench("MEGA-PRESS 320 transients x 8 coils (target 2 s)", mega[0], mega[1], args.repeats)
    print(f"ratio MEGA/PRESS {t_mega / t_press:.2f}; PRESS {'OK' if t_press <= 0.5 else 'OVER'}, MEGA {'OK' if t_mega <= 2 else 'OVER'}")


if __name__ == "__main__":
    main()
