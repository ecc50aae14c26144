"""Basis simulation: PRESS and MEGA-PRESS basis sets from spin systems, with a line-list cache.

The density-matrix engine (:mod:`painmrs.basis.density_matrix`) turns a spin system and a
sequence into a line list (frequency in Hz, complex amplitude). Line lists depend on the
spin system, the sequence timing, the field and the ppm reference -- not on dwell time,
number of points or linewidth -- so they are cached (in memory and on disk) and rendered
onto any time grid cheaply. Disk cache: ``$PAINMRS_CACHE`` (``off`` disables it) or
``~/.cache/painmrs``, file ``basis_lines/<sha256 key>.npz``; the key hashes every number of
the spin system, the sequence events, the field, the reference and the format version.

PRESS timing: TE1 is the first echo period and TE2 = TE - TE1 (see ``press`` in the engine).
When ``te1_ms`` is not given we use ``default_te1_ms``: 11 ms for PRESS (the ISMRM 2016
challenge's TE 30 = 11 + 19 split) capped at TE/2, and for MEGA-PRESS 17 ms -- our
assumption, no published split was found: a short first echo, leaving room in TE2 for two
15-20 ms editing pulses. Pass the scanner's TE1 when it is known.

Refocusing (PRESS only): ``refocusing="ideal"`` (default: instantaneous 180s) or ``"shaped"``
(spatially resolved simulation with shaped slice-selective 180s, :mod:`painmrs.basis.pulses`;
``refocusing_pulse`` gives the pulse, default ``RefocusingPulse()``: 7 ms, 1.2 kHz). Shaped
line lists have their own cache keys (the pulse parameters are part of the events), so the
ideal cache is unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..mrs import H2O_PPM
from .basis_set import BasisSet
from .density_matrix import (
    Event,
    mega_press,
    press,
    press_shaped,
    pulse_acquire,
    render_fid,
    simulate_system_lines,
)
from .macromolecules import DEFAULT_MM, EDITED_MM, MM_COMPONENTS, mm_basis, mm_fid
from .pulses import RefocusingPulse
from .resample import resample_basis  # noqa: F401  (re-exported: painmrs.basis.simulate.resample_basis)
from .spin_systems import DEFAULT_METABOLITES, Metabolite, get_metabolite

LINES_FORMAT_VERSION = 3
_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}

#: Default full width of the ideal (rectangular) editing band, Hz (our choice, not from a
#: source): wide enough that the 1.9 ppm pulse covers GABA C3 (1.89 ppm) and the Glu/Gln C3
#: protons (2.04-2.13 ppm) that co-edit Glx at 3.75 ppm. It also covers NAA's 2.008 ppm
#: singlet, which an ideal instantaneous pulse pair refocuses completely, so NAA cancels in
#: DIFF here; the NAA dip of real data comes from evolution during the 15-20 ms pulses,
#: which ideal pulses do not model (see density_matrix module docstring).
DEFAULT_EDIT_BANDWIDTH_HZ = 60.0


def default_te1_ms(sequence: str, echo_time_ms: float) -> float:
    if sequence.upper().startswith("MEGA"):
        return min(17.0, echo_time_ms / 2)
    return min(11.0, echo_time_ms / 2)


# ---------------------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------------------
def cache_dir() -> Path | None:
    """Disk cache folder, or None when disabled (PAINMRS_CACHE=off)."""
    env = os.environ.get("PAINMRS_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "none", "false"):
        return None
    return Path(env) if env else Path.home() / ".cache" / "painmrs"


def _events_json(events: Sequence[Event]) -> list:
    return [[type(e).__name__, dataclasses.asdict(e)] for e in events]


def lines_key(met: Metabolite, events: Sequence[Event], spectrometer_mhz: float, ppm_reference: float) -> str:
    text = json.dumps(
        {
            "version": LINES_FORMAT_VERSION,
            "systems": [s.key() for s in met.systems],
            "events": _events_json(events),
            "mhz": round(float(spectrometer_mhz), 9),
            "ref": round(float(ppm_reference), 9),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def metabolite_lines(
    met: Metabolite,
    events: Sequence[Event],
    spectrometer_mhz: float,
    ppm_reference: float = H2O_PPM,
    *,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Line list of a metabolite (all its spin systems), from the cache when possible."""
    key = lines_key(met, events, spectrometer_mhz, ppm_reference)
    if cache and key in _MEMORY:
        return _MEMORY[key]
    folder = cache_dir() if cache else None
    path = folder / "basis_lines" / f"{key}.npz" if folder else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                lines = (z["freqs"].copy(), z["amps"].copy())
            for arr in lines:
                arr.flags.writeable = False
            _MEMORY[key] = lines
            return lines
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache file: recompute and overwrite
    fs, As = [], []
    for system in met.systems:
        f, a = simulate_system_lines(system, events, spectrometer_mhz, ppm_reference)
        fs.append(f)
        As.append(a)
    lines = (np.concatenate(fs), np.concatenate(As))
    for arr in lines:
        arr.flags.writeable = False  # shared through the cache: nobody may modify them
    if cache:
        _MEMORY[key] = lines
        if path is not None:
            try:
                with atomic_path(path) as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, freqs=lines[0], amps=lines[1])
            except OSError:
                pass  # read-only cache location: keep the in-memory copy only
    return lines


def clear_memory_cache() -> None:
    _MEMORY.clear()


# ---------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------
def _render(metabolites, events, *, spectrometer_mhz, dwell_s, n_points, linewidth_hz, ppm_reference, gaba_set, cache):
    t = np.arange(n_points) * dwell_s
    fids, sources, protons, keys = [], {}, {}, {}
    for name in metabolites:
        if name in MM_COMPONENTS:  # parametric MM/lipid component requested by name
            fids.append(
                mm_fid(
                    name,
                    spectrometer_mhz=spectrometer_mhz,
                    dwell_s=dwell_s,
                    n_points=n_points,
                    ppm_reference=ppm_reference,
                )
            )
            sources[name] = "painmrs.basis.macromolecules"
            protons[name] = float(sum(p[1] for p in MM_COMPONENTS[name]))
            continue
        met = get_metabolite(name, gaba_set=gaba_set)
        f, a = metabolite_lines(met, events, spectrometer_mhz, ppm_reference, cache=cache)
        fids.append(render_fid(f, a, t, lorentz_fwhm_hz=linewidth_hz))
        sources[name] = met.source
        protons[name] = met.n_protons
        keys[name] = lines_key(met, events, spectrometer_mhz, ppm_reference)
    return np.stack(fids, axis=1), sources, protons, keys


REFOCUSING_MODES = ("ideal", "shaped")


def refocusing_pulse_from(refocusing: str, refocusing_pulse=None) -> RefocusingPulse | None:
    """The shaped pulse for a ``refocusing`` mode (None for ideal); ``refocusing_pulse`` may
    be a RefocusingPulse or a mapping of its fields (e.g. from the config)."""
    from ..errors import InputError

    mode = str(refocusing).lower()
    if mode not in REFOCUSING_MODES:
        raise InputError(None, "refocusing", f"must be one of {REFOCUSING_MODES}, got {refocusing!r}")
    if mode == "ideal":
        if refocusing_pulse is not None:
            raise InputError(None, "refocusing_pulse", "given, but refocusing is 'ideal'")
        return None
    if refocusing_pulse is None:
        return RefocusingPulse()
    if isinstance(refocusing_pulse, RefocusingPulse):
        return refocusing_pulse
    try:
        pulse = RefocusingPulse(**dict(refocusing_pulse))
        pulse.time_bandwidth  # designs the pulse: fails for impossible duration/bandwidth pairs
        return pulse
    except (TypeError, ValueError) as exc:
        raise InputError(None, "refocusing_pulse", str(exc)) from None


def _check_grid(dwell_s, n_points, spectrometer_mhz, echo_time_ms, te1_ms, metabolites=("x",)):
    from ..errors import InputError

    if not len(metabolites):
        raise InputError(None, "metabolites", "empty list: name at least one metabolite")

    if not (0 < dwell_s < 1):
        raise InputError(None, "dwell_s", f"must be in (0, 1) s, got {dwell_s!r}")
    if int(n_points) < 2:
        raise InputError(None, "n_points", f"must be >= 2, got {n_points!r}")
    if not spectrometer_mhz > 0:
        raise InputError(None, "spectrometer_mhz", f"must be > 0, got {spectrometer_mhz!r}")
    if echo_time_ms < 0:
        raise InputError(None, "echo_time_ms", f"must be >= 0, got {echo_time_ms!r}")
    if te1_ms is not None and not (0 <= te1_ms <= echo_time_ms):
        raise InputError(None, "te1_ms", f"must be between 0 and TE = {echo_time_ms} ms, got {te1_ms!r}")


def _mega_press_part(part: str, metabolites, **kwargs) -> BasisSet:
    """One part (ON, OFF or DIFF) of :func:`simulate_mega_press_basis`."""
    sets = simulate_mega_press_basis(metabolites, **kwargs)
    if part not in sets:
        raise ValueError(f"unknown MEGA-PRESS part {part!r} (ON, OFF, DIFF)")
    return sets[part]


def _press_events(seq: str, echo_time_ms: float, te1_ms: float | None, shaped: RefocusingPulse | None):
    """(events, timing dict, TE in s) of a PRESS (ideal or shaped refocusing) or FID sequence."""
    if seq == "FID":
        events, timing = pulse_acquire(), {"te1_ms": 0.0, "te2_ms": 0.0}
        te_s = 0.0
    else:
        te1 = default_te1_ms("PRESS", echo_time_ms) if te1_ms is None else float(te1_ms)
        te2 = echo_time_ms - te1
        timing = {"te1_ms": te1, "te2_ms": te2}
        if shaped is None:
            events = press(te1 / 1000, te2 / 1000)
        else:
            if min(te1, te2) < shaped.duration_ms:
                from ..errors import InputError

                raise InputError(
                    None, "te1_ms", f"TE1 {te1} and TE2 {te2} ms must be >= the pulse duration {shaped.duration_ms} ms"
                )
            events = press_shaped(te1 / 1000, te2 / 1000, shaped)
        te_s = echo_time_ms / 1000
    return events, timing, te_s


def _with_default_mm(fids, names, spectrometer_mhz, dwell_s, n_points, ppm_reference):
    """(fids, names added): the default MM components not already named, appended."""
    extra = [n for n in DEFAULT_MM if n not in names]
    if not extra:
        return fids, []
    mm = mm_basis(
        extra,
        spectrometer_mhz=spectrometer_mhz,
        dwell_s=dwell_s,
        n_points=n_points,
        ppm_reference=ppm_reference,
    )
    return np.concatenate([fids, mm.fids], axis=1), list(mm.names)


def _press_meta(shaped, timing, gaba_set, linewidth_hz, sources, protons, keys, mm_names) -> dict:
    """The ``meta`` of a simulated PRESS / FID basis set."""
    meta = {
        "simulator": (
            "painmrs density matrix, ideal pulses, full strong coupling"
            if shaped is None
            else "painmrs density matrix, ideal 90, shaped slice-selective 180s averaged over the voxel, "
            "full strong coupling"
        ),
        "sequence_timing": timing,
        "refocusing": "ideal" if shaped is None else "shaped",
        "gaba_set": gaba_set,
        "linewidth_hz": linewidth_hz,
        "lineshape": "lorentzian",
        "sources": sources,
        "n_protons": protons,
        "lines_keys": keys,
    }
    if shaped is not None:
        meta["refocusing_pulse"] = dataclasses.asdict(shaped) | {"sinc_time_bandwidth": shaped.time_bandwidth}
    if mm_names:
        meta["macromolecules"] = mm_names
        meta["mm_components"] = {n: [list(p) for p in MM_COMPONENTS[n]] for n in mm_names}
    return meta


def simulate_basis(
    metabolites: Sequence[str] | None = None,
    *,
    sequence: str = "PRESS",
    echo_time_ms: float = 30.0,
    te1_ms: float | None = None,
    spectrometer_mhz: float = 123.2,
    dwell_s: float = 1 / 4000,
    n_points: int = 2048,
    linewidth_hz: float = 2.0,
    include_mm: bool = False,
    gaba_set: str | None = None,
    ppm_reference: float = H2O_PPM,
    cache: bool = True,
    refocusing: str = "ideal",
    refocusing_pulse: RefocusingPulse | dict | None = None,
) -> BasisSet:
    """Simulated basis set (NIfTI-MRS convention; FID(0) = protons at TE -> 0).

    ``sequence``: "PRESS", "FID" (pulse-acquire, TE ignored) or one of "MEGA-PRESS:ON",
    "MEGA-PRESS:OFF", "MEGA-PRESS:DIFF" (defaults of :func:`simulate_mega_press_basis`).
    ``linewidth_hz``: Lorentzian FWHM applied to every line. ``gaba_set``: "govindaraju"
    (default for PRESS) or "near2013" (default for MEGA-PRESS). ``refocusing``: "ideal" or
    "shaped" (PRESS only; ``refocusing_pulse``: a :class:`RefocusingPulse` or its fields).
    """
    metabolites = tuple(metabolites) if metabolites is not None else DEFAULT_METABOLITES
    seq = sequence.upper()
    shaped = refocusing_pulse_from(refocusing, refocusing_pulse)
    if shaped is not None and seq != "PRESS":
        from ..errors import InputError

        raise InputError(None, "refocusing", f"shaped refocusing is implemented for PRESS only, not {sequence}")
    if seq.startswith("MEGA-PRESS:"):
        return _mega_press_part(
            seq.split(":", 1)[1],
            metabolites,
            echo_time_ms=echo_time_ms,
            te1_ms=te1_ms,
            spectrometer_mhz=spectrometer_mhz,
            dwell_s=dwell_s,
            n_points=n_points,
            linewidth_hz=linewidth_hz,
            include_mm=include_mm,
            ppm_reference=ppm_reference,
            gaba_set=gaba_set or "near2013",
            cache=cache,
        )
    if seq not in ("PRESS", "FID"):
        raise ValueError(f"unknown sequence {sequence!r}: PRESS, FID, MEGA-PRESS:ON|OFF|DIFF")
    gaba_set = gaba_set or "govindaraju"
    _check_grid(dwell_s, n_points, spectrometer_mhz, echo_time_ms, te1_ms, metabolites)
    events, timing, te_s = _press_events(seq, echo_time_ms, te1_ms, shaped)
    fids, sources, protons, keys = _render(
        metabolites, events, spectrometer_mhz=spectrometer_mhz, dwell_s=dwell_s, n_points=int(n_points),
        linewidth_hz=linewidth_hz, ppm_reference=ppm_reference, gaba_set=gaba_set, cache=cache,
    )
    names = list(metabolites)
    mm_names = [n for n in names if n in MM_COMPONENTS]
    if include_mm:
        fids, added = _with_default_mm(fids, names, spectrometer_mhz, dwell_s, int(n_points), ppm_reference)
        names += added
        mm_names += added
    meta = _press_meta(shaped, timing, gaba_set, linewidth_hz, sources, protons, keys, mm_names)
    return BasisSet(
        names=tuple(names),
        fids=fids,
        dwell_s=dwell_s,
        spectrometer_mhz=spectrometer_mhz,
        ppm_reference=ppm_reference,
        echo_time_s=te_s,
        sequence=seq,
        source="painmrs.basis.simulate",
        meta=meta,
    )


def _mega_meta(te1, te2, edit_on_ppm, edit_off_ppm, edit_bandwidth_hz, edit_profile, gaba_set, linewidth_hz,
               sources, protons) -> dict:
    """The ``meta`` shared by the ON, OFF and DIFF parts of a simulated MEGA-PRESS basis."""
    return {
        "simulator": "painmrs density matrix, ideal pulses, full strong coupling",
        "sequence_timing": {
            "te1_ms": te1,
            "te2_ms": te2,
            "edit1_ms": te1 + te2 / 4,
            "refocus2_ms": te1 + te2 / 2,
            "edit2_ms": te1 + 3 * te2 / 4,
        },
        "editing": {
            "on_ppm": edit_on_ppm,
            "off_ppm": edit_off_ppm,
            "bandwidth_hz": edit_bandwidth_hz,
            "profile": edit_profile,
        },
        "gaba_set": gaba_set,
        "linewidth_hz": linewidth_hz,
        "lineshape": "lorentzian",
        "sources": sources,
        "n_protons": protons,
    }


def _mega_part_basis(part, metabolites, f, base_meta, lines_keys, include_mm, echo_time_ms, *, spectrometer_mhz,
                     dwell_s, n_points, ppm_reference) -> BasisSet:
    """One part (ON, OFF, DIFF) of a MEGA-PRESS basis: its FIDs, with the MM set of that part."""
    names = list(metabolites)
    meta = dict(base_meta)
    if part != "DIFF":
        meta["lines_keys"] = lines_keys
    if include_mm:
        mm = mm_basis(
            DEFAULT_MM if part != "DIFF" else EDITED_MM,
            spectrometer_mhz=spectrometer_mhz,
            dwell_s=dwell_s,
            n_points=n_points,
            ppm_reference=ppm_reference,
        )
        f = np.concatenate([f, mm.fids], axis=1)
        names += list(mm.names)
        meta["macromolecules"] = list(mm.names)
        meta["mm_components"] = dict(mm.meta["mm_components"])
    return BasisSet(
        names=tuple(names),
        fids=f,
        dwell_s=dwell_s,
        spectrometer_mhz=spectrometer_mhz,
        ppm_reference=ppm_reference,
        echo_time_s=echo_time_ms / 1000,
        sequence=f"MEGA-PRESS:{part}",
        source="painmrs.basis.simulate",
        meta=meta,
    )


def simulate_mega_press_basis(
    metabolites: Sequence[str] | None = None,
    *,
    echo_time_ms: float = 68.0,
    te1_ms: float | None = None,
    spectrometer_mhz: float = 123.2,
    dwell_s: float = 1 / 4000,
    n_points: int = 2048,
    linewidth_hz: float = 2.0,
    edit_on_ppm: float = 1.9,
    edit_off_ppm: float = 7.5,
    edit_bandwidth_hz: float = DEFAULT_EDIT_BANDWIDTH_HZ,
    edit_profile: str = "rect",
    include_mm: bool = False,
    gaba_set: str = "near2013",
    ppm_reference: float = H2O_PPM,
    cache: bool = True,
) -> dict[str, BasisSet]:
    """MEGA-PRESS ON, OFF and DIFF (= ON - OFF) basis sets.

    Editing pulses: ideal selective 180s (``edit_profile`` "rect": every spin within
    +-``edit_bandwidth_hz``/2 of the editing frequency is inverted, others untouched;
    "gauss": flip angle 180 * exp(-4 ln2 (offset/bandwidth)^2)), flanked by crushers that
    keep only coherence pathways unchanged by the pulse. Timing: see
    :func:`painmrs.basis.density_matrix.mega_press`. With ``include_mm`` ON and OFF get the
    short-TE MM set and DIFF gets the co-edited MM30 (so DIFF = ON - OFF holds for the
    metabolites only).
    """
    metabolites = tuple(metabolites) if metabolites is not None else DEFAULT_METABOLITES
    _check_grid(dwell_s, n_points, spectrometer_mhz, echo_time_ms, te1_ms, metabolites)
    mm_named = [m for m in metabolites if m in MM_COMPONENTS]
    if mm_named:
        from ..errors import InputError

        raise InputError(None, "metabolites", f"MM components {mm_named} cannot be edited; use include_mm=True")
    te1 = default_te1_ms("MEGA-PRESS", echo_time_ms) if te1_ms is None else float(te1_ms)
    te2 = echo_time_ms - te1
    out: dict[str, BasisSet] = {}
    common = dict(
        spectrometer_mhz=spectrometer_mhz,
        dwell_s=dwell_s,
        n_points=int(n_points),
        linewidth_hz=linewidth_hz,
        ppm_reference=ppm_reference,
        gaba_set=gaba_set,
        cache=cache,
    )
    fids = {}
    metas = {}
    for part, ppm in (("ON", edit_on_ppm), ("OFF", edit_off_ppm)):
        events = mega_press(te1 / 1000, te2 / 1000, ppm, edit_bandwidth_hz, edit_profile)
        fids[part], sources, protons, keys = _render(metabolites, events, **common)
        metas[part] = keys
    fids["DIFF"] = fids["ON"] - fids["OFF"]
    base_meta = _mega_meta(te1, te2, edit_on_ppm, edit_off_ppm, edit_bandwidth_hz, edit_profile, gaba_set,
                           linewidth_hz, sources, protons)
    grid = dict(spectrometer_mhz=spectrometer_mhz, dwell_s=dwell_s, n_points=int(n_points), ppm_reference=ppm_reference)
    for part in ("ON", "OFF", "DIFF"):
        out[part] = _mega_part_basis(part, metabolites, fids[part], base_meta, metas.get(part), include_mm,
                                     echo_time_ms, **grid)
    return out
