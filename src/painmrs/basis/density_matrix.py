"""Density-matrix simulation with ideal pulses (and, optionally, shaped slice-selective
refocusing pulses): a spin system and a pulse sequence in, a line list (frequency in Hz,
complex amplitude) out.

Physics (de Graaf, *In Vivo NMR Spectroscopy*; facts.md §8), in the rotating frame of the
receiver at ``ppm_reference``:

    H = sum_i 2 pi nu_i I_zi + sum_{i<j} 2 pi J_ij (I_xi I_xj + I_yi I_yj + I_zi I_zj)

with nu_i = f0 (delta_i - delta_ref) in Hz, f0 in MHz. The full (strong-coupling) term is kept.
H commutes with the total F_z, so it is diagonalised block by block of total m (cheaper, and
every eigenvector then has a definite m, which makes coherence-order bookkeeping exact).
Free evolution for t is rho -> U rho U^dagger with U = V exp(-i E t) V^dagger.

Ideal pulses are instantaneous rotations exp(-i theta (cos phi F_x + sin phi F_y)) built
as a Kronecker product of one-spin rotations; a *selective* pulse rotates only the spins
whose nominal shift lies in its band. An ideal non-selective 180 maps every coherence order
p to -p, so with ideal PRESS refocusing pulses crusher gradients select nothing extra and
no phase cycle is needed. Editing pulses in MEGA-PRESS are flanked by equal crusher pairs.
Writing the gradient phase of a pathway as the sum of p over the four crusher lobes, with the
ideal second refocusing pulse (p -> -p) between the two editing pulses, the total is
p(before edit 1) + p(after edit 2), which vanishes for every pathway that ends in the
detected order: the crushers select nothing beyond what detection selects. So the editing
pulses are applied as plain rotations. For a single spin this keeps the "flipped by both"
and "flipped by neither" pathways (both chemical-shift refocused); a partial flip theta
leaves cos^4(theta/2) + sin^4(theta/2) of an uncoupled in-band singlet, which is why NAA at
2.01 ppm dips in the DIFF spectrum of a Gaussian editing pulse centred at 1.9 ppm.
(``Pulse.keep_coherence_order`` keeps the p -> p projection for other crusher schemes.)

Readout: in the eigenbasis the FID is s(t) = sum_ab rho_ab D_ba exp(-i (E_a - E_b) t) with
the detection operator D = F_+ (the p = -1 part of rho, which gives exp(+2 pi i nu t) for a
spin at nu Hz, i.e. the NIfTI-MRS orientation: NAA at 2.008 ppm). Each (a, b) pair is one
line; lines at the same frequency are merged. Amplitudes are normalised so that one proton
contributes 1 at t = 0 after a 90 degree pulse, so total FID(0) = number of protons.

Shaped refocusing (``ShapedRefocusing``, optional): a slice-selective 180 of finite duration
simulated as piecewise-constant steps, each step the symmetric (Strang) splitting
exp(-i D dt/2) R_k exp(-i D dt/2) of H = H0 + Delta(x) F_z + 2 pi b1_k F_phi, where D = H0 + Delta F_z
is diagonal in the eigenbasis of H0 (F_z commutes with H0) and R_k = exp(-i theta_k F_phi) comes
from one eigendecomposition of F_phi. Delta(x) is the gradient offset of each simulated
position minus the carrier; the propagators of all positions are built at once. Crushers
around the pulse keep only p -> -p (p = coherence order, exact in this basis), and the
density matrix is averaged over positions. The two refocusing pulses select orthogonal
slices and the 90 is ideal, so the signal averaged over the (x, y) grid equals pulse 2
averaged over y applied to the x-averaged state (linearity): cost n_x + n_y, not n_x n_y.
Delays are counted from pulse centres. See :mod:`painmrs.basis.pulses` for the pulse.

Heteronuclear couplings (31P, 14N) are weak and the X spin is never pulsed: each X spin
state m shifts the coupled protons by J*m Hz. We run the proton system once per combination
of X states and average (weights 1/(2S+1) each) instead of enlarging the Hilbert space.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

from .pulses import RefocusingPulse
from .spin_systems import SpinSystem


# ---------------------------------------------------------------------------------------
# sequence events
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Pulse:
    """Ideal instantaneous pulse. Selective when ``centre_ppm`` is set: each spin is rotated
    by ``flip_deg * profile(offset)`` where offset = (shift - centre) in Hz and the profile is
    "rect" (1 inside +-``width_hz``/2, else 0) or "gauss" (exp(-4 ln2 (offset/width)^2))."""

    flip_deg: float
    phase_deg: float = 0.0  # 0 = about x, 90 = about y
    centre_ppm: float | None = None  # None: non-selective
    width_hz: float = 0.0  # full width of the selective band
    profile: str = "rect"
    keep_coherence_order: bool = False  # crusher pair around the pulse: keep p -> p pathways

    def flips_deg(self, shifts_ppm: np.ndarray, spectrometer_mhz: float) -> np.ndarray:
        shifts_ppm = np.asarray(shifts_ppm, dtype=float)
        if self.centre_ppm is None:
            return np.full(shifts_ppm.shape, float(self.flip_deg))
        off = (shifts_ppm - self.centre_ppm) * spectrometer_mhz
        if self.profile == "rect":
            g = (np.abs(off) <= self.width_hz / 2).astype(float)
        elif self.profile == "gauss":
            g = np.exp(-4 * np.log(2) * (off / self.width_hz) ** 2)
        else:
            raise ValueError(f"unknown pulse profile {self.profile!r}")
        return self.flip_deg * g


@dataclasses.dataclass(frozen=True)
class Delay:
    seconds: float


@dataclasses.dataclass(frozen=True)
class ShapedRefocusing:
    """A shaped slice-selective 180 with crushers, averaged over its slice direction."""

    pulse: RefocusingPulse
    phase_deg: float = 90.0


Event = Pulse | Delay | ShapedRefocusing


def pulse_acquire() -> tuple[Event, ...]:
    """90 x and read out at once (TE -> 0): FID(0) = number of protons."""
    return (Pulse(90.0, 0.0),)


def press(te1_s: float, te2_s: float) -> tuple[Event, ...]:
    """90x - TE1/2 - 180y - (TE1+TE2)/2 - 180y - TE2/2 - acquire (echo top at t = 0)."""
    if te1_s < 0 or te2_s < 0:
        raise ValueError("TE1 and TE2 must be >= 0")
    return (
        Pulse(90.0, 0.0),
        Delay(te1_s / 2),
        Pulse(180.0, 90.0),
        Delay((te1_s + te2_s) / 2),
        Pulse(180.0, 90.0),
        Delay(te2_s / 2),
    )


def press_shaped(te1_s: float, te2_s: float, pulse: RefocusingPulse) -> tuple[Event, ...]:
    """PRESS with ideal 90 x and two shaped 180 y refocusing pulses (orthogonal slices).

    The delays run between pulse centres: TE1/2 - T/2, (TE1+TE2)/2 - T, TE2/2 - T/2 for
    pulse duration T, so the echo top is at TE as with ideal pulses.
    """
    t = pulse.duration_ms * 1e-3
    if te1_s < t or te2_s < t:
        raise ValueError(f"TE1 and TE2 must be at least the refocusing pulse duration ({pulse.duration_ms} ms)")
    return (
        Pulse(90.0, 0.0),
        Delay(te1_s / 2 - t / 2),
        ShapedRefocusing(pulse, 90.0),
        Delay((te1_s + te2_s) / 2 - t),
        ShapedRefocusing(pulse, 90.0),
        Delay(te2_s / 2 - t / 2),
    )


def mega_press(
    te1_s: float, te2_s: float, edit_ppm: float, edit_width_hz: float, profile: str = "rect"
) -> tuple[Event, ...]:
    """PRESS with two ideal selective 180 editing pulses in the second echo period.

    Timing (instantaneous pulses at the centres of the real ones): the second refocusing
    pulse sits at TE1 + TE2/2; editing pulse 1 at TE1 + TE2/4 and editing pulse 2 at
    TE1 + 3 TE2/4, i.e. symmetric about it, each TE2/4 from the nearest echo / refocusing
    centre. With this placement the J evolution between the edited spins and their partners
    during TE2 is refocused in the ON experiment (the MEGA design principle, Mescher et al.
    NMR Biomed 1998). An OFF pulse (7.5 ppm) touches no simulated spin, so OFF = PRESS.
    """
    edit = Pulse(180.0, 0.0, centre_ppm=edit_ppm, width_hz=edit_width_hz, profile=profile)
    return (
        Pulse(90.0, 0.0),
        Delay(te1_s / 2),
        Pulse(180.0, 90.0),
        Delay(te1_s / 2 + te2_s / 4),
        edit,
        Delay(te2_s / 4),
        Pulse(180.0, 90.0),
        Delay(te2_s / 4),
        edit,
        Delay(te2_s / 4),
    )


# ---------------------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------------------
_IX = np.array([[0, 0.5], [0.5, 0]], dtype=complex)
_IY = np.array([[0, -0.5j], [0.5j, 0]], dtype=complex)


@functools.lru_cache(maxsize=16)
def _zeeman(n: int):
    """Bit table (state, spin) -> 1 if spin down, the m of each spin and the total m."""
    states = np.arange(2**n)
    down = (states[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1  # spin 0 = most significant bit
    m_spin = 0.5 - down  # +1/2 up, -1/2 down
    return down, m_spin, m_spin.sum(axis=1)


@functools.lru_cache(maxsize=16)
def _f_plus(n: int) -> np.ndarray:
    """Total raising operator F+ = sum_k I+_k (real, Zeeman basis)."""
    down, _, _ = _zeeman(n)
    dim = 2**n
    out = np.zeros((dim, dim))
    for k in range(n):
        src = np.flatnonzero(down[:, k] == 1)  # I+_k takes a down spin k up
        out[src - (1 << (n - 1 - k)), src] = 1.0
    return out


def _rotation(flips_deg: Sequence[float], phase_deg: float) -> np.ndarray:
    """Kronecker product of one-spin rotations (each spin its own flip angle)."""
    ph = np.deg2rad(phase_deg)
    sig = np.cos(ph) * 2 * _IX + np.sin(ph) * 2 * _IY
    out = np.array([[1.0 + 0j]])
    for flip in flips_deg:
        th = np.deg2rad(flip)
        out = np.kron(out, np.cos(th / 2) * np.eye(2) - 1j * np.sin(th / 2) * sig)
    return out


def _hamiltonian(nu_hz: np.ndarray, couplings) -> np.ndarray:
    """H / (2 pi) in Hz, built directly in the Zeeman basis (real symmetric).

    Diagonal: sum_i nu_i m_i + sum_ij J m_i m_j. Off-diagonal: the flip-flop part of
    I_i . I_j, (I+_i I-_j + I-_i I+_j) / 2, joins states that differ by swapping
    opposite spins i and j, with element J/2.
    """
    n = len(nu_hz)
    down, m_spin, _ = _zeeman(n)
    dim = 2**n
    h = np.zeros((dim, dim))
    diag = m_spin @ np.asarray(nu_hz, dtype=float)
    for i, j, J in couplings:
        diag = diag + J * m_spin[:, i] * m_spin[:, j]
        src = np.flatnonzero((down[:, i] == 1) & (down[:, j] == 0))
        dst = src - (1 << (n - 1 - i)) + (1 << (n - 1 - j))
        h[src, dst] += J / 2
        h[dst, src] += J / 2
    h[np.arange(dim), np.arange(dim)] = diag
    return h


def _diagonalise(h: np.ndarray, m: np.ndarray):
    """Eigenvalues and (real) eigenvectors, block by block of total m."""
    dim = h.shape[0]
    vecs = np.zeros((dim, dim))
    vals = np.zeros(dim)
    m_of = np.zeros(dim)
    col = 0
    for mv in np.unique(m):
        idx = np.flatnonzero(m == mv)
        e, v = np.linalg.eigh(h[np.ix_(idx, idx)])
        vals[col : col + idx.size] = e
        vecs[idx, col : col + idx.size] = v
        m_of[col : col + idx.size] = mv
        col += idx.size
    return vals, vecs, m_of


def _f_phi(n: int, phase_deg: float) -> np.ndarray:
    """cos(phi) F_x + sin(phi) F_y in the Zeeman basis: (e^{-i phi} F+ + e^{i phi} F-) / 2."""
    fp = _f_plus(n)
    ph = np.deg2rad(phase_deg)
    return (np.exp(-1j * ph) * fp + np.exp(1j * ph) * fp.T) / 2


def _shaped_refocus(rho, e_hz, m_eig, p_eig, v, n, ev: ShapedRefocusing, carrier_hz: float):
    """Apply a shaped 180 at every position of its slice grid, keep p -> -p, average."""
    pulse = ev.pulse
    dt = pulse.step_s
    theta = 2 * np.pi * pulse.nutation_hz() * dt  # flip of each step
    delta = pulse.position_offsets_hz() - carrier_hz  # (nx,) offset from the pulse frequency
    nx, d = delta.size, e_hz.size
    mu, w = np.linalg.eigh(v.T @ _f_phi(n, ev.phase_deg) @ v)
    # half-step free evolution under D = E + Delta m (diagonal), per position
    half = np.exp(-1j * np.pi * (e_hz[None, :] + delta[:, None] * m_eig[None, :]) * dt)  # (nx, d)
    full = half * half
    # U laid out as (d, nx, d) so that R_k @ U is one GEMM over all positions
    u = np.zeros((d, nx, d), dtype=complex)
    u[np.arange(d), :, np.arange(d)] = half.T
    for k, th in enumerate(theta):
        r = (w * np.exp(-1j * th * mu)[None, :]) @ w.conj().T
        u = (r @ u.reshape(d, nx * d)).reshape(d, nx, d)
        u *= (full if k < theta.size - 1 else half).T[:, :, None]
    u = u.transpose(1, 0, 2)  # (nx, d, d)
    u_dag = u.conj().transpose(0, 2, 1)
    new = np.zeros_like(rho)
    for p in np.unique(p_eig):
        part = np.where(p_eig == p, rho, 0)
        if not np.any(part):
            continue
        out = (u @ part @ u_dag).mean(axis=0)
        new += np.where(np.isclose(p_eig, -p), out, 0)
    return new


def _run(
    shifts_ppm: np.ndarray,
    nu_hz: np.ndarray,
    couplings,
    events: Sequence[Event],
    spectrometer_mhz: float,
    ppm_reference: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Propagate the density matrix in the eigenbasis of H and return the line list.

    Free evolution is then a phase per element (no matrix products); a pulse R acts as
    V^T R V. Eigenvectors have definite total m, so coherence orders are exact in this basis.
    """
    n = len(nu_hz)
    _, _, m = _zeeman(n)
    e_hz, v, m_eig = _diagonalise(_hamiltonian(nu_hz, couplings), m)
    w = 2 * np.pi * (e_hz[:, None] - e_hz[None, :])  # angular frequency of each element
    p_eig = m_eig[:, None] - m_eig[None, :]
    rho = v.T @ np.diag(m.astype(complex)) @ v  # sum_k I_zk: thermal equilibrium deviation
    rot_cache: dict = {}
    for ev in events:
        if isinstance(ev, Delay):
            if ev.seconds:
                rho = rho * np.exp(-1j * w * ev.seconds)
            continue
        if isinstance(ev, ShapedRefocusing):
            carrier_hz = (ev.pulse.carrier_ppm - ppm_reference) * spectrometer_mhz
            rho = _shaped_refocus(rho, e_hz, m_eig, p_eig, v, n, ev, carrier_hz)
            continue
        flips = ev.flips_deg(shifts_ppm, spectrometer_mhz)
        if not np.any(np.abs(flips) > 1e-9):
            continue  # selective pulse touching no spin: identity (and the p -> p pathway is kept)
        key = (tuple(np.round(flips, 9)), ev.phase_deg)
        if key not in rot_cache:
            rot_cache[key] = v.T @ _rotation(flips, ev.phase_deg) @ v
        r = rot_cache[key]
        if ev.keep_coherence_order:
            new = np.zeros_like(rho)
            for p in np.unique(p_eig):
                mask = p_eig == p
                part = np.where(mask, rho, 0)
                if np.any(part):
                    new += np.where(mask, r @ part @ r.conj().T, 0)
            rho = new
        else:
            rho = r @ rho @ r.conj().T
    d_e = v.T @ _f_plus(n) @ v
    # s(t) = sum_ab rho_ab D_ba exp(-i (E_a - E_b) t); D = F+ connects m_b = m_a + 1.
    a_idx, b_idx = np.nonzero(np.isclose(p_eig, -1.0))
    amps = rho[a_idx, b_idx] * d_e[b_idx, a_idx]
    freqs = -(e_hz[a_idx] - e_hz[b_idx])
    return freqs, amps / (2**n / 4)


def merge_lines(freqs: np.ndarray, amps: np.ndarray, tol_hz: float = 1e-4, min_amp: float = 1e-9):
    """Sum lines closer than ``tol_hz``; drop lines with |amplitude| < ``min_amp``."""
    if freqs.size == 0:
        return freqs, amps
    key = np.round(freqs / tol_hz).astype(np.int64)
    uniq, inv = np.unique(key, return_inverse=True)
    a = np.zeros(uniq.size, dtype=complex)
    np.add.at(a, inv, amps)
    f = np.zeros(uniq.size)
    np.add.at(f, inv, freqs)
    f /= np.bincount(inv)
    keep = np.abs(a) >= min_amp
    return f[keep], a[keep]


def _reference_phase(events: Sequence[Event], spectrometer_mhz: float = 1.0, ppm_reference: float = 0.0) -> complex:
    """Phase of an on-resonance uncoupled spin after ``events`` (non-selective pulses only).

    With shaped refocusing: the complex signal of one uncoupled spin at the carrier of the
    first shaped pulse (phase and amplitude), so that such a singlet keeps its proton count.
    """
    shaped = [ev for ev in events if isinstance(ev, ShapedRefocusing)]
    if shaped:
        c = shaped[0].pulse.carrier_ppm
        nu = np.array([(c - ppm_reference) * spectrometer_mhz])
        _, a = _run(np.array([c]), nu, (), events, spectrometer_mhz, ppm_reference)
        return a.sum()
    plain = [ev for ev in events if isinstance(ev, Delay) or ev.centre_ppm is None]
    _, a = _run(np.array([0.0]), np.array([0.0]), (), plain, 1.0)
    total = a.sum()
    return total / abs(total)


def simulate_system_lines(
    system: SpinSystem,
    events: Sequence[Event],
    spectrometer_mhz: float,
    ppm_reference: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Line list (Hz relative to ``ppm_reference``, complex amplitude) of one spin system.

    The receiver phase is set so that an uncoupled spin gives a real positive amplitude
    (pure absorption) at the end of ``events``; ``system.scale`` multiplies every amplitude.
    """
    shifts = np.asarray(system.shifts_ppm, dtype=float)
    base = spectrometer_mhz * (shifts - ppm_reference)
    # Heteronuclear states: offsets J*m for each combination, equal weights.
    offset_sets = [np.zeros(len(shifts))]
    weights = [1.0]
    for x in system.hetero:
        ms = np.arange(-x.spin, x.spin + 0.5, 1.0)
        new_sets, new_w = [], []
        for off, w in zip(offset_sets, weights):
            for mv in ms:
                o = off.copy()
                for i, J in x.couplings:
                    o[i] += J * mv
                new_sets.append(o)
                new_w.append(w / ms.size)
        offset_sets, weights = new_sets, new_w
    all_f, all_a = [], []
    for off, w in zip(offset_sets, weights):
        f, a = _run(shifts, base + off, system.couplings, events, spectrometer_mhz, ppm_reference)
        all_f.append(f)
        all_a.append(a * w)
    f, a = merge_lines(np.concatenate(all_f), np.concatenate(all_a))
    if any(isinstance(ev, ShapedRefocusing) for ev in events):
        a = a / _reference_phase(tuple(events), spectrometer_mhz, ppm_reference) * system.scale
    else:
        a = a * np.conj(_reference_phase(tuple(events))) * system.scale
    return f, a


def render_fid(
    freqs_hz: np.ndarray, amps: np.ndarray, time_s: np.ndarray, lorentz_fwhm_hz: float = 0.0, gauss_fwhm_hz: float = 0.0
) -> np.ndarray:
    """sum_k a_k exp(2 pi i nu_k t) with a Voigt envelope (FWHMs in Hz of each component).

    Uniform time grids (the usual case) are rendered in blocks of B points: one B x L table
    of exponentials, then each block is a matrix-vector product with the amplitudes advanced
    by exp(2 pi i nu B dt) -- no per-point transcendental functions.
    """
    time_s = np.asarray(time_s, dtype=float)
    freqs_hz = np.asarray(freqs_hz, dtype=float)
    amps = np.asarray(amps, dtype=complex)
    n = time_s.size
    fid = np.zeros(n, dtype=complex)
    if freqs_hz.size:
        dt = time_s[1] - time_s[0] if n > 1 else 0.0
        uniform = n > 1 and np.allclose(np.diff(time_s), dt, rtol=1e-9, atol=0)
        if uniform:
            block = 64
            table = np.exp(2j * np.pi * np.outer(np.arange(block) * dt, freqs_hz))
            step = np.exp(2j * np.pi * freqs_hz * block * dt)
            a = amps * np.exp(2j * np.pi * freqs_hz * time_s[0])
            for start in range(0, n, block):
                stop = min(start + block, n)
                fid[start:stop] = table[: stop - start] @ a
                a = a * step
        else:
            for start in range(0, freqs_hz.size, 512):
                f = freqs_hz[start : start + 512]
                fid += np.exp(2j * np.pi * np.outer(time_s, f)) @ amps[start : start + 512]
    env = np.exp(-np.pi * lorentz_fwhm_hz * time_s)
    if gauss_fwhm_hz:
        env *= np.exp(-((np.pi * gauss_fwhm_hz * time_s) ** 2) / (4 * np.log(2)))
    return fid * env
