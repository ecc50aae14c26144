"""Errors that name the offending file, field and (for tables) row.

Every bad-input path in painmrs raises ``InputError`` so that users see *where* the
problem is, never a bare traceback from numpy or nibabel.
"""

from __future__ import annotations

import os


class InputError(ValueError):
    """Bad user input: a file, table, header or config value that cannot be used."""

    def __init__(
        self,
        path: str | os.PathLike | None,
        field: str | None,
        message: str,
        row: int | str | None = None,
    ):
        self.path = None if path is None else os.fspath(path)
        self.field = field
        self.row = row
        self.message = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ": ".join([", ".join(where)]) if where else "input"
        super().__init__(f"{prefix}: {message}")
