"""Fitting benchmarks: speed and memory of one fit, and the full Monte Carlo accuracy tables.

    python bench/bench_fit.py [--realisations 100] [--quick]

Prints (1) the median wall time of one PRESS fit (2048 points, 19 simulated metabolites +
5 MM components, P-spline baseline, automatic stiffness) and of one MEGA-PRESS DIFF fit, on
one core (BLAS pinned to one thread), with a numpy reference operation timed in the same run
so that numbers from noisy shared machines can be compared as ratios; (2) peak Python memory
per fit (tracemalloc); (3) Monte Carlo tables (bias, mean absolute error, SD/CRLB) for
PRESS in both cross-basis directions at two SNR conventions, with a measured or a parametric
MM model, and for MEGA-PRESS DIFF.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from painmrs.basis.readers import load_basis  # noqa: E402
from painmrs.basis.simulate import simulate_basis, simulate_mega_press_basis  # noqa: E402
from painmrs.fitting import FitOptions, fit_spectrum  # noqa: E402
from painmrs.fitting._threads import limit_blas_threads  # noqa: E402
from painmrs.fitting.mega import DIFF_OPTIONS  # noqa: E402
from painmrs.fitting.validation import NORMAL_BRAIN_MM, SimulationSettings, monte_carlo, simulate_spectrum  # noqa: E402
from painmrs.quantify.scan import with_macromolecules  # noqa: E402

SHARED = Path(os.environ.get("PAINMRS_SHARED_DATA", ROOT.parent / "shared" / "data"))
MHZ, DWELL, N = 123.2, 1 / 4000, 2048


def _reference_op_ms() -> float:
    """A fixed numpy workload (batched FFT + small matmul) as the machine-speed yardstick."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 24)) + 1j * rng.standard_normal((N, 24))
    m = rng.standard_normal((500, 500))
    t = []
    for _ in range(20):
        t0 = time.perf_counter()
        np.fft.fft(x, axis=0)
        m @ m
        t.append(time.perf_counter() - t0)
    return 1000 * float(np.median(t))


def _time_fits(spectra, basis, options, label):
    fit_spectrum(spectra[0], basis, options)  # warm-up
    times, cpu = [], []
    for mrs in spectra:
        t0, c0 = time.perf_counter(), time.process_time()
        fit_spectrum(mrs, basis, options)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    tracemalloc.start()
    fit_spectrum(spectra[0], basis, options)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:42s} median wall {1000 * np.median(times):7.1f} ms  CPU {1000 * np.median(cpu):7.1f} ms"
          f"  (p90 wall {1000 * np.quantile(times, 0.9):6.1f} ms)"
          f"  peak memory {peak / 2**20:6.1f} MiB  [{len(basis.names)} basis spectra]")
    return float(np.median(times))


def _table(title, res):
    print(f"\n{title}")
    print("metab       truth    bias%    MAE%  SD/CRLB")
    for r in res.summary():
        print(f"{r['metabolite']:7s} {r['truth']:10.2f} {r['bias_pct']:8.1f} {r['mae_pct']:7.1f} {r['sd_over_crlb']:8.2f}")
    print(f"(median fit {1000 * np.median(res.times_s):.0f} ms)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realisations", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="timing only")
    ap.add_argument("--stiffness", type=float, default=None,
                    help="fixed baseline penalty for the PRESS Monte Carlo (default: automatic)")
    args = ap.parse_args(argv)
    limit_blas_threads(1)

    own = simulate_basis(echo_time_ms=30, te1_ms=11, spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N)
    own_mm = with_macromolecules(own)
    rng = np.random.default_rng(3)
    truth = dict(NORMAL_BRAIN_MM, MM09=4.0, MM12=4.0, MM14=4.0, MM17=4.0, MM20=4.0)
    spectra = [simulate_spectrum(own_mm, truth, n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ,
                                 lorentz_hz=rng.uniform(2, 5), gauss_fwhm_hz=rng.uniform(3, 8),
                                 shift_hz=rng.uniform(-3, 3), phase_deg=rng.uniform(-10, 10), noise_sd=25.0, rng=rng)
               for _ in range(30)]
    print(f"reference numpy workload: {_reference_op_ms():.2f} ms (compare timings as ratios to this)")
    _time_fits(spectra, own_mm, FitOptions(), "PRESS fit, auto baseline stiffness")
    _time_fits(spectra, own_mm, FitOptions(baseline_stiffness=100.0), "PRESS fit, fixed baseline stiffness")

    mega = simulate_mega_press_basis(spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N, include_mm=True)["DIFF"]
    names = ("GABA", "MM30", "Glu", "Gln", "GSH", "NAA", "NAAG")
    mega_fit = mega.replace(names=names, fids=np.ascontiguousarray(mega.fids[:, [mega.index(n) for n in names]]))
    mtruth = dict(NORMAL_BRAIN_MM, MM30=0.6)
    dspec = [simulate_spectrum(mega, mtruth, n_points=N, dwell_s=DWELL, spectrometer_mhz=MHZ,
                               lorentz_hz=rng.uniform(2, 5), gauss_fwhm_hz=rng.uniform(3, 8),
                               shift_hz=rng.uniform(-3, 3), phase_deg=rng.uniform(-10, 10), noise_sd=2.0, rng=rng)
             for _ in range(30)]
    _time_fits(dspec, mega_fit, DIFF_OPTIONS, "MEGA-PRESS DIFF fit (2.6-4.1 ppm)")
    if args.quick:
        return 0

    n = args.realisations
    press_options = FitOptions(baseline_stiffness=args.stiffness) if args.stiffness else FitOptions()
    chal_path = SHARED / "challenge2016" / "basisset_LCModel" / "press3T_30ms.BASIS"
    if not chal_path.exists():
        print(f"(challenge basis not found at {chal_path}: Monte Carlo skipped)")
        return 0
    chal = load_basis(chal_path)
    own_meas = own.replace(names=own.names + ("MM",), fids=np.concatenate([own.fids, 64.0 * chal.fid("MM")[:N, None]], 1))
    t_meas = dict(NORMAL_BRAIN_MM, MM=11.0)
    for snr, conv in ((80.0, "NAA height/SD = 80 (LCModel S/N = 40)"), (40.0, "NAA height/SD = 40 (Osprey SNR = 40)")):
        for sim, fit, label in ((chal, own_meas, "challenge -> own"), (own_meas, chal, "own -> challenge")):
            res = monte_carlo(sim, fit, t_meas, n_realisations=n, fit_options=press_options,
                              settings=SimulationSettings(snr=snr, concentration_cv=0.1), seed=int(snr),
                              report=("tNAA", "tCr", "tCho", "mI", "Gly", "mI+Gly", "Glx", "Glu", "Gln", "GSH", "GABA"))
            _table(f"PRESS {label}, measured MM in both, {conv}, {n} realisations", res)
    # Parametric MM model against the measured MM: the harder, model-mismatch case.
    res = monte_carlo(chal, with_macromolecules(own, ("MM_3T",)), t_meas, n_realisations=n,
                      settings=SimulationSettings(snr=80.0, concentration_cv=0.1), seed=3)
    _table(f"PRESS challenge -> own + parametric MM_3T (Birch 2017), NAA height/SD = 80, {n} realisations", res)
    sim_mega = simulate_mega_press_basis(spectrometer_mhz=MHZ, dwell_s=DWELL, n_points=N, include_mm=True,
                                         gaba_set="govindaraju", edit_profile="rect")["DIFF"]
    res = monte_carlo(sim_mega, mega_fit, mtruth, n_realisations=n, fit_options=DIFF_OPTIONS,
                      settings=SimulationSettings(snr=15.0, baseline_scale=0.0, snr_window_ppm=(2.9, 3.1),
                                                  concentration_cv=0.1),
                      report=("GABA+", "Glx", "GABA"), proton_units=(1.0, 1.0), seed=5)
    _table(f"MEGA-PRESS DIFF (Govindaraju/gauss -> Near2013/rect), GABA+ height/SD = 15, {n} realisations", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
