"""The run manifest, ``<results_dir>/provenance/manifest.json``.

It answers an auditor's questions about a results directory: which config (resolved, and
its SHA-256), which input bytes, which output bytes, which seeds, which software (package
versions, git commit and whether the tree was dirty, platform).

Layout (``schema_version`` 1)::

    {"schema_version": 1,
     "tool": {"name": "painmrs", "version": ...},
     "study": {"config", "config_sha256", "seeds", "inputs": {path: sha256},
               "outputs": {path relative to results_dir: sha256}, "declared_outputs",
               "exclude"},
     "environment": {"python", "packages": {name: version}, "platform", "git"},
     "run": {"created_utc", "hostname", "user", "workdir", "results_dir", "slurm_job_id"}}

Everything but ``run`` is a function of the study and the software, so two runs of the same
study on the same installation write the same ``study`` and ``environment`` sections;
``run`` is by nature run-specific and comparisons ignore it.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import importlib.metadata as md
import json
import os
import platform
import re
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from .. import __version__
from ..atomic import write_text
from ..errors import InputError
from ..options import supplied_basis_paths
from .hashing import hash_tree, list_files, sha256_file, sha256_json

SCHEMA_VERSION = 1
MANIFEST_RELPATH = "provenance/manifest.json"
# Not results: the manifest itself, logs and benchmarks (timings, host names, SLURM job ids)
# and hidden files (atomic-write temp files, snakemake timestamps).
DEFAULT_EXCLUDE: tuple[str, ...] = (
    MANIFEST_RELPATH,
    "logs/*",
    "*/logs/*",
    "benchmarks/*",
    "*/benchmarks/*",
    "*.log",
    ".*",
)
_INPUT_EXCLUDE = (".*",)
# Always reported, whatever painmrs itself pins.
_EXTRA_PACKAGES = ("painmrs", "snakemake-executor-plugin-slurm-jobstep", "pip", "setuptools")


def find_seeds(config: Mapping, prefix: str = "") -> dict[str, int]:
    """Every integer config value whose key is ``seed`` or ends in ``_seed``, by dotted key
    (``{"dataset.seed": 20240601}``), so the manifest lists seeds without a registry."""
    seeds: dict[str, int] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            seeds.update(find_seeds(value, dotted + "."))
        elif (key == "seed" or str(key).endswith("_seed")) and isinstance(value, int):
            seeds[dotted] = value
    return seeds


def package_versions() -> dict[str, str | None]:
    """Installed versions of painmrs's pinned requirements (and a few tools), by name."""
    names: set[str] = set(_EXTRA_PACKAGES)
    try:
        requirements = md.requires("painmrs") or []
    except md.PackageNotFoundError:
        requirements = []
    for req in requirements:
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            names.add(m.group(1))
    versions: dict[str, str | None] = {}
    for name in sorted(names, key=str.lower):
        try:
            versions[name.lower()] = md.version(name)
        except md.PackageNotFoundError:
            versions[name.lower()] = None
    return versions


def git_state(repo_dir: str | os.PathLike | None = None) -> dict:
    """{"commit", "dirty"} of the git work tree at ``repo_dir``; None values if it is not
    one (or git is missing). Dirty counts untracked, non-ignored files too: a new module
    that is not committed changes what ran."""
    repo_dir = os.fspath(repo_dir or os.getcwd())

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", repo_dir, *args], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def environment_info(repo_dir: str | os.PathLike | None = None) -> dict:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(),
        "platform": {
            "system": platform.system(),
            "machine": platform.machine(),
            "platform": platform.platform(),
        },
        "git": git_state(repo_dir),
    }


def _display_path(path: Path, workdir: Path) -> str:
    """A path as the manifest records it: relative to the workdir when below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(workdir).as_posix()
    except ValueError:
        return absolute.as_posix()


def hash_inputs(inputs: Iterable[str | os.PathLike], workdir: Path) -> dict[str, str]:
    """{recorded path: SHA-256} of input files; directories are expanded to their files."""
    hashes: dict[str, str] = {}
    for item in inputs:
        path = Path(item)
        if not path.is_absolute():
            path = workdir / path
        if path.is_dir():
            for rel in list_files(path, _INPUT_EXCLUDE):
                hashes[_display_path(path / rel, workdir)] = sha256_file(path / rel)
        elif path.is_file():
            hashes[_display_path(path, workdir)] = sha256_file(path)
        else:
            raise InputError(path, None, "input listed for the manifest does not exist")
    return dict(sorted(hashes.items()))


def _jsonable_config(config: Mapping) -> dict:
    """The config as plain JSON types (snakemake's config may hold its own mapping types)."""
    try:
        return json.loads(json.dumps(config, sort_keys=True, allow_nan=False, default=_reject))
    except ValueError as exc:
        raise InputError(None, "config", f"config is not JSON-serialisable: {exc}") from exc


def _reject(obj):
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise ValueError(f"value of type {type(obj).__name__} ({obj!r})")


def build_manifest(
    results_dir: str | os.PathLike,
    config: Mapping,
    inputs: Iterable[str | os.PathLike] = (),
    outputs: Iterable[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
    *,
    workdir: str | os.PathLike | None = None,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
    repo_dir: str | os.PathLike | None = None,
) -> dict:
    """The manifest as a dict (see the module docstring); nothing is written.

    ``outputs`` are the workflow's declared final outputs: each must exist (a run that lost
    one must not be certified). The ``outputs`` section itself hashes *every* file below
    ``results_dir`` that no ``exclude`` pattern matches, so intermediate files are covered
    and the audit can report extra files; another study's results folder nested inside
    ``results_dir`` is skipped (see ``hashing.NESTED_RESULTS_MARKERS``). ``seeds`` are merged over the seeds found in the
    config (:func:`find_seeds`).
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(results_dir, None, "results directory does not exist")
    workdir = Path(os.path.abspath(workdir or os.getcwd()))
    exclude = list(exclude)
    if MANIFEST_RELPATH not in exclude:
        exclude.insert(0, MANIFEST_RELPATH)

    declared = []
    for out in outputs:
        path = Path(out) if Path(out).is_absolute() else workdir / out
        if not path.exists():
            raise InputError(path, None, "declared workflow output is missing")
        declared.append(_display_path(path, workdir))

    config_plain = _jsonable_config(config)
    all_seeds = find_seeds(config_plain)
    all_seeds.update({str(k): int(v) for k, v in (seeds or {}).items()})

    output_hashes = hash_tree(results_dir, exclude, skip_nested_results=True)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "painmrs", "version": __version__},
        "study": {
            "config": config_plain,
            "config_sha256": sha256_json(config_plain),
            "seeds": dict(sorted(all_seeds.items())),
            "inputs": hash_inputs(inputs, workdir),
            "outputs": output_hashes,
            "declared_outputs": sorted(declared),
            "exclude": exclude,
        },
        "environment": environment_info(repo_dir or workdir),
        "run": {
            "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hostname": socket.gethostname(),
            "user": _user(),
            "workdir": workdir.as_posix(),
            "results_dir": Path(os.path.abspath(results_dir)).as_posix(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        },
    }


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def dumps_manifest(manifest: Mapping) -> str:
    return json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_manifest(
    results_dir: str | os.PathLike,
    config: Mapping,
    inputs: Iterable[str | os.PathLike] = (),
    outputs: Iterable[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
    **kwargs,
) -> Path:
    """Build the manifest (:func:`build_manifest`) and write it atomically to
    ``<results_dir>/provenance/manifest.json``; returns that path."""
    manifest = build_manifest(results_dir, config, inputs, outputs, seeds, **kwargs)
    path = Path(results_dir) / MANIFEST_RELPATH
    write_text(path, dumps_manifest(manifest))
    return path


def read_manifest(results_dir_or_file: str | os.PathLike) -> dict:
    """Load a manifest from a results directory (or the manifest file itself)."""
    path = Path(results_dir_or_file)
    if path.is_dir():
        path = path / MANIFEST_RELPATH
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "no manifest: was this directory written by a painmrs run?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, None, f"manifest is not readable JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        raise InputError(path, "schema_version", f"expected {SCHEMA_VERSION}, found "
                         f"{manifest.get('schema_version') if isinstance(manifest, dict) else manifest!r}")
    for key in ("config", "config_sha256", "inputs", "outputs", "exclude"):
        if key not in manifest.get("study", {}):
            raise InputError(path, f"study.{key}", "missing from manifest")
    return manifest


__all__ = [
    "DEFAULT_EXCLUDE",
    "MANIFEST_RELPATH",
    "SCHEMA_VERSION",
    "build_manifest",
    "dumps_manifest",
    "environment_info",
    "find_seeds",
    "git_state",
    "hash_inputs",
    "package_versions",
    "read_manifest",
    "study_inputs",
    "write_manifest",
]


def study_inputs(config: Mapping, bids_dir: str | None = None) -> list[str]:
    """What a study reads, for the manifest's ``inputs``: the simulation design of a
    simulated study, else the BIDS folder and the vendor files converted into it; and any
    basis set the config supplies (``sequences.<acq>.basis``)."""
    dataset = config.get("dataset", {})
    bases = sorted({str(p) for s in (config.get("sequences") or {}).values() for p in supplied_basis_paths(s.get("basis"))})
    if dataset.get("simulate"):
        return ([dataset["design"]] if dataset.get("design") else []) + bases
    vendor = dataset.get("vendor_files", [])
    sources = [e["svs"] for e in vendor] + [e["mrsref"] for e in vendor if e.get("mrsref")]
    return [bids_dir or dataset["bids_dir"], *sources, *bases]
