"""Job ``basis_set``: the basis set(s) of one acquisition, supplied (checked against the scans:
``painmrs.basis.supplied``) or simulated, with the parametric macromolecules."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io import nifti_mrs
from ..configuration import SequenceOptions


def build_basis(
    sequence: SequenceOptions | Mapping[str, Any],
    sample_scan: str | os.PathLike,
    out_dir: str | os.PathLike,
    log=None,
    *,
    acq: str | None = None,
) -> dict:
    """The basis set(s) for one acquisition (``sequences.<acq>`` of the config), as FSL-MRS JSON.

    PRESS-type: ``out_dir`` holds one basis: the user's ``basis`` (any format
    :func:`painmrs.basis.readers.load_basis` reads; required for STEAM and sLASER, which
    painmrs cannot simulate) or else a PRESS basis simulated on the sample scan's frequency
    and grid, plus the parametric ``macromolecules``.
    MEGA-PRESS: ``out_dir/diff`` (with the co-edited MM30) and ``out_dir/off``, simulated, or
    the user's ``basis: {diff: PATH, off: PATH}`` (see :func:`painmrs.basis.supplied.supplied_mega_basis`).
    ``acq`` (the acq label) only names the config keys in error messages.
    """
    if isinstance(sequence, SequenceOptions):
        sequence = sequence.as_mapping()
    log = log or logging.getLogger("painmrs.basis")
    key = f"sequences.{acq or '<acq>'}"
    # Header only: the basis needs the grid, and a sample whose data are bad (NaN, truncated;
    # excluded from the study under on_bad_scan: exclude) still has a valid grid.
    sample = nifti_mrs.read_header(sample_scan)
    grid = {"spectrometer_mhz": sample.spectrometer_mhz, "dwell_s": sample.dwell_s, "n_points": sample.n_points}
    kind = sequence["sequence"]
    if kind == "MEGA-PRESS":
        names = _mega_press_bases(sequence, sample, sample_scan, grid, Path(out_dir), key, log)
    elif kind in ("PRESS", "STEAM", "sLASER"):
        names = _press_basis(sequence, sample, sample_scan, grid, Path(out_dir), key, log)
    else:
        raise InputError(None, f"{key}.sequence", f"unknown sequence {kind!r}")
    log.info("basis for %s TE %s ms at %.4f MHz, %d points: %s", kind, sequence["te_ms"], grid["spectrometer_mhz"], grid["n_points"], names)
    return names


def _mega_press_bases(sequence: Mapping, sample, sample_scan, grid: Mapping, out: Path, key: str, log) -> dict:
    """MEGA-PRESS: the DIFF (edited components only, with the co-edited MM30) and OFF bases."""
    from ..basis import supplied
    from ..basis.readers import write_fsl_basis
    from ..basis.simulate import simulate_mega_press_basis
    from ..quantify.scan import with_macromolecules

    if sequence.get("macromolecules") is not None:
        raise InputError(None, f"{key}.macromolecules", "not used for MEGA-PRESS (its DIFF basis has the co-edited MM30)")
    if sequence.get("basis") is not None:
        diff, off = supplied.supplied_mega_basis(sequence, sample, sample_scan, key, log,
                                                 add_macromolecules=with_macromolecules)
    else:
        sets = simulate_mega_press_basis(
            echo_time_ms=float(sequence["te_ms"]),
            edit_on_ppm=float(sequence["edit_on_ppm"]),
            edit_off_ppm=float(sequence["edit_off_ppm"]),
            include_mm=True,
            **grid,
        )
        diff, off = sets["DIFF"], sets["OFF"]
        empty = supplied.unedited(diff)
        diff = diff.subset([n for n in diff.names if n not in empty])
    write_fsl_basis(diff, out / "diff")
    write_fsl_basis(off, out / "off")
    return {"diff": list(diff.names), "off": list(off.names)}


def _press_basis(sequence: Mapping, sample, sample_scan, grid: Mapping, out: Path, key: str, log) -> dict:
    """PRESS, STEAM, sLASER: the supplied basis (required for STEAM and sLASER) or a simulated
    PRESS basis, plus the parametric macromolecules."""
    from ..basis import supplied
    from ..basis.readers import write_fsl_basis
    from ..basis.simulate import simulate_basis
    from ..quantify.scan import with_macromolecules

    kind = sequence["sequence"]
    mm_names = sequence.get("macromolecules")
    if mm_names is not None:
        mm_names = supplied.macromolecule_names(mm_names, f"{key}.macromolecules")
    if sequence.get("basis") is not None:
        basis = supplied.supplied_basis(sequence, sample, sample_scan, key, log)
        mm_names = supplied.press_macromolecules(basis, mm_names, key, log)
    else:
        if kind != "PRESS":
            raise InputError(
                None, f"{key}.basis",
                f"painmrs cannot simulate a {kind} basis: supply one (LCModel .BASIS or .RAW folder, "
                "jMRUI text, FSL-MRS JSON folder) for this TE and field",
            )
        press_options = {
            "te1_ms": sequence.get("te1_ms"),
            "refocusing": sequence.get("refocusing", "ideal"),
            "refocusing_pulse": sequence.get("refocusing_pulse"),
        }
        basis = simulate_basis(sequence="PRESS", echo_time_ms=float(sequence["te_ms"]), **press_options, **grid)
        mm_names = supplied.PRESS_MACROMOLECULES if mm_names is None else mm_names
    added = [n for n in mm_names if n not in basis.names]
    basis = with_macromolecules(basis, mm_names)
    log.info("parametric macromolecules added: %s", added or "none")
    write_fsl_basis(basis, out)
    return {"press": list(basis.names)}
