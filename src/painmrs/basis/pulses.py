"""Shaped slice-selective refocusing pulses for spatially resolved PRESS simulation.

A PRESS voxel is the intersection of three slices. With real (finite-bandwidth) refocusing
pulses, a spin's offset from the pulse carrier is gradient x position + its chemical shift
offset, so each position in a slice sees a different pulse: in the transition bands a
coupled spin may be refocused while its partner is not, and the J evolution there differs
from the ideal one (chemical-shift displacement / "anomalous J modulation"; Thompson and
Allen, MRM 1999; Kaiser et al., MRM 2008). The measured signal is the average over the
voxel. This module describes the pulse; :mod:`painmrs.basis.density_matrix` propagates
spin systems through it (event ``ShapedRefocusing``).

Pulse model (our generic choice, not a vendor waveform, which is proprietary):
an amplitude-modulated Hamming-windowed sinc, B1(t) ~ sinc(N t / T) (0.54 + 0.46 cos(2 pi t / T))
for |t| <= T/2, scaled so the on-resonance flip is 180 degrees, applied as ``n_steps``
piecewise-constant steps. ``bandwidth_hz`` is the full width at half maximum of the
pulse's refocusing (spin-echo) profile beta^2 -- the number that sets the chemical-shift
displacement -- and N is solved for so that the profile has that width (a 180 degree
sinc refocuses over ~0.7 of its small-tip bandwidth N / T, so N ~ 1.4 x T x bandwidth).

Space: offsets from the carrier are sampled at ``n_positions`` cell centres uniformly over
``fov_factor`` slice thicknesses; one slice thickness spans ``bandwidth_hz`` of offset (the
slice gradient is set so that the nominal slice is the pulse's bandwidth). The carrier
sits at ``carrier_ppm``. With a field of view wide enough to hold the whole profile of
every spin (``fov_factor`` >= about 2 for 3 T brain metabolites and ~1.2 kHz pulses) the
result does not depend on the carrier; a narrower field of view cuts the displaced slice
edges, as a simulation that samples only the nominal voxel region would.

Vendor-typical numbers (approximate; the vendors' waveforms are not public):
- Philips 3T PRESS: refocusing pulse 6.9 ms (the 6.894 ms "gtst1203" refocusing pulse
  named in public FID-A / MRSCloud simulation scripts for Philips PRESS).
- Siemens 3T ``svs_se`` PRESS: refocusing pulses of about 5-7 ms; we use 7 ms (our
  assumption: no public waveform).
- Bandwidth of 3 T PRESS refocusing pulses: about 1.0-1.4 kHz (chemical-shift displacement
  of ~10 %/ppm at 123 MHz); we use 1.3 kHz (Philips) and 1.2 kHz (Siemens, and the default).
  These were set before any comparison, not fitted: see ``REFERENCE_REFOCUSING`` in
  :mod:`painmrs.basis.validation` and the robustness test that swaps them.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import scipy.optimize

SHAPES = ("hamming-sinc",)


@dataclasses.dataclass(frozen=True)
class RefocusingPulse:
    """A slice-selective 180 degree refocusing pulse and the spatial grid it is simulated on."""

    duration_ms: float = 7.0
    bandwidth_hz: float = 1200.0
    shape: str = "hamming-sinc"
    n_steps: int = 100
    n_positions: int = 41
    fov_factor: float = 2.0  # simulated extent / slice thickness
    carrier_ppm: float = 3.0

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"unknown pulse shape {self.shape!r} (known: {', '.join(SHAPES)})")
        if not self.duration_ms > 0 or not self.bandwidth_hz > 0:
            raise ValueError("duration_ms and bandwidth_hz must be > 0")
        if int(self.n_steps) < 2 or int(self.n_positions) < 1 or not self.fov_factor > 0:
            raise ValueError("n_steps >= 2, n_positions >= 1 and fov_factor > 0 are required")

    @property
    def time_bandwidth(self) -> float:
        """N of the sinc: solved so that the refocusing profile FWHM is ``bandwidth_hz``."""
        return _sinc_time_bandwidth(float(self.duration_ms), float(self.bandwidth_hz), int(self.n_steps))

    @property
    def step_s(self) -> float:
        return self.duration_ms * 1e-3 / self.n_steps

    def nutation_hz(self) -> np.ndarray:
        """B1 of each step as a nutation rate (Hz, signed): sum(2 pi b1 dt) = pi."""
        return _hamming_sinc(self.time_bandwidth, int(self.n_steps), self.step_s)

    def position_offsets_hz(self) -> np.ndarray:
        """Offset from the carrier that the slice gradient gives each simulated position, Hz."""
        n = int(self.n_positions)
        x = ((np.arange(n) + 0.5) / n - 0.5) * self.fov_factor  # slice thicknesses
        return x * self.bandwidth_hz


def _hamming_sinc(time_bandwidth: float, n_steps: int, step_s: float) -> np.ndarray:
    t = (np.arange(n_steps) + 0.5) / n_steps - 0.5  # step centres, units of the duration
    w = np.sinc(time_bandwidth * t) * (0.54 + 0.46 * np.cos(2 * np.pi * t))
    return w / w.sum() * 0.5 / step_s


def refocusing_fwhm_hz(nutation_hz: np.ndarray, step_s: float) -> float:
    """FWHM of the centre lobe of the refocusing profile beta^2 (profile(0) = 1 for a 180)."""
    duration = step_s * len(nutation_hz)
    grid = np.linspace(0.0, 40.0 / duration, 401)  # up to ~3x any sensible bandwidth
    prof = _beta_squared(nutation_hz, step_s, grid).real
    i = int(np.argmax(prof < 0.5))
    if i == 0:
        return float("nan")
    edge = scipy.optimize.brentq(
        lambda f: _beta_squared(nutation_hz, step_s, [f])[0].real - 0.5, grid[i - 1], grid[i], xtol=1e-4
    )
    return float(2 * edge)


@functools.lru_cache(maxsize=64)
def _sinc_time_bandwidth(duration_ms: float, bandwidth_hz: float, n_steps: int) -> float:
    step_s = duration_ms * 1e-3 / n_steps

    def excess(n):  # the refocusing FWHM grows monotonically with N over this bracket
        return refocusing_fwhm_hz(_hamming_sinc(n, n_steps, step_s), step_s) - bandwidth_hz

    guess = 1.4 * duration_ms * 1e-3 * bandwidth_hz
    try:
        return float(scipy.optimize.brentq(excess, 0.5 * guess, 2.0 * guess, xtol=1e-7))
    except ValueError:
        raise ValueError(
            f"no Hamming-sinc of {duration_ms} ms refocuses a {bandwidth_hz} Hz band (need duration x bandwidth >= ~2)"
        ) from None


def spin_echo_profile(pulse: RefocusingPulse, offsets_hz: np.ndarray) -> np.ndarray:
    """Refocused fraction of transverse magnetisation of one uncoupled spin vs offset.

    With crushers around the pulse only the p -> -p pathway survives; for a spin 1/2 its
    amplitude is the Cayley-Klein beta^2 of the pulse (1 for a perfect 180). The pulse is
    applied about y, and delays are counted from its centre, so a symmetric pulse gives a
    real profile (its phase dispersion is refocused).
    """
    return _beta_squared(pulse.nutation_hz(), pulse.step_s, offsets_hz)


def _beta_squared(nutation_hz: np.ndarray, dt: float, offsets_hz) -> np.ndarray:
    offsets_hz = np.atleast_1d(np.asarray(offsets_hz, dtype=float))
    # Spinor propagator per offset: steps of exp(-i dt (2 pi off Iz + 2 pi b1 Iy)), in the
    # Cayley-Klein form [[a, -b*], [b, a*]]. The precession before and after the centre is
    # carried by a alone, so b^2 needs no correction for the delays being counted from the centre.
    alpha = np.ones(offsets_hz.shape, dtype=complex)
    beta = np.zeros(offsets_hz.shape, dtype=complex)
    for b1 in nutation_hz:
        w = 2 * np.pi * np.hypot(offsets_hz, b1)
        phi = w * dt
        with np.errstate(invalid="ignore", divide="ignore"):
            nz = np.where(w > 0, 2 * np.pi * offsets_hz / np.where(w > 0, w, 1), 1.0)
            ny = np.where(w > 0, 2 * np.pi * b1 / np.where(w > 0, w, 1), 0.0)
        c, s = np.cos(phi / 2), np.sin(phi / 2)
        # rotation about (0, ny, nz): [[c - i nz s, -ny s], [ny s, c + i nz s]]
        a_step = c - 1j * nz * s
        b_step = ny * s  # element (2,1); (1,2) is -conj for this SU(2) form
        alpha, beta = a_step * alpha - np.conj(b_step) * beta, b_step * alpha + np.conj(a_step) * beta
    return beta**2
