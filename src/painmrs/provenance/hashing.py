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


# A sub-folder holding one of these is another study's results directory nested inside this
# one (e.g. results_dir: results/full beside the demo's results): not this study's output.
NESTED_RESULTS_MARKERS = ("provenance/manifest.json", "inventory/scans.tsv")


def list_files(
    root: str | os.PathLike, exclude: Iterable[str] = (), *, skip_nested_results: bool = False
) -> list[str]:
    """Sorted POSIX paths (relative to ``root``) of every regular file below ``root``, minus
    the excluded patterns (and, with ``skip_nested_results``, minus other studies' results
    folders nested below ``root``). Symbolic links to files count as files; links to
    directories are not followed (they could loop)."""
    root = Path(root)
    exclude = list(exclude)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        if skip_nested_results:
            dirnames[:] = [d for d in dirnames if not any(
                os.path.isfile(os.path.join(dirpath, d, m)) for m in NESTED_RESULTS_MARKERS)]
        for fname in filenames:
            rel = prefix + fname
            if not matches_any(rel, exclude) and os.path.isfile(os.path.join(dirpath, fname)):
                found.append(rel)
    return sorted(found)


def hash_tree(
    root: str | os.PathLike, exclude: Iterable[str] = (), *, skip_nested_results: bool = False
) -> dict[str, str]:
    """{relative POSIX path: SHA-256} for every file below ``root`` (sorted by path)."""
    root = Path(root)
    files = list_files(root, exclude, skip_nested_results=skip_nested_results)
    return {rel: sha256_file(root / rel) for rel in files}
