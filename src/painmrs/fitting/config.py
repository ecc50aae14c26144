"""Config section -> option dataclass (``fit:``), with errors that name the offending key (the
``quantify:`` and ``qc:`` parsers live next to their options, in ``painmrs.quantify.config``)."""

from __future__ import annotations

from ..errors import InputError
from ..options import options_from_mapping


def fit_options(section, source=None):
    from .model import FitOptions

    opts = options_from_mapping(FitOptions, section, "fit", source)
    st = opts.baseline_stiffness
    if not (st == "auto" or (isinstance(st, (int, float)) and st > 0)):
        raise InputError(source, "fit.baseline_stiffness", f"must be 'auto' or a number > 0, got {st!r}")
    return opts
