"""SHA-256 of files, directory trees and JSON-able objects.

Files are hashed in 1 MiB chunks so that memory stays flat for large NIfTI-MRS or raw
vendor files. Trees are listed in sorted POSIX-path order so the result does not depend on
the file system's directory order.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes; InputError naming the file if it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise InputError(path, None, f"cannot read file for hashing: {exc.strerror or exc}") from exc
    return h.hexdigest()


def canonical_json(obj) -> str:
    """The one text form of a JSON-able object that its hash is taken of: sorted keys, no
    whitespace, UTF-8 kept, NaN rejected (it has no JSON form and no stable meaning)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_json(obj) -> str:
    return sha256_bytes(canonical_json(obj).encode("utf-8"))


def matches_any(relpath: str, patterns: Iterable[str]) -> bool:
    """True if a POSIX relative path matches one of the glob patterns.

    Patterns are ``fnmatch`` globs on the whole relative path, where ``*`` also matches
    ``/`` (so ``logs/*`` excludes everything below ``logs``); a pattern without ``/`` is also
    tried against the file name alone (``.*`` excludes hidden temp files at any depth)."""
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns:
        if fnmatch.fnmatchcase(relpath, pattern):
            return True
        if "/" not in pattern and fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def list_files(root: str | os.PathLike, exclude: Iterable[str] = ()) -> list[str]:
    """Sorted POSIX paths (relative to ``root``) of every regular file below ``root``, minus
    the excluded patterns. Symbolic links to files count as files; links to directories are
    not followed (they could loop)."""
    root = Path(root)
    exclude = list(exclude)
    found: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for fname in filenames:
            rel = prefix + fname
            if not matches_any(rel, exclude) and os.path.isfile(os.path.join(dirpath, fname)):
                found.append(rel)
    return sorted(found)


def hash_tree(root: str | os.PathLike, exclude: Iterable[str] = ()) -> dict[str, str]:
    """{relative POSIX path: SHA-256} for every file below ``root`` (sorted by path)."""
    root = Path(root)
    return {rel: sha256_file(root / rel) for rel in list_files(root, exclude)}
