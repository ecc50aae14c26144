"""Config sections -> frozen option dataclasses, with errors that name the offending key.

One parser for every stage (``processing:``, ``fit:``, ``quantify:``, ``qc:``): unknown keys
and malformed values raise ``InputError(source, "section.key", ...)``; YAML lists become
tuples; a field whose default is a (low, high) pair of numbers must be given as one.
Also the one reading of ``sequences.<acq>.basis`` paths (``supplied_basis_paths``), shared by
the workflow's rule inputs and the provenance manifest (which must not import ``study``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .errors import InputError


def _is_number_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)


def options_from_mapping(cls, section: Mapping[str, Any] | None, prefix: str, source: str | None = None):
    """``cls(**section)`` after checking keys, converting lists and checking (low, high) pairs."""
    section = dict(section or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise InputError(source, f"{prefix}.{unknown[0]}", f"unknown option (known: {', '.join(sorted(fields))})")
    values = {}
    for key, value in section.items():
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if _is_number_pair(fields[key].default):
            if not _is_number_pair(value):
                raise InputError(source, f"{prefix}.{key}", f"must be [low, high] ppm, got {value!r}")
            value = (float(value[0]), float(value[1]))
        values[key] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise InputError(source, prefix, str(exc)) from None


def supplied_basis_paths(basis) -> list:
    """The path(s) of ``sequences.<acq>.basis``: [] (simulated), one path, or the MEGA-PRESS
    ``{diff, off}`` pair in that order."""
    if not basis:
        return []
    return [basis[part] for part in ("diff", "off") if basis.get(part)] if isinstance(basis, Mapping) else [basis]
