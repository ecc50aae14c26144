"""Config sections -> quantification option dataclasses (``quantify:``, ``qc:``), with errors
that name the offending key (the ``fit:`` parser is ``painmrs.fitting.config``)."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import InputError
from ..options import options_from_mapping


def quant_options(section, source=None):
    from .concentrations import QuantOptions

    section = dict(section or {})
    base = QuantOptions()
    for table in ("t2_ms", "t1_s", "density"):  # partial tables update the defaults
        if table in section:
            if not isinstance(section[table], Mapping):
                raise InputError(source, f"quantify.{table}", "must be a mapping of name -> value")
            section[table] = {**getattr(base, table), **section[table]}
    return options_from_mapping(QuantOptions, section, "quantify", source)


def qc_rules(section, source=None):
    from .qc import QCRules

    return options_from_mapping(QCRules, section, "qc", source)
