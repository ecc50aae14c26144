"""Study configuration: load ``config/config.yaml`` and validate it before anything runs.

The JSON schemas live in the workflow's ``config/schemas/`` (YAML, as in the
snakemake-workflows style). jsonschema's own messages name neither the file nor a readable
key, so every error is re-worded here as ``InputError(<file>, <dotted key>, <message>)``,
e.g. ``config/config.yaml: field 'groups.control': 'HX' is not one of the declared groups``.
Schema checks cover types, ranges and typos (unknown keys); the cross-references a schema
cannot express (control group declared, regions used by analyses declared ...) follow.
"""

from __future__ import annotations

import copy
import difflib
import functools
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import InputError

CONFIG_SCHEMA = "config.schema.yaml"


def schema_dir() -> Path:
    """The folder holding the YAML schemas: ``$PAINMRS_SCHEMA_DIR``, the installed wheel's copy
    (``painmrs/_data/schemas``) or the workflow's config/schemas (source checkout)."""
    env = os.environ.get("PAINMRS_SCHEMA_DIR")
    if env:
        return Path(env)
    from ..resources import schema_dir as packaged_schema_dir

    found = packaged_schema_dir()
    if found is not None and (found / CONFIG_SCHEMA).is_file():
        return found
    raise InputError(None, None, "cannot find config/schemas/; set PAINMRS_SCHEMA_DIR")


@functools.lru_cache(maxsize=None)
def _load_schema_cached(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_schema(name: str) -> dict:
    """A schema from :func:`schema_dir` (a deep copy: callers may not alter the cache)."""
    return copy.deepcopy(_load_schema_cached(str(schema_dir() / name)))


def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(error: jsonschema.ValidationError, instance: Any) -> tuple[str, str]:
    """(dotted key, human message) for one jsonschema error."""
    key = _key_path(error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        node = error.instance if isinstance(error.instance, Mapping) else {}
        allowed = sorted((error.schema.get("properties") or {}).keys())
        extras = [k for k in node if k not in allowed]
        if extras:
            extra = extras[0]
            close = difflib.get_close_matches(str(extra), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
            full = f"{key}.{extra}" if key else str(extra)
            return full, f"unknown key{hint}"
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        full = f"{key}.{missing}" if key else missing
        return full, "required key is missing"
    if validator == "type":
        return key, f"{error.instance!r} has the wrong type: expected {error.validator_value}"
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": ">=",
            "maximum": "<=",
            "exclusiveMinimum": ">",
            "exclusiveMaximum": "<",
        }[validator]
        return key, f"{error.instance!r} is out of range: must be {words} {error.validator_value}"
    if validator == "enum":
        choices = ", ".join(repr(c) for c in error.validator_value)
        return key, f"{error.instance!r} is not allowed: choose one of {choices}"
    if validator == "pattern":
        return key, (
            f"{error.instance!r} is not a valid label: only letters and digits are allowed "
            f"(pattern {error.validator_value})"
        )
    if validator == "propertyNames":
        # The offending name is the instance of the (sub-)error.
        bad = error.instance
        sub = error.context[0].instance if error.context else bad
        return key, f"key {sub!r} is not a valid label: only letters and digits are allowed"
    return key, error.message


def schema_errors(instance: Any, schema: Mapping) -> list[tuple[str, str]]:
    """All schema violations as (dotted key, message), in document order of the keys."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(e, instance) for e in errors]


def raise_first(path: str | os.PathLike | None, problems: list[tuple[str, str]], row=None) -> None:
    """Raise one InputError for the first problem; the others are listed in its message."""
    if not problems:
        return
    key, message = problems[0]
    if len(problems) > 1:
        rest = "; ".join(f"'{k}': {m}" for k, m in problems[1:6])
        more = f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""
        message = f"{message}. Other problems: {rest}{more}"
    raise InputError(path, key or "(top level)", message, row=row)


def _fill_defaults(instance: Any, schema: Mapping, root: Mapping) -> None:
    """Insert schema defaults for absent keys (like snakemake.utils.validate(set_default=True))."""
    if "$ref" in schema:
        ref = schema["$ref"]
        node: Any = root
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        _fill_defaults(instance, node, root)
        return
    if isinstance(instance, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in instance and isinstance(sub, Mapping) and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                _fill_defaults(instance[key], sub, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key, value in instance.items():
                if key not in (schema.get("properties") or {}):
                    _fill_defaults(value, extra, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            _fill_defaults(item, schema["items"], root)


#: Metabolite names the fits report (DEVELOPERS.md): basis metabolites, macromolecule and lipid
#: components, and the combinations; analysis filters naming anything else are errors.
KNOWN_METABOLITES = (
    "NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "mI", "sI", "Glu", "Gln", "GABA", "GSH", "Lac", "Asp",
    "Tau", "Gly", "Ala", "Glc", "PE",
    "MM09", "MM12", "MM14", "MM17", "MM20", "MM30", "MM_3T", "Lip09", "Lip13", "Lip20",
    "tNAA", "tCr", "tCho", "Glx", "GABA+", "GABA+_gauss", "mI+Gly",
)


def _cross_check(config: Mapping) -> list[tuple[str, str]]:
    """References between sections that a JSON schema cannot express."""
    problems: list[tuple[str, str]] = []
    groups = config["groups"]["levels"]
    regions = config["regions"]
    control = config["groups"]["control"]
    if control not in groups:
        problems.append(
            ("groups.control", f"control group {control!r} is not one of the declared groups.levels: {', '.join(groups)}")
        )

    def check(key: str, values, declared, what: str):
        for i, value in enumerate(values or []):
            if value not in declared:
                problems.append((f"{key}[{i}]", f"{value!r} is not a declared {what} ({', '.join(declared)})"))

    def check_metabolites(key: str, values):
        for i, value in enumerate(values or []):
            if value not in KNOWN_METABOLITES:
                close = difflib.get_close_matches(str(value), KNOWN_METABOLITES, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append((f"{key}[{i}]", f"{value!r} is not a metabolite painmrs reports{hint}; "
                                                f"known: {', '.join(KNOWN_METABOLITES)}"))

    analysis = config.get("analysis") or {}
    for name, family in (analysis.get("families") or {}).items():
        check(f"analysis.families.{name}.groups", family.get("groups"), groups, "group")
        check(f"analysis.families.{name}.regions", family.get("regions"), regions, "region")
        check_metabolites(f"analysis.families.{name}.metabolites", family.get("metabolites"))
        if family.get("kind") in ("group", "correlation"):
            # These families compare / correlate within patient groups: the control group is
            # never one of them (it would be dropped, leaving "every patient group").
            for i, value in enumerate(family.get("groups") or []):
                if value == control:
                    problems.append((f"analysis.families.{name}.groups[{i}]",
                                     f"{value!r} is the control group (groups.control): a {family['kind']} family "
                                     "lists patient groups only"))
    for name, design in (analysis.get("designs") or {}).items():
        check(f"analysis.designs.{name}.groups", design.get("groups"), groups, "group")
        check(f"analysis.designs.{name}.regions", design.get("regions"), regions, "region")
        check_metabolites(f"analysis.designs.{name}.metabolites", design.get("metabolites"))
        treatments = design.get("treatments") or []
        if design.get("control_treatment") not in treatments:
            problems.append(
                (
                    f"analysis.designs.{name}.control_treatment",
                    f"{design.get('control_treatment')!r} is not one of this design's treatments ({', '.join(treatments)})",
                )
            )
    return problems + _dataset_problems(config) + _sequence_problems(config)


def _dataset_problems(config: Mapping) -> list[tuple[str, str]]:
    """``dataset``: a simulated study's design, vendor files' labels and duplicates."""
    problems: list[tuple[str, str]] = []
    regions = config["regions"]
    dataset = config["dataset"]
    if dataset.get("simulate") and not dataset.get("design"):
        problems.append(("dataset.design", "required when dataset.simulate is true (the simulation design file)"))
    if dataset.get("simulate") and dataset.get("vendor_files"):
        problems.append(("dataset.vendor_files", "a simulated dataset has no vendor files to convert"))
    seen_scans: dict[tuple, int] = {}
    for i, entry in enumerate(dataset.get("vendor_files") or []):
        key = (entry.get("subject"), entry.get("session"), entry.get("acq"), entry.get("voi"))
        if key in seen_scans:
            problems.append((f"dataset.vendor_files[{i}]", f"same subject/session/acq/voi as vendor_files[{seen_scans[key]}]"))
        seen_scans.setdefault(key, i)
        if entry.get("acq") not in config["sequences"]:
            problems.append((f"dataset.vendor_files[{i}].acq", f"{entry.get('acq')!r} is not a declared sequence (acq label)"))
        if entry.get("voi") not in regions:
            problems.append((f"dataset.vendor_files[{i}].voi", f"{entry.get('voi')!r} is not a declared region"))
    return problems


def _sequence_problems(config: Mapping) -> list[tuple[str, str]]:
    """``sequences``: what each sequence kind requires (edit frequencies, a basis form)."""
    problems: list[tuple[str, str]] = []
    for acq, seq in config["sequences"].items():
        if seq.get("sequence") == "MEGA-PRESS":
            for key in ("edit_on_ppm", "edit_off_ppm"):
                if key not in seq:
                    problems.append((f"sequences.{acq}.{key}", "required for a MEGA-PRESS sequence"))
        basis = seq.get("basis")
        if seq.get("sequence") == "MEGA-PRESS" and basis is not None and not isinstance(basis, Mapping):
            problems.append((f"sequences.{acq}.basis", "MEGA-PRESS takes its DIFF and OFF bases as a mapping "
                                                       "{diff: PATH, off: PATH}, not one path"))
        if seq.get("sequence") != "MEGA-PRESS" and isinstance(basis, Mapping):
            problems.append((f"sequences.{acq}.basis", f"{seq.get('sequence')} takes one basis path (file or folder); "
                                                       "the {diff, off} mapping is for MEGA-PRESS"))
        # Caught here, before any job runs, as well as when the basis is built.
        if seq.get("sequence") in ("STEAM", "sLASER") and "basis" not in seq:
            problems.append((f"sequences.{acq}.basis", f"required for {seq['sequence']}: painmrs simulates PRESS and "
                                                       "MEGA-PRESS bases only; supply one (LCModel .BASIS, FSL-MRS ...)"))
    return problems


def _unquoted_off_keys(config: dict) -> None:
    """YAML 1.1 (PyYAML, Snakemake) reads an unquoted ``off`` key as the boolean false: give
    ``sequences.<acq>.basis: {diff: PATH, off: PATH}`` its ``off`` key back (in place)."""
    sequences = config.get("sequences")
    for seq in sequences.values() if isinstance(sequences, dict) else ():
        basis = seq.get("basis") if isinstance(seq, dict) else None
        if isinstance(basis, dict) and False in basis and "off" not in basis:
            basis["off"] = basis.pop(False)


#: execution.on_bad_scan values.
ON_BAD_SCAN = ("fail", "exclude")
#: Deprecated config keys: old dotted key -> (new key, {old value: new value}).
RENAMED_KEYS = {"execution.on_scan_error": ("on_bad_scan", {"fail": "fail", "skip": "exclude"})}


def _rename_deprecated(config: dict, path) -> None:
    """Accept ``execution.on_scan_error: fail | skip`` as the old name of ``on_bad_scan:
    fail | exclude`` (renamed in place, with a warning); giving both is an error."""
    execution = config.get("execution")
    if not isinstance(execution, dict) or "on_scan_error" not in execution:
        return
    new_key, values = RENAMED_KEYS["execution.on_scan_error"]
    old = execution["on_scan_error"]
    if new_key in execution:
        raise InputError(path, "execution.on_scan_error", f"deprecated name of 'execution.{new_key}': give only {new_key}")
    if old not in values:
        choices = ", ".join(repr(v) for v in values)
        raise InputError(path, "execution.on_scan_error", f"{old!r} is not allowed: choose one of {choices} (deprecated: use {new_key})")
    del execution["on_scan_error"]
    execution[new_key] = values[old]
    logging.getLogger("painmrs.config").warning(
        "%s: execution.on_scan_error is deprecated; read as execution.%s: %s", path, new_key, values[old]
    )


def validate_config(config: dict, path: str | os.PathLike | None = "config") -> dict:
    """Validate ``config`` in place (defaults filled in) and return it; raise ``InputError`` naming the key."""
    if not isinstance(config, dict):
        raise InputError(path, None, "the configuration must be a YAML mapping of sections")
    _rename_deprecated(config, path)
    _unquoted_off_keys(config)
    schema = load_schema(CONFIG_SCHEMA)
    raise_first(path, schema_errors(config, schema))
    _fill_defaults(config, schema, schema)
    raise_first(path, _cross_check(config))
    return config


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key_path: str, line: int, first_line: int):
        super().__init__(key_path)
        self.key_path, self.line, self.first_line = key_path, line, first_line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1, as Snakemake reads configs), refusing a key given twice
    in one mapping (PyYAML keeps the last one silently)."""

    _parents: tuple = ()


def _construct_strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:  # before merging: a key may override a merged (<<: *anchor) one
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            continue
        line = key_node.start_mark.line + 1
        if key in seen:
            where = ".".join(str(k) for k in (*_key_trail(node), key))
            raise _DuplicateKey(where, line, seen[key])
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _key_trail(node) -> tuple:
    return getattr(node, "_painmrs_trail", ())


def _annotate(node, trail=()) -> None:
    """Record on every mapping node its dotted key path (for the duplicate-key message)."""
    if isinstance(node, yaml.MappingNode):
        node._painmrs_trail = trail
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            _annotate(value_node, (*trail, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _annotate(item, (*trail[:-1], f"{trail[-1]}[{i}]") if trail else (f"[{i}]",))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_strict_mapping)


def read_yaml_strict(path: str | os.PathLike) -> Any:
    """Parse a YAML config file like ``yaml.safe_load`` but refuse duplicate keys: an
    ``InputError`` naming the file, the dotted key and the line of both occurrences."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "config file does not exist")
    try:
        with path.open(encoding="utf-8") as fh:
            loader = _StrictLoader(fh)
            try:
                node = loader.get_single_node()
                if node is None:
                    return None
                _annotate(node)
                return loader.construct_document(node)
            finally:
                loader.dispose()
    except _DuplicateKey as exc:
        raise InputError(path, exc.key_path, f"duplicate key (line {exc.line}; first given on line "
                                             f"{exc.first_line}): YAML would silently keep the last one",
                         row=exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = None if mark is None else mark.line + 1
        raise InputError(path, None, f"not valid YAML: {getattr(exc, 'problem', exc)}", row=row) from None


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config file (duplicate keys refused) and validate it (see
    :func:`validate_config`)."""
    config = read_yaml_strict(path)
    return validate_config(config if config is not None else {}, path)


def bad_scan_policy(config: Mapping) -> str:
    """``execution.on_bad_scan`` (``fail`` | ``exclude``); the deprecated ``on_scan_error:
    skip`` of an unvalidated config dict counts as ``exclude``."""
    execution = config.get("execution") or {}
    if "on_scan_error" in execution:
        # Only an unvalidated dict still has the old key (validate_config renames it): code
        # that set it explicitly meant it, so it wins over a default-looking on_bad_scan.
        old_values = RENAMED_KEYS["execution.on_scan_error"][1]
        policy = old_values.get(execution["on_scan_error"], execution["on_scan_error"])
    else:
        policy = execution.get("on_bad_scan", "fail")
    if policy not in ON_BAD_SCAN:
        choices = ", ".join(repr(v) for v in ON_BAD_SCAN)
        raise InputError(None, "execution.on_bad_scan", f"{policy!r} is not allowed: choose one of {choices}")
    return policy
