"""Supplied basis sets (``sequences.<acq>.basis``) and macromolecule choices: reading a
user's basis file or folder, checking its orientation and ppm registration
(:mod:`painmrs.basis.registration`, repaired or refused per ``basis_repair``) and it against
the scans (field, TE, sequence), the
components quantification needs (Cr/PCr; the MEGA-PRESS edit target), the empty DIFF
components, and the parametric macromolecules (``sequences.<acq>.macromolecules``).

Driven by ``painmrs.jobs.basis.build_basis``; errors name
the config key, e.g. ``sequences.press.basis``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .macromolecules import EDITED_MM, MM_COMPONENTS, is_macromolecule
from .readers import load_basis
from .registration import describe, register_basis

#: A basis simulated at another field puts J-coupled multiplets (and so the fit) wrong;
#: one scanner's frequency varies by far less than 0.5 % (as in study.inventory).
BASIS_FREQUENCY_TOLERANCE = 0.005
#: Echo times are rounded by scanners and converters; 1 ms changes no basis spectrum visibly.
BASIS_TE_TOLERANCE_S = 0.001


#: Macromolecule model for short-TE PRESS fits: the measured 3 T MM spectrum of Birch et al.
#: 2017 as one component (consensus: measured MM at short TE). With the LCModel-style
#: parametric MM09-MM20 set instead, demo concentrations came out 30-47 % high (NAA 12.0 vs
#: 9.2 mM true); with this one within 1-6 % (sub-HC001 ACC).
PRESS_MACROMOLECULES = ("MM_3T",)


def macromolecule_names(value: Any, field: str) -> tuple[str, ...]:
    """``sequences.<acq>.macromolecules``: names of painmrs.basis.macromolecules.MM_COMPONENTS."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise InputError(None, field, f"must be a list of names, got {value!r}")
    unknown = [n for n in value if n not in MM_COMPONENTS]
    if unknown:
        raise InputError(None, field, f"unknown component(s) {unknown}; known: {', '.join(MM_COMPONENTS)}")
    return tuple(dict.fromkeys(value))


def supplied_basis(sequence: Mapping[str, Any], sample, sample_scan, key: str, log):
    """The basis named by ``sequences.<acq>.basis`` (PRESS, STEAM, sLASER), checked against the
    sample scan and TE; it must hold Cr or PCr."""
    kind = sequence["sequence"]
    field = f"{key}.basis"
    if isinstance(sequence["basis"], Mapping):
        raise InputError(None, field, f"{kind} takes one basis (a path); the {{diff, off}} mapping is for MEGA-PRESS")
    basis, path = load_supplied_basis(sequence["basis"], field, sequence, sample, sample_scan, key, log, allowed_sequences=(kind,))
    require_tcr(basis, path, field)
    return basis.replace(sequence=basis.sequence or kind)


#: Sequence labels a supplied MEGA-PRESS part may carry (none, "FID" or a plain "MEGA-PRESS"
#: are accepted too); what the fit's check_basis accepts for that part.
MEGA_PART_SEQUENCES = {"diff": ("MEGA-PRESS:DIFF", "MEGA-PRESS"), "off": ("MEGA-PRESS:OFF", "MEGA-PRESS", "PRESS")}
#: A DIFF component with less than this fraction of the largest one's energy is empty.
DIFF_ZERO_ENERGY = 1e-6


def supplied_mega_basis(sequence: Mapping[str, Any], sample, sample_scan, key: str, log, *, add_macromolecules):
    """The DIFF and OFF bases named by ``sequences.<acq>.basis: {diff: PATH, off: PATH}``:
    checked like a PRESS basis (field, TE), DIFF must hold the edit target and OFF Cr or PCr.
    Empty DIFF components are dropped, the co-edited MM30 is added to a DIFF without MM, and
    both get the sequence labels the fit checks (MEGA-PRESS:DIFF / MEGA-PRESS:OFF).
    ``add_macromolecules(basis, names, scale_from=...)`` adds parametric MM on the proton scale
    of the fit (``painmrs.quantify.scan.with_macromolecules``; passed in, so basis sets do not
    depend on the fitting stage)."""
    field = f"{key}.basis"
    given = sequence["basis"]
    if not isinstance(given, Mapping) or set(given) != {"diff", "off"}:
        raise InputError(None, field,
                         f"MEGA-PRESS takes its DIFF and OFF bases as a mapping {{diff: PATH, off: PATH}}, got {given!r}")
    diff, diff_path = load_supplied_basis(given["diff"], f"{field}.diff", sequence, sample, sample_scan, key, log,
                                       allowed_sequences=MEGA_PART_SEQUENCES["diff"])
    off, off_path = load_supplied_basis(given["off"], f"{field}.off", sequence, sample, sample_scan, key, log,
                                     allowed_sequences=MEGA_PART_SEQUENCES["off"])
    require_tcr(off, off_path, f"{field}.off")

    empty = unedited(diff)
    target = sequence.get("edit_target", "GABA")
    if target not in diff.names or target in empty:
        why = "is empty (zero)" if target in diff.names else "is missing"
        raise InputError(
            diff_path, f"{field}.diff (metabolite names)",
            f"the edit target {target} {why} in the DIFF basis (names: {', '.join(diff.names)}): "
            "is this the DIFF (ON - OFF) set?",
        )
    if empty:
        log.info("DIFF basis components with no edited signal (energy < %g of the largest) not fitted: %s",
                 DIFF_ZERO_ENERGY, empty)
        diff = diff.subset([n for n in diff.names if n not in empty])

    present = [n for n in diff.names if is_macromolecule(n)]
    if present:
        log.info("DIFF basis has macromolecule component(s) %s: no co-edited MM added", present)
    else:
        diff = add_macromolecules(diff, EDITED_MM, scale_from=off)
        diff = diff.replace(meta=dict(diff.meta, macromolecules=list(EDITED_MM)))
        log.info("DIFF basis has no macromolecule component: adding the co-edited %s", list(EDITED_MM))
    return diff.replace(sequence="MEGA-PRESS:DIFF"), off.replace(sequence="MEGA-PRESS:OFF")


def unedited(diff) -> list[str]:
    """DIFF components with no edited signal (energy at most DIFF_ZERO_ENERGY of the largest;
    all of an all-zero DIFF): what editing leaves unchanged (NAA, Cr, Cho ... with ideal
    pulses) cancels in ON - OFF and cannot be identified there, so it is not fitted."""
    energy = np.sum(np.abs(diff.fids) ** 2, axis=0)
    return [n for n, e in zip(diff.names, energy) if e <= DIFF_ZERO_ENERGY * energy.max()]


def require_tcr(basis, path: Path, field: str) -> None:
    # Quantification needs tCr: ratio_tCr is the primary measure, and the proton unit that
    # scales the parametric MM and water-referenced concentrations is calibrated on Cr/PCr.
    if not {"Cr", "PCr"} & set(basis.names):
        raise InputError(
            path, f"{field} (metabolite names)",
            f"basis has no Cr or PCr component (names: {', '.join(basis.names)}): tCr ratios and "
            "water scaling need one (LCModel/FSL-MRS aliases such as 'Creatine' are recognised)",
        )


def load_supplied_basis(value: Any, field: str, sequence: Mapping[str, Any], sample, sample_scan, key: str, log, *,
                     allowed_sequences) -> tuple[Any, Path]:
    """One supplied basis file or folder (``field`` names its config key), read and checked
    against the sample scan's field, ``te_ms`` (taken as the TE when the file states none) and
    the sequence labels ``allowed_sequences``; returns the basis and its path."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise InputError(None, field, f"must be a path to a basis file or folder, got {value!r}")
    path = Path(value)  # relative to the working directory, like every other config path
    if not path.exists():
        raise InputError(path, field, "basis file or folder does not exist")
    try:
        basis = load_basis(path, ppm_reference=sequence.get("basis_ppm_reference"))
    except InputError as exc:
        where = exc.path or os.fspath(path)
        raise InputError(where, field, f"cannot read the basis: {exc.message}" + (f" ({exc.field})" if exc.field else "")) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(path, field, f"cannot read the basis: {exc}") from None
    # orientation (FID conjugation) and ppm registration, repaired or refused (basis_repair)
    repair = sequence.get("basis_repair", "repair") == "repair"
    try:
        basis = register_basis(basis, repair=repair, singlets=not field.endswith(".diff"), log=log)
    except InputError as exc:
        raise InputError(exc.path, f"{field} ({exc.field})", exc.message) from None
    mhz = sample.spectrometer_mhz
    if abs(basis.spectrometer_mhz - mhz) > BASIS_FREQUENCY_TOLERANCE * mhz:
        raise InputError(
            path, f"{field} (spectrometer frequency)",
            f"basis is for {basis.spectrometer_mhz:g} MHz but the scans ({os.fspath(sample_scan)}) are at {mhz:g} MHz: "
            "supply a basis for this field strength",
        )
    te_s = float(sequence["te_ms"]) / 1000
    if basis.echo_time_s is None:
        # Formats without TE (LCModel .BASIS, jMRUI): take the configured one, so the fit's
        # check_basis compares it with the scans' header TE.
        basis = basis.replace(echo_time_s=te_s)
        te_note = f"TE not stated in the file; {sequence['te_ms']:g} ms from {key}.te_ms"
    elif abs(basis.echo_time_s - te_s) > BASIS_TE_TOLERANCE_S:
        raise InputError(
            path, f"{field} (echo time)",
            f"basis is for TE {basis.echo_time_s * 1000:g} ms but {key}.te_ms is {sequence['te_ms']:g} ms",
        )
    else:
        te_note = f"TE {basis.echo_time_s * 1000:g} ms"
    allowed = [a.upper() for a in allowed_sequences]
    if basis.sequence and basis.sequence.upper() not in (*allowed, "FID"):
        raise InputError(
            path, f"{field} (sequence)",
            f"basis is for {basis.sequence} but {field} needs {' or '.join(allowed_sequences)} "
            f"({key}.sequence is {sequence['sequence']})",
        )
    if basis.dwell_s > sample.dwell_s * (1 + 1e-6):
        log.warning("basis bandwidth %.0f Hz is narrower than the scans' %.0f Hz: it will be interpolated",
                    1 / basis.dwell_s, 1 / sample.dwell_s)
    log.info("basis loaded from %s (%s): %d components %s; %s; %.4f MHz; dwell %.3g s, %d points; checked: %s",
             path, basis.meta.get("format"), len(basis.names), list(basis.names), te_note,
             basis.spectrometer_mhz, basis.dwell_s, basis.n_points, describe(basis.meta.get("basis_check", {})))
    return basis, path


def press_macromolecules(basis, mm_names: tuple[str, ...] | None, key: str, log) -> tuple[str, ...]:
    """The parametric MM to add to a supplied PRESS-type basis: ``sequences.<acq>.macromolecules``
    if given, else none when the basis has its own MM/lipid components, else PRESS_MACROMOLECULES."""
    if mm_names is not None:
        return mm_names
    present = [n for n in basis.names if is_macromolecule(n)]
    if present:
        log.info("basis has macromolecule/lipid component(s) %s: no parametric MM added", present)
        return ()
    log.info("basis has no macromolecule/lipid component: adding %s (set %s.macromolecules: [] for none)",
             list(PRESS_MACROMOLECULES), key)
    return PRESS_MACROMOLECULES
