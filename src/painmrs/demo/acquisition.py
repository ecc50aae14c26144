"""Raw single-voxel acquisition model: clean signal in, realistic multi-coil transients out.

``simulate_raw_scan`` turns a clean (noise-free, coil-combined, averaged) FID into the raw
data a scanner would export, and returns the ground truth needed to check every processing
step. Signal model for coil ``c``, transient ``d`` and edit condition ``e`` (time ``t``)::

    x[t, c, d, e] = s_c * a_de * exp(i*(phi_de + 2*pi*f_de*t)) * L_de(t) * exp(i*ecc(t))
                    * (clean_e(t) + water_e(t)) + n[t, c, d, e]

- ``s_c``: complex coil sensitivity (magnitude and phase differ per coil);
- ``f_de``, ``phi_de``: per-transient frequency drift (linear + random walk, clipped to
  +/- ``max_drift_hz``) and zero-order phase (global offset + jitter), indexed in acquisition
  order (MEGA-PRESS interleaves OFF, ON, OFF, ON ...);
- ``a_de`` and ``L_de``: 1 except for motion-corrupted transients (amplitude loss, extra
  phase and frequency, Lorentzian lineshape broadening);
- ``ecc(t)``: eddy-current phase, the same in the water reference so that the Klose
  method (divide by the water phase) removes it;
- ``water_e``: residual water, a few damped components near 4.65 ppm;
- ``n``: complex Gaussian noise, correlated between coils with covariance ``Psi`` (identical
  for every time point and transient): ``E[n n^H] = Psi``.

SNR definition targeted (Osprey / FID-A style, facts.md §2.3): the maximum of the real part
of the clean reference spectrum in a peak window (NAA 1.8-2.2 ppm for PRESS; GABA+
2.8-3.2 ppm of DIFF = ON - OFF for MEGA-PRESS) divided by the standard deviation of the
real part of the noise spectrum (signal-free region, e.g. -2..0 ppm), after optimal
(noise-whitened, unit-gain) coil combination and averaging of all transients without
drift or corruption. For unnormalised FFTs the real-part spectral noise SD is
``sqrt(n_points * var_t / 2)`` with ``var_t = 1 / (s^H Psi^-1 s) / n_averages`` the complex
time-domain variance of the combined average; ``expected_snr`` evaluates it exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..lineshape import voigt_decay  # noqa: F401  (re-exported: demo.acquisition.voigt_decay)
from ..mrs import H2O_PPM, MRSData

EDIT_CONDITIONS = ("OFF", "ON")
NAA_WINDOW_PPM = (1.8, 2.2)
GABA_WINDOW_PPM = (2.8, 3.2)
NOISE_WINDOW_PPM = (-2.0, 0.0)


@dataclasses.dataclass(frozen=True)
class EddyCurrent:
    """Eddy-current phase: an exponentially decaying frequency offset.

    phase(t) = 2*pi*amplitude_hz*tau_s*(1 - exp(-t/tau_s)) (radians), i.e. the instantaneous
    frequency starts at ``amplitude_hz`` and decays with time constant ``tau_s``.
    """

    amplitude_hz: float = 15.0
    tau_s: float = 0.04

    def phase(self, t: np.ndarray) -> np.ndarray:
        if self.amplitude_hz == 0 or self.tau_s <= 0:
            return np.zeros_like(t)
        return 2 * np.pi * self.amplitude_hz * self.tau_s * (1 - np.exp(-t / self.tau_s))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class WaterComponent:
    """One damped residual-water line: amplitude (FID units at t=0), offset from 4.65 ppm."""

    amplitude: float
    offset_hz: float
    phase_deg: float
    lorentz_hz: float

    def fid(self, t: np.ndarray) -> np.ndarray:
        return (
            self.amplitude
            * np.exp(1j * np.deg2rad(self.phase_deg))
            * np.exp((2j * np.pi * self.offset_hz - np.pi * self.lorentz_hz) * t)
        )


# ---- helpers that draw realistic nuisance parameters --------------------------------------


def random_coil_sensitivities(rng: np.random.Generator, n_coils: int) -> np.ndarray:
    """Complex receive sensitivities: magnitudes 0.3-1.0 (largest first), random phases."""
    mag = np.sort(rng.uniform(0.3, 1.0, n_coils))[::-1]
    mag[0] = 1.0
    phase = rng.uniform(-np.pi, np.pi, n_coils)
    return mag * np.exp(1j * phase)


def random_noise_covariance(rng: np.random.Generator, n_coils: int, coupling: float = 0.35) -> np.ndarray:
    """Hermitian positive-definite coil noise covariance with mean diagonal 1.

    Per-coil noise levels differ (0.7-1.3 in SD) and neighbouring channels are correlated
    (complex correlation magnitudes of roughly 0.05-0.4 for ``coupling`` 0.35).
    """
    mix = np.eye(n_coils) + coupling * (
        rng.standard_normal((n_coils, n_coils)) + 1j * rng.standard_normal((n_coils, n_coils))
    ) / np.sqrt(2 * n_coils)
    cov = mix @ mix.conj().T
    d = np.sqrt(np.real(np.diag(cov)))
    corr = cov / np.outer(d, d)
    sd = rng.uniform(0.7, 1.3, n_coils)
    cov = corr * np.outer(sd, sd)
    return cov / np.mean(np.real(np.diag(cov)))


def random_residual_water(
    rng: np.random.Generator,
    total_amplitude: float,
    *,
    n_components: int = 3,
    centre_offset_hz: tuple[float, float] = (-6.0, 6.0),
    spread_hz: float = 8.0,
) -> list[WaterComponent]:
    """A few residual-water lines near 4.65 ppm with summed |amplitude| ``total_amplitude``."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    centre = rng.uniform(*centre_offset_hz)
    comps = []
    for w in weights:
        comps.append(
            WaterComponent(
                amplitude=float(total_amplitude * w),
                offset_hz=float(centre + rng.normal(0, spread_hz)),
                phase_deg=float(rng.uniform(-180, 180)),
                lorentz_hz=float(rng.uniform(4.0, 20.0)),
            )
        )
    return comps


def optimal_combination_weights(sensitivities: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Unit-gain noise-whitened (Roemer) weights: combined = sum_c w_c x_c = signal + noise."""
    s = np.asarray(sensitivities, dtype=complex)
    psi_inv_s = np.linalg.solve(np.asarray(covariance, dtype=complex), s)
    return psi_inv_s.conj() / np.real(s.conj() @ psi_inv_s)


def combined_noise_variance(sensitivities: np.ndarray, covariance: np.ndarray) -> float:
    """Complex time-domain noise variance E|n|^2 of one optimally combined transient."""
    s = np.asarray(sensitivities, dtype=complex)
    return float(1.0 / np.real(s.conj() @ np.linalg.solve(np.asarray(covariance, dtype=complex), s)))


def ppm_axis(n_points: int, dwell_s: float, spectrometer_mhz: float) -> np.ndarray:
    return H2O_PPM + np.fft.fftshift(np.fft.fftfreq(n_points, dwell_s)) / spectrometer_mhz


def peak_height(fid: np.ndarray, dwell_s: float, spectrometer_mhz: float, window_ppm=NAA_WINDOW_PPM) -> float:
    """Max of the real spectrum (unnormalised FFT, see ``MRSData.spectrum``) in ``window_ppm``."""
    spec = np.fft.fftshift(np.fft.fft(fid, axis=0), axes=0)
    ppm = ppm_axis(len(fid), dwell_s, spectrometer_mhz)
    sel = (ppm >= min(window_ppm)) & (ppm <= max(window_ppm))
    return float(np.max(spec.real[sel]))


def spectral_noise_sd(fid: np.ndarray, dwell_s: float, spectrometer_mhz: float, window_ppm=NOISE_WINDOW_PPM) -> float:
    """SD of the real spectrum in a signal-free window after removing a quadratic trend."""
    spec = np.fft.fftshift(np.fft.fft(fid, axis=0), axes=0).real
    ppm = ppm_axis(len(fid), dwell_s, spectrometer_mhz)
    sel = (ppm >= min(window_ppm)) & (ppm <= max(window_ppm))
    x, y = ppm[sel], spec[sel]
    trend = np.polyval(np.polyfit(x, y, 2), x)
    return float(np.std(y - trend, ddof=3))


def expected_snr(
    reference_fid: np.ndarray,
    *,
    dwell_s: float,
    spectrometer_mhz: float,
    n_averages: int,
    noise_sd: float,
    coil_sensitivities: np.ndarray,
    noise_covariance_norm: np.ndarray,
    window_ppm=NAA_WINDOW_PPM,
    noise_terms: int = 1,
) -> float:
    """SNR of ``reference_fid`` after optimal combination and averaging (module docstring).

    ``noise_terms`` is the number of independent averaged sub-spectra summed or subtracted
    into the reference (2 for DIFF = ON - OFF).
    """
    var_t = 2 * noise_sd**2 * combined_noise_variance(coil_sensitivities, noise_covariance_norm)
    var_t = var_t * noise_terms / n_averages
    sd_spec = np.sqrt(len(reference_fid) * var_t / 2)
    return peak_height(reference_fid, dwell_s, spectrometer_mhz, window_ppm) / sd_spec


def noise_sd_for_snr(snr: float, reference_fid: np.ndarray, **kwargs) -> float:
    """Per-coil noise SD (real and imaginary parts each) that gives ``snr`` (see ``expected_snr``)."""
    return float(expected_snr(reference_fid, noise_sd=1.0, **kwargs) / snr)


def drift_trajectory(
    rng: np.random.Generator,
    n_transients: int,
    start_end_hz: tuple[float, float],
    *,
    walk_sd_hz: float = 0.3,
    max_drift_hz: float = 10.0,
) -> np.ndarray:
    """Linear drift from start to end plus a zero-start random walk, clipped to +/- max."""
    linear = np.linspace(start_end_hz[0], start_end_hz[1], n_transients)
    steps = rng.normal(0.0, walk_sd_hz, n_transients)
    steps[0] = 0.0
    return np.clip(linear + np.cumsum(steps), -max_drift_hz, max_drift_hz)


# ---- the raw-scan model ------------------------------------------------------------------


def simulate_raw_scan(
    clean_fid: np.ndarray | None,
    *,
    dwell_s: float,
    spectrometer_mhz: float,
    n_transients: int,
    n_coils: int,
    noise_sd: float | None,
    rng: np.random.Generator,
    drift_hz: tuple[float, float] | np.ndarray = (0.0, 0.0),
    drift_walk_hz: float = 0.3,
    max_drift_hz: float = 10.0,
    phase_jitter_deg: float = 3.0,
    phase0_deg: float = 0.0,
    n_corrupted: int = 0,
    eddy_current: EddyCurrent | None = None,
    residual_water: Sequence[WaterComponent] | None = None,
    coil_sensitivities: np.ndarray | None = None,
    noise_covariance: np.ndarray | None = None,
    edit_fids: Sequence[np.ndarray] | Mapping[str, np.ndarray] | None = None,
    snr_target: float | None = None,
    snr_window_ppm: tuple[float, float] | None = None,
    header: Mapping[str, Any] | None = None,
    affine: np.ndarray | None = None,
    dtype=np.complex64,
) -> tuple[MRSData, dict]:
    """Raw multi-coil, multi-transient data for one scan, and its ground truth.

    ``clean_fid`` (n_points,) is the ideal combined signal (metabolites + MM, Voigt lines).
    For MEGA-PRESS give ``edit_fids`` = (OFF, ON) or {"OFF": ..., "ON": ...} instead; the
    output then has a DIM_EDIT axis (0 = OFF, 1 = ON) and DIM_DYN holds ``n_transients``
    pairs. ``noise_sd`` is the SD of the real (and of the imaginary) part of each coil's
    noise for a coil of unit relative noise; ``noise_covariance`` (n_coils, n_coils) is the
    *relative* covariance (mean diagonal 1, drawn if None) so the absolute covariance is
    ``2 * noise_sd**2 * noise_covariance``. If ``snr_target`` is given, ``noise_sd`` is
    derived from it (module docstring). ``drift_hz`` is (start, end) of a linear drift plus
    a random walk of step SD ``drift_walk_hz``, or an explicit array (one value per transient
    in acquisition order, shape (n_transients,) or (n_transients, 2) for MEGA-PRESS).

    Returns ``(MRSData, truth)``; truth arrays are indexed like the data's DIM_DYN (and
    DIM_EDIT) axes: ``freq_hz``, ``phase_deg``, ``amplitude``, ``corrupted`` (DIM_DYN indices),
    ``coil_sensitivities``, ``noise_covariance`` (absolute, E[n n^H] per sample), ``noise_sd``,
    ``clean_fid`` (what ideal processing should recover: (n,) or (n, 2) OFF/ON), ``ecc_phase_rad``,
    ``residual_water`` (list of component dicts), ``snr_target`` and ``snr_expected``.
    """
    clean, mega = _clean_conditions(clean_fid, edit_fids)
    n_points, n_edit = clean.shape
    if n_transients < 1 or n_coils < 1:
        raise InputError(None, "n_transients/n_coils", "must be >= 1")
    if not 0 <= n_corrupted <= n_transients:
        raise InputError(None, "n_corrupted", f"must be in 0..{n_transients}, got {n_corrupted}")
    t = np.arange(n_points) * dwell_s

    # Fixed order of random draws (determinism): coils, covariance, drift, phase, corruption, noise.
    sens, cov_norm = _coil_model(rng, n_coils, coil_sensitivities, noise_covariance)
    snr_window = snr_window_ppm or (GABA_WINDOW_PPM if mega else NAA_WINDOW_PPM)
    reference = clean[:, 1] - clean[:, 0] if mega else clean[:, 0]
    snr_kwargs = dict(dwell_s=dwell_s, spectrometer_mhz=spectrometer_mhz, n_averages=n_transients,
                      coil_sensitivities=sens, noise_covariance_norm=cov_norm, window_ppm=snr_window,
                      noise_terms=2 if mega else 1)
    if snr_target is not None:
        noise_sd = noise_sd_for_snr(snr_target, reference, **snr_kwargs)
    if noise_sd is None or not np.isfinite(noise_sd) or noise_sd < 0:
        raise InputError(None, "noise_sd", f"need a non-negative noise SD or an snr_target, got {noise_sd!r}")

    tr = _transient_draws(rng, n_transients, n_edit, drift_hz, drift_walk_hz, max_drift_hz, phase0_deg,
                          phase_jitter_deg, n_corrupted)
    ecc, water, base = _base_signal(clean, t, eddy_current, residual_water)
    data = _coil_data(rng, base, t, tr, sens, cov_norm, noise_sd)
    if not mega:
        data = data[..., 0]
    mrs = _raw_mrs(data.astype(dtype, copy=False), mega, header, dwell_s, spectrometer_mhz, affine)

    truth = _scan_truth(clean, mega, tr, sens, cov_norm, noise_sd, ecc, eddy_current, residual_water, water,
                        snr_target, reference, snr_kwargs)
    return mrs, truth


def _clean_conditions(clean_fid, edit_fids) -> tuple[np.ndarray, bool]:
    """The clean signal as (n_points, n_edit) -- one column (PRESS) or OFF, ON (MEGA-PRESS) --
    and whether it is edited."""
    if edit_fids is not None:
        if isinstance(edit_fids, Mapping):
            try:
                edit_fids = [edit_fids["OFF"], edit_fids["ON"]]
            except KeyError as exc:
                raise InputError(None, "edit_fids", f"needs OFF and ON entries, missing {exc}") from None
        clean = np.stack([np.asarray(f, dtype=complex) for f in edit_fids], axis=1)
        if clean.shape[1] != 2:
            raise InputError(None, "edit_fids", f"need exactly (OFF, ON), got {clean.shape[1]} conditions")
        return clean, True
    if clean_fid is None:
        raise InputError(None, "clean_fid", "give clean_fid (PRESS) or edit_fids (MEGA-PRESS)")
    return np.asarray(clean_fid, dtype=complex).reshape(-1, 1), False


def _transient_draws(rng, n_transients, n_edit, drift_hz, drift_walk_hz, max_drift_hz, phase0_deg, phase_jitter_deg,
                     n_corrupted) -> dict:
    """Per-acquisition (d * n_edit + e) frequency, phase, amplitude and extra broadening, with
    the corrupted transients; random draws in the order drift, phase, corruption."""
    n_acq = n_transients * n_edit  # acquisition order: d * n_edit + e
    if isinstance(drift_hz, tuple) or (np.ndim(drift_hz) == 1 and len(drift_hz) == 2 and n_acq != 2):
        freq = drift_trajectory(rng, n_acq, tuple(drift_hz), walk_sd_hz=drift_walk_hz, max_drift_hz=max_drift_hz)
    else:
        freq = np.asarray(drift_hz, dtype=float).reshape(-1)
        if freq.size != n_acq:
            raise InputError(None, "drift_hz", f"need {n_acq} per-transient values, got {freq.size}")
    phase = phase0_deg + rng.normal(0.0, phase_jitter_deg, n_acq)
    amplitude = np.ones(n_acq)
    extra_lorentz = np.zeros(n_acq)
    corrupted = np.sort(rng.choice(n_transients, size=n_corrupted, replace=False)) if n_corrupted else np.array([], int)
    corruption = []
    for d in corrupted:
        loss = rng.uniform(0.3, 0.7)
        dphi = rng.choice([-1, 1]) * rng.uniform(30, 90)
        dfreq = rng.choice([-1, 1]) * rng.uniform(4, 12)
        broad = rng.uniform(5, 15)
        for e in range(n_edit):
            k = d * n_edit + e
            amplitude[k] *= loss
            phase[k] += dphi
            freq[k] += dfreq
            extra_lorentz[k] = broad
        corruption.append(
            {
                "index": int(d),
                "amplitude": loss,
                "extra_phase_deg": dphi,
                "extra_freq_hz": dfreq,
                "extra_lorentz_hz": broad,
            }
        )
    return {"freq": freq, "phase": phase, "amplitude": amplitude, "extra_lorentz": extra_lorentz,
            "corrupted": corrupted, "corruption": corruption}


def _base_signal(clean, t, eddy_current, residual_water):
    """(eddy-current phase, residual water FID, base signal (n, E)): the clean signal plus
    residual water, with the eddy-current phase applied."""
    n_points = t.size
    ecc = eddy_current.phase(t) if eddy_current is not None else np.zeros(n_points)
    water = np.zeros(n_points, dtype=complex)
    for comp in residual_water or ():
        water = water + comp.fid(t)
    base = (clean + water[:, None]) * np.exp(1j * ecc)[:, None]  # (n, E)
    return ecc, water, base


def _coil_data(rng, base, t, tr: dict, sens, cov_norm, noise_sd) -> np.ndarray:
    """(n, C, D, E) coil data: the base signal (n, E) modulated per transient, times the coil
    sensitivities, plus correlated coil noise (the last random draw of the scan)."""
    n_points, n_edit = base.shape
    n_transients, n_coils = tr["freq"].size // n_edit, sens.size
    # Transient modulation (n, D, E): amplitude, phase, frequency, extra broadening.
    shape_de = (n_transients, n_edit)
    mod = (tr["amplitude"] * np.exp(1j * np.deg2rad(tr["phase"]))).reshape(shape_de)
    rate = (2j * np.pi * tr["freq"] - np.pi * tr["extra_lorentz"]).reshape(shape_de)
    signal = base[:, None, :] * mod[None] * np.exp(t[:, None, None] * rate[None])

    # Correlated coil noise: n = L z with L L^H = 2 noise_sd^2 cov_norm, z ~ CN(0, I) per component.
    chol = np.linalg.cholesky(cov_norm)
    z = rng.standard_normal((n_points, n_transients, n_edit, n_coils, 2), dtype=np.float32)
    z = (z[..., 0] + 1j * z[..., 1]) * np.float32(noise_sd)
    noise = z @ chol.T.astype(np.complex64)  # (n, D, E, C)

    data = signal[:, :, :, None] * sens[None, None, None, :] + noise
    return np.moveaxis(data, 3, 1)  # (n, C, D, E)


def _raw_mrs(data, mega: bool, header, dwell_s, spectrometer_mhz, affine) -> MRSData:
    hdr = dict(header or {})
    tags = ("DIM_COIL", "DIM_DYN") + (("DIM_EDIT",) if mega else ())
    if mega:
        meta = dict(hdr.get("painmrs_dim_meta", {}))
        meta["DIM_EDIT_header"] = {"EditCondition": list(EDIT_CONDITIONS)}
        hdr["painmrs_dim_meta"] = meta
    return MRSData(
        fid=data,
        dwell_s=dwell_s,
        spectrometer_mhz=spectrometer_mhz,
        dim_tags=tags,
        affine=np.eye(4) if affine is None else affine,
        header=hdr,
    )


def _scan_truth(clean, mega, tr, sens, cov_norm, noise_sd, ecc, eddy_current, residual_water, water, snr_target,
                reference, snr_kwargs) -> dict:
    """The truth dict of :func:`simulate_raw_scan` (see its docstring)."""
    n_edit = clean.shape[1]
    snr_window = snr_kwargs["window_ppm"]

    def per_dyn(x):
        x = np.asarray(x).reshape(-1, n_edit)
        return x if mega else x[:, 0]

    return {
        "freq_hz": per_dyn(tr["freq"]),
        "phase_deg": per_dyn(tr["phase"]),
        "amplitude": per_dyn(tr["amplitude"]),
        "extra_lorentz_hz": per_dyn(tr["extra_lorentz"]),
        "corrupted": [int(i) for i in tr["corrupted"]],
        "corruption": tr["corruption"],
        "coil_sensitivities": sens,
        "noise_covariance": 2 * noise_sd**2 * cov_norm,
        "noise_covariance_norm": cov_norm,
        "noise_sd": float(noise_sd),
        "clean_fid": clean if mega else clean[:, 0],
        "ecc_phase_rad": ecc,
        "eddy_current": None if eddy_current is None else eddy_current.as_dict(),
        "residual_water": [dataclasses.asdict(c) for c in residual_water or ()],
        "residual_water_fid": water,
        "snr_target": None if snr_target is None else float(snr_target),
        "snr_expected": float(expected_snr(reference, noise_sd=noise_sd, **snr_kwargs)) if noise_sd > 0 else np.inf,
        "snr_window_ppm": list(snr_window),
        "snr_definition": (
            "max Re(spectrum) in snr_window_ppm of the clean "
            + ("DIFF = ON - OFF" if mega else "spectrum")
            + " / SD of Re(noise spectrum), after optimal coil combination and averaging of all transients"
        ),
        "edit_conditions": list(EDIT_CONDITIONS) if mega else None,
    }


def _coil_model(rng, n_coils, coil_sensitivities, noise_covariance):
    """Coil sensitivities and relative noise covariance: the given ones, or drawn (in that order)."""
    if coil_sensitivities is None:
        coil_sensitivities = random_coil_sensitivities(rng, n_coils)
    sens = np.asarray(coil_sensitivities, dtype=complex)
    if noise_covariance is None:
        noise_covariance = random_noise_covariance(rng, n_coils)
    cov_norm = np.asarray(noise_covariance, dtype=complex)
    if sens.shape != (n_coils,) or cov_norm.shape != (n_coils, n_coils):
        raise InputError(None, "coil_sensitivities/noise_covariance", f"shapes must match n_coils={n_coils}")
    return sens, cov_norm
