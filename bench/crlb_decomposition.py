"""Where the PRESS CRLBs come from: the Cramér-Rao bound of tNAA, tCr, tCho, mI, Glx, Glu (and
mI+Gly) with only the amplitudes free, then adding zero/first-order phase, the lineshape
parameters and the P-spline baseline, up to the full model the fit uses.

    python bench/crlb_decomposition.py [--stiffness 10]

One spectrum made with the ISMRM 2016 challenge basis (measured MM, normal-brain amplitudes,
Lorentzian 3.5 Hz + Gaussian 5.5 Hz, NAA height/SD 80 = LCModel S/N 40) is fitted with
painmrs' own basis; the Fisher information is evaluated at that solution. The amplitude-only
bound is the floor for any unbiased estimator: e.g. its mI CRLB (the Gly singlet on the mI
multiplet) times 0.8 (mean |x| of a normal) bounds the achievable mI mean absolute error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from painmrs.fitting import FitOptions  # noqa: E402
from painmrs.fitting import baseline as bl  # noqa: E402
from painmrs.fitting import model as M  # noqa: E402
from painmrs.fitting.validation import NORMAL_BRAIN_MM, peak_height, simulate_spectrum  # noqa: E402
from painmrs.fitting.water import basis_proton_unit  # noqa: E402
from test_fit_montecarlo import press_bases  # noqa: E402

SHARED = Path(os.environ.get("PAINMRS_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMBOS = {"tNAA": ("NAA", "NAAG"), "tCr": ("Cr", "PCr"), "tCho": ("GPC", "PCh"), "mI": ("mI",), "mI+Gly": ("mI", "Gly"),
          "Glx": ("Glu", "Gln"), "Glu": ("Glu",)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stiffness", type=float, default=10.0, help="baseline penalty lambda")
    args = ap.parse_args(argv)
    chal, own = press_bases(SHARED)
    u_sim = basis_proton_unit(chal)[0]
    amps = {k: v / u_sim for k, v in dict(NORMAL_BRAIN_MM, MM=11.0).items() if k in chal.names}
    grid = dict(n_points=2048, dwell_s=1 / 4000, spectrometer_mhz=123.2, lorentz_hz=3.5, gauss_fwhm_hz=5.5)
    sd = peak_height(simulate_spectrum(chal, amps, shift_hz=0, phase_deg=0, **grid)) / 80
    mrs = simulate_spectrum(chal, amps, shift_hz=1, phase_deg=3, noise_sd=sd, rng=np.random.default_rng(1), **grid)

    prob = M.FitProblem(mrs, own, FitOptions(baseline_stiffness=args.stiffness))
    prob.set_stiffness(args.stiffness)
    sol = M._solve(prob, M._initial_guess(prob), 60)
    bt, B, yr, _, _, a, _ = prob.evaluate(sol.x)
    rem = yr - B @ a
    base = prob.S @ bl.baseline_coefficients(prob.S, prob.D, prob.lam, rem.real)
    base = base + 1j * prob.S @ bl.baseline_coefficients(prob.S, prob.D, prob.lam, rem.imag)
    full = B @ a + base
    blocks = {
        "amplitudes": B,
        "phase": np.stack([1j * full, 1j * (prob.ppm - prob.ppm_c) * full], 1),
        "lineshape": prob.model_derivatives(sol.x, bt, a),
        "baseline": np.concatenate([prob.S.astype(complex), 1j * prob.S], 1),
    }
    K, nb = B.shape[1], prob.S.shape[1]

    def crlb_pct(keep):
        jc = np.concatenate([blocks[k] for k in keep], 1)
        j = np.concatenate([jc.real, jc.imag])
        fisher = j.T @ j
        if "baseline" in keep:  # the penalty acts as the baseline coefficients' prior precision
            pen = prob.lam * (prob.D.T @ prob.D)
            fisher[-2 * nb : -nb, -2 * nb : -nb] += pen
            fisher[-nb:, -nb:] += pen
        cov = sd**2 * np.linalg.pinv(fisher, hermitian=True)[:K, :K]
        out = {}
        for name, members in COMBOS.items():
            w = np.array([1.0 if n in members else 0.0 for n in prob.names])
            out[name] = 100 * np.sqrt(w @ cov @ w) / (w @ a)
        return out

    print(f"CRLB (% of the estimate), baseline lambda {args.stiffness:g}, NAA height/SD 80")
    print(f"{'free parameters':42s}" + "".join(f"{n:>8s}" for n in COMBOS))
    for keep in (["amplitudes"], ["amplitudes", "phase"], ["amplitudes", "lineshape"], ["amplitudes", "baseline"],
                 ["amplitudes", "phase", "lineshape"], ["amplitudes", "phase", "lineshape", "baseline"]):
        row = crlb_pct(keep)
        print(f"{' + '.join(keep):42s}" + "".join(f"{row[n]:8.1f}" for n in COMBOS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
