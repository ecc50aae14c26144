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


# ---- canonical JSON of option objects --------------------------------------------------------
# Each workflow rule receives its options as one JSON string param: Snakemake reruns the job
# when that string changes, and the job decodes the same string back into the typed objects.
# Encoding is deterministic: dataclass fields in declaration order, mappings in their own order
# (not sorted: the order of e.g. fit.combinations is the row order of every fit table, so a
# sorted encoding would change outputs), tuples as lists; equal options give equal strings.
def options_to_jsonable(obj):
    """Plain JSON data of an option object (dataclasses, tuples, mappings, scalars)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: options_to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): options_to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [options_to_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__} in an options object")


def options_to_json(obj) -> str:
    import json

    return json.dumps(options_to_jsonable(obj), separators=(",", ":"), allow_nan=False)


def _plain(value):
    """JSON lists back to tuples (option objects hold tuples), recursively."""
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _decode(tp, value):
    import types
    import typing

    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        return options_from_jsonable(tp, value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            arg_origin = typing.get_origin(arg)
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return options_from_jsonable(arg, value)
            if arg_origin is tuple and isinstance(value, list):
                return _decode(arg, value)
        return _plain(value)
    if origin in (dict, Mapping) and len(args) == 2 and dataclasses.is_dataclass(args[1]):
        return {k: options_from_jsonable(args[1], v) for k, v in value.items()}
    if origin is tuple and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value)) if args else _plain(value)
    return _plain(value)


def options_from_jsonable(cls, data: Mapping):
    """The option object ``cls`` from :func:`options_to_jsonable`'s output."""
    import typing

    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _decode(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data})


def options_from_json(cls, text: str):
    import json

    return options_from_jsonable(cls, json.loads(text))
