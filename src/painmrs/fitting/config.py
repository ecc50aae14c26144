"""Config sections -> option dataclasses (``fit:``, ``quantify:``, ``qc:``), with errors that
name the offending key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import InputError


def options_from_mapping(cls, section: Mapping[str, Any] | None, prefix: str, source: str | None = None):
    """``cls(**section)`` after checking keys and converting lists to tuples.

    Unknown keys, and values of the wrong kind, raise ``InputError(source, "prefix.key", ...)``.
    """
    section = dict(section or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise InputError(source, f"{prefix}.{unknown[0]}", f"unknown option (known: {', '.join(sorted(fields))})")
    values = {}
    for key, value in section.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if key.endswith("ppm_range") or key == "ppm_range":
            if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
                raise InputError(source, f"{prefix}.{key}", f"must be [low, high] ppm, got {value!r}")
            value = (float(value[0]), float(value[1]))
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(source, prefix, str(exc)) from None


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
