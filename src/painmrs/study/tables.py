"""The study tables: ``participants.tsv`` and the per-subject ``sub-<s>_sessions.tsv``.

Each row is checked against a YAML JSON schema (config/schemas/) and against the config
(groups declared, one control group). Errors name the file, the row and the column:
``.../participants.tsv, row 7, field 'group': 'XYZ' is not a declared group (...)``. Rows
are counted from 1 for the first data row (the header is line 1 of the file, so row r is
line r + 1). Labels that end up in file names or HTML (ids, groups, arms ...) must be BIDS
labels: letters and digits only, so '../', spaces or '<script>' never reach a path or page.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .config import load_schema, schema_errors

MISSING = {"", "n/a", "N/A", "NA", "nan", "NaN"}
COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Columns that must stay text even when they look numeric (labels, codes).
TEXT_COLUMNS = {"participant_id", "group", "sex", "session_id", "study", "arm", "time", "period", "sequence_order", "treatment"}


def _number(value: str) -> float | None:
    """The cell as a float, or None when it is not a number."""
    try:
        return float(value)
    except ValueError:
        return None


def _coerce(value: str, column: str):
    if value.strip() in MISSING:
        return None
    if column in TEXT_COLUMNS:
        return value
    number = _number(value)
    if number is None:
        return value
    return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", value.strip()) else number


def _check_numbers(path, header: list[str], cells: list[list[str]], numeric: set[str]) -> None:
    """Numeric cells are parsed strictly (issue 14): no silent NaN for ``1e400`` or ``inf``, and
    in a column of numbers (or a declared score column) every cell is a number: ``5,5`` or
    ``five`` would otherwise reach the statistics as text and fail there, after all fitting.
    Columns whose cells are all text (handedness, site names ...) stay text. ``age`` is typed
    by the schema (its text cells are reported there)."""
    for j, col in enumerate(header):
        if col in TEXT_COLUMNS:
            continue
        values = [(i, row[j].strip()) for i, row in enumerate(cells, start=1) if row[j].strip() not in MISSING]
        parsed = [(i, v, _number(v)) for i, v in values]
        for i, v, number in parsed:
            if number is not None and not math.isfinite(number):
                raise InputError(path, col, f"{v!r} is not a finite number (write n/a for a missing value)", row=i)
        if col == "age":
            continue
        numbers = [x for x in parsed if x[2] is not None]
        if not numbers and col not in numeric:
            continue
        for i, v, number in parsed:
            if number is None:
                why = (f"column {col!r} holds numbers (row {numbers[0][0]}: {numbers[0][1]!r})" if numbers
                       else f"{col!r} is a score the config analyses")
                hint = "; use '.' as the decimal mark" if re.fullmatch(r"[+-]?\d+,\d+", v) else ""
                raise InputError(path, col, f"{v!r} is not a number: {why}{hint} (write n/a for a missing value)", row=i)


def read_tsv(path: str | os.PathLike, required: list[str], numeric: set[str] | frozenset = frozenset()) -> list[dict]:
    """Rows of a BIDS TSV as dicts (typed cells); checks header, columns, row lengths and
    numbers (``numeric``: columns that must hold numbers, e.g. the config's scores)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "table does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text: {exc}") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(path, None, "table is empty (no header line)")
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader)
    header = [h.strip() for h in header]
    if len(header) == 1 and ("," in header[0] or ";" in header[0]):
        raise InputError(path, None, "the header has one column: BIDS tables are tab-separated, not comma-separated")
    seen = set()
    for col in header:
        if not COLUMN_NAME.match(col):
            raise InputError(
                path, col, "column name must start with a letter and hold only letters, digits and '_'", row="header"
            )
        if col in seen:
            raise InputError(path, col, "column appears twice in the header", row="header")
        seen.add(col)
    for col in required:
        if col not in header:
            raise InputError(path, col, f"required column is missing (header has: {', '.join(header)})", row="header")
    table = []
    for i, cells in enumerate(reader, start=1):
        if len(cells) != len(header):
            raise InputError(path, None, f"has {len(cells)} cells but the header has {len(header)} columns", row=i)
        table.append(cells)
    _check_numbers(path, header, table, set(numeric))
    return [{col: _coerce(cell, col) for col, cell in zip(header, cells)} for cells in table]


def score_columns(config: Mapping) -> set[str]:
    """Columns the config analyses as numeric scores (``analysis.families.*.scores``,
    ``stats.correlation.scores``, ``stats.longitudinal[*].change_scores``)."""
    def listed(value):
        return {value} if isinstance(value, str) else {str(v) for v in value} if isinstance(value, (list, tuple)) else set()

    found: set[str] = set()
    for family in ((config.get("analysis") or {}).get("families") or {}).values():
        if isinstance(family, Mapping):
            found |= listed(family.get("scores"))
    stats = config.get("stats") or {}
    if isinstance(stats.get("correlation"), Mapping):
        found |= listed(stats["correlation"].get("scores"))
    for study in stats.get("longitudinal") or []:
        if isinstance(study, Mapping):
            found |= listed(study.get("change_scores"))
    return found


def _check_rows(path, rows: list[dict], schema_name: str) -> None:
    schema = load_schema(schema_name)
    for i, row in enumerate(rows, start=1):
        problems = schema_errors(row, schema)
        if problems:
            key, message = problems[0]
            raise InputError(path, key or None, message, row=i)


def _duplicates(path, rows: list[dict], column: str) -> None:
    first: dict = {}
    for i, row in enumerate(rows, start=1):
        value = row[column]
        if value in first:
            raise InputError(path, column, f"duplicate {value!r} (first on row {first[value]})", row=i)
        first[value] = i


def load_participants(path: str | os.PathLike, config: Mapping) -> pd.DataFrame:
    """participants.tsv as a DataFrame (one row per participant), validated against the config."""
    rows = read_tsv(path, ["participant_id", "group", "age", "sex"], score_columns(config))
    if not rows:
        raise InputError(path, None, "no participants listed")
    _check_rows(path, rows, "participants.schema.yaml")
    _duplicates(path, rows, "participant_id")
    declared = list(config["groups"]["levels"])
    for i, row in enumerate(rows, start=1):
        if row["group"] not in declared:
            raise InputError(
                path, "group", f"{row['group']!r} is not a declared group (config groups.levels: {', '.join(declared)})", row=i
            )
    return pd.DataFrame(rows)


def sessions_path(bids_dir: str | os.PathLike, subject: str) -> Path:
    return Path(bids_dir) / subject / f"{subject}_sessions.tsv"


def load_sessions(path: str | os.PathLike, subject: str, config: Mapping) -> pd.DataFrame:
    """One subject's sessions table, validated; adds a ``subject`` column first."""
    rows = read_tsv(path, ["session_id"], score_columns(config))
    _check_rows(path, rows, "sessions.schema.yaml")
    _duplicates(path, rows, "session_id")
    designs = (config.get("analysis") or {}).get("designs") or {}
    for i, row in enumerate(rows, start=1):
        study, arm, treatment = row.get("study"), row.get("arm"), row.get("treatment")
        if study is None or not designs:
            continue
        if study not in designs:
            # Sessions outside any treatment study (e.g. 'crosssectional') carry no arm; an
            # arm in an undeclared study is most likely a typo of the study's name.
            if arm is not None or treatment is not None:
                raise InputError(
                    path, "study", f"{study!r} is not a declared design (config analysis.designs: {', '.join(designs)})", row=i
                )
            continue
        allowed = designs[study].get("treatments", [])
        if arm is not None and arm not in allowed:
            raise InputError(path, "arm", f"{arm!r} is not a treatment of design {study!r} ({', '.join(allowed)})", row=i)
        if treatment is not None and treatment not in allowed:
            raise InputError(
                path, "treatment", f"{treatment!r} is not a treatment of design {study!r} ({', '.join(allowed)})", row=i
            )
    frame = pd.DataFrame(rows)
    frame.insert(0, "subject", subject)
    return frame


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Deterministic TSV (n/a for missing, fixed float format), written atomically."""
    from ..atomic import write_text

    text = frame.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g", lineterminator="\n")
    write_text(path, text)
