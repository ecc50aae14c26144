"""Monte Carlo validation of the fit: spectra simulated from one basis, fitted with another.

Used by ``tests/test_fit_montecarlo.py`` (few realisations) and ``bench/bench_fit.py``
(100 realisations). Truth is carried across basis sets on the per-proton scale
(:func:`painmrs.fitting.water.basis_proton_unit`), so amplitudes compare directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from ..basis.basis_set import BasisSet
from ..mrs import MRSData
from .model import DEFAULT_COMBINATIONS, FitOptions, fit_spectrum, resample_basis
from .water import basis_proton_unit

# spant "normal_v2" grey-matter amplitudes (facts.md 1.2 A), mM.
NORMAL_BRAIN_MM = {
    "NAA": 10.0, "NAAG": 2.0, "Cr": 5.0, "PCr": 4.5, "GPC": 1.2, "PCh": 0.5, "mI": 5.0, "sI": 0.4, "Glu": 10.0,
    "Gln": 3.0, "GABA": 1.0, "GSH": 2.0, "Lac": 0.5, "Asp": 1.5, "Tau": 1.5, "Gly": 1.0, "Ala": 0.2, "Glc": 1.0,
    "PE": 0.8,
}
# mI+Gly: the Gly singlet (3.55 ppm) sits on the mI multiplet (amplitude correlation about
# -0.9 at 3 T), so the sum is far better determined than either (LCModel reports "Ins+Gly").
MC_COMBINATIONS = {**DEFAULT_COMBINATIONS, "mI+Gly": ("mI", "Gly")}
GAUSS_FWHM_PER_S = 2.0 * np.sqrt(np.log(2.0)) / np.pi  # Gaussian FWHM (Hz) of exp(-(s t)^2) per unit s


@dataclasses.dataclass(frozen=True)
class SimulationSettings:
    snr: float = 40.0  # NAA peak height / noise SD (per real component)
    lorentz_hz: tuple[float, float] = (2.0, 5.0)  # added Lorentzian FWHM range
    gauss_fwhm_hz: tuple[float, float] = (3.0, 8.0)  # added Gaussian FWHM range
    shift_hz: tuple[float, float] = (-3.0, 3.0)
    phase_deg: tuple[float, float] = (-10.0, 10.0)
    baseline_scale: float = 0.05  # broad-Gaussian baseline height relative to the NAA peak
    concentration_cv: float = 0.0  # between-realisation variation of true amplitudes
    snr_window_ppm: tuple[float, float] = (1.9, 2.1)  # peak defining the SNR (NAA; 2.9-3.1 for GABA+ in DIFF)


def simulate_spectrum(
    basis: BasisSet,
    amplitudes: Mapping[str, float],
    *,
    n_points: int,
    dwell_s: float,
    spectrometer_mhz: float,
    lorentz_hz: float,
    gauss_fwhm_hz: float,
    shift_hz: float,
    phase_deg: float,
    baseline: Sequence[tuple[float, float, float]] = (),
    noise_sd: float = 0.0,
    rng: np.random.Generator | None = None,
) -> MRSData:
    """FID = sum a_k basis_k with Voigt broadening, shift, phase, broad-Gaussian baseline
    ((ppm, height, fwhm_ppm) in spectrum units) and complex white noise of SD ``noise_sd``
    per real component **of the spectrum** (time-domain SD = noise_sd / sqrt(n))."""
    names = [n for n in amplitudes if n in basis.names]
    fids = resample_basis(basis, n_points, dwell_s)
    idx = [basis.index(n) for n in names]
    a = np.array([amplitudes[n] for n in names])
    t = np.arange(n_points) * dwell_s
    s = gauss_fwhm_hz / GAUSS_FWHM_PER_S
    env = np.exp((-np.pi * lorentz_hz + 2j * np.pi * shift_hz) * t - (s * t) ** 2)
    fid = (fids[:, idx] @ a) * env * np.exp(1j * np.radians(phase_deg))
    if baseline:
        freq = np.fft.fftshift(np.fft.fftfreq(n_points, dwell_s))
        ppm = basis.ppm_reference + freq / spectrometer_mhz
        spec = np.zeros(n_points, complex)
        for centre, height, fwhm in baseline:
            sig = fwhm / 2.3548
            spec += height * np.exp(-0.5 * ((ppm - centre) / sig) ** 2)
        fid = fid + np.fft.ifft(np.fft.ifftshift(spec))
    if noise_sd > 0:
        rng = rng or np.random.default_rng(0)
        sd_t = noise_sd / np.sqrt(n_points)
        fid = fid + sd_t * (rng.standard_normal(n_points) + 1j * rng.standard_normal(n_points))
    return MRSData(fid=fid, dwell_s=dwell_s, spectrometer_mhz=spectrometer_mhz,
                   header={"EchoTime": basis.echo_time_s or 0.03, "RepetitionTime": 2.0})


def _estimate(fit, name: str, combinations: Mapping[str, Sequence[str]]) -> tuple[float, float]:
    """Amplitude and CRLB SD of a basis name or of a combination (sum of members, SD from the
    fit's amplitude covariance), also for combinations the fit itself was not asked for."""
    if name in fit.names or name in fit.combos:
        return fit.amplitude(name), fit.sd(name)
    idx = [fit.names.index(m) for m in combinations[name] if m in fit.names]
    w = np.zeros(len(fit.names))
    w[idx] = 1.0
    return float(w @ fit.amplitudes), float(np.sqrt(max(w @ fit.covariance @ w, 0.0)))


def peak_height(mrs: MRSData, lo: float = 1.9, hi: float = 2.1) -> float:
    spec = mrs.spectrum().real
    m = (mrs.ppm > lo) & (mrs.ppm < hi)
    return float(spec[m].max())


@dataclasses.dataclass
class MonteCarloResult:
    names: list[str]
    truth: dict[str, float]  # in fit-basis units
    estimates: np.ndarray  # (n_real, n_names)
    crlbs: np.ndarray  # (n_real, n_names)
    times_s: list[float]

    def summary(self) -> list[dict]:
        out = []
        for j, n in enumerate(self.names):
            est, crlb, true = self.estimates[:, j], self.crlbs[:, j], self.truth[n]
            out.append({
                "metabolite": n,
                "truth": true,
                "mean": float(est.mean()),
                "bias_pct": float(100 * (est.mean() - true) / true),
                "mae_pct": float(100 * np.mean(np.abs(est - true)) / true),
                "sd": float(est.std(ddof=1)) if len(est) > 1 else float("nan"),
                "mean_crlb": float(crlb.mean()),
                "sd_over_crlb": float(est.std(ddof=1) / crlb.mean()) if len(est) > 1 and crlb.mean() > 0 else float("nan"),
            })
        return out


def monte_carlo(
    sim_basis: BasisSet,
    fit_basis: BasisSet,
    truth_mM: Mapping[str, float],
    *,
    n_realisations: int,
    settings: SimulationSettings = SimulationSettings(),
    fit_options: FitOptions = FitOptions(),
    n_points: int = 2048,
    dwell_s: float = 1 / 4000,
    spectrometer_mhz: float = 123.2,
    report: Sequence[str] = ("tNAA", "tCr", "tCho", "mI", "Glx", "Glu", "Gln", "GSH", "GABA"),
    combinations: Mapping[str, Sequence[str]] = MC_COMBINATIONS,
    seed: int = 1,
    proton_units: tuple[float, float] | None = None,
) -> MonteCarloResult:
    """Fit ``n_realisations`` noisy spectra of ``sim_basis`` with ``fit_basis``.

    ``truth_mM`` holds amplitudes in per-proton-normalised units (mM for a basis whose
    proton unit is known); the MM components of ``sim_basis`` are given there too.
    """
    import time

    # Per-proton units of the two bases (given explicitly for edited DIFF bases, whose Cr is ~0).
    u_sim, u_fit = proton_units or (basis_proton_unit(sim_basis)[0], basis_proton_unit(fit_basis)[0])
    sim_amps = {n: v / u_sim * 1.0 for n, v in truth_mM.items() if n in sim_basis.names}
    truth_fit = {n: v / u_fit for n, v in truth_mM.items()}
    for c, members in combinations.items():
        if c not in truth_fit:
            truth_fit[c] = sum(truth_fit.get(m, 0.0) for m in members)
    rng = np.random.default_rng(seed)
    clean0 = simulate_spectrum(sim_basis, sim_amps, n_points=n_points, dwell_s=dwell_s, spectrometer_mhz=spectrometer_mhz,
                               lorentz_hz=np.mean(settings.lorentz_hz), gauss_fwhm_hz=np.mean(settings.gauss_fwhm_hz),
                               shift_hz=0.0, phase_deg=0.0)
    noise_sd = peak_height(clean0, *settings.snr_window_ppm) / settings.snr
    names = [n for n in report if n in truth_fit and truth_fit[n] > 0]
    est = np.zeros((n_realisations, len(names)))
    crl = np.zeros_like(est)
    times = []
    for r in range(n_realisations):
        u = lambda lohi: float(rng.uniform(*lohi))  # noqa: E731
        amps = dict(sim_amps)
        if settings.concentration_cv:
            amps = {k: v * max(0.0, 1 + settings.concentration_cv * rng.standard_normal()) for k, v in amps.items()}
        height = noise_sd * settings.snr
        base = [(float(rng.uniform(0.5, 4.0)), settings.baseline_scale * height * float(rng.uniform(-1, 1)),
                 float(rng.uniform(1.0, 2.5))) for _ in range(3)]
        mrs = simulate_spectrum(sim_basis, amps, n_points=n_points, dwell_s=dwell_s, spectrometer_mhz=spectrometer_mhz,
                                lorentz_hz=u(settings.lorentz_hz), gauss_fwhm_hz=u(settings.gauss_fwhm_hz),
                                shift_hz=u(settings.shift_hz), phase_deg=u(settings.phase_deg), baseline=base,
                                noise_sd=noise_sd, rng=rng)
        t0 = time.perf_counter()
        fit = fit_spectrum(mrs, fit_basis, fit_options)
        times.append(time.perf_counter() - t0)
        scale = {k: amps.get(k, 0) / sim_amps[k] if sim_amps.get(k) else 1.0 for k in amps}
        for j, n in enumerate(names):
            est[r, j], crl[r, j] = _estimate(fit, n, combinations)
        if settings.concentration_cv:  # express as ratio to this realisation's truth
            for j, n in enumerate(names):
                members = combinations.get(n, (n,))
                true_r = sum(truth_fit.get(m, 0) * scale.get(m, 1.0) for m in members)
                est[r, j] *= truth_fit[n] / true_r
                crl[r, j] *= truth_fit[n] / true_r
    return MonteCarloResult(names=names, truth={n: truth_fit[n] for n in names}, estimates=est, crlbs=crl, times_s=times)
