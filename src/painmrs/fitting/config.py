"""Config sections -> option dataclasses (``fit:``, ``quantify:``, ``qc:``), with errors that
name the offending key."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InputError
from ..options import options_from_mapping


def fit_options(section, source=None):
    from .model import FitOptions

    opts = options_from_mapping(FitOptions, section, "fit", source)
    st = opts.baseline_stiffness
    if not (st == "auto" or (isinstance(st, (int, float)) and st > 0)):
        raise InputError(source, "fit.baseline_stiffness", f"must be 'auto' or a number > 0, got {st!r}")
    return opts


def quant_options(section, source=None):
    from ..quantify.concentrations import QuantOptions

    section = dict(section or {})
    base = QuantOptions()
    for table in ("t2_ms", "t1_s", "density"):  # partial tables update the defaults
        if table in section:
            if not isinstance(section[table], Mapping):
                raise InputError(source, f"quantify.{table}", "must be a mapping of name -> value")
            section[table] = {**getattr(base, table), **section[table]}
    return options_from_mapping(QuantOptions, section, "quantify", source)


def qc_rules(section, source=None):
    from ..quantify.qc import QCRules

    return options_from_mapping(QCRules, section, "qc", source)
