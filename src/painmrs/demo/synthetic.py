"""Noise-free test spectra with exact truth, for the processing tests and benchmarks.

A few singlets (NAA 2.008, tCr 3.027 and 3.913, tCho 3.20 ppm) and, for MEGA-PRESS, an
edited GABA+ signal at 3.0 ppm built from the multiplet structure described in facts.md
§1.7: two outer lines of slightly unequal height (J ~ 7.3 Hz) and a smaller centre line,
plus a broad co-edited macromolecule component; NAA is partially inverted in ON, and Glx is
edited at 3.75 ppm. Raw multi-coil transients are then made with
:func:`painmrs.demo.acquisition.simulate_raw_scan`. (Test-data generator: it lives with the
simulator in ``painmrs.demo``, which may import the analysis stages, never the reverse.)
"""

from __future__ import annotations

import numpy as np

from ..lineshape import voigt_decay

H2O = 4.65

# (ppm, amplitude) of unedited singlets; amplitudes in arbitrary FID units.
SINGLETS = {"NAA": (2.008, 1.0), "tCr": (3.027, 0.8), "tCr39": (3.913, 0.55), "tCho": (3.20, 0.3)}


def lines(t, mhz, components, lorentz_hz, gauss_hz):
    """Sum of Voigt lines: components = [(ppm, complex amplitude, extra lorentz Hz)]."""
    fid = np.zeros(t.shape, dtype=complex)
    for ppm, amp, extra in components:
        fid += amp * np.exp(2j * np.pi * (ppm - H2O) * mhz * t) * voigt_decay(t, lorentz_hz + extra, gauss_hz)
    return fid


def press_fid(n=2048, dwell_s=5e-4, mhz=127.75, lorentz_hz=3.0, gauss_hz=4.0):
    """Clean PRESS-like FID and the dict of its individual component FIDs."""
    t = np.arange(n) * dwell_s
    parts = {name: lines(t, mhz, [(ppm, a, 0.0)], lorentz_hz, gauss_hz) for name, (ppm, a) in SINGLETS.items()}
    return sum(parts.values()), parts


def gaba_edited_components(j_hz=7.3, mhz=127.75, amplitude=0.05):
    """Edited GABA+ (ON - OFF) lines at 3.0 ppm: unequal outer lines, small centre, co-edited MM."""
    d = j_hz / mhz
    return [
        (3.013 - d, amplitude * 1.0, 0.0),
        (3.013, amplitude * 0.3, 0.0),
        (3.013 + d, amplitude * 0.85, 0.0),
        (3.00, amplitude * 0.9, 18.0),  # co-edited MM at 3.0 ppm (broad)
    ]


def mega_fids(n=2048, dwell_s=5e-4, mhz=127.75, lorentz_hz=3.0, gauss_hz=4.0, gaba_amplitude=0.05):
    """(OFF, ON, true DIFF) clean FIDs for MEGA-PRESS (TE 68 ms-like shapes)."""
    t = np.arange(n) * dwell_s
    base = [(ppm, a, 0.0) for ppm, a in SINGLETS.values()]
    # unedited GABA in OFF: a small 1:2:1 pseudo-triplet at 3.013 ppm (overlaps tCr)
    d = 7.3 / mhz
    gaba_off = [(3.013 - d, gaba_amplitude * 0.25, 0.0), (3.013, gaba_amplitude * 0.5, 0.0), (3.013 + d, gaba_amplitude * 0.25, 0.0)]
    off = lines(t, mhz, base + gaba_off, lorentz_hz, gauss_hz)
    edited = lines(t, mhz, gaba_edited_components(7.3, mhz, gaba_amplitude), lorentz_hz, gauss_hz)
    glx = lines(t, mhz, [(3.745, gaba_amplitude * 0.6, 2.0)], lorentz_hz, gauss_hz)
    naa = lines(t, mhz, [SINGLETS["NAA"] + (0.0,)], lorentz_hz, gauss_hz)
    on = off + edited + glx - 0.5 * naa  # NAA partly saturated by the 1.9 ppm editing pulse (DIFF NAA < 0)
    return off, on, on - off


def water_fid(n=2048, dwell_s=5e-4, amplitude=3000.0, lorentz_hz=5.0, gauss_hz=4.0):
    t = np.arange(n) * dwell_s
    return amplitude * voigt_decay(t, lorentz_hz, gauss_hz).astype(complex)


def make_scan(
    seed: int,
    *,
    mega: bool = False,
    snr: float = 60.0,
    n_transients: int = 64,
    n_coils: int = 8,
    drift_hz=(-10.0, 10.0),
    phase_jitter_deg: float = 10.0,
    n_corrupted: int = 0,
    residual_water: float = 5.0,
    eddy_current: bool = True,
    water_transients: int = 4,
    n: int = 2048,
    dwell_s: float = 5e-4,
    mhz: float = 127.75,
    clean_fids=None,
):
    """Raw metabolite scan, raw water reference and truth (via demo.acquisition).

    PRESS: ``snr`` is the NAA SNR after optimal combination and averaging. MEGA-PRESS:
    ``snr`` is the GABA+ SNR of DIFF and ``n_transients`` counts ON/OFF pairs.
    ``clean_fids`` replaces the built-in singlet spectra: (OFF, ON) for MEGA-PRESS, one FID
    for PRESS (e.g. from :mod:`painmrs.basis.simulate`).
    """
    from .acquisition import EddyCurrent, random_residual_water, simulate_raw_scan

    rng = np.random.default_rng(seed)
    ecc = EddyCurrent() if eddy_current else None
    water_lines = random_residual_water(rng, residual_water) if residual_water else None
    common = dict(dwell_s=dwell_s, spectrometer_mhz=mhz, n_coils=n_coils, rng=rng, eddy_current=ecc)
    if mega:
        off, on, diff = mega_fids(n, dwell_s, mhz) if clean_fids is None else (clean_fids[0], clean_fids[1], clean_fids[1] - clean_fids[0])
        metab, truth = simulate_raw_scan(
            None, edit_fids=(off, on), n_transients=n_transients, noise_sd=None, snr_target=snr,
            drift_hz=drift_hz, phase_jitter_deg=phase_jitter_deg, n_corrupted=n_corrupted,
            residual_water=water_lines, **common,
        )
        truth["clean_diff"] = diff
    else:
        clean, parts = press_fid(n, dwell_s, mhz) if clean_fids is None else (np.asarray(clean_fids), {})
        metab, truth = simulate_raw_scan(
            clean, n_transients=n_transients, noise_sd=None, snr_target=snr, drift_hz=drift_hz,
            phase_jitter_deg=phase_jitter_deg, n_corrupted=n_corrupted, residual_water=water_lines, **common,
        )
        truth["parts"] = parts
    clean_water = water_fid(n, dwell_s)
    water, _ = simulate_raw_scan(
        clean_water, n_transients=water_transients, noise_sd=truth["noise_sd"], drift_hz=(0.0, 0.0),
        drift_walk_hz=0.0, phase_jitter_deg=0.0, coil_sensitivities=truth["coil_sensitivities"],
        noise_covariance=truth["noise_covariance_norm"], **common,
    )
    truth["clean_water"] = clean_water
    return metab, water, truth
