"""``painmrs manifest``: write <results_dir>/provenance/manifest.json (called by the workflow's
last rule, rules/provenance.smk)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..errors import InputError

NAME = "manifest"
HELP = "write the provenance manifest (config, input/output hashes, versions) of a results directory"


def configure(parser) -> None:
    parser.add_argument("results_dir", help="results directory to describe")
    cfg = parser.add_mutually_exclusive_group(required=True)
    cfg.add_argument("--config", metavar="FILE", help="resolved config (YAML or JSON file)")
    cfg.add_argument("--config-json", metavar="TEXT", help="resolved config as JSON text")
    parser.add_argument("--inputs", nargs="*", default=[], metavar="PATH",
                        help="input files or directories (directories are expanded)")
    parser.add_argument("--outputs", nargs="*", default=[], metavar="PATH",
                        help="declared final outputs (must exist)")
    parser.add_argument("--seed", action="append", default=[], metavar="NAME=INT",
                        help="extra seed to record (seeds in the config are found automatically)")
    parser.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                        help="results paths not hashed (default: logs, benchmarks, hidden files)")
    parser.add_argument("--workdir", default=None, help="directory input paths are relative to (default: cwd)")
    parser.add_argument("--repo", default=None,
                        help="git work tree of the workflow code, for commit/dirty (default: workdir)")


def _load_config(args) -> dict:
    if args.config_json is not None:
        try:
            return json.loads(args.config_json)
        except json.JSONDecodeError as exc:
            raise InputError(None, "--config-json", f"not valid JSON: {exc}") from exc
    path = Path(args.config)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, None, f"cannot read config: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(path, None, "config must be a mapping")
    return data


def _parse_seeds(items: list[str]) -> dict[str, int]:
    seeds = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            seeds[name] = int(value)
        except ValueError:
            raise InputError(None, "--seed", f"expected NAME=INTEGER, got {item!r}") from None
        if not sep or not name:
            raise InputError(None, "--seed", f"expected NAME=INTEGER, got {item!r}")
    return seeds


def run(args) -> int:
    from ..provenance.manifest import DEFAULT_EXCLUDE, write_manifest

    path = write_manifest(
        args.results_dir,
        _load_config(args),
        args.inputs,
        args.outputs,
        _parse_seeds(args.seed),
        workdir=args.workdir,
        repo_dir=args.repo,
        exclude=DEFAULT_EXCLUDE if args.exclude is None else args.exclude,
    )
    print(path)
    return 0
