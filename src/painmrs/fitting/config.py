"""Config section -> option dataclasses (``fit:``, including the MEGA-PRESS DIFF fit's own
``fit.mega_diff:`` overrides), with errors that name the offending key (the ``quantify:`` and
``qc:`` parsers live next to their options, in ``painmrs.quantify.config``)."""

from __future__ import annotations

import dataclasses

from ..errors import InputError
from ..options import options_from_mapping

#: ``fit.mega_diff``: the DIFF fit of MEGA-PRESS has its own options (narrow range, fixed
#: baseline; ``painmrs.fitting.mega.DIFF_OPTIONS``): keys given here replace those defaults.
MEGA_DIFF_KEY = "mega_diff"


def _check_stiffness(opts, key, source):
    st = opts.baseline_stiffness
    if not (st == "auto" or (isinstance(st, (int, float)) and not isinstance(st, bool) and st > 0)):
        raise InputError(source, f"{key}.baseline_stiffness", f"must be 'auto' or a number > 0, got {st!r}")


def fit_options(section, source=None):
    """``FitOptions`` of the fit (PRESS-type scans, and MEGA-PRESS OFF) from ``fit:``."""
    from .model import FitOptions

    section = {k: v for k, v in dict(section or {}).items() if k != MEGA_DIFF_KEY}
    opts = options_from_mapping(FitOptions, section, "fit", source)
    _check_stiffness(opts, "fit", source)
    return opts


def mega_diff_options(section, source=None):
    """``FitOptions`` of the MEGA-PRESS DIFF fit: its defaults with ``fit.mega_diff`` over them."""
    from .mega import DIFF_OPTIONS
    from .model import FitOptions

    given = (section or {}).get(MEGA_DIFF_KEY) or {}
    if not isinstance(given, dict):
        raise InputError(source, f"fit.{MEGA_DIFF_KEY}", "must be a mapping of fit options")
    parsed = options_from_mapping(FitOptions, given, f"fit.{MEGA_DIFF_KEY}", source)
    opts = dataclasses.replace(DIFF_OPTIONS, **{k: getattr(parsed, k) for k in given})
    _check_stiffness(opts, f"fit.{MEGA_DIFF_KEY}", source)
    return opts
