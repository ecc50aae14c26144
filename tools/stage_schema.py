"""JSON-schema properties of the config's stage sections, from their option dataclasses.

The stage sections of config/schemas/config.schema.yaml (processing, fit, fit.mega_diff,
quantify, report) list exactly the fields of the option objects the stages parse them into
(``painmrs.configuration``); tests/test_config_schema.py checks that the two agree, so the
schema documents every key and type and rejects unknown ones before any stage parser runs.

    python tools/stage_schema.py        # prints the generated sections as YAML
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing

_SCALARS = {float: "number", int: "integer", bool: "boolean", str: "string"}


def json_type(tp) -> dict:
    """The JSON-schema fragment (type structure only) of one dataclass field type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    if tp is typing.Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        parts = [json_type(a) for a in args if a is not type(None)]
        nullable = type(None) in args
        if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
            names = [p["type"] for p in parts] + (["null"] if nullable else [])
            return {"type": names if len(names) > 1 else names[0]}
        return {"anyOf": parts + ([{"type": "null"}] if nullable else [])}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": json_type(args[0])}
        return {"type": "array", "items": json_type(args[0]), "minItems": len(args), "maxItems": len(args)}
    if origin in (dict, collections.abc.Mapping):
        return {"type": "object", "additionalProperties": json_type(args[1]) if args else {}}
    raise TypeError(f"no JSON type for {tp!r}")


def stage_schema(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {f.name: json_type(hints[f.name]) for f in dataclasses.fields(cls)},
    }


def stage_sections() -> dict[str, dict]:
    from painmrs.configuration import ReportOptions
    from painmrs.fitting.model import FitOptions
    from painmrs.processing.pipeline import ProcessingOptions
    from painmrs.quantify.concentrations import QuantOptions

    fit = stage_schema(FitOptions)
    fit["properties"]["mega_diff"] = stage_schema(FitOptions)
    return {
        "processing": stage_schema(ProcessingOptions),
        "fit": fit,
        "quantify": stage_schema(QuantOptions),
        "report": stage_schema(ReportOptions),
    }


if __name__ == "__main__":
    import yaml

    print(yaml.safe_dump(stage_sections(), sort_keys=False, default_flow_style=None, width=100))
