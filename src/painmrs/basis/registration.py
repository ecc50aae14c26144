"""A supplied basis checked against chemistry and against the data before any fit.

Why: FSL-MRS JSON files do not state which way their FIDs are conjugated. The FSL-MRS
simulator's files in ``../shared/data/basis/fslmrs_siemens_prisma_3T`` store the FID in our
in-memory frame (their NAA singlet reads at 2.007 ppm as stored), while painmrs' reader
conjugated every FSL-MRS file (the convention of the files painmrs writes): every spectrum
came out mirrored about the receiver centre (NAA at 7.29, tCr at 6.27, tCho at 6.09 ppm) and
the fit ran into every shift bound (issue 13). FSL-MRS decides the orientation from the
content on every load; so do we, with our own measure, and check the ppm registration too.

1. Components that are not metabolites (``H2O``) are removed: nothing in a water-suppressed
   spectrum is fitted with them.
2. Orientation: the energy of each component's spectrum in the metabolite band 0.2-4.2 ppm
   against the band's mirror image about the receiver centre (conjugation maps a frequency
   f to -f); a ratio beyond :data:`MIRROR_RATIO` either way is a vote, and the majority
   decides for the undecided (:func:`mirrored_components`). Mirrored components are
   conjugated (repair) or refused.
3. Registration: the NAA (2.008), tCr (3.027) and tCho (3.21) singlets are located on the
   basis' own ppm axis (magnitude maximum of the 4x zero-filled spectrum, parabolic
   interpolation). Their common offset from the nominal shifts is a ppm-reference error of
   the basis: beyond :data:`REGISTRATION_TOLERANCE_HZ` it is shifted back (repair) or refused;
   singlets that disagree with each other by more than :data:`SPREAD_TOLERANCE_HZ` are refused
   (no shift makes such a basis fit).
4. Against the data (:func:`check_against_data`, by the fit): the same singlets of the data
   (located from the NAA peak outwards) against the basis' as the fit places them (the basis'
   Hz offsets on the data's ppm axis): their common offset within the fit's shift range, each
   within :data:`DATA_TOLERANCE_HZ` of it.

What was done is recorded in ``basis.meta["basis_check"]`` (kept in the basis the workflow
writes, logged, and copied into each scan's ``_fit.json``); errors name the basis file and
what disagrees.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from ..errors import InputError
from ..mrs import H2O_PPM
from .basis_set import BasisSet

#: Reference singlets: label, basis components (summed), nominal ppm (facts.md 1.1:
#: NAA CH3 2.008, Cr/PCr CH3 3.027/3.029, PCh/GPC N(CH3)3 3.208/3.212).
SINGLETS = (("NAA", ("NAA",), 2.008), ("tCr", ("Cr", "PCr"), 3.028), ("tCho", ("PCh", "GPC"), 3.210))
METABOLITE_BAND_PPM = (0.2, 4.2)
#: A component is mirrored when its mirror band holds this many times the metabolite band's energy.
MIRROR_RATIO = 2.0
#: A common singlet offset beyond this is a ppm-reference error of the basis (3 T: 0.016 ppm).
REGISTRATION_TOLERANCE_HZ = 2.0
#: Singlets of one basis may disagree with the nominal shifts by this much among themselves.
SPREAD_TOLERANCE_HZ = 4.0
#: Basis and data singlets must coincide within this, once the data's common offset (a
#: frequency-referencing residual: up to 8 Hz in the demo's processed MEGA-PRESS OFF spectra,
#: which the fit's shift takes up) is removed. Largest deviation seen: 2.9 Hz over 248 spectra
#: (the demo study's processed PRESS and MEGA-PRESS OFF, the ten Prisma spectra).
DATA_TOLERANCE_HZ = 5.0
#: Names of components that are not metabolites (compared case-insensitively).
NON_METABOLITES = ("H2O", "water")
#: Search half-window for a basis singlet around its nominal shift (ppm), and for the data's
#: first (NAA, else tCr) around the basis' (the others then within 0.04 ppm of where it says).
ANCHOR_WINDOW_PPM = 0.3

_log = logging.getLogger("painmrs.basis")


def _spectrum(fid: np.ndarray, dwell_s: float, broadening_hz: float = 2.0, zero_fill: int = 4):
    n = fid.shape[0]
    t = np.arange(n) * dwell_s
    spec = np.fft.fftshift(np.fft.fft(fid * np.exp(-np.pi * broadening_hz * t), n=n * zero_fill))
    return spec, np.fft.fftshift(np.fft.fftfreq(n * zero_fill, dwell_s))


def _peak_hz(spec, freq, centre_hz, half_hz, noise=None, keep_edge=False):
    """Frequency (Hz) of the magnitude maximum within centre +- half (parabolic), or None when
    it is below 5 x ``noise`` or sits at the window's edge (there: the edge, if ``keep_edge``)."""
    sel = np.nonzero(np.abs(freq - centre_hz) <= half_hz)[0]
    if sel.size < 3:
        return None
    mag = np.abs(spec[sel])
    k = int(np.argmax(mag))
    if noise is not None and mag[k] < 5 * noise:
        return None
    if k in (0, sel.size - 1):
        return float(freq[sel[k]]) if keep_edge else None
    a, b, c = mag[k - 1], mag[k], mag[k + 1]
    denom = a - 2 * b + c
    frac = 0.5 * (a - c) / denom if denom != 0 else 0.0
    return float(freq[sel[k]] + frac * (freq[1] - freq[0]))


def _band_energy(spec, ppm, lo, hi) -> float:
    return float(np.sum(np.abs(spec[(ppm >= lo) & (ppm <= hi)]) ** 2))


def mirrored_components(basis: BasisSet) -> dict[str, float]:
    """Components stored in the other conjugation convention: name -> the ratio of the energy
    in the metabolite band's mirror image to the band's own. A component votes when the ratio
    is decisive (beyond :data:`MIRROR_RATIO` either way); Gln, whose NH2 protons (6.8, 7.5 ppm)
    sit in the mirror band, does not. When the mirrored votes are the majority the whole set
    is mirrored (the undecided follow it); otherwise only the decisively mirrored ones are."""
    lo, hi = METABOLITE_BAND_PPM
    ref = basis.ppm_reference
    ratios = {}
    energy = np.sum(np.abs(basis.fids) ** 2, axis=0)
    for k, name in enumerate(basis.names):
        if energy[k] <= 1e-6 * energy.max():
            continue  # an empty component (e.g. an unedited one of a DIFF set) has no orientation
        spec, freq = _spectrum(basis.fids[:, k], basis.dwell_s, zero_fill=1)
        ppm = ref + freq / basis.spectrometer_mhz
        inside = _band_energy(spec, ppm, lo, hi)
        ratios[name] = _band_energy(spec, ppm, 2 * ref - hi, 2 * ref - lo) / max(inside, 1e-300)
    mirrored = [n for n, r in ratios.items() if r > MIRROR_RATIO]
    upright = [n for n, r in ratios.items() if r < 1 / MIRROR_RATIO]
    if len(mirrored) > len(upright):
        return {n: r for n, r in ratios.items() if n not in upright}
    return {n: ratios[n] for n in mirrored}


def _singlet_fids(basis: BasisSet) -> list[tuple[str, np.ndarray, float]]:
    out = []
    for label, names, nominal in SINGLETS:
        present = [n for n in names if n in basis.names]
        if present:
            out.append((label, sum(basis.fid(n) for n in present), nominal))
    return out


def basis_singlets(basis: BasisSet) -> dict[str, float]:
    """Measured ppm (on the basis' own axis) of each reference singlet the basis holds, each
    the tallest line of its components within +-:data:`ANCHOR_WINDOW_PPM` of its nominal shift."""
    mhz, ref = basis.spectrometer_mhz, basis.ppm_reference
    out: dict[str, float] = {}
    for label, fid, nominal in _singlet_fids(basis):
        spec, freq = _spectrum(fid, basis.dwell_s)
        hz = _peak_hz(spec, freq, (nominal - ref) * mhz, ANCHOR_WINDOW_PPM * mhz)
        if hz is not None:
            out[label] = ref + hz / mhz
    return out


def _tallest_peaks(basis: BasisSet, conjugate: tuple[str, ...]) -> dict[str, float]:
    """ppm of the tallest line of the NAA and tCr components (their CH3 singlets), with the
    components ``conjugate`` conjugated: where the singlets are, wherever that is."""
    out = {}
    for label, names, _ in SINGLETS[:2]:
        present = [n for n in names if n in basis.names]
        if present:
            fid = sum(np.conj(basis.fid(n)) if n in conjugate else basis.fid(n) for n in present)
            spec, freq = _spectrum(fid, basis.dwell_s)
            out[label] = basis.ppm_reference + freq[int(np.argmax(np.abs(spec)))] / basis.spectrometer_mhz
    return out


def _refuse(src, what: str, message: str):
    raise InputError(src, what, message + " (refused: basis_repair is 'refuse'; 'repair' repairs it)")


def register_basis(basis: BasisSet, *, repair: bool = True, singlets: bool = True, log=None) -> BasisSet:
    """``basis`` without non-metabolite components, in our orientation and on the nominal ppm
    scale (see the module doc); ``repair=False`` refuses what would be repaired;
    ``singlets=False`` skips the ppm registration (a MEGA-PRESS DIFF set has no singlets). The
    record is ``meta["basis_check"]``: dropped, conjugated, shift_hz, singlets_ppm."""
    log = log or _log
    src = basis.source or "basis"
    record: dict = dict(basis.meta.get("basis_check") or {})
    dropped = [n for n in basis.names if n.lower() in {m.lower() for m in NON_METABOLITES}]
    if dropped:
        basis = basis.subset([n for n in basis.names if n not in dropped])
        log.info("basis %s: component(s) %s are not metabolites: not fitted", src, dropped)
        record["dropped"] = sorted(set(record.get("dropped", [])) | set(dropped))
    mirrored = mirrored_components(basis)
    if mirrored:
        stored, fixed = _tallest_peaks(basis, ()), _tallest_peaks(basis, tuple(mirrored))
        where = ", ".join(f"{k} at {stored[k]:.2f} ppm as stored, {fixed[k]:.2f} ppm conjugated" for k in stored)
        message = (f"{len(mirrored)} of {len(basis.names)} components ({', '.join(mirrored)}) are mirrored about "
                   f"{basis.ppm_reference:g} ppm: their FIDs are stored in the other conjugation convention"
                   + (f" ({where})" if where else ""))
        if not repair:
            _refuse(src, "basis orientation (FID conjugation)", message)
        idx = [basis.index(n) for n in mirrored]
        fids = basis.fids.copy()
        fids[:, idx] = np.conj(fids[:, idx])
        basis = basis.replace(fids=fids)
        log.warning("basis %s: %s; repaired: conjugated", src, message)
        record["conjugated"] = sorted(mirrored)
    if abs(basis.ppm_reference - H2O_PPM) > 1e-9:
        # onto the data's reference (the fit keeps the basis' Hz offsets from the receiver)
        hz = (basis.ppm_reference - H2O_PPM) * basis.spectrometer_mhz
        record["rereferenced_from_ppm"] = float(basis.ppm_reference)
        log.info("basis %s: re-referenced from %g to %g ppm (%+.2f Hz)", src, basis.ppm_reference, H2O_PPM, hz)
        basis = basis.replace(fids=basis.fids * np.exp(2j * np.pi * hz * basis.time_s[:, None]), ppm_reference=H2O_PPM)
    if singlets:
        basis, record = _register_ppm(basis, record, repair, log)
    return basis.replace(meta={**dict(basis.meta), "basis_check": record})


def _register_ppm(basis: BasisSet, record: dict, repair: bool, log) -> tuple[BasisSet, dict]:
    src = basis.source or "basis"
    mhz = basis.spectrometer_mhz
    found = basis_singlets(basis)
    nominal = {label: ppm for label, _, ppm in SINGLETS}
    if not _singlet_fids(basis):
        record["registration"] = "not checked: no NAA, Cr/PCr or PCh/GPC component"
        return basis, record
    missing = [(label, ppm) for label, _, ppm in _singlet_fids(basis) if label not in found]
    if missing:
        label, ppm = missing[0]
        raise InputError(src, "basis ppm registration",
                         f"the {label} singlet is not within {ANCHOR_WINDOW_PPM:g} ppm of {ppm:g} ppm on the basis' ppm "
                         f"axis (reference {basis.ppm_reference:g} ppm, {mhz:g} MHz): wrong ppm reference, "
                         "frequency or dwell time")
    offsets = {k: (v - nominal[k]) * mhz for k, v in found.items()}
    spread = max(offsets.values()) - min(offsets.values())
    listing = ", ".join(f"{k} {found[k]:.3f} ppm (nominal {nominal[k]:.3f}, {offsets[k]:+.1f} Hz)" for k in found)
    if spread > SPREAD_TOLERANCE_HZ:
        raise InputError(src, "basis ppm registration",
                         f"the reference singlets disagree with the nominal shifts by {spread:.1f} Hz among themselves "
                         f"(> {SPREAD_TOLERANCE_HZ:g} Hz): {listing}; no ppm reference makes this basis fit "
                         "(another field, a scaled frequency axis or a damaged basis)")
    shift = float(np.mean(list(offsets.values())))
    if abs(shift) > REGISTRATION_TOLERANCE_HZ:
        message = (f"singlets {shift:+.1f} Hz ({shift / mhz:+.3f} ppm) from their nominal shifts on the basis' "
                   f"ppm axis (reference {basis.ppm_reference:g} ppm): {listing}")
        if not repair:
            _refuse(src, "basis ppm registration", message + "; is basis_ppm_reference right?")
        t = basis.time_s[:, None]
        basis = basis.replace(fids=basis.fids * np.exp(-2j * np.pi * shift * t))
        log.warning("basis %s: %s; repaired: shifted by %+.2f Hz", src, message, -shift)
        record["shift_hz"] = round(float(record.get("shift_hz", 0.0)) - shift, 4)
        found = basis_singlets(basis)
    record["singlets_ppm"] = {k: round(v, 4) for k, v in found.items()}
    return basis, record


def check_against_data(basis: BasisSet, data, *, what: str = "basis", max_offset_hz: float = 12.0) -> dict:
    """The basis' reference singlets, placed as the fit places them (their Hz offsets on the
    data's ppm axis), against the data's peaks. The data's common offset (the median) is a
    frequency-referencing residual the fit's shift takes up: it must be within
    ``max_offset_hz`` (the fit's ``max_shift_hz``); each singlet must then coincide within
    :data:`DATA_TOLERANCE_HZ`; else ``InputError`` naming both files. Returns the record;
    singlets the basis lacks (a MEGA-PRESS DIFF) or the data do not show above the noise are
    not compared."""
    mine = basis_singlets(basis)
    if not mine:
        return {}
    found, placed = _data_singlets(basis, mine, data)
    if not found:
        return {"data": "reference singlets not found above the noise: not compared"}
    mhz = data.spectrometer_mhz
    offsets = {k: (found[k] - placed[k]) * mhz for k in found}
    common = float(np.median(list(offsets.values())))
    record = {"data_singlets_ppm": {k: round(v, 4) for k, v in found.items()},
              "basis_singlets_ppm_on_data_axis": {k: round(placed[k], 4) for k in found},
              "data_minus_basis_hz": {k: round(v, 2) for k, v in offsets.items()},
              "common_offset_hz": round(common, 2)}
    listing = ", ".join(f"{k}: data {found[k]:.3f} ppm, basis {placed[k]:.3f} ppm ({offsets[k]:+.1f} Hz)" for k in found)
    where = data.source or "the data"
    if abs(common) > max_offset_hz:
        raise InputError(basis.source or what, f"{what} ppm registration against the data",
                         f"the peaks of {where} are {common:+.1f} Hz from the basis' reference singlets, beyond the "
                         f"fit's frequency shift range ({max_offset_hz:g} Hz): {listing}; check the data's frequency "
                         "referencing (processing) and the basis' ppm reference")
    bad = {k: v for k, v in offsets.items() if abs(v - common) > DATA_TOLERANCE_HZ}
    if bad:
        raise InputError(basis.source or what, f"{what} ppm registration against the data",
                         f"the basis' reference singlets do not coincide with the peaks of {where} within "
                         f"{DATA_TOLERANCE_HZ:g} Hz of their common offset ({common:+.1f} Hz): {listing}; the basis' "
                         "chemical-shift scale does not match the data (another field, dwell time or a damaged basis)")
    return record


def _data_singlets(basis: BasisSet, mine: Mapping[str, float], data) -> tuple[dict, dict]:
    """(found, placed): the data's singlet ppm (located from the first outwards) and where the
    fit puts the basis' singlets on the data's ppm axis."""
    mhz = data.spectrometer_mhz
    fid = np.asarray(data.fid).reshape(data.fid.shape[0], -1).mean(axis=1)
    spec, freq = _spectrum(fid, data.dwell_s, broadening_hz=1.0)
    ppm = data.ppm_reference + freq / mhz
    quiet = (ppm > 9.0) & (ppm < 11.0)
    noise = float(np.std(np.abs(spec[quiet]))) if quiet.sum() >= 16 else None
    placed = {k: data.ppm_reference + (v - basis.ppm_reference) * basis.spectrometer_mhz / mhz for k, v in mine.items()}
    anchor = next(iter(placed))
    hz = _peak_hz(spec, freq, (placed[anchor] - data.ppm_reference) * mhz, 0.25 * mhz, noise)
    if hz is None:
        return {}, placed
    found = {anchor: data.ppm_reference + hz / mhz}
    drift = found[anchor] - placed[anchor]
    for k, p in placed.items():
        if k != anchor:
            # +-0.07 ppm: tCr and tCho windows do not overlap; a peak beyond is reported at the edge
            h = _peak_hz(spec, freq, (p + drift - data.ppm_reference) * mhz, 0.07 * mhz, noise, keep_edge=True)
            if h is not None:
                found[k] = data.ppm_reference + h / mhz
    return found, placed


def describe(record: Mapping) -> str:
    """One line for logs and reports."""
    parts = []
    if record.get("dropped"):
        parts.append(f"not fitted: {', '.join(record['dropped'])}")
    if record.get("conjugated"):
        parts.append(f"conjugated: {', '.join(record['conjugated'])}")
    if record.get("shift_hz"):
        parts.append(f"shifted {record['shift_hz']:+.2f} Hz")
    if record.get("rereferenced_from_ppm") is not None:
        parts.append(f"re-referenced from {record['rereferenced_from_ppm']:g} ppm")
    return "; ".join(parts) or "as supplied"
