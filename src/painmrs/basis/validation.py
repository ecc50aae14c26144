"""Compare a simulated basis with a reference basis (e.g. a published LCModel set).

Method (the one used for the validation figures in the tests and the closing note):

1. Lineshape and frequency of the reference are measured on one of its singlets (default
   the NAA acetyl CH3 at 2.008 ppm): a Voigt line (Lorentzian + Gaussian FWHM, frequency,
   complex amplitude) is fitted to the zero-filled spectrum within +-0.1 ppm.
2. The simulated basis, made with zero intrinsic linewidth on the reference's time grid,
   gets that Voigt envelope and the frequency offset, so both sets have equal lines and the
   same frequency reference (reference sets differ in intrinsic width and in their ppm
   reference, e.g. 4.65 vs 4.68 ppm).
3. The same extra Lorentzian broadening (default 5 Hz) is applied to both; the real parts of
   the spectra (4x zero-filled) are compared by Pearson correlation over 0.2-4.2 ppm.

Each reference set is simulated the way it was made: ideal refocusing for the ISMRM 2016
challenge set (its README), shaped slice-selective refocusing for the Osprey vendor sets
(``REFERENCE_REFOCUSING``). ``python -m painmrs.basis.validation ../shared/data`` prints
the table for both modes on every set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.optimize

from .basis_set import BasisSet
from .pulses import RefocusingPulse


def fit_singlet(basis: BasisSet, fid: np.ndarray, ppm: float, half_window_ppm: float = 0.1, zero_fill: int = 4) -> dict:
    """Voigt fit of one singlet: amplitude (complex), freq_hz, lorentz_hz, gauss_hz (FWHMs)."""
    t = basis.time_s
    n = t.size * zero_fill
    spec = np.fft.fftshift(np.fft.fft(fid, n=n))
    axis = basis.ppm_reference + np.fft.fftshift(np.fft.fftfreq(n, basis.dwell_s)) / basis.spectrometer_mhz
    sel = np.abs(axis - ppm) < half_window_ppm

    def model(p):
        ar, ai, f, lor, gau = p
        return (ar + 1j * ai) * np.exp(
            2j * np.pi * f * t - np.pi * abs(lor) * t - (np.pi * gau * t) ** 2 / (4 * np.log(2))
        )

    def residual(p):
        d = (np.fft.fftshift(np.fft.fft(model(p), n=n)) - spec)[sel]
        return np.concatenate([d.real, d.imag])

    f0 = (ppm - basis.ppm_reference) * basis.spectrometer_mhz
    best = None
    for lor, gau in ((1.0, 1.0), (3.0, 0.1), (0.1, 3.0)):
        r = scipy.optimize.least_squares(residual, [abs(fid[0]), 0.0, f0, lor, gau])
        if best is None or r.cost < best.cost:
            best = r
    ar, ai, f, lor, gau = best.x
    return {
        "amplitude": complex(ar, ai),
        "freq_hz": float(f),
        "lorentz_hz": float(abs(lor)),
        "gauss_hz": float(abs(gau)),
    }


def _spectra(fids: np.ndarray, basis: BasisSet, broadening_hz: float, zero_fill: int):
    t = basis.time_s
    f = fids * np.exp(-np.pi * broadening_hz * t)[:, None]
    n = basis.n_points * zero_fill
    spec = np.fft.fftshift(np.fft.fft(f, n=n, axis=0), axes=0)
    axis = basis.ppm_reference + np.fft.fftshift(np.fft.fftfreq(n, basis.dwell_s)) / basis.spectrometer_mhz
    return axis, spec


def correlate_with_reference(
    reference: BasisSet,
    simulated: BasisSet,
    names: Sequence[str] | None = None,
    *,
    singlet: tuple[str, float] = ("NAA", 2.008),
    broadening_hz: float = 5.0,
    ppm_range: tuple[float, float] = (0.2, 4.2),
    zero_fill: int = 4,
) -> tuple[dict[str, float], dict]:
    """Pearson r per metabolite (see module doc) and the measured reference lineshape.

    ``simulated`` must be on the reference's time grid and have zero intrinsic linewidth;
    ``singlet`` = (name, nominal ppm) of the singlet used for lineshape and frequency.
    """
    if simulated.n_points != reference.n_points or abs(simulated.dwell_s - reference.dwell_s) > 1e-12:
        raise ValueError("simulated basis must be on the reference's time grid")
    name, ppm = singlet
    # The reference may be centred on another ppm (e.g. 4.68): look for its singlet near
    # the nominal position on its own axis, +-0.1 ppm.
    shape = fit_singlet(reference, reference.fid(name), ppm)
    t = reference.time_s
    env = np.exp(-np.pi * shape["lorentz_hz"] * t - (np.pi * shape["gauss_hz"] * t) ** 2 / (4 * np.log(2)))
    sim_freq = (ppm - simulated.ppm_reference) * simulated.spectrometer_mhz
    shift_hz = shape["freq_hz"] - sim_freq
    sim_fids = simulated.fids * (env * np.exp(2j * np.pi * shift_hz * t))[:, None]
    ax_r, spec_r = _spectra(reference.fids, reference, broadening_hz, zero_fill)
    _, spec_s = _spectra(sim_fids, reference, broadening_hz, zero_fill)
    sel = (ax_r > ppm_range[0]) & (ax_r < ppm_range[1])
    names = [n for n in (names or simulated.names) if n in reference.names and n in simulated.names]
    out = {
        n: float(np.corrcoef(spec_r[sel, reference.index(n)].real, spec_s[sel, simulated.index(n)].real)[0, 1])
        for n in names
    }
    shape["shift_hz"] = float(shift_hz)
    return out, shape


def truncate(basis: BasisSet, n_points: int) -> BasisSet:
    """First ``n_points`` of every FID (for comparing long reference sets faster)."""
    return basis.replace(fids=np.ascontiguousarray(basis.fids[: int(n_points)]))


# ---------------------------------------------------------------------------------------
# the validation targets of issue 2 §4 (used by tests/test_basis_validation.py)
# ---------------------------------------------------------------------------------------
VALIDATED = ("NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "mI", "Glu", "Gln", "GABA", "Tau", "Lac", "Asp", "GSH")

#: name -> (path below the shared data folder, TE ms, TE1 ms, ppm reference of the set).
#: Challenge: TE1/TE2 = 11/19 ms as published. Osprey TE 35 sets: the split is not
#: published; TE1 was chosen on a 1 ms grid (12-20 ms) as the value maximising the mean
#: correlation over the coupled metabolites (Siemens 16 and 17 tie at 0.9922 -> 17;
#: Philips 15 -> 0.9871). Both are plausible vendor splits (a short first echo holding the
#: excitation and first refocusing pulses). Osprey centres its sets on 4.68 ppm.
REFERENCE_SETS = {
    "challenge2016_TE30": ("challenge2016/basisset_LCModel/press3T_30ms.BASIS", 30.0, 11.0, 4.65),
    "osprey_siemens_TE35": ("basis/3T_PRESS_Siemens_35ms_noMM.BASIS", 35.0, 17.0, 4.68),
    "osprey_philips_TE35": ("basis/3T_PRESS_Philips_35ms_noMM.BASIS", 35.0, 15.0, 4.68),
}

#: Refocusing used for each reference set in the validation ("auto" mode). The Osprey TE 35
#: sets were made for vendor sequences with shaped, slice-selective refocusing pulses, so
#: they are compared with our spatially resolved shaped-pulse simulation; the pulses are
#: generic Hamming-windowed sincs with vendor-typical numbers (see painmrs.basis.pulses):
#: Philips 6.9 ms (the duration of the Philips PRESS refocusing pulse named in public
#: FID-A / MRSCloud scripts), Siemens 7 ms; refocusing-profile FWHM 1.3 / 1.2 kHz, typical
#: of 3 T PRESS. These numbers were NOT fitted to the reference sets: they were set before
#: the first comparison, and swapping the two vendors' pulses, or a 1.5x instead of 2x
#: simulated field of view, changes no correlation by more than 0.003 (see the report in
#: tests/test_basis_validation.py). The TE1 splits above were chosen with ideal pulses.
#: The challenge set was simulated with ideal pulses (challenge README): "ideal".
REFERENCE_REFOCUSING = {
    "challenge2016_TE30": None,
    "osprey_siemens_TE35": RefocusingPulse(duration_ms=7.0, bandwidth_hz=1200.0),
    "osprey_philips_TE35": RefocusingPulse(duration_ms=6.9, bandwidth_hz=1300.0),
}

#: The generic shaped pulse used for the challenge set when validating in "shaped" mode.
CHALLENGE_SHAPED_PULSE = RefocusingPulse(duration_ms=7.0, bandwidth_hz=1200.0)


def reference_refocusing(key: str, mode: str = "auto") -> tuple[str, RefocusingPulse | None]:
    """(refocusing mode, pulse) used for reference set ``key``: "auto" (the set's own, see
    ``REFERENCE_REFOCUSING``), "ideal", or "shaped" (the set's pulse, or the generic one)."""
    if mode == "ideal":
        return "ideal", None
    pulse = REFERENCE_REFOCUSING[key]
    if mode == "shaped":
        return "shaped", pulse or CHALLENGE_SHAPED_PULSE
    if mode != "auto":
        raise ValueError(f"mode must be auto, ideal or shaped, got {mode!r}")
    return ("ideal", None) if pulse is None else ("shaped", pulse)


def validate_against(
    shared_data,
    key: str,
    names: Sequence[str] = VALIDATED,
    max_points: int = 4096,
    refocusing: str = "auto",
    **sim_options,
):
    """Correlations of our simulated PRESS basis with one reference set of ``REFERENCE_SETS``.

    ``refocusing``: "auto" (shaped pulses for the Osprey TE 35 sets, ideal for the
    challenge set), "ideal" or "shaped".
    """
    from pathlib import Path

    from .readers import load_basis
    from .simulate import simulate_basis

    mode, pulse = reference_refocusing(key, refocusing)
    if mode == "shaped" and "refocusing_pulse" not in sim_options:
        sim_options["refocusing_pulse"] = pulse
    rel, te, te1, ref_ppm = REFERENCE_SETS[key]
    ref = load_basis(Path(shared_data) / rel, ppm_reference=ref_ppm)
    if ref.n_points > max_points:
        ref = truncate(ref, max_points)  # FIDs have decayed to < 1e-9 by then with 5 Hz added
    sim = simulate_basis(
        [n for n in names if n in ref.names],
        echo_time_ms=te,
        te1_ms=te1,
        spectrometer_mhz=ref.spectrometer_mhz,
        dwell_s=ref.dwell_s,
        n_points=ref.n_points,
        linewidth_hz=0.0,
        ppm_reference=ref.ppm_reference,
        refocusing=mode,
        **sim_options,
    )
    return correlate_with_reference(ref, sim, names)


def main(argv=None) -> int:
    """Print the validation table for both refocusing modes:
    ``python -m painmrs.basis.validation ../shared/data`` (add ``--metabolites Lac,GABA``)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m painmrs.basis.validation")
    parser.add_argument("shared", nargs="?", default="../shared/data")
    parser.add_argument("--metabolites", default=",".join(VALIDATED))
    parser.add_argument("--modes", default="ideal,shaped")
    args = parser.parse_args(argv)
    names = [n for n in args.metabolites.split(",") if n]
    results = {}
    for key in REFERENCE_SETS:
        for mode in args.modes.split(","):
            t0 = time.process_time()
            results[f"{key}:{mode}"], shape = validate_against(args.shared, key, names, refocusing=mode)
            _, pulse = reference_refocusing(key, mode)
            what = "ideal" if pulse is None else f"shaped {pulse.duration_ms} ms / {pulse.bandwidth_hz:.0f} Hz"
            print(
                f"# {key}:{mode}: TE1/TE2 = {REFERENCE_SETS[key][2]}/{REFERENCE_SETS[key][1] - REFERENCE_SETS[key][2]} ms, "
                f"{what}, reference lineshape L {shape['lorentz_hz']:.2f} Hz + G {shape['gauss_hz']:.2f} Hz, "
                f"{time.process_time() - t0:.1f} s CPU"
            )
    print("metabolite\t" + "\t".join(results))
    for name in names:
        print(name + "\t" + "\t".join(f"{results[k].get(name, float('nan')):.4f}" for k in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
