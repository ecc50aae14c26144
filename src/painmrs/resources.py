"""Where the library finds the data files it reads at run time.

An installed wheel carries copies in ``painmrs/_data/`` (made at build time by setup.py from the
repository's ``config/schemas/`` and ``config/demo/design.yaml``, which stay the source of
truth); a source checkout or an editable install reads the repository files.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_DATA = PACKAGE_DIR / "_data"


def repo_root() -> Path | None:
    """The source checkout holding this package (``<root>/src/painmrs``), or None when installed."""
    root = PACKAGE_DIR.parents[1]
    if PACKAGE_DIR.parent.name == "src" and (root / "config" / "schemas").is_dir():
        return root
    return None


def data_path(packaged: str, repo: str) -> Path | None:
    """The packaged copy ``_data/<packaged>`` if this is an installed wheel, else ``<repo root>/<repo>``.

    None when neither exists.
    """
    candidate = PACKAGED_DATA / packaged
    if candidate.exists():
        return candidate
    root = repo_root()
    if root is not None and (root / repo).exists():
        return root / repo
    return None


def schema_dir() -> Path | None:
    return data_path("schemas", "config/schemas")


def demo_design() -> Path | None:
    return data_path("demo/design.yaml", "config/demo/design.yaml")
